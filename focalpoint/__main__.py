from focalpoint.cli import main

main()

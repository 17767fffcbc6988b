"""Rewrite the generated part of docs/cases.md from the code (the one way to do it).

    python scripts/gen_deadlines_doc.py            # rewrite the default deadlines table in place
    python scripts/gen_deadlines_doc.py --check    # exit 1 if the guide differs from the code

The table of default deadlines comes from ``focalpoint.cases.clocks.deadlines_markdown`` and sits
between its begin/end markers; the text around it is written by hand. tests/cases/test_clocks.py
fails while they differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from focalpoint.cases.clocks import deadlines_markdown  # noqa: E402

GUIDE = ROOT / "docs" / "cases.md"


def sections() -> dict[str, str]:
    """Each marked part's name and the text the code generates for it."""
    return {"deadlines": deadlines_markdown()}


def render(text: str) -> str:
    """``text`` with every marked part replaced by what the code generates now."""
    for name, generated in sections().items():
        begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
        head, found, rest = text.partition(begin)
        _, found_end, tail = rest.partition(end)
        if not found or not found_end:
            raise SystemExit(f"{GUIDE.name}: the markers {begin} and {end} are missing")
        text = f"{head}{begin}\n{generated.rstrip()}\n{end}{tail}"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if the guide is stale")
    args = parser.parse_args()
    current = GUIDE.read_text(encoding="utf-8")
    wanted = render(current)
    if args.check:
        if current != wanted:
            print(f"{GUIDE.relative_to(ROOT)} is stale: run python scripts/gen_deadlines_doc.py", file=sys.stderr)
            return 1
        return 0
    if current != wanted:
        GUIDE.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

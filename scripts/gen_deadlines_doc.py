"""Rewrite the generated part of docs/cases.md from the code (the one way to do it).

    python scripts/gen_deadlines_doc.py            # rewrite the default deadlines table in place
    python scripts/gen_deadlines_doc.py --check    # exit 1 if the guide differs from the code

The table of default deadlines comes from ``focalpoint.cases.clocks.deadlines_markdown`` and sits
between its begin/end markers; the text around it is written by hand. tests/cases/test_clocks.py
fails while they differ.
"""

from __future__ import annotations

import sys

from _marked_doc import ROOT, run

sys.path.insert(0, str(ROOT))

from focalpoint.cases.clocks import deadlines_markdown

GUIDE = ROOT / "docs" / "cases.md"


def sections() -> dict[str, str]:
    """Each marked part's name and the text the code generates for it."""
    return {"deadlines": deadlines_markdown()}


if __name__ == "__main__":
    sys.exit(run(GUIDE, sections, script="gen_deadlines_doc.py", doc=__doc__ or ""))

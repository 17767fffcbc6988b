"""Rewrite the generated parts of docs/permissions.md from the code (the one way to do it).

    python scripts/gen_permissions_doc.py            # rewrite the matrix and the views in place
    python scripts/gen_permissions_doc.py --check    # exit 1 if the guide differs from the code

The permission matrix comes from ``focalpoint.people.permissions.matrix_markdown`` and the views
from ``focalpoint.cases.views.views_markdown``; each sits between its begin/end markers, and the
text around them is written by hand. tests/people/test_permissions.py fails while they differ.
"""

from __future__ import annotations

import sys

from _marked_doc import ROOT, run

sys.path.insert(0, str(ROOT))

from focalpoint.cases.views import views_markdown
from focalpoint.people.permissions import matrix_markdown

GUIDE = ROOT / "docs" / "permissions.md"


def sections() -> dict[str, str]:
    """Each marked part's name and the text the code generates for it."""
    return {"matrix": matrix_markdown(), "views": views_markdown()}


if __name__ == "__main__":
    sys.exit(run(GUIDE, sections, script="gen_permissions_doc.py", doc=__doc__ or ""))

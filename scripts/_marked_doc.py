"""What the doc generators share: a guide whose marked parts are written by the code.

A marked part sits between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``; the text around the
markers is written by hand. ``run`` rewrites the parts in place, or with ``--check`` exits 1 when
the guide differs from what the code generates (the tests that pin each guide call that).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def render(text: str, sections: Mapping[str, str], guide: Path) -> str:
    """``text`` with every marked part replaced by what the code generates now."""
    for name, generated in sections.items():
        begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
        head, found, rest = text.partition(begin)
        _, found_end, tail = rest.partition(end)
        if not found or not found_end:
            raise SystemExit(f"{guide.name}: the markers {begin} and {end} are missing")
        text = f"{head}{begin}\n{generated.rstrip()}\n{end}{tail}"
    return text


def run(guide: Path, sections: Callable[[], Mapping[str, str]], *, script: str, doc: str) -> int:
    """The command line of one generator: rewrite ``guide``, or ``--check`` it."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if the guide is stale")
    args = parser.parse_args()
    current = guide.read_text(encoding="utf-8")
    wanted = render(current, sections(), guide)
    if args.check:
        if current != wanted:
            print(f"{guide.relative_to(ROOT)} is stale: run python scripts/{script}", file=sys.stderr)
            return 1
        return 0
    if current != wanted:
        guide.write_text(wanted, encoding="utf-8")
    return 0

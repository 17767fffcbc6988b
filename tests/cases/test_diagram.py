"""The officials' guide shows the state diagram generated from the table the nodes run."""

from __future__ import annotations

from pathlib import Path

from focalpoint.cases.diagram import mermaid
from focalpoint.cases.stages import Stage

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "cases.md"


def test_the_guide_holds_the_diagram_generated_from_the_transition_table() -> None:
    """docs/cases.md contains mermaid() verbatim: change the table and this fails until the guide follows."""
    assert mermaid() in GUIDE.read_text(encoding="utf-8")


def test_the_diagram_reaches_every_stage_a_link_can_be_in() -> None:
    """Every stage but the transient AGREED appears as the target of some arrow."""
    drawn = mermaid()
    for stage in Stage:
        if stage is not Stage.AGREED:
            assert f"--> {stage.value}" in drawn, stage

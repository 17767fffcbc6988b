"""``focalpoint case``: forms printed, filled forms checked (a real subprocess: stdout, exit codes, no tracebacks)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from focalpoint.cases.forms import form_of
from focalpoint.exchange.rules import KINDS
from focalpoint.localnet.samples import sample_body
from tests.support.procs import cli


def test_template_list_names_every_kind_on_one_line() -> None:
    """--list prints the 28 kinds, one a line, each with its summary; ● marks the attested ones."""
    result = cli("case", "template", "--list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(KINDS)
    assert lines[0].split()[1] == "●"
    assert lines[KINDS.index("acknowledgement")].split()[1] != "●"


def test_template_prints_the_form_and_an_unknown_kind_gets_a_suggestion() -> None:
    """A known kind prints its YAML form; a misspelt one is a one-line usage error with "did you mean"."""
    result = cli("case", "template", "protection_alert")
    assert result.returncode == 0, result.stderr
    assert set(yaml.safe_load(result.stdout)) == {"code_list_version", "context", "protection_alert"}
    wrong = cli("case", "template", "protection_alrt")
    assert wrong.returncode == 2
    assert wrong.stderr.strip().splitlines() == [
        "focalpoint: error: unknown kind 'protection_alrt'; did you mean protection_alert?"
    ]


def test_check_accepts_a_valid_form_in_yaml_or_json(tmp_path: Path) -> None:
    """A filled form of a valid body passes with exit 0, as YAML and as JSON."""
    form = form_of(sample_body("child_views_record"))
    as_yaml = tmp_path / "views.yaml"
    as_yaml.write_text(yaml.safe_dump(form, allow_unicode=True), encoding="utf-8")
    as_json = tmp_path / "views.json"
    as_json.write_text(json.dumps(form), encoding="utf-8")
    for path in (as_yaml, as_json):
        result = cli("case", "check", str(path))
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == f"{path}: a valid child_views_record"


def test_check_prints_every_problem_with_its_path_and_exits_1(tmp_path: Path) -> None:
    """Several mistakes come back together, one a line with their paths; the values are never echoed."""
    form = form_of(sample_body("social_inquiry_report"))
    form["context"]["urgency"] = "URGNT"
    form["social_inquiry_report"]["family_involvment"] = form["social_inquiry_report"].pop("family_involvement")
    form["social_inquiry_report"]["caregivers"][0]["visited_on"] = "2026-02-30"
    path = tmp_path / "report.yaml"
    path.write_text(yaml.safe_dump(form, allow_unicode=True), encoding="utf-8")
    result = cli("case", "check", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    paths = [line.split(": ", 1)[0] for line in result.stdout.splitlines()]
    assert paths == [
        "context.urgency",
        "social_inquiry_report.family_involvment",
        "social_inquiry_report.family_involvement",
        "social_inquiry_report.caregivers[0].visited_on",
    ]
    assert "URGNT" not in result.stdout
    assert result.stderr.strip() == f"{path}: 4 problems"


def test_check_reads_codes_like_no_as_codes_not_booleans(tmp_path: Path) -> None:
    """YAML 1.1 would read NO as false; a form means the code FINDING_NO."""
    form = form_of(sample_body("social_inquiry_report"))
    form["social_inquiry_report"]["payment_received"] = "NO"
    text = yaml.safe_dump(form, allow_unicode=True).replace("payment_received: 'NO'", "payment_received: NO")
    assert "payment_received: NO\n" in text
    path = tmp_path / "report.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli("case", "check", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_of_a_file_that_is_not_yaml_is_one_line_naming_the_place(tmp_path: Path) -> None:
    """A YAML syntax error is a usage error (exit 2) naming the file and line, without a traceback."""
    path = tmp_path / "broken.yaml"
    path.write_text("context:\n  case_ref: [unclosed\n", encoding="utf-8")
    result = cli("case", "check", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"focalpoint: error: {path}: not valid YAML (line ")

"""``directory propose codelist``, ``show``, ``sign`` and ``publish``: the same workflow as the other documents."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from focalpoint.localnet.network import CODE_LIST

# ``admins`` is test_cli's module fixture (keys, root spec, root 1), used here as a parameter.
from tests.cli.test_cli import Admins, admins, publish, sign  # noqa: F401
from tests.support.procs import cli, ok


def test_a_code_list_is_proposed_shown_signed_by_the_root_role_and_published(
    admins: Admins,  # noqa: F811
    tmp_path: Path,
) -> None:
    """propose codelist --from the data file; show counts lists and languages (--json too); the root role signs;
    publish adds it; a bundle then carries it."""
    repo = admins.fresh_repo(tmp_path)
    proposal = tmp_path / "codelist.fpd"
    out = ok(
        cli("directory", "propose", "codelist", "--from", str(CODE_LIST), "--repo", str(repo), "--out", str(proposal))
    )
    assert out.startswith("code list 2026.1 version 1 proposed")
    shown = ok(cli("directory", "show", str(proposal), "--repo", str(repo))).splitlines()
    assert shown[0] == "PROPOSAL (not published): code list 2026.1 version 1: unsigned"
    assert "  code list 2026.1 (document version 1): 75 list(s), 414 code(s)" in shown
    assert any(line.startswith("    language zh (tier 1): 414/414 labelled, complete") for line in shown)
    as_json = json.loads(ok(cli("directory", "show", str(proposal), "--repo", str(repo), "--json")))
    assert as_json["requirements"][0]["who"] == "the root role of the current root (version 1)"
    assert as_json["content"]["summary"]["languages"]["ar"]["complete"] is True
    sign(proposal, admins.key("gr1"), admins.key("al1"), repo=repo)
    assert ok(publish(repo, proposal, timestamp_key=admins.key("ts"))).startswith("published codelist 2026.1 version 1")
    bundle = ok(cli("directory", "show", str(repo / "bundle.fpd"), "--root", str(repo / "roots" / "1.fpd")))
    assert "  code list 2026.1     v1  75 list(s), 414 code(s); labelled in ar, en, es, fr, ru, zh" in bundle


def test_a_code_list_missing_labels_is_not_proposed_and_every_gap_is_its_own_line(
    admins: Admins,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Exit 2, nothing written, one error line per missing label naming list, code, number and language."""
    data = yaml.safe_load(CODE_LIST.read_text(encoding="utf-8"))
    del data["lists"]["focalpoint.v1.Sex"]["SEX_FEMALE"]["labels"]["ru"]
    del data["lists"]["focalpoint.v1.Finding"]["FINDING_NO"]["labels"]["es"]
    broken = tmp_path / CODE_LIST.name
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    repo = admins.fresh_repo(tmp_path)
    out = tmp_path / "x.fpd"
    result = cli("directory", "propose", "codelist", "--from", str(broken), "--repo", str(repo), "--out", str(out))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = result.stderr.splitlines()
    assert "focalpoint: error: focalpoint.v1.Sex SEX_FEMALE (1): no ru label and definition" in errors
    assert "focalpoint: error: focalpoint.v1.Finding FINDING_NO (1): no es label and definition" in errors
    assert not out.exists()

"""``focalpoint case``: forms printed, filled forms checked, and cases worked through running nodes
(a real subprocess: stdout, exit codes, one-line errors, no tracebacks)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from focalpoint.cases.forms import form_of
from focalpoint.exchange.rules import KINDS
from focalpoint.localnet import LocalNetwork, make_network
from focalpoint.localnet.samples import sample_body
from focalpoint.node.ports import wall_clock_ms
from focalpoint.v1 import messages_pb2
from tests.conftest import FAST_DELIVERY, SPECS, now_utc
from tests.support.procs import NodeProcess, cli, ok, one_line_error
from tests.support.sessions import Account, log_in, session_env

GR, AL = "gr-ekka", "al-shss"
# The units the sample forms address (context.sender_unit, recipient_unit): a link is its unit's.
UNITS = {GR: "gr-ekka/athens", AL: "al-shss"}
PEOPLE = {"officer.1": Account(), "supervisor.2": Account()}
DELIVERED_WITHIN_S = 30.0


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


# --- working cases through running nodes ----------------------------------------------------------


@dataclass(frozen=True)
class Desk:
    """Two node processes (GR identifies, AL is the State of origin) and a folder for forms."""

    network: LocalNetwork
    forms: Path
    # The configuration directories of the people logged in, by (node, user id).
    sessions: dict[tuple[str, str], Path]

    def config(self, node_id: str) -> str:
        return str(self.network.nodes[node_id].config_path)

    def case(self, node_id: str, *args: str, actor: str = "officer.1") -> subprocess.CompletedProcess[str]:
        """``focalpoint case ARGS`` as ``actor``, logged in at ``node_id``."""
        env = session_env(self.sessions[node_id, actor])
        return cli("case", args[0], "--config", self.config(node_id), *args[1:], env=env)

    def form(self, kind: str, case_ref: str, edit: Callable[[messages_pb2.Body], None] | None = None) -> str:
        """A filled form of ``kind`` on ``case_ref`` as an official writes it (no approval, no hashes)."""
        body = sample_body(kind, case_ref=case_ref, at_ms=wall_clock_ms() - 1000)
        part = getattr(body, kind)
        if "approval" in part.DESCRIPTOR.fields_by_name:
            part.ClearField("approval")
        if edit is not None:
            edit(body)
        path = self.forms / f"{kind}-{time.monotonic_ns()}.yaml"
        path.write_text(yaml.safe_dump(form_of(body), allow_unicode=True), encoding="utf-8")
        return str(path)

    def link(self, node_id: str, case_ref: str) -> str:
        listed = [json.loads(line) for line in ok(self.case(node_id, "list", "--all", "--json")).splitlines()]
        [link] = [c["link_id"] for c in listed if c["case_ref"] == case_ref]
        return str(link)

    def outbox(self, node_id: str) -> int:
        return len(ok(cli("message", "list", "--config", self.config(node_id), "--outbox")).splitlines())

    def sent(self, node_id: str, result: subprocess.CompletedProcess[str]) -> str:
        """The id of a message ``case send``/``approve`` queued, once its signed receipt has arrived."""
        out = ok(result).strip()
        assert out.startswith("queued "), out
        message_id = out.removeprefix("queued ")
        deadline = time.monotonic() + DELIVERED_WITHIN_S
        for _ in range(int(DELIVERED_WITHIN_S / 0.1)):
            listed = ok(cli("message", "list", "--config", self.config(node_id), "--outbox"))
            if any(x.startswith(message_id) and x.endswith("delivered") for x in listed.splitlines()):
                return message_id
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        raise AssertionError(f"{message_id} not delivered in {DELIVERED_WITHIN_S} s")


def _refers(field: str, message_id: str) -> Callable[[messages_pb2.Body], None]:
    def edit(body: messages_pb2.Body) -> None:
        kind, name = field.split(".")
        ref = getattr(getattr(body, kind), name)
        ref.Clear()
        ref.message_id = bytes.fromhex(message_id)

    return edit


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    base = tmp_path_factory.mktemp("cases")
    specs = [s for s in SPECS if s.node_id in (GR, AL)]
    network = make_network(base / "net", specs, now=now_utc(), delivery=FAST_DELIVERY, directory_refresh_s=0.2)
    procs = [NodeProcess(node) for node in network.nodes.values()]
    try:
        for p in procs:
            p.spawn()

        async def healthy() -> None:
            await asyncio.gather(*(p.wait_healthy() for p in procs))

        asyncio.run(healthy())
        forms = base / "forms"
        forms.mkdir()
        sessions = {
            (node_id, user): home
            for node_id in (GR, AL)
            for user, home in log_in(network.nodes[node_id], UNITS[node_id], base / "people", PEOPLE).items()
        }
        yield Desk(network, forms, sessions)
    finally:
        for p in procs:
            p.kill()


@pytest.fixture(scope="module")
def acknowledged(desk: Desk) -> dict[str, Any]:
    """A link opened, notified and acknowledged through the CLI: its reference and both link ids."""
    identified = (now_utc() - dt.timedelta(hours=6)).isoformat()
    opened = json.loads(ok(desk.case(GR, "open", "--partner", AL, "--identified-at", identified, "--json")))
    ref, gr_link = opened["case_ref"], opened["link_id"]
    notification = desk.sent(GR, desk.case(GR, "send", gr_link, "--form", desk.form("case_notification", ref)))
    al_link = desk.link(AL, ref)
    ack = desk.form("acknowledgement", ref, _refers("acknowledgement.acknowledges", notification))
    desk.sent(AL, desk.case(AL, "send", al_link, "--form", ack))
    return {"ref": ref, GR: gr_link, AL: al_link, "notification": notification}


def test_open_send_and_show_give_a_timeline_with_stages_and_the_gate(desk: Desk, acknowledged: dict[str, Any]) -> None:
    """A case opened and a notification sent from the command line is acknowledged by the partner; show
    prints each message with its stage after it and the gate as a checklist (text and JSON)."""
    text = ok(desk.case(GR, "show", acknowledged[GR]))
    assert text.splitlines()[0].startswith(f"{acknowledged['ref']}  with {AL} (AL)  our side IS  stage ACKNOWLEDGED")
    assert "→ case_notification" in text
    assert "← acknowledgement" in text
    assert "[ ] G1_SOCIAL_INQUIRY: " in text
    shown = json.loads(ok(desk.case(AL, "show", acknowledged["ref"], "--partner", GR, "--json")))
    assert [(e["kind"], e["direction"], e["stage_after"]) for e in shown["timeline"]] == [
        ("case_notification", "received", "RECEIVED"),
        ("acknowledgement", "sent", "ACKNOWLEDGED"),
    ]
    assert shown["timeline"][0]["message_id"] == acknowledged["notification"]
    assert shown["gate"] == []


def test_list_shows_the_link_on_both_sides_without_content(desk: Desk, acknowledged: dict[str, Any]) -> None:
    """The worklist line carries the reference, partner, side and stage; JSON carries the same fields."""
    text = ok(desk.case(GR, "list"))
    [line] = [x for x in text.splitlines() if acknowledged["ref"] in x]
    assert line.startswith(acknowledged[GR])
    assert f" {AL} " in line
    assert " IS  ACKNOWLEDGED " in line
    listed = [json.loads(x) for x in ok(desk.case(AL, "list", "--json")).splitlines()]
    [mine] = [c for c in listed if c["case_ref"] == acknowledged["ref"]]
    assert (mine["our_side"], mine["stage"], mine["partner_node"]) == ("OS", "ACKNOWLEDGED", GR)


def test_send_reports_every_form_problem_with_its_path_and_sends_nothing(
    desk: Desk, acknowledged: dict[str, Any]
) -> None:
    """A form with three mistakes: three error lines with their paths, a summary, exit 1, no new outbox row."""
    path = Path(desk.form("child_views_record", acknowledged["ref"]))
    form = yaml.safe_load(path.read_text(encoding="utf-8"))
    form["context"]["urgency"] = "URGNT"
    form["child_views_record"]["heard_by"] = "NOBODY"
    form["child_views_record"]["guardian_presnt"] = True
    path.write_text(yaml.safe_dump(form, allow_unicode=True), encoding="utf-8")
    rows = desk.outbox(GR)
    result = desk.case(GR, "send", acknowledged[GR], "--form", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert all(x.startswith("focalpoint: error: ") for x in lines)
    assert {x.removeprefix("focalpoint: error: ").split(": ")[0] for x in lines[:-1]} == {
        "context.urgency",
        "child_views_record.heard_by",
        "child_views_record.guardian_presnt",
    }
    assert len(lines) == 4
    assert lines[-1].endswith("3 problem(s); nothing was sent")
    assert desk.outbox(GR) == rows


def test_a_refusal_by_the_table_is_one_line_naming_the_rule(desk: Desk, acknowledged: dict[str, Any]) -> None:
    """A departure before any agreement: the node's refusal (FAILED_PRECONDITION) as one error line, exit 2."""
    rows = desk.outbox(GR)
    result = desk.case(GR, "send", acknowledged[GR], "--form", desk.form("return_status_update", acknowledged["ref"]))
    one_line_error(result, "FAILED_PRECONDITION", "not allowed in stage ACKNOWLEDGED", code=2)
    assert desk.outbox(GR) == rows


def test_a_proposal_waits_as_a_draft_until_another_user_approves_it(desk: Desk, acknowledged: dict[str, Any]) -> None:
    """send prints the draft; drafts lists it; its preparer's approval is refused in one line; another
    user's approval queues it and the partner's timeline shows NEGOTIATION."""
    ref, link = acknowledged["ref"], acknowledged[AL]
    plan = desk.sent(AL, desk.case(AL, "send", link, "--form", desk.form("reintegration_plan", ref)))

    def evidence(body: messages_pb2.Body) -> None:
        del body.durable_solution_proposal.evidence[:]
        body.durable_solution_proposal.evidence.add(message_id=bytes.fromhex(plan))
        body.durable_solution_proposal.ClearField("gate")

    out = ok(desk.case(AL, "send", link, "--form", desk.form("durable_solution_proposal", ref, evidence)))
    assert out.startswith("draft ")
    draft = out.split()[1]
    assert f"focalpoint case approve {link} {draft}" in out
    drafts = [json.loads(x) for x in ok(desk.case(AL, "drafts", "--json")).splitlines()]
    assert [(d["draft_id"], d["kind"], d["prepared_by"]) for d in drafts] == [
        (draft, "durable_solution_proposal", "officer.1")
    ]
    one_line_error(desk.case(AL, "approve", link, draft), "cannot approve it; another user must", code=1)
    desk.sent(AL, desk.case(AL, "approve", link, draft, actor="supervisor.2"))
    assert ok(desk.case(AL, "drafts", link)) == ""
    shown = json.loads(ok(desk.case(GR, "show", acknowledged[GR], "--json")))
    assert shown["link"]["stage"] == "NEGOTIATION"


def test_show_needs_a_partner_with_a_reference_and_parked_lists_nothing_here(
    desk: Desk, acknowledged: dict[str, Any]
) -> None:
    """A reference alone names no link (usage error, exit 2); a node with no stray messages parks none."""
    one_line_error(desk.case(GR, "show", acknowledged["ref"]), "add --partner NODE", code=2)
    one_line_error(desk.case(GR, "show", "not-a-link"), "LINK_OR_REF must be a link id", code=2)
    assert ok(desk.case(GR, "parked")) == ""

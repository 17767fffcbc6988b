"""``focalpoint directory``: the administrators' tools (docs/administrators.md).

The workflow is offline-key friendly: ``propose`` writes an unsigned document to a file,
each administrator looks at it (``show``) and runs ``sign`` on it with their own key file (the
file can travel; ``sign`` refuses a key that does not count and says what is still needed,
``focalpoint.admin.signatures``), ``publish`` adds it to the repository once its threshold is
met, and ``timestamp`` (or ``publish --timestamp-key``) issues the bundle that nodes fetch.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click
from google.protobuf import json_format

from directory import Directory
from directory.publish import sign
from directory.trust import TrustedDirectory
from focalpoint.admin.documents import DocumentView, show_document
from focalpoint.admin.keys import generate_admin_key
from focalpoint.admin.proposals import (
    parse_json,
    propose_agreement,
    propose_code_list,
    propose_root,
    propose_state,
    root_from_spec,
    summary,
    verified_bundle,
)
from focalpoint.admin.repo import Repository, document_kind
from focalpoint.admin.signatures import NotCounted, add_signature, describe
from focalpoint.cli._local import ATTENTION_NEEDED, fail, now_ms
from focalpoint.errors import UsageError, VerificationError
from focalpoint.storage.files import read_file, write_atomic
from focalpoint.storage.keyfiles import load_admin_key, passphrase_from_env, write_secret_file
from focalpoint.v1 import directory_pb2

__all__ = ["directory"]


def _verified(bundle: Path, root: Path) -> Directory:
    return verified_bundle(bundle, root, now_ms=now_ms())[0]


_root_opt = click.option(
    "--root", "root", type=click.Path(path_type=Path), required=True, help="The root you trust (e.g. roots/1.fpd)."
)
_repo_opt = click.option("--repo", type=click.Path(path_type=Path), required=True, help="The directory repository.")
_pass_opt = click.option("--passphrase-env", default=None, help="Environment variable holding the key's passphrase.")


@click.group()
@click.version_option(package_name="focalpoint", prog_name="focalpoint")
def directory() -> None:
    """The signed directory of focal points: keys, proposals, signatures, publishing, inspection."""


@directory.command("keygen")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Private key file to create (0600).")
@click.option("--public-out", type=click.Path(path_type=Path), required=True, help="Public key (AdminKey JSON).")
@click.option("--state", required=True, help="ISO 3166-1 alpha-2 code of the administrator's State.")
@click.option("--name", required=True, help="The administrator's name or function.")
@_pass_opt
def keygen(out: Path, public_out: Path, state: str, name: str, passphrase_env: str | None) -> None:
    """Create an administrator's hybrid (Ed25519 + ML-DSA-65) signing key."""
    key_bytes, public = generate_admin_key(state=state, name=name, passphrase=passphrase_from_env(passphrase_env))
    write_secret_file(out, key_bytes)
    public_out.write_text(json_format.MessageToJson(public, indent=2) + "\n", encoding="utf-8")
    click.echo(f"administrator key {public.key_id} ({state}): private {out}, public {public_out}")


@directory.command("init-root")
@click.option("--spec", "spec_path", type=click.Path(path_type=Path), required=True, help="Root spec (YAML).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Proposal file to write.")
def init_root(spec_path: Path, out: Path) -> None:
    """Propose root version 1; its root role's administrators then `sign` it and one `publish`es it."""
    write_atomic(out, sign(root_from_spec(spec_path, 1, now_ms()), []))
    click.echo(f"root version 1 proposed: {out}; next: each root administrator runs `directory sign {out}`")


@directory.command("propose")
@click.argument("kind", required=False, type=click.Choice(["codelist"]))
@_repo_opt
@click.option(
    "--from",
    "data",
    type=click.Path(path_type=Path),
    help="With KIND codelist: the code-list data file, e.g. codelists/2026.1.yaml.",
)
@click.option("--root-spec", type=click.Path(path_type=Path), help="Propose the next root from this YAML spec.")
@click.option("--state", "state_json", type=click.Path(path_type=Path), help="A StateEntry (protobuf JSON).")
@click.option("--node-entry", "node_entries", type=click.Path(path_type=Path), multiple=True, help="A node-entry.json.")
@click.option(
    "--key-status",
    "key_statuses",
    multiple=True,
    help="KEY_ID=ACTIVE|NEXT|RETIRED|REVOKED for a key of the entry's nodes (RETIRED: retired as of now).",
)
@click.option("--agreement", "agreement_json", type=click.Path(path_type=Path), help="An Agreement (protobuf JSON).")
@click.option("--valid-days", type=click.IntRange(1, 3 * 366), default=365, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True)
def propose(
    kind: str | None,
    repo: Path,
    data: Path | None,
    root_spec: Path | None,
    state_json: Path | None,
    node_entries: tuple[Path, ...],
    key_statuses: tuple[str, ...],
    agreement_json: Path | None,
    valid_days: int,
    out: Path,
) -> None:
    """Propose the next version of a State entry, an agreement, the root, or (`propose codelist --from
    FILE`) a code list; version numbers are automatic. A code list is signed by the root role."""
    given = sum(x is not None for x in (root_spec, state_json, agreement_json))
    if kind == "codelist" and (given or data is None):
        raise UsageError("propose codelist takes --from FILE (a code-list data file) and none of the other documents")
    if kind is None and (given != 1 or data is not None):
        raise UsageError("give exactly one of --root-spec, --state or --agreement (or: propose codelist --from FILE)")
    r = Repository(repo)
    now = now_ms()
    if data is not None:
        try:
            signed, what = propose_code_list(r, data, valid_days=valid_days, now_ms=now)
        except UsageError as e:
            fail(str(e), 2, one_per_line=True)  # every missing label on its own line
            return
    elif root_spec is not None:
        signed, what = propose_root(r, root_spec, now)
    elif state_json is not None:
        entry = parse_json(state_json, directory_pb2.StateEntry())
        exports = [(path, parse_json(path, directory_pb2.NodeEntryExport())) for path in node_entries]
        signed, what = propose_state(r, entry, exports, key_statuses, valid_days=valid_days, now_ms=now)
    else:
        assert agreement_json is not None
        agreement = parse_json(agreement_json, directory_pb2.Agreement())
        signed, what = propose_agreement(r, agreement, valid_days=valid_days, now_ms=now)
    write_atomic(out, sign(signed, []))
    click.echo(f"{what} proposed: {out}; next: its administrators run `directory sign {out}`")


@directory.command("sign")
@click.argument("proposal", type=click.Path(path_type=Path))
@click.option("--key", "key_file", type=click.Path(path_type=Path), required=True, help="Your administrator key.")
@click.option(
    "--repo",
    type=click.Path(path_type=Path),
    default=None,
    help="The directory repository (a copy of its roots/ is enough): its newest root decides whose signatures "
    "count. Not needed for root version 1.",
)
@click.option(
    "--even-if-not-counted",
    is_flag=True,
    help="Sign even when this key does not count for the document now (or without --repo, not knowing).",
)
@_pass_opt
def sign_cmd(
    proposal: Path, key_file: Path, repo: Path | None, even_if_not_counted: bool, passphrase_env: str | None
) -> None:
    """Add your signature to a proposal file (in place); say whose signatures are in and what is still needed.

    Refuses (exit 2, the file unchanged) a key that does not count for the document."""
    signer = load_admin_key(key_file, passphrase_from_env(passphrase_env))
    raw = read_file(proposal)
    current = Repository(repo).trusted().root if repo is not None else None
    try:
        signed, status, added = add_signature(raw, signer, current, even_if_not_counted=even_if_not_counted)
    except NotCounted as e:
        hint = "give --repo" if not e.status.known else "sign with a key that counts"
        raise UsageError(f"{e} ({hint}, or --even-if-not-counted to sign anyway)") from e
    if added:
        write_atomic(proposal, signed)
    click.echo(describe(status, signer.key_id, added))
    for line in status.lines():
        click.echo(line)


@directory.command("publish")
@_repo_opt
@click.argument("proposals", type=click.Path(path_type=Path), nargs=-1, required=True)
@click.option(
    "--timestamp-key",
    "timestamp_keys",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Also issue the timestamp and bundle (repeat for a timestamp role with a threshold above 1).",
)
@click.option("--valid-hours", type=click.IntRange(1, 24 * 31), default=24, show_default=True)
@_pass_opt
def publish(
    repo: Path,
    proposals: tuple[Path, ...],
    timestamp_keys: tuple[Path, ...],
    valid_hours: int,
    passphrase_env: str | None,
) -> None:
    """Add signed proposals to the repository once their thresholds are met."""
    r = Repository(repo)
    for path in proposals:
        kind, name, version = r.publish(read_file(path))
        click.echo(f"published {kind} {name} version {version}" if name else f"published {kind} version {version}")
    if timestamp_keys:
        _issue_timestamp(r, timestamp_keys, passphrase_env, valid_hours)


def _issue_timestamp(r: Repository, key_files: tuple[Path, ...], passphrase_env: str | None, valid_hours: int) -> None:
    signers = [load_admin_key(k, passphrase_from_env(passphrase_env)) for k in key_files]
    r.issue_timestamp(signers, now_ms=now_ms(), valid_for_ms=valid_hours * 3_600_000)
    click.echo(f"timestamp version {r.timestamp_version()} issued, valid {valid_hours} h: {r.path / 'bundle.fpd'}")


@directory.command("timestamp")
@_repo_opt
@click.option(
    "--key",
    "key_files",
    type=click.Path(path_type=Path),
    multiple=True,
    required=True,
    help="A timestamp-role key (repeat to meet a threshold above 1).",
)
@click.option("--valid-hours", type=click.IntRange(1, 24 * 31), default=24, show_default=True)
@_pass_opt
def timestamp(repo: Path, key_files: tuple[Path, ...], valid_hours: int, passphrase_env: str | None) -> None:
    """Issue a fresh timestamp (run it well before the current one expires: nodes detect a freeze)."""
    _issue_timestamp(Repository(repo), key_files, passphrase_env, valid_hours)


@directory.command("verify")
@click.argument("bundle", type=click.Path(path_type=Path))
@_root_opt
def verify(bundle: Path, root: Path) -> None:
    """Verify a bundle as a node trusting ROOT would."""
    d = _verified(bundle, root)
    expires = dt.datetime.fromtimestamp(d.expires_at_ms / 1000, dt.UTC).isoformat(timespec="minutes")
    click.echo(
        f"OK: directory version {d.version}: {len(d.states)} State(s), {len(d.nodes)} node(s), "
        f"{len(d.agreements)} agreement(s); valid until {expires}"
    )


@directory.command("show")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--root", "root", type=click.Path(path_type=Path), help="The root you trust (a bundle needs it).")
@click.option(
    "--repo",
    type=click.Path(path_type=Path),
    default=None,
    help="For a proposal: the repository whose newest root decides who counts, and whether it is published.",
)
@click.option("--json", "as_json", is_flag=True)
def show(file: Path, root: Path | None, repo: Path | None, as_json: bool) -> None:
    """Show a verified bundle (States, nodes, agreements, code lists), or a proposal (or a published root, State
    entry, agreement or code list) in full: every field (a code list: its lists and each language's
    completeness; --json has every label), whose signatures are in and what is still needed."""
    raw = read_file(file)
    if _is_document(raw):
        view = _document_view(raw, root, repo)
        if as_json:
            click.echo(json.dumps(view.as_dict(), indent=2, ensure_ascii=False))
        else:
            for line in view.lines():
                click.echo(line)
        return
    if root is None:
        raise UsageError(f"{file}: showing a bundle needs --root (the root you trust)")
    d = _verified(file, root)
    if as_json:
        click.echo(json.dumps(summary(d), indent=2, ensure_ascii=False))
        return
    click.echo(f"directory version {d.version}")
    for s in sorted(d.states.values(), key=lambda s: s.state):
        fp = "focal point designated" if s.focal_point_designated else "NO FOCAL POINT DESIGNATED"
        click.echo(f"  {s.state}  v{s.version}  {fp}; {len(s.entry.contact_points)} contact point(s)")
    for n in sorted(d.nodes.values(), key=lambda n: n.node_id):
        click.echo(f"  node {n.node_id:<16} {n.state}  {n.endpoint:<22} {n.institution}")
    for a in sorted(d.agreements.values(), key=lambda a: a.agreement_id):
        click.echo(f"  agreement {a.agreement_id:<16} {'-'.join(sorted(a.parties))}  {a.status.name.lower()}")
    for c in d.code_lists.values():
        complete = [lang for lang, n in c.languages().items() if n == c.code_count]
        click.echo(
            f"  code list {c.list_version:<10} v{c.version}  {len(c.lists)} list(s), {c.code_count} code(s); "
            f"labelled in {', '.join(complete) or 'no language'}"
        )


def _is_document(raw: bytes) -> bool:
    """A root, State entry, agreement or code list (a proposal or a published one), rather than a bundle."""
    try:
        document_kind(raw)
    except UsageError:
        return False
    return True


def _document_view(raw: bytes, root: Path | None, repo: Path | None) -> DocumentView:
    if repo is not None:
        r = Repository(repo)
        current = r.trusted().root
        judged_by = f"root version {current.version}, the newest in {repo}"
        return show_document(raw, current_root=current, judged_by=judged_by, repository=r)
    if root is not None:
        try:
            current = TrustedDirectory(read_file(root)).root
        except VerificationError as e:
            raise VerificationError(f"{root}: {e}") from e
        judged_by = f"root version {current.version} given with --root (any newer root is not known: use --repo)"
        return show_document(raw, current_root=current, judged_by=judged_by)
    return show_document(raw, current_root=None, judged_by="no root in force given (--repo): a root 1 judges itself")


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


@directory.command("diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@_root_opt
def diff(old: Path, new: Path, root: Path) -> None:
    """What changed between two verified bundles (States, nodes, keys, contacts, agreements)."""
    a, b = _flatten(summary(_verified(old, root))), _flatten(summary(_verified(new, root)))
    changes = 0
    for key in sorted(set(a) | set(b)):
        if key in ("expires_at_ms",) or a.get(key) == b.get(key):
            continue
        changes += 1
        if key not in a:
            click.echo(f"+ {key} = {b[key]}")
        elif key not in b:
            click.echo(f"- {key} = {a[key]}")
        else:
            click.echo(f"~ {key}: {a[key]} -> {b[key]}")
    click.echo(f"{changes} change(s)")


@directory.command("health")
@click.argument("bundle", type=click.Path(path_type=Path))
@_root_opt
@click.option("--stale-days", type=click.IntRange(1, 3650), default=180, show_default=True)
@click.option("--expiring-days", type=click.IntRange(1, 3650), default=30, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def health(bundle: Path, root: Path, stale_days: int, expiring_days: int, as_json: bool) -> None:
    """States without a focal point, stale contact points, keys and documents about to expire.

    Exits 0 when all is well and 1 when something needs attention (2: a usage mistake)."""
    from directory.health import directory_health

    directory, trusted = verified_bundle(bundle, root, now_ms=now_ms())
    report = directory_health(
        directory,
        trusted.root,  # the newest root the bundle carries, not the one trusted to begin with
        now_ms=now_ms(),
        stale_days=stale_days,
        expiring_days=expiring_days,
    )
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for line in report.lines():
            click.echo(line)
    if not report.healthy:
        sys.exit(ATTENTION_NEEDED)


@directory.command("serve")
@_repo_opt
@click.option("--listen", default="127.0.0.1:7480", show_default=True, help="host:port to serve on.")
def serve(repo: Path, listen: str) -> None:
    """Serve the repository's current bundle and every published version to nodes and mirrors."""
    import asyncio
    import signal

    import grpc

    from focalpoint.net.channels import bind_port
    from focalpoint.net.directory import MAX_DIRECTORY_BYTES, add_directory_service

    r = Repository(repo)

    def current() -> tuple[int, bytes] | None:
        try:
            return r.timestamp_version(), r.bundle()
        except UsageError:
            return None

    async def document(kind: str, name: str, version: int) -> bytes | None:
        return r.document(kind, name, version)

    async def run() -> None:
        server = grpc.aio.server(
            options=[("grpc.so_reuseport", 0), ("grpc.max_send_message_length", MAX_DIRECTORY_BYTES)]
        )
        add_directory_service(server, current, document)
        port = bind_port(server.add_insecure_port, listen)
        await server.start()
        click.echo(f"serving {repo} on {listen.rsplit(':', 1)[0]}:{port}", err=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop(1)

    asyncio.run(run())

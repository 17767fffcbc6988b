"""``focalpoint login|logout|whoami`` and ``focalpoint user …``: the people of a node
(docs/permissions.md).

A person logs in with a password and a second factor (an authenticator's code, or one of their
recovery codes) and the CLI keeps the session in a file only they can read
(``focalpoint.cli._session``); every later command calls as them until ``logout``. Passwords and
codes are prompted for, never taken as arguments (others can read those in ``ps``), and never
written anywhere.

Accounts are made by operators: ``user add`` issues a one-time enrolment code, which the new user
spends with ``user enrol`` to choose a password and set up their authenticator. The node's very
first operator is added with its machine credential (``user add --first-operator``), which
works only while the node has no operator. A change to an operator, or to roles once the node has
two operators, waits for a second operator's ``user confirm``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from focalpoint.audit.events import iso_time
from focalpoint.cli._local import call, run, session_for
from focalpoint.cli._session import StoredSession, delete_session, read_session, session_path, write_session
from focalpoint.errors import ConfigError, TransportError, Unauthenticated, UsageError
from focalpoint.people.notices import FAMILIES
from focalpoint.people.roles import Grant, Role

if TYPE_CHECKING:
    from focalpoint.client import LocalClient
    from focalpoint.v1 import local_pb2

__all__ = ["SESSION_COMMANDS", "user"]

ROLES = tuple(r.value for r in Role)
GRANTS = tuple(g.value for g in Grant)

config_option = click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
json_option = click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")


def _when(ms: int) -> str:
    return iso_time(ms) if ms else "-"


def user_dict(u: local_pb2.UserInfo) -> dict[str, Any]:
    """An account as the CLI prints it: never a password, seed or code (the node sends none)."""
    return {
        "user_id": u.user_id,
        "unit": u.unit,
        "roles": list(u.roles),
        "grants": list(u.grants),
        "consular_state": u.consular_state,
        "district": list(u.district),
        "disabled": u.disabled,
        "enrolled": u.enrolled,
        "locked_until": _when(u.locked_until_ms),
        "last_login": _when(u.last_login_ms),
        "sessions": u.sessions,
        "pending_change": u.pending_change,
        "email": u.email,
        "language": u.language or "en",
        "notifications_off": list(u.notifications_off),
        "on_call": u.on_call,
    }


def _roles_text(u: local_pb2.UserInfo) -> str:
    roles = ", ".join(r.replace("_", " ") for r in u.roles) or "no role"
    return roles + (f"; may {', '.join(u.grants)}" if u.grants else "")


def _user_line(u: local_pb2.UserInfo) -> str:
    state = "disabled" if u.disabled else ("enrolled" if u.enrolled else "not enrolled")
    extra = [state]
    if u.pending_change:
        extra.append("change waiting for a second operator")
    if u.on_call:
        extra.append("on call 24/7")
    if u.consular_state:
        extra.append(f"consular state {u.consular_state}")
    if u.district:
        extra.append(f"district {','.join(u.district)}")
    return f"{u.user_id:<24} {u.unit:<24} {_roles_text(u)}  ({'; '.join(extra)})"


def _spec(
    user_id: str,
    unit: str,
    roles: Sequence[str],
    grants: Sequence[str],
    consular_state: str,
    district: Sequence[str],
) -> local_pb2.UserSpec:
    from focalpoint.v1 import local_pb2

    return local_pb2.UserSpec(
        user_id=user_id,
        unit=unit,
        roles=list(dict.fromkeys(roles)),
        grants=list(dict.fromkeys(grants)),
        consular_state=consular_state.upper(),
        district=[d.upper() for d in district],
    )


def _change_lines(change: local_pb2.UserChangeResponse, verb: str) -> list[str]:
    """What an account change did, in words: the enrolment code to hand over, applied, or waiting."""
    who = change.user_id
    if change.enrolment_code:
        return [
            f"{verb} {who}; enrolment code: {change.enrolment_code} (valid until {_when(change.enrolment_expires_ms)}):"
            f" give it to {who}, who runs focalpoint user enrol"
        ]
    if change.applied:
        return [f"{verb} {who}"]
    return [f"proposed: a second operator must confirm with focalpoint user confirm {who}"]


# --- sessions --------------------------------------------------------------------------------


@click.command("login")
@config_option
@click.option("--user", "user_id", default=None, help="Your user id (asked for when not given).")
def login(config_path: Path, user_id: str | None) -> None:
    """Log in to the node: your password and your authenticator's code (or a recovery code).

    The session is kept in a file only you can read, until you log out or the node ends it."""
    from focalpoint.client import LocalClient
    from focalpoint.server.config import load_config

    config = load_config(config_path)
    path = session_path(config.node_id)  # a file that cannot be used is replaced, not read
    if not user_id:
        user_id = click.prompt("user id").strip()
    password = click.prompt("password", hide_input=True)
    factor = click.prompt("authenticator code (or a recovery code)").strip()

    async def go() -> local_pb2.LoginResponse:
        client, answer = await LocalClient.login(config.listen_local, user_id, password, factor)
        await client.close()
        return answer

    answer = run(go())
    old = _readable_session(path)
    write_session(
        path,
        StoredSession(
            node_id=config.node_id,
            address=config.listen_local,
            user_id=answer.user.user_id or user_id,
            token=answer.session_token,
            expires_ms=answer.expires_ms,
        ),
    )
    if old is not None and old.node_id == config.node_id and old.token != answer.session_token:
        _end_quietly(config.listen_local, old.token)  # the session this one replaces
    click.echo(
        f"logged in to {config.node_id} as {answer.user.user_id or user_id} ({_roles_text(answer.user)});"
        f" session kept in {path} until you log out, idle past {_when(answer.idle_until_ms)}"
        f" or at the latest {_when(answer.expires_ms)}"
    )


def _readable_session(path: Path) -> StoredSession | None:
    try:
        return read_session(path)
    except ConfigError:
        return None


def _end_quietly(address: str, token: str) -> None:
    """End a session at the node, ignoring one the node already ended or a node that is down."""
    from focalpoint.client import LocalClient

    async def go() -> None:
        async with LocalClient(address, session=token) as client:
            await client.logout()

    with contextlib.suppress(Unauthenticated, TransportError):
        run(go())


@click.command("logout")
@config_option
def logout(config_path: Path) -> None:
    """End your session at the node and delete the session file."""
    from focalpoint.client import LocalClient

    config, path, stored = session_for(config_path)
    if stored is None:
        click.echo(f"not logged in to {config.node_id}")
        return

    async def go() -> None:
        async with LocalClient(config.listen_local, session=stored.token) as client:
            await client.logout()

    unreachable = ""
    try:
        run(go())
    except Unauthenticated:
        pass  # the node had ended it already
    except TransportError as e:
        unreachable = str(e)
    delete_session(path)
    if unreachable:
        click.echo(
            f"focalpoint: warning: session file deleted, but {unreachable}; the session ends at its idle timeout",
            err=True,
        )
        sys.exit(1)
    click.echo(f"logged out of {config.node_id}; {path} deleted")


@click.command("whoami")
@config_option
@json_option
def whoami(config_path: Path, as_json: bool) -> None:
    """Who you are logged in as at the node: account, unit, roles, grants and the session."""
    _, path, stored = session_for(config_path)
    me = call(config_path, lambda c: c.whoami())
    session = {"file": str(path), "expires": _when(stored.expires_ms if stored else 0)}
    if as_json:
        click.echo(json.dumps({**user_dict(me), "session": session}, sort_keys=True))
        return
    click.echo(f"user:     {me.user_id}")
    click.echo(f"unit:     {me.unit}")
    click.echo(f"roles:    {', '.join(me.roles) or '-'}")
    click.echo(f"grants:   {', '.join(me.grants) or '-'}")
    if me.consular_state:
        click.echo(f"consular: {me.consular_state} (district {', '.join(me.district) or '-'})")
    click.echo(f"session:  {path}, ends at the latest {session['expires']}")


SESSION_COMMANDS = (login, logout, whoami)


# --- accounts --------------------------------------------------------------------------------


@click.group()
@click.version_option(package_name="focalpoint", prog_name="focalpoint")
def user() -> None:
    """Accounts: add, enrol, list, change roles, disable, reset a second factor (operators)."""


role_options = [
    click.option(
        "--role",
        "roles",
        multiple=True,
        type=click.Choice(ROLES),
        help="A role (repeatable).",
    ),
    click.option(
        "--grant",
        "grants",
        multiple=True,
        type=click.Choice(GRANTS),
        help="A case officer's grant (repeatable): approve what another prepared; override the return gate.",
    ),
    click.option("--consular-state", default="", help="A consular officer's State (ISO 3166-1 alpha-2)."),
    click.option(
        "--district", multiple=True, help="A consular officer's district: a State they serve in (repeatable)."
    ),
]


def _with_role_options(f: Any) -> Any:
    for option in reversed(role_options):
        f = option(f)
    return f


@user.command("add")
@click.argument("user_id", metavar="USER")
@config_option
@click.option("--unit", required=True, help="The user's unit: a directory institution id (e.g. gr-ekka/athens).")
@_with_role_options
@click.option(
    "--first-operator",
    is_flag=True,
    help="Add the node's first operator with its machine credential (only while it has no operator).",
)
def user_add(
    user_id: str,
    config_path: Path,
    unit: str,
    roles: tuple[str, ...],
    grants: tuple[str, ...],
    consular_state: str,
    district: tuple[str, ...],
    first_operator: bool,
) -> None:
    """Add USER; prints the one-time enrolment code to hand to them (or that a second operator must
    confirm)."""
    if first_operator:
        if grants or consular_state or district or set(roles) - {"operator"}:
            raise UsageError("the first operator is an operator only: give --unit, no other role or grant")
        change = call(config_path, lambda c: c.add_first_operator(user_id, unit), "machine")
    else:
        if not roles:
            raise UsageError("give at least one --role")
        spec = _spec(user_id, unit, roles, grants, consular_state, district)
        change = call(config_path, lambda c: c.add_user(spec))
    for line in _change_lines(change, "added"):
        click.echo(line)


@user.command("enrol")
@config_option
@click.option("--code", default=None, help="The enrolment code an operator gave you (asked for when not given).")
def user_enrol(config_path: Path, code: str | None) -> None:
    """Spend your enrolment code: choose a password, set up your authenticator, keep your recovery codes.

    Needs no login: the code is the credential, once."""
    if not code:
        code = click.prompt("enrolment code", hide_input=True).strip()
    password = click.prompt("new password", hide_input=True, confirmation_prompt=True)
    begun = call(config_path, lambda c: c.begin_enrolment(code, password), "none")
    click.echo(f"enrolling {begun.user_id}")
    click.echo("add this account to your authenticator app (TOTP, 6 digits, 30 s):")
    click.echo(f"  secret: {begun.secret}")
    click.echo(f"  URI:    {begun.otpauth_uri}")
    for line in _qr_lines(begun.otpauth_uri):
        click.echo(line)
    click.echo("recovery codes (shown once: keep them offline; each logs you in once without the app):")
    for recovery in begun.recovery_codes:
        click.echo(f"  {recovery}")
    for attempt in range(3):  # a mistyped code (or a clock a little off) may be entered again
        finish = functools.partial(_finish, code, click.prompt("code now shown by your authenticator").strip())
        try:
            done = call(config_path, finish, "none")
            break
        except UsageError as e:
            if attempt == 2:
                raise
            click.echo(f"{str(e).split(': ')[-1]}", err=True)
    click.echo(f"{done.user_id} enrolled: log in with focalpoint login --config {config_path} --user {done.user_id}")


async def _finish(code: str, totp: str, client: LocalClient) -> local_pb2.UserInfo:
    return await client.finish_enrolment(code, totp)


def _qr_lines(uri: str) -> list[str]:
    """The URI as a QR code for a terminal, when ``segno`` or ``qrcode`` happens to be installed
    (neither is a dependency: the URI or the secret can always be typed in)."""
    try:
        segno: Any = importlib.import_module("segno")
    except ImportError:
        pass
    else:
        import io

        out = io.StringIO()
        segno.make(uri, error="m").terminal(out=out, compact=True)
        return out.getvalue().splitlines()
    try:
        qrcode: Any = importlib.import_module("qrcode")
    except ImportError:
        return []
    import io

    qr = qrcode.QRCode()
    qr.add_data(uri)
    out = io.StringIO()
    qr.print_ascii(out=out)
    return out.getvalue().splitlines()


@user.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def user_list(config_path: Path, as_json: bool) -> None:
    """Every account of the node (no password, seed or code)."""
    listed = call(config_path, lambda c: c.list_users())
    for u in listed.users:
        click.echo(json.dumps(user_dict(u), sort_keys=True) if as_json else _user_line(u))


@user.command("show")
@click.argument("user_id", metavar="USER")
@config_option
@json_option
def user_show(user_id: str, config_path: Path, as_json: bool) -> None:
    """One account: unit, roles, grants, state, last login, sessions."""
    u = call(config_path, lambda c: c.show_user(user_id))
    shown = user_dict(u)
    if as_json:
        click.echo(json.dumps(shown, sort_keys=True))
        return
    for key, value in shown.items():
        text = ", ".join(value) if isinstance(value, list) else str(value)
        click.echo(f"{key + ':':<16} {text or '-'}")


@user.command("set-role")
@click.argument("user_id", metavar="USER")
@config_option
@_with_role_options
def user_set_role(
    user_id: str,
    config_path: Path,
    roles: tuple[str, ...],
    grants: tuple[str, ...],
    consular_state: str,
    district: tuple[str, ...],
) -> None:
    """Give USER these roles and grants (in place of their current ones)."""
    if not roles:
        raise UsageError("give at least one --role (the user's roles after the change)")
    spec = _spec(user_id, "", roles, grants, consular_state, district)
    for line in _change_lines(call(config_path, lambda c: c.set_roles(spec)), "roles applied to"):
        click.echo(line)


@user.command("confirm")
@click.argument("user_id", metavar="USER")
@config_option
def user_confirm(user_id: str, config_path: Path) -> None:
    """Confirm the change another operator proposed for USER (never your own proposal)."""
    for line in _change_lines(call(config_path, lambda c: c.confirm_user_change(user_id)), "confirmed"):
        click.echo(line)


@user.command("disable")
@click.argument("user_id", metavar="USER")
@config_option
def user_disable(user_id: str, config_path: Path) -> None:
    """Disable USER: their sessions end at once and they cannot log in."""
    call(config_path, lambda c: c.disable_user(user_id))
    click.echo(f"disabled {user_id}; their sessions are ended")


@user.command("enable")
@click.argument("user_id", metavar="USER")
@config_option
def user_enable(user_id: str, config_path: Path) -> None:
    """Enable USER again."""
    for line in _change_lines(call(config_path, lambda c: c.enable_user(user_id)), "enabled"):
        click.echo(line)


@user.command("reset-second-factor")
@click.argument("user_id", metavar="USER")
@config_option
def user_reset_second_factor(user_id: str, config_path: Path) -> None:
    """Clear USER's password, authenticator and recovery codes (a lost phone); prints the new
    enrolment code they enrol with again."""
    for line in _change_lines(call(config_path, lambda c: c.reset_second_factor(user_id)), "reset"):
        click.echo(line)


# --- notifications: contacts, preferences, the on-call list -------------------------------------


def _notice_line(u: local_pb2.UserInfo) -> str:
    off = ", ".join(u.notifications_off) or "none"
    where = "an address" if u.email else "no address (notified in the console and the node's log only)"
    call_state = "; on call 24/7" if u.on_call else ""
    return f"{u.user_id}: e-mail to {where}, in {u.language or 'en'}; families turned off: {off}{call_state}"


@user.command("set-contact")
@click.argument("user_id", metavar="USER", required=False, default="")
@config_option
@click.option("--email", default=None, help="The e-mail address notifications go to ('' removes it).")
@click.option("--language", type=click.Choice(("en", "fr", "ar")), default=None, help="The messages' language.")
def user_set_contact(user_id: str, config_path: Path, email: str | None, language: str | None) -> None:
    """Set USER's e-mail address and/or notification language (yours without USER; an operator: anyone's).

    The address is checked (plain local@domain) and never logged; the audit log records the change."""
    if email is None and language is None:
        raise UsageError("give --email (or --email '' to remove the address), --language, or both")
    u = call(config_path, lambda c: c.set_contact(user_id, email=email, language=language or ""))
    click.echo(_notice_line(u))


@user.command("set-notifications")
@click.argument("user_id", metavar="USER", required=False, default="")
@config_option
@click.option(
    "--off",
    "off",
    multiple=True,
    type=click.Choice(FAMILIES),
    help="A family to get no e-mail for (repeatable); without any, every family is on.",
)
def user_set_notifications(user_id: str, config_path: Path, off: tuple[str, ...]) -> None:
    """Choose which notification families reach USER by e-mail (yours without USER; an operator:
    anyone's). Emergencies cannot be turned off by someone on call or an operator, break-glass and
    access anomalies not by operators and supervisors."""
    u = call(config_path, lambda c: c.set_notifications(user_id, off=off))
    click.echo(_notice_line(u))


@user.command("on-call")
@click.argument("user_id", metavar="USER")
@config_option
@click.option("--on/--off", "on_call", required=True, help="Put USER on the 24/7 on-call list, or take them off.")
def user_on_call(user_id: str, config_path: Path, on_call: bool) -> None:
    """Put USER on the 24/7 on-call list or take them off it (operators). Everyone on it is told of
    an emergency alert at once, by every channel, whatever their preferences."""
    u = call(config_path, lambda c: c.set_on_call(user_id, on_call))
    click.echo(_notice_line(u))

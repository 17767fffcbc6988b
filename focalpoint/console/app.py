"""The console's web application: routes, the session cookie, CSRF, headers and error pages.

``create_app(config)`` gives the ASGI application ``focalpoint console run`` serves. It is a
client of the node's local API like the CLI (``focalpoint.client.LocalClient``): each page calls
the node as the person whose session token the cookie holds, and the node decides what they may
see. The console keeps nothing else about anyone.

Routes:

- ``GET /login``, ``POST /login``: user id, password and authenticator (or recovery) code;
- ``POST /logout``: ends the session at the node and clears the cookie;
- ``GET /``: where the person's role works (a case officer's worklist, an operator's triage, an
  auditor's indicators; otherwise a page naming the user, their roles and the pages there are
  for them so far);
- ``GET /worklist``: a case officer's own unit's open cases, paged (``?after=``);
- ``GET /triage``, ``POST /triage/{link_id}/assign``: an operator's queue of incoming links no
  unit owns yet, each given to a unit by a plain form (ROUTING view: no names, no content);
- ``GET /deadlines``: an operator's deadline dashboard (the ageing report's routing and
  bilateral views, with a bar chart of open requests by age);
- ``GET /health``, ``POST /health/check``: an operator's view of partners' reachability and
  clocks, this node's problems and the directory's health (the check pings every partner now);
- ``GET /indicators?period=2026|2026Q3``, ``GET /ageing-audit``, ``GET /audit``: an auditor's
  national indicators of an ended period (suppressed, with method statements and charts), the
  ageing report's audit view, and the audit log's verification with its latest checkpoint;
- ``GET /access-review?case_ref=``: an auditor's review of who saw one case (time, event, who,
  view, purpose, partner node); the node records the review itself;
- ``GET /cases/{link_id}``: one case link in the view the node serves the caller (summary, the
  return gate, deadlines, flags and side states, the timeline with each message's content, its
  codes labelled from the network code list the node's directory carries: ``codes.CodeBook``);
- ``GET /cases/{link_id}/messages``, ``GET|POST /cases/{link_id}/messages/{kind}``: a case
  officer's choice of kind and the structured form of that kind (``forms``; ``?ref=`` the message
  an amendment, withdrawal or reminder is about, ``?reply_to=`` the one it answers), checked whole
  and sent, or kept as a draft for a second person;
- ``GET /approvals``, ``POST /cases/{link_id}/drafts/{draft_id}/approve``: the unit's drafts
  another officer prepared, and their approval;
- ``POST /cases/{link_id}/consular-visit``: a consul (or an officer of the owning unit) records a
  consular visit from the case page's form (coded only; kept at the node, never sent);
- ``GET /nationals``: a consular officer's list of their own nationals' cases (the node decides
  which: docs/consuls.md §2), each linking to its case page in the REPATRIATION view;
- ``GET|POST /account/notifications``: every person's own e-mail address, notification language
  and families, and whether they are on call (``notifications``); ``GET|POST /on-call``: the
  operators' 24/7 on-call list, with accounts put on it and taken off;
- ``GET /static/…``: the stylesheet;
- any GET page with ``?lang=xx``: sets the language cookie and reloads the page without it.

When the node says the session ended (idle, expired, logged out elsewhere, account disabled), the
cookie is cleared and the person is sent to the login page with a notice. Errors are pages that
say what happened in the person's language, never internals. Log lines name the route and the
outcome, never a user id, case reference, token or any content.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
import markupsafe
import structlog
from google.protobuf.descriptor import EnumDescriptor
from starlette.applications import Starlette
from starlette.datastructures import URL, FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from directory.codelists import CodeList
from focalpoint.cases.forms import KIND_SUMMARIES
from focalpoint.cases.stages import Side
from focalpoint.cases.transitions import SENDERS
from focalpoint.client import LocalChannel, LocalClient
from focalpoint.console import notifications
from focalpoint.console.access_review import REF_FORMAT, access_rows, check_ref
from focalpoint.console.auditor import ageing_audit_view, audit_view, check_period, indicator_views
from focalpoint.console.case_view import DIRECTION_LABELS, Text, check_link_id, say, serves_deadlines
from focalpoint.console.case_view import case_page as case_page_view
from focalpoint.console.codes import CodeBook, code_text, foreign_language
from focalpoint.console.config import ConsoleConfig
from focalpoint.console.consul import national_rows
from focalpoint.console.fields import kind_label
from focalpoint.console.forms import ADD, FormContext, build_form, check_posted, posted_problems, prefill, values_of
from focalpoint.console.health import health_view
from focalpoint.console.i18n import N_, Catalogs, PageLanguage, choose_language
from focalpoint.console.operator import (
    AGE_BUCKETS,
    BUCKET_LABELS,
    age_chart,
    bilateral_rows,
    deadline_rows,
    triage_rows,
    unit_choices,
    valid_link_id,
)
from focalpoint.console.security import (
    LANG_COOKIE,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    cross_site,
    csrf_token,
    csrf_valid,
    security_headers,
)
from focalpoint.console.views import Cursor, home_view, parse_cursor, worklist_rows
from focalpoint.console.visits import FIELDS as VISIT_FIELDS
from focalpoint.console.visits import may_record, read_visit_form, visit_form, visit_section
from focalpoint.errors import (
    FocalpointError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    TransportError,
    Unauthenticated,
    UsageError,
)
from focalpoint.exchange.body import Problem
from focalpoint.exchange.rules import KINDS, PERSONAL_DATA_KINDS, kind_type
from focalpoint.v1 import audit_pb2, local_pb2

__all__ = ["Console", "create_app"]


def log() -> Any:
    """The console's logger, as configured now (a fresh proxy: nothing cached at import)."""
    return structlog.get_logger("focalpoint.console")


HERE = Path(__file__).parent
_LANG: contextvars.ContextVar[PageLanguage] = contextvars.ContextVar("console_language")
_LOGIN_PURPOSE, _SESSION_PURPOSE = "login", "session"
_MAX_FIELD = 256  # longer than any user id, password or code the node accepts
_LANG_MAX_AGE = 365 * 86400

LOGIN_FAILED = N_(
    "Login failed: the user id, password or code is wrong, or the account is locked. Wait a moment and try again."
)
SESSION_ENDED = N_("Your session has ended. Please log in again.")
LOGGED_OUT = N_("You have logged out.")


class _NotLoggedIn(Exception):
    """No session cookie: the page needs a login first."""


@dataclass(frozen=True, slots=True)
class _ErrorPage:
    status: int
    title: str
    text: str


_ERRORS = {
    400: _ErrorPage(400, N_("The request was not understood"), N_("Go back and try again from the page before.")),
    403: _ErrorPage(
        403,
        N_("Not allowed"),
        N_(
            "This page or action is not open to you, or the form was too old or came from elsewhere."
            " Reload the page and try again."
        ),
    ),
    404: _ErrorPage(404, N_("Page not found"), N_("There is no page at this address.")),
    413: _ErrorPage(
        413,
        N_("The form is too large"),
        N_("The console takes a form of at most 2 MB. Shorten the longest texts and send it again."),
    ),
    405: _ErrorPage(405, N_("Not allowed"), N_("This page cannot be used this way.")),
    500: _ErrorPage(
        500,
        N_("Something went wrong"),
        N_("The console could not complete this. Try again; if it keeps happening, tell your operator."),
    ),
    503: _ErrorPage(
        503,
        N_("The node cannot be reached"),
        N_("The console cannot reach your node just now. Try again in a few minutes, or tell your operator."),
    ),
}


class Console:
    """The running console's parts: its configuration, secret, languages and page templates."""

    def __init__(self, config: ConsoleConfig, *, secret: bytes | None = None) -> None:
        self.config = config
        # Drawn at each start: form tokens of an earlier process no longer match (a reload fixes it).
        self.secret = secret if secret is not None else secrets.token_bytes(32)
        self.catalogs = Catalogs(config.languages, config.default_language, config.timezone)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            extensions=["jinja2.ext.i18n"],
            undefined=jinja2.StrictUndefined,
        )
        self.env.install_gettext_callables(  # type: ignore[attr-defined]
            gettext=lambda message: _LANG.get().gettext(message),
            ngettext=lambda singular, plural, n: _LANG.get().ngettext(singular, plural, n),
            newstyle=True,
        )
        # A user-entered value inside translated text keeps its own direction (an id in an Arabic sentence).
        self.env.filters["bdi"] = lambda value: markupsafe.Markup("<bdi>{}</bdi>").format(value)
        # The network code list, asked of the node on first need and kept for every page.
        self.codes = CodeBook()
        # One gRPC channel to the node for the whole process, opened at start-up (or at the first
        # page, when the server runs no lifespan) and closed at shutdown; each page's client
        # carries only its person's session on it.
        self._channel: LocalChannel | None = None

    # --- language, origin and rendering ---------------------------------------------------------

    def language(self, request: Request) -> PageLanguage:
        tag = choose_language(
            request.cookies.get(LANG_COOKIE),
            request.headers.get("accept-language", ""),
            self.config.languages,
            self.config.default_language,
        )
        return self.catalogs.page(tag)

    def origin(self, request: Request) -> str:
        if self.config.public_origin:
            return self.config.public_origin
        return f"{request.url.scheme}://{request.url.netloc}"

    def render(
        self,
        request: Request,
        template: str,
        status: int = 200,
        *,
        session: str | None = None,
        user: local_pb2.UserInfo | None = None,
        **context: Any,
    ) -> HTMLResponse:
        lang = self.language(request)
        token = _LANG.set(lang)
        try:
            html = self.env.get_template(template).render(
                lang=lang,
                languages=self.catalogs.names(lang),
                path=request.url.path,
                user=user,
                logout_csrf=csrf_token(self.secret, _SESSION_PURPOSE, session) if session else "",
                **context,
            )
        finally:
            _LANG.reset(token)
        return HTMLResponse(html, status_code=status)

    def error(self, request: Request, status: int) -> HTMLResponse:
        page = _ERRORS.get(status, _ERRORS[500])
        return self.render(request, "error.html", page.status, title=page.title, text=page.text)

    # --- the session ------------------------------------------------------------------------------

    def channel(self) -> LocalChannel:
        """The process's one channel to the node's local API (opened on first use)."""
        if self._channel is None:
            self._channel = LocalChannel(self.config.node_local_api)
        return self._channel

    async def close(self) -> None:
        """Close the channel to the node (at shutdown); a later page would open a new one."""
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    def client(self, session: str) -> LocalClient:
        """A client calling as ``session`` on the shared channel (closing it leaves the channel open)."""
        return LocalClient(self.channel(), session=session, timeout_s=self.config.node_timeout_seconds)

    @staticmethod
    def session_of(request: Request) -> str:
        session = request.cookies.get(SESSION_COOKIE)
        if not session:
            raise _NotLoggedIn
        return session

    def set_cookie(self, response: Response, name: str, value: str, max_age: int | None = None) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict", domain=None
        )

    @staticmethod
    def clear_cookie(response: Response, name: str) -> None:
        response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="strict")


# --- pages ----------------------------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    console: Console = request.app.state.console
    notice = ""
    if request.query_params.get("ended") == "1":
        notice = SESSION_ENDED
    elif request.query_params.get("bye") == "1":
        notice = LOGGED_OUT
    return _login_form(console, request, notice=notice)


def _login_form(
    console: Console,
    request: Request,
    status: int = 200,
    *,
    notice: str = "",
    failure: str = "",
    errors: dict[str, str] | None = None,
    user_id: str = "",
) -> Response:
    pre = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = console.render(
        request,
        "login.html",
        status,
        notice=notice,
        failure=failure,
        errors=errors or {},
        user_id=user_id,
        csrf=csrf_token(console.secret, _LOGIN_PURPOSE, pre),
    )
    if request.cookies.get(LOGIN_COOKIE) != pre:
        console.set_cookie(response, LOGIN_COOKIE, pre)
    return response


async def login_submit(request: Request) -> Response:
    console: Console = request.app.state.console
    form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
    if not csrf_valid(console.secret, _LOGIN_PURPOSE, request.cookies.get(LOGIN_COOKIE), _text(form.get("csrf"))):
        log().info("console_form_refused", route="login", why="csrf")
        return console.error(request, 403)
    fields = {name: _text(form.get(name)) or "" for name in ("user_id", "password", "code")}
    errors = {}
    for name, missing in (
        ("user_id", N_("Enter your user id.")),
        ("password", N_("Enter your password.")),
        ("code", N_("Enter the code from your authenticator app, or a recovery code.")),
    ):
        value = fields[name] if name == "password" else fields[name].strip()
        if not value:
            errors[name] = missing
        elif len(value) > _MAX_FIELD:
            errors[name] = N_("This is too long.")
    if errors:
        return _login_form(console, request, 400, errors=errors, user_id=fields["user_id"][:_MAX_FIELD])
    try:
        client, answer = await LocalClient.login(
            console.channel(),
            fields["user_id"].strip(),
            fields["password"],
            fields["code"].strip(),
            timeout_s=console.config.node_timeout_seconds,
        )
    except (Unauthenticated, UsageError):
        # One message whatever was wrong, as the node's own: never which part.
        log().info("console_login_refused")
        return _login_form(console, request, 401, failure=LOGIN_FAILED, user_id=fields["user_id"][:_MAX_FIELD])
    await client.close()
    log().info("console_login")
    response = RedirectResponse("/", status_code=303)
    console.set_cookie(response, SESSION_COOKIE, answer.session_token)
    console.clear_cookie(response, LOGIN_COOKIE)
    return response


async def logout(request: Request) -> Response:
    console: Console = request.app.state.console
    session = console.session_of(request)
    form = await _session_form(console, request, session, "logout")
    if form is None:
        return console.error(request, 403)
    async with console.client(session) as client:
        with contextlib.suppress(Unauthenticated):  # already ended: the outcome is the same
            await client.logout()
    log().info("console_logout")
    response = RedirectResponse("/login?bye=1", status_code=303)
    console.clear_cookie(response, SESSION_COOKIE)
    return response


async def _session_form(
    console: Console, request: Request, session: str, route: str, *, max_fields: int = 10, max_part_size: int = 4096
) -> FormData | None:
    """The posted form when it carries this session's form token; None (logged) when it does not."""
    form = await request.form(max_files=0, max_fields=max_fields, max_part_size=max_part_size)
    if not csrf_valid(console.secret, _SESSION_PURPOSE, session, _text(form.get("csrf"))):
        log().info("console_form_refused", route=route, why="csrf")
        return None
    return form


async def _having(client: LocalClient, role: str, why: str) -> local_pb2.UserInfo:
    """Who is logged in, when they hold ``role``; else PermissionDenied (the 403 page) saying ``why``.
    The node decides what each call shows; this only keeps a role's pages to that role."""
    user = await client.whoami()
    if role not in user.roles:
        raise PermissionDenied(why)
    return user


async def home(request: Request) -> Response:
    console: Console = request.app.state.console
    session = console.session_of(request)
    async with console.client(session) as client:
        user = await client.whoami()
    if "case_officer" in user.roles:
        return RedirectResponse("/worklist", status_code=303)
    if "operator" in user.roles:
        return RedirectResponse("/triage", status_code=303)
    if "consular_officer" in user.roles:
        return RedirectResponse("/nationals", status_code=303)
    if "auditor" in user.roles:
        return RedirectResponse("/indicators", status_code=303)
    view = home_view(user, console.language(request))
    return console.render(request, "home.html", session=session, user=user, view=view)


async def _case_page(
    client: LocalClient, unit: str | None, after: Cursor | None, size: int, path: str
) -> tuple[list[local_pb2.CaseSummary], str]:
    """One page of the case list (``unit``: None for every unit the node lets the caller see, ""
    for none), and the link to the next page at ``path`` ("" on the last)."""
    before = (after.updated_at_ms, after.link_id) if after else None
    cases = list((await client.list_cases(unit, limit=size + 1, before=before)).cases)
    if len(cases) <= size:
        return cases, ""
    cases = cases[:size]
    return cases, path + "?" + urlencode({"after": f"{cases[-1].updated_at_ms}.{cases[-1].link_id}"})


async def worklist(request: Request) -> Response:
    console: Console = request.app.state.console
    session = console.session_of(request)
    after = parse_cursor(request.query_params.get("after", ""))
    size = console.config.page_size
    async with console.client(session) as client:
        user = await _having(client, "case_officer", "the worklist is for case officers")
        cases, next_page = await _case_page(client, user.unit, after, size, "/worklist")
    rows = worklist_rows(cases, console.language(request))
    return console.render(
        request,
        "worklist.html",
        session=session,
        user=user,
        rows=rows,
        next_page=next_page,
        first_page="/worklist" if after else "",
    )


# --- the operator's pages (ROUTING view: never a name or case content) ----------------------------

ASSIGNED = N_("The case was given to the unit you chose and has left this list.")
CHOOSE_UNIT = N_("Choose one of the units in the list.")
ASSIGN_GONE = N_("This case is no longer waiting for a unit: another operator may have assigned it. Reload the list.")
ASSIGN_REFUSED = N_("The node refused to give this case to that unit. Check the unit and try again.")


async def _operator(client: LocalClient) -> local_pb2.UserInfo:
    return await _having(client, "operator", "the triage and deadline pages are for operators")


async def triage(request: Request) -> Response:
    console: Console = request.app.state.console
    session = console.session_of(request)
    after = parse_cursor(request.query_params.get("after", ""))
    notice = ASSIGNED if request.query_params.get("assigned") == "1" else ""
    return await _triage_page(console, request, session, after, notice=notice)


async def _triage_page(
    console: Console,
    request: Request,
    session: str,
    after: Cursor | None,
    status: int = 200,
    *,
    notice: str = "",
    failure: str = "",
    failed_link: str = "",
) -> Response:
    """The queue of links no unit owns (newest update first, paged like the worklist), each with
    its form; ``failure`` is shown at the top and beside ``failed_link``'s form."""
    size = console.config.page_size
    async with console.client(session) as client:
        user = await _operator(client)
        cases, next_page = await _case_page(client, "", after, size, "/triage")
        units = unit_choices((await client.list_users()).users)
    return console.render(
        request,
        "triage.html",
        status,
        session=session,
        user=user,
        rows=triage_rows(cases, console.language(request)),
        units=units,
        csrf=csrf_token(console.secret, _SESSION_PURPOSE, session),
        notice=notice,
        failure=failure,
        failed_link=failed_link,
        next_page=next_page,
        first_page="/triage" if after else "",
    )


async def triage_assign(request: Request) -> Response:
    """Give one waiting link to a unit of the list; then back to the queue with a notice (PRG),
    or the queue again with what went wrong beside the form."""
    console: Console = request.app.state.console
    session = console.session_of(request)
    form = await _session_form(console, request, session, "triage_assign")
    if form is None:
        return console.error(request, 403)
    link_id = str(request.path_params["link_id"])
    if not valid_link_id(link_id):
        raise UsageError("the case in the address is not one this console listed")
    unit = (_text(form.get("unit")) or "").strip()
    failure, status = "", 200
    async with console.client(session) as client:
        await _operator(client)
        if unit not in unit_choices((await client.list_users()).users):
            failure, status = CHOOSE_UNIT, 400
        else:
            try:
                await client.assign_case(link_id, unit=unit)
            except NotFound:
                failure, status = ASSIGN_GONE, 404
            except UsageError:
                failure, status = ASSIGN_REFUSED, 409
    if failure:
        log().info("console_assign_refused", status=status)
        return await _triage_page(
            console, request, session, None, status, failure=failure, failed_link=link_id if status != 404 else ""
        )
    log().info("console_assigned")
    return RedirectResponse("/triage?assigned=1", status_code=303)


async def deadlines(request: Request) -> Response:
    console: Console = request.app.state.console
    session = console.session_of(request)
    async with console.client(session) as client:
        user = await _operator(client)
        routing = await client.get_ageing("routing")
        bilateral = await client.get_ageing("bilateral")
    lang = console.language(request)
    routing_report, bilateral_report = _report(routing.report_json), _report(bilateral.report_json)
    rows, total = deadline_rows(routing_report, lang)
    return console.render(
        request,
        "deadlines.html",
        session=session,
        user=user,
        rows=rows,
        total=total,
        more=lang.number(total - len(rows)) if total > len(rows) else "",
        bilateral=bilateral_rows(bilateral_report, lang),
        buckets=[lang.gettext(BUCKET_LABELS[b]) for b in AGE_BUCKETS],
        chart=age_chart(bilateral_report, lang),
        unreadable=lang.number(max(routing.unreadable_links, bilateral.unreadable_links)),
        any_unreadable=bool(routing.unreadable_links or bilateral.unreadable_links),
    )


async def health(request: Request) -> Response:
    """Partners' reachability and clocks, this node's problems and the directory's health."""
    return await _health_page(request, check_now=False)


async def health_check(request: Request) -> Response:
    """Ask the node to check every partner now, then show the page (no redirect: the check is the answer)."""
    console: Console = request.app.state.console
    session = console.session_of(request)
    form = await _session_form(console, request, session, "health_check")
    if form is None:
        return console.error(request, 403)
    return await _health_page(request, check_now=True)


async def _health_page(request: Request, *, check_now: bool) -> Response:
    console: Console = request.app.state.console
    session = console.session_of(request)
    async with console.client(session) as client:
        user = await _operator(client)
        answer = await client.get_health(check_now=check_now)
    return console.render(
        request,
        "health.html",
        session=session,
        user=user,
        view=health_view(_report(answer.report_json), console.language(request)),
        checked=check_now,
        csrf=csrf_token(console.secret, _SESSION_PURPOSE, session),
    )


def _report(text: str) -> dict[str, object]:
    """An ageing report's JSON object; anything else reads as an empty report."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --- the auditor's pages (aggregates only: never a case) ------------------------------------------

PERIOD_FORMAT = N_("Enter a calendar year such as 2026 or a quarter such as 2026Q3.")
PERIOD_RUNNING = N_(
    "National indicators are computed only for a period that has ended: a running period computed"
    " twice would show the difference of the days between. Choose an earlier year or quarter."
)
PERIOD_REFUSED = N_("The node refused this period: it may not have begun yet. Choose an earlier year or quarter.")
NO_CHECKPOINT = N_("This node has signed no checkpoint of its audit log yet.")


async def _auditor(client: LocalClient) -> local_pb2.UserInfo:
    return await _having(client, "auditor", "the indicator, ageing and audit-log pages are for auditors")


async def indicators(request: Request) -> Response:
    """The national indicators of an ended year or quarter (``?period=``); without one, the chooser.
    A period written wrongly, or refused by the node (running, not begun), is said beside the form."""
    console: Console = request.app.state.console
    session = console.session_of(request)
    asked = (request.query_params.get("period") or "")[:32]
    outputs: list[dict[str, object]] = []
    failure, status, period, unreadable = "", 200, "", 0
    async with console.client(session) as client:
        user = await _auditor(client)
        if asked.strip():
            try:
                period = check_period(asked)
            except UsageError:
                failure, status = PERIOD_FORMAT, 400
            else:
                try:
                    answer = await client.get_indicators(period)
                except PreconditionFailed:
                    failure, status = PERIOD_RUNNING, 409
                except UsageError:
                    failure, status = PERIOD_REFUSED, 400
                else:
                    outputs = [o for o in (_report(raw) for raw in answer.outputs_json) if o]
                    unreadable = answer.unreadable_links
    if failure:
        log().info("console_indicators_refused", status=status)
    lang = console.language(request)
    return console.render(
        request,
        "indicators.html",
        status,
        session=session,
        user=user,
        asked=asked.strip(),
        period=period if not failure else "",
        failure=failure,
        indicators=indicator_views(outputs, lang),
        unreadable=lang.number(unreadable) if unreadable else "",
    )


async def ageing_audit(request: Request) -> Response:
    console: Console = request.app.state.console
    session = console.session_of(request)
    async with console.client(session) as client:
        user = await _auditor(client)
        answer = await client.get_ageing("audit")
    lang = console.language(request)
    return console.render(
        request,
        "ageing_audit.html",
        session=session,
        user=user,
        view=ageing_audit_view(_report(answer.report_json), lang),
        unreadable=lang.number(answer.unreadable_links) if answer.unreadable_links else "",
    )


async def audit_log(request: Request) -> Response:
    console: Console = request.app.state.console
    session = console.session_of(request)
    latest: audit_pb2.SignedCheckpoint | None = None
    async with console.client(session) as client:
        user = await _auditor(client)
        verified = await client.verify_audit()
        with contextlib.suppress(PreconditionFailed):  # none signed yet: said on the page
            latest = await client.checkpoint()
    view = audit_view(verified, latest, console.language(request))
    return console.render(request, "audit.html", session=session, user=user, view=view, no_checkpoint=NO_CHECKPOINT)


async def case_page(request: Request) -> Response:
    """One case link as the node serves it to the caller: whether they may see it, and in which
    view, is the node's decision (its NotFound and PermissionDenied become the 404 and 403 pages);
    the node audits the read."""
    console: Console = request.app.state.console
    session = console.session_of(request)
    link_id = check_link_id(request.path_params["link_id"])
    notice = _NOTICES.get(request.query_params.get("done", ""), "")
    return await _render_case(console, request, session, link_id, notice=notice)


async def _render_case(
    console: Console,
    request: Request,
    session: str,
    link_id: str,
    *,
    notice: str = "",
    failure: str = "",
    status: int = 200,
    visit: _VisitPost | None = None,
) -> Response:
    async with console.client(session) as client:
        user = await client.whoami()
        shown = await client.show_case(link_id, content=True)
        visits = _visits_part(console, request, session, user, shown, visit)
        deadlines = await client.case_deadlines(link_id) if serves_deadlines(shown.view) else None
        codes = await console.codes.load(client)  # None when the node cannot give it: schema names
    view = case_page_view(shown, deadlines, console.language(request), codes)
    return console.render(
        request,
        "case.html",
        status,
        session=session,
        user=user,
        case=view,
        notice=notice,
        failure=failure,
        csrf=csrf_token(console.secret, _SESSION_PURPOSE, session),
        may_write="case_officer" in user.roles and shown.view == "FULL" and not shown.link.closed,
        **visits,
    )


# --- messages: a structured form per kind, drafts and their approval (a case officer's) ----------

SENT = N_("The message was checked, signed and queued for the partner.")
DRAFTED = N_("The message waits for a second person's approval before it leaves.")
APPROVED = N_("You approved the message: it was signed and queued for the partner.")
APPROVE_OWN = N_("You prepared this message: another officer must approve it.")
NODE_REFUSED = N_("The node refused to send this message:")
_NOTICES = {"sent": SENT, "drafted": DRAFTED, "approved": APPROVED}
_FORM_FIELDS = 4000  # fields one message form may post
_FORM_PART = 200_000  # bytes of one posted field (a free text is at most 20,000 characters; the rules say so)
_FORM_BYTES = 2 << 20  # a whole posted form
_HEX_ID = 32  # a message id in hex


async def _officer(client: LocalClient) -> local_pb2.UserInfo:
    return await _having(client, "case_officer", "messages are written and approved by case officers")


def _message_refs(shown: local_pb2.ShowCaseResponse, lang: PageLanguage) -> tuple[tuple[str, Text], ...]:
    """The case's messages as a reference may name them: newest first, "kind – time – side"."""
    out = []
    for e in reversed(shown.timeline):
        kind = lang.gettext(kind_label(e.kind))
        side = lang.gettext(DIRECTION_LABELS.get(e.direction, e.direction))
        out.append((e.message_id.hex(), Text(f"{kind} – {lang.datetime(e.at_ms)} – {side}")))
    return tuple(out)


def _sendable(shown: local_pb2.ShowCaseResponse) -> list[str]:
    """The kinds the chooser offers: what the agreement lets this side send (the stage table still
    decides), amendments and withdrawals left to their own links on the timeline."""
    kinds = list(shown.send_defaults.kinds)
    if not kinds:
        side = Side(shown.link.our_side) if shown.link.our_side in ("IS", "OS") else None
        kinds = [k for k in KINDS if side is None or side in SENDERS.get(k, frozenset(Side))]
    return [k for k in kinds if k not in ("amendment", "withdrawal")]


def _kind_summary(kind: str, lang: PageLanguage) -> Text | None:
    summary = KIND_SUMMARIES.get(kind, "")
    if not summary:
        return None
    return say(summary.split(": ", 1)[-1], lang)


def _code_choices(
    codes: CodeList | None, version: str, lang: PageLanguage
) -> Callable[[EnumDescriptor, int], tuple[Text, str] | None] | None:
    """A code's label and definition from the signed list, offered only when the version both
    ends know has it; None without a list (the form then names codes as the schema does)."""
    if codes is None:
        return None

    def choice(enum: EnumDescriptor, number: int) -> tuple[Text, str] | None:
        if version and not codes.known_in(enum.full_name, number, version):
            return None
        said = code_text(codes, enum.full_name, number, lang.tag)
        return Text(said.label, foreign_language(said.language, lang.tag)), said.definition

    return choice


def _form_context(
    console: Console, shown: local_pb2.ShowCaseResponse, user: local_pb2.UserInfo, lang: PageLanguage
) -> FormContext:
    version = shown.send_defaults.code_list_version
    return FormContext(
        case_ref=shown.link.case_ref,
        code_list_version=version,
        code_text=_code_choices(console.codes.current, version, lang),
        messages=_message_refs(shown, lang),
        timezone=ZoneInfo(console.config.timezone),
        user_id=user.user_id,
        now_ms=int(time.time() * 1000),
    )


def _starting_values(
    kind: str, shown: local_pb2.ShowCaseResponse, user: local_pb2.UserInfo, ref: str
) -> dict[str, str]:
    """What a new form starts from: the context the node suggests and, with ``ref``, the message
    it is about (an amendment starts from the whole original)."""
    d = shown.send_defaults
    values = {
        "context.agreement_id": d.agreement_id,
        "context.sender_unit": user.unit or shown.link.unit,
        "context.recipient_unit": d.partner_unit,
        "context.urgency": {1: "ROUTINE", 2: "URGENT", 3: "EMERGENCY"}.get(shown.link.urgency, ""),
        "context.response_language": d.working_languages[0] if d.working_languages else "",
    }
    if not ref:
        return {k: v for k, v in values.items() if v}
    part = kind_type(kind)
    target = next(
        (
            f.name
            for f in part.fields
            if f.message_type is not None and f.message_type.name == "EvidenceRef" and not f.is_repeated
        ),
        "",
    )
    if target:
        values[f"{kind}.{target}.message_id"] = ref
    if kind == "amendment":
        original = next((e for e in shown.timeline if e.message_id.hex() == ref and e.HasField("body")), None)
        if original is not None:
            values.update(prefill(original.body, "amendment.replacement"))
            for key in [k for k in values if k.startswith("amendment.replacement.context.")]:
                values.setdefault(key.removeprefix("amendment.replacement."), values[key])
    return {k: v for k, v in values.items() if v}


def _node_text(e: FocalpointError) -> str:
    """What the node said, without the client's "node refused: CODE:" prefix."""
    return re.sub(r"^node refused: [A-Z_]+: ", "", str(e))


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise HTTPException(404)
    return kind


def _check_hex_id(value: str) -> str:
    value = value.strip().lower()
    if value and (len(value) != _HEX_ID or any(c not in "0123456789abcdef" for c in value)):
        raise UsageError("the message named in the address is not one of this case's")
    return value


async def message_kinds(request: Request) -> Response:
    """The chooser: which kind of message to write on this case."""
    console: Console = request.app.state.console
    session = console.session_of(request)
    link_id = check_link_id(request.path_params["link_id"])
    lang = console.language(request)
    reply_to = _check_hex_id(request.query_params.get("reply_to", "")[:64])
    async with console.client(session) as client:
        user = await _officer(client)
        shown = await client.show_case(link_id)
    kinds = [
        {"kind": k, "label": say(kind_label(k), lang), "summary": _kind_summary(k, lang)} for k in _sendable(shown)
    ]
    return console.render(
        request,
        "message_kinds.html",
        session=session,
        user=user,
        link_id=link_id,
        case_ref=shown.link.case_ref,
        kinds=kinds,
        query=("?" + urlencode({"reply_to": reply_to})) if reply_to else "",
        no_agreement=not shown.send_defaults.agreement_id,
    )


async def _message_page(
    console: Console,
    request: Request,
    session: str,
    user: local_pb2.UserInfo,
    shown: local_pb2.ShowCaseResponse,
    kind: str,
    values: Mapping[str, str],
    problems: list[Problem],
    status: int = 200,
    *,
    extra: tuple[str, ...] = (),
    reply_to: str = "",
) -> Response:
    lang = console.language(request)
    ctx = _form_context(console, shown, user, lang)
    widgets, summary = build_form(kind, values, problems, ctx, lang, extra=extra)
    link_id = shown.link.link_id
    return console.render(
        request,
        "message_form.html",
        status,
        session=session,
        user=user,
        link_id=link_id,
        case_ref=shown.link.case_ref,
        kind_label=say(kind_label(kind), lang),
        kind_summary=_kind_summary(kind, lang),
        widgets=widgets,
        problems=summary,
        action=f"/cases/{link_id}/messages/{kind}",
        csrf=csrf_token(console.secret, _SESSION_PURPOSE, session),
        replies=[(mid, text) for mid, text in ctx.messages],
        reply_to=reply_to,
        attested=kind in PERSONAL_DATA_KINDS,
    )


async def message_form(request: Request) -> Response:
    """An empty form of one kind (``?ref=`` the message it is about; ``?reply_to=`` the one it answers)."""
    console: Console = request.app.state.console
    session = console.session_of(request)
    link_id = check_link_id(request.path_params["link_id"])
    kind = _check_kind(str(request.path_params["kind"]))
    ref = _check_hex_id(request.query_params.get("ref", "")[:64])
    reply_to = _check_hex_id(request.query_params.get("reply_to", "")[:64])
    async with console.client(session) as client:
        user = await _officer(client)
        shown = await client.show_case(link_id, content=kind == "amendment")
        await console.codes.load(client)
    values = _starting_values(kind, shown, user, ref)
    return await _message_page(console, request, session, user, shown, kind, values, [], reply_to=reply_to)


async def message_submit(request: Request) -> Response:
    """Check a posted form: every problem at once beside its field, or send it (or keep it as a
    draft for a second person) and go back to the case with a notice. "Add another" posts the form
    back with one more entry of a list, unchecked."""
    console: Console = request.app.state.console
    session = console.session_of(request)
    link_id = check_link_id(request.path_params["link_id"])
    kind = _check_kind(str(request.path_params["kind"]))
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > _FORM_BYTES:  # read whole by the parser: bounded first
        log().info("console_form_refused", route="message", why="size")
        return console.error(request, 413)
    form = await _session_form(console, request, session, "message", max_fields=_FORM_FIELDS, max_part_size=_FORM_PART)
    if form is None:
        return console.error(request, 403)
    posted = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    values = values_of(posted)
    reply_to = _check_hex_id(_text(form.get("_reply_to")) or "")
    add = _text(form.get(ADD)) or ""
    async with console.client(session) as client:
        user = await _officer(client)
        shown = await client.show_case(link_id)
        await console.codes.load(client)
        if add:
            return await _message_page(
                console, request, session, user, shown, kind, values, [], extra=(add,), reply_to=reply_to
            )
        lang = console.language(request)
        ctx = _form_context(console, shown, user, lang)
        body, problems = check_posted(kind, values, ctx, now_ms=ctx.now_ms)
        if body is None:
            log().info("console_message_refused", status=400, why="form", problems=len(problems))
            return await _message_page(
                console, request, session, user, shown, kind, values, problems, 400, reply_to=reply_to
            )
        try:
            sent = await client.send_case(link_id, body=body, in_reply_to=bytes.fromhex(reply_to) if reply_to else b"")
        except UsageError as e:
            problems = posted_problems(_node_text(e))
            status = 400
        except PreconditionFailed as e:
            problems = [Problem("", f"{lang.gettext(NODE_REFUSED)} {_node_text(e)}")]
            status = 409
        else:
            log().info("console_message_sent", drafted=bool(sent.draft_id))
            return RedirectResponse(f"/cases/{link_id}?done={'drafted' if sent.draft_id else 'sent'}", status_code=303)
    log().info("console_message_refused", status=status, why="node", problems=len(problems))
    return await _message_page(
        console, request, session, user, shown, kind, values, problems, status, reply_to=reply_to
    )


async def approve_draft(request: Request) -> Response:
    """Approve another officer's draft: the node records the approval, signs and queues it."""
    console: Console = request.app.state.console
    session = console.session_of(request)
    link_id = check_link_id(request.path_params["link_id"])
    draft_id = _check_hex_id(str(request.path_params["draft_id"])) or "-"
    form = await _session_form(console, request, session, "approve")
    if form is None:
        return console.error(request, 403)
    lang = console.language(request)
    async with console.client(session) as client:
        user = await _officer(client)
        drafts = (await client.list_drafts(link_id)).drafts
        try:
            if any(d.draft_id == draft_id and d.prepared_by == user.user_id for d in drafts):
                raise PermissionDenied("the preparer approves nothing of their own")
            await client.approve_draft(link_id, draft_id)
        except PermissionDenied:
            failure = lang.gettext(APPROVE_OWN)
        except (PreconditionFailed, UsageError, NotFound) as e:
            failure = f"{lang.gettext(NODE_REFUSED)} {_node_text(e)}"
        else:
            log().info("console_draft_approved")
            return RedirectResponse(f"/cases/{link_id}?done=approved", status_code=303)
    log().info("console_approval_refused")
    return await _render_case(console, request, session, link_id, failure=failure, status=409)


async def approvals(request: Request) -> Response:
    """The drafts of the officer's unit that wait for a second person, other than their own."""
    console: Console = request.app.state.console
    session = console.session_of(request)
    lang = console.language(request)
    async with console.client(session) as client:
        user = await _officer(client)
        drafts = (await client.list_drafts()).drafts
    rows = [
        {
            "link_id": d.link_id,
            "case_ref": d.case_ref,
            "kind": say(kind_label(d.kind), lang),
            "prepared_by": d.prepared_by,
            "at": lang.datetime(d.at_ms),
        }
        for d in drafts
        if d.prepared_by != user.user_id
    ]
    return console.render(request, "approvals.html", session=session, user=user, rows=rows)


# --- the consular officer's pages (REPATRIATION view: what a return needs, no free text) ----------


async def nationals(request: Request) -> Response:
    """A consul's own nationals' open cases, newest update first, paged like the worklist. The
    node lists only the links the consul may reach; the console asks for no unit and adds nothing."""
    console: Console = request.app.state.console
    session = console.session_of(request)
    after = parse_cursor(request.query_params.get("after", ""))
    size = console.config.page_size
    async with console.client(session) as client:
        user = await _having(client, "consular_officer", "the nationals' list is for consular officers")
        cases, next_page = await _case_page(client, None, after, size, "/nationals")
    return console.render(
        request,
        "nationals.html",
        session=session,
        user=user,
        rows=national_rows(cases, user, console.language(request)),
        next_page=next_page,
        first_page="/nationals" if after else "",
    )


# --- the auditor's access review of one case (METADATA: who saw it, never its content) -----------

REVIEW_NOT_FOUND = N_("No case with this reference is known to this node. Check the reference and try again.")
_REVIEW_LIMIT = 200


async def access_review(request: Request) -> Response:
    """Who saw one case (``?case_ref=``); without one, the form. A reference that cannot be one is
    said beside the field and never sent to the node; the node records the review itself."""
    console: Console = request.app.state.console
    session = console.session_of(request)
    asked = (request.query_params.get("case_ref") or "")[:128]
    answer: local_pb2.AccessReviewResponse | None = None
    failure, status, case_ref = "", 200, ""
    async with console.client(session) as client:
        user = await _having(client, "auditor", "the access review is for auditors")
        if asked.strip():
            try:
                case_ref = check_ref(asked)
            except UsageError as e:
                failure, status = str(e), 400
            else:
                try:
                    answer = await client.access_review(case_ref, limit=_REVIEW_LIMIT)
                except NotFound:
                    failure, status = REVIEW_NOT_FOUND, 404
                except UsageError:
                    failure, status = REF_FORMAT, 400
    if failure:
        log().info("console_access_review_refused", status=status)
    lang = console.language(request)
    return console.render(
        request,
        "access_review.html",
        status,
        session=session,
        user=user,
        asked=asked.strip(),
        case_ref=case_ref if answer is not None else "",
        failure=failure,
        rows=access_rows(answer.entries, lang) if answer is not None else [],
        truncated=lang.number(_REVIEW_LIMIT) if answer is not None and answer.truncated else "",
    )


# --- consular visits on the case page (docs/consuls.md): the list, and the form that records one ---

VISIT_RECORDED = N_("The consular visit was recorded. It stays at this node: it is not sent to the partner State.")
VISIT_INVALID = N_("The visit was not recorded: correct the fields marked below.")
VISIT_CLOSED = N_("This case is closed: a consular visit can no longer be recorded on it.")
VISIT_REFUSED = N_("The node did not record the visit. Check the fields and try again.")
VISIT_NOT_YOURS = "recording a consular visit is for the consul of an own national or the owning unit's officers"


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class _VisitPost:
    """A consular-visit form the node did not record: what was posted, each field's problem, and why."""

    posted: Mapping[str, Sequence[str]]
    errors: Mapping[str, str]
    failure: str


def _visits_part(
    console: Console,
    request: Request,
    session: str,
    user: local_pb2.UserInfo,
    shown: local_pb2.ShowCaseResponse,
    visit: _VisitPost | None,
) -> dict[str, Any]:
    """What the case page's consular-visit section shows (templates/consular_visits.html): the
    visits the node served and, for a reader who may record one, the form (``visit``: as posted,
    with its problems). A form posted by a reader who may not record is the 403 page: nothing of
    it is judged for them."""
    if visit is not None and not may_record(shown, user):
        raise PermissionDenied(VISIT_NOT_YOURS)
    lang = console.language(request)
    csrf = csrf_token(console.secret, _SESSION_PURPOSE, session)
    form = visit_form(
        shown.link.link_id,
        csrf,
        lang,
        now_ms=_now_ms(),
        posted=visit.posted if visit else None,
        errors=visit.errors if visit else None,
    )
    recorded = request.method == "GET" and request.query_params.get("visit") == "recorded"
    return {
        "visits": visit_section(shown, user, form, lang),
        "visit_notice": VISIT_RECORDED if recorded else "",
        "visit_failure": visit.failure if visit else "",
    }


async def record_consular_visit(request: Request) -> Response:
    """Record a consular visit on the case (the node decides who may, and judges it again); then
    back to the case page with a notice (PRG), or the case page again with every problem beside
    its field."""
    console: Console = request.app.state.console
    session = console.session_of(request)
    form = await _session_form(console, request, session, "record_consular_visit", max_fields=40, max_part_size=4096)
    if form is None:
        return console.error(request, 403)
    link_id = check_link_id(request.path_params["link_id"])
    posted = {name: [v for v in form.getlist(name) if isinstance(v, str)] for name in VISIT_FIELDS}
    visit, errors = read_visit_form(posted, now_ms=_now_ms())
    failure, status = (VISIT_INVALID, 400) if errors else ("", 200)
    if not errors:
        async with console.client(session) as client:
            try:
                await client.record_consular_visit(link_id, visit)
            except PreconditionFailed:
                failure, status = VISIT_CLOSED, 409
            except UsageError:
                failure, status = VISIT_REFUSED, 400
    if not failure:
        log().info("console_consular_visit_recorded")
        return RedirectResponse(f"/cases/{link_id}?visit=recorded#visits-heading", status_code=303)
    log().info("console_consular_visit_refused", status=status)
    return await _render_case(
        console, request, session, link_id, status=status, visit=_VisitPost(posted, errors, failure)
    )


# --- notifications: one's own contact and preferences, the operators' on-call list (docs/adr/0021) ---

NOTIFICATIONS_SAVED = N_("Your notification settings were saved.")
NOTIFICATIONS_UNCHANGED = N_("Nothing was changed: the settings are as they were.")
NOTIFICATIONS_INVALID = N_("Nothing was saved: correct the fields marked below.")
NOTIFICATIONS_REFUSED = N_("The node refused these settings; nothing was saved.")
NOTIFICATIONS_PARTLY_SAVED = N_(
    "Your choice of families was saved, but the node refused the address or language marked below."
)
ADDRESS_REFUSED = N_("The node refused this e-mail address. Enter an address such as duty.officer@example.org.")
ON_CALL_ADDED = N_("The account was put on the on-call list.")
ON_CALL_REMOVED = N_("The account was taken off the on-call list.")
ON_CALL_CHOOSE = N_("Choose one of the active accounts in the list.")
ON_CALL_REFUSED = N_("The node refused this change of the on-call list. Reload the page and try again.")
_NOTIFICATION_FIELDS = ("email", "language", "on")


async def account_notifications(request: Request) -> Response:
    """One's own notification settings and the form that changes them."""
    console: Console = request.app.state.console
    session = console.session_of(request)
    async with console.client(session) as client:
        user = await client.whoami()
    notice = NOTIFICATIONS_SAVED if request.query_params.get("saved") == "1" else ""
    if request.query_params.get("saved") == "0":
        notice = NOTIFICATIONS_UNCHANGED
    return _notifications_page(console, request, session, user, notice=notice)


def _notifications_page(
    console: Console,
    request: Request,
    session: str,
    user: local_pb2.UserInfo,
    status: int = 200,
    *,
    notice: str = "",
    failure: str = "",
    reasons: Sequence[str] = (),
    errors: Mapping[str, str] | None = None,
    posted: Mapping[str, Sequence[str]] | None = None,
) -> Response:
    """The page, as the node has the settings or (``posted``) as the person sent them."""
    lang = console.language(request)
    on = posted.get("on", []) if posted is not None else None
    return console.render(
        request,
        "notifications.html",
        status,
        session=session,
        user=user,
        csrf=csrf_token(console.secret, _SESSION_PURPOSE, session),
        email=(posted.get("email") or [""])[0][: notifications.MAX_EMAIL + 64] if posted is not None else user.email,
        language=(posted.get("language") or [""])[0] if posted is not None else (user.language or "en"),
        languages_offered=list(notifications.LANGUAGE_NAMES.items()),
        families=notifications.family_rows(user, lang, on),
        notice=notice,
        failure=failure,
        reasons=[lang.gettext(r) for r in reasons],
        errors={k: lang.gettext(v) for k, v in (errors or {}).items()},
    )


async def account_notifications_submit(request: Request) -> Response:
    """Save one's own address, language and families: checked here, then by the node, which decides
    and audits; then back to the page with a notice (PRG), or the page again with each problem
    beside its field. Only what changed is sent, families first (the call the node may refuse on
    its rules), so that refusal leaves everything as it was; the address the node checks again
    (with the same rule as here), and a refusal of it after the families were saved says so."""
    console: Console = request.app.state.console
    session = console.session_of(request)
    form = await _session_form(console, request, session, "account_notifications", max_part_size=1024)
    if form is None:
        return console.error(request, 403)
    posted = {name: [v for v in form.getlist(name) if isinstance(v, str)] for name in _NOTIFICATION_FIELDS}
    choice, errors = notifications.read_choice(posted)
    async with console.client(session) as client:
        user = await client.whoami()
        if errors:
            log().info("console_notifications_refused", status=400, why="form")
            return _notifications_page(
                console, request, session, user, 400, failure=NOTIFICATIONS_INVALID, errors=errors, posted=posted
            )
        changed, failure = False, ""
        reasons: list[str] = []
        field: dict[str, str] = {}
        if choice.off != frozenset(user.notifications_off):
            try:
                await client.set_notifications(off=sorted(choice.off))
                changed = True
            except UsageError:
                failure, reasons = NOTIFICATIONS_REFUSED, notifications.refusal_reasons(choice.off, user)
        email = choice.email if choice.email != user.email else None
        language = choice.language if choice.language != (user.language or "en") else ""
        if not failure and (email is not None or language):
            try:
                await client.set_contact(email=email, language=language)
                changed = True
            except UsageError:
                failure = NOTIFICATIONS_PARTLY_SAVED if changed else NOTIFICATIONS_REFUSED
                field = {"email": ADDRESS_REFUSED} if email is not None else {"language": notifications.LANGUAGE_CHOICE}
        if failure:
            log().info("console_notifications_refused", status=409, why="node")
            user = await client.whoami()
            return _notifications_page(
                console,
                request,
                session,
                user,
                409,
                failure=failure,
                reasons=reasons,
                errors=field,
                posted=posted,
            )
    log().info("console_notifications_saved", changed=changed)
    return RedirectResponse(f"/account/notifications?saved={int(changed)}", status_code=303)


async def on_call(request: Request) -> Response:
    """The operators' 24/7 on-call list."""
    console: Console = request.app.state.console
    session = console.session_of(request)
    notice = {"added": ON_CALL_ADDED, "removed": ON_CALL_REMOVED}.get(request.query_params.get("done", ""), "")
    return await _on_call_page(console, request, session, notice=notice)


async def _on_call_page(
    console: Console, request: Request, session: str, status: int = 200, *, notice: str = "", failure: str = ""
) -> Response:
    async with console.client(session) as client:
        user = await _having(client, "operator", "the on-call list is for operators")
        users = (await client.list_users()).users
    rows = notifications.on_call_rows(users)
    return console.render(
        request,
        "on_call.html",
        status,
        session=session,
        user=user,
        csrf=csrf_token(console.secret, _SESSION_PURPOSE, session),
        rows=rows,
        nobody=not any(not r.disabled for r in rows),
        choices=notifications.on_call_choices(users),
        notice=notice,
        failure=failure,
    )


async def on_call_submit(request: Request) -> Response:
    """Put an account on the list (one of the active accounts offered) or take one off; the node
    decides and audits. Then back to the list with a notice (PRG), or the list with what went wrong."""
    console: Console = request.app.state.console
    session = console.session_of(request)
    form = await _session_form(console, request, session, "on_call")
    if form is None:
        return console.error(request, 403)
    user_id = (_text(form.get("user_id")) or "").strip()
    put_on = _text(form.get("on_call")) == "1"
    failure, status = "", 200
    async with console.client(session) as client:
        await _having(client, "operator", "the on-call list is for operators")
        users = (await client.list_users()).users
        offered = (
            {u for u, _ in notifications.on_call_choices(users)}
            if put_on
            else {r.user_id for r in notifications.on_call_rows(users)}
        )
        if user_id not in offered:
            failure, status = ON_CALL_CHOOSE, 400
        else:
            try:
                await client.set_on_call(user_id, put_on)
            except (UsageError, NotFound, PreconditionFailed):
                failure, status = ON_CALL_REFUSED, 409
    if failure:
        log().info("console_on_call_refused", status=status)
        return await _on_call_page(console, request, session, status, failure=failure)
    log().info("console_on_call_changed", on_call=put_on)
    return RedirectResponse(f"/on-call?done={'added' if put_on else 'removed'}", status_code=303)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


# --- errors ----------------------------------------------------------------------------------------


def _handler(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> Response:
        console: Console = request.app.state.console
        log().info("console_refused", status=status, error=type(exc).__name__)
        return console.error(request, status)

    return handle


async def _session_ended(request: Request, exc: Exception) -> Response:
    console: Console = request.app.state.console
    log().info("console_session_ended")
    response = RedirectResponse("/login?ended=1", status_code=303)
    console.clear_cookie(response, SESSION_COOKIE)
    return response


async def _not_logged_in(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/login", status_code=303)


async def _http_error(request: Request, exc: Exception) -> Response:
    console: Console = request.app.state.console
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return console.error(request, status if status in _ERRORS else 500)


# --- what wraps every request --------------------------------------------------------------------


class _Guard:
    """Around every request: the security headers on every response; POSTs from another site
    refused; ``?lang=`` on a GET turned into the language cookie; an unexpected failure turned
    into the 500 page (no internals); one log line per request naming the route, never the path."""

    def __init__(self, app: ASGIApp, console: Console) -> None:
        self.app, self.console = app, console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        tls = self.console.config.tls or self.console.config.public_origin.startswith("https:")
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                raw = list(message.get("headers", []))
                html = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in raw)
                raw += [(k.encode(), v.encode()) for k, v in security_headers(html=html, tls=tls)]
                message = {**message, "headers": raw}
            await send(message)

        request = Request(scope, receive)
        try:
            early = self._early(request)
            if early is not None:
                await early(scope, receive, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
        except Exception as e:
            # The type only: an exception's text may quote what a page held.
            log().error("console_error", error=type(e).__name__)
            if not response_started:
                await self.console.error(request, 500)(scope, receive, send_with_headers)
            # Else Starlette already sent the 500 page (and re-raised for the server's log, which
            # would print the exception's text): it ends here.
        finally:
            endpoint = scope.get("endpoint")
            log().info(
                "console_request",
                method=scope["method"],
                route=getattr(endpoint, "__name__", "static" if scope["path"].startswith("/static/") else "none"),
                status=status,
                ms=round((time.monotonic() - started) * 1000, 1),
            )

    def _early(self, request: Request) -> Response | None:
        console = self.console
        if request.method == "POST" and cross_site(request.headers, console.origin(request)):
            log().info("console_form_refused", why="cross_site")
            return console.error(request, 403)
        if request.method == "GET" and "lang" in request.query_params:
            wanted = request.query_params["lang"]
            kept = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
            target = URL(path=request.url.path, query=urlencode(kept)) if kept else URL(path=request.url.path)
            response = RedirectResponse(str(target), status_code=303)
            if wanted in console.config.languages:
                console.set_cookie(response, LANG_COOKIE, wanted, max_age=_LANG_MAX_AGE)
            return response
        return None


@contextlib.asynccontextmanager
async def _lifespan(console: Console) -> AsyncIterator[None]:
    """The server's start-up and shutdown: the channel to the node opened once, closed once."""
    console.channel()
    try:
        yield
    finally:
        await console.close()


def create_app(config: ConsoleConfig, *, secret: bytes | None = None) -> ASGIApp:
    """The console as an ASGI application (``secret``: the CSRF key, drawn at random by default)."""
    console = Console(config, secret=secret)
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        _NotLoggedIn: _not_logged_in,
        Unauthenticated: _session_ended,
        PermissionDenied: _handler(403),
        NotFound: _handler(404),
        UsageError: _handler(400),
        TransportError: _handler(503),
        FocalpointError: _handler(500),
        HTTPException: _http_error,
        Exception: _handler(500),
    }
    app = Starlette(
        routes=[
            Route("/", home, methods=["GET"]),
            Route("/login", login_page, methods=["GET"]),
            Route("/login", login_submit, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/worklist", worklist, methods=["GET"]),
            Route("/triage", triage, methods=["GET"]),
            Route("/triage/{link_id}/assign", triage_assign, methods=["POST"]),
            Route("/deadlines", deadlines, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/health/check", health_check, methods=["POST"]),
            Route("/cases/{link_id}", case_page, methods=["GET"]),
            Route("/cases/{link_id}/messages", message_kinds, methods=["GET"]),
            Route("/cases/{link_id}/messages/{kind}", message_form, methods=["GET"]),
            Route("/cases/{link_id}/messages/{kind}", message_submit, methods=["POST"]),
            Route("/cases/{link_id}/drafts/{draft_id}/approve", approve_draft, methods=["POST"]),
            Route("/approvals", approvals, methods=["GET"]),
            Route("/nationals", nationals, methods=["GET"]),
            Route("/cases/{link_id}/consular-visit", record_consular_visit, methods=["POST"]),
            Route("/indicators", indicators, methods=["GET"]),
            Route("/ageing-audit", ageing_audit, methods=["GET"]),
            Route("/audit", audit_log, methods=["GET"]),
            Route("/access-review", access_review, methods=["GET"]),
            Route("/account/notifications", account_notifications, methods=["GET"]),
            Route("/account/notifications", account_notifications_submit, methods=["POST"]),
            Route("/on-call", on_call, methods=["GET"]),
            Route("/on-call", on_call_submit, methods=["POST"]),
            Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        ],
        exception_handlers=handlers,
        lifespan=lambda _app: _lifespan(console),
    )
    app.state.console = console
    return _Guard(app, console)

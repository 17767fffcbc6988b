"""The local API's one door: every call is authorised here, from the caller's session, by the
permission matrix the pure core declares (``focalpoint.people.permissions``).

A caller presents either a session (``authorization: Session <token>``, from ``Login``: a person,
with their roles) or the node's machine credential (``authorization: Bearer <token>``, the file
``local-api.token`` beside the node's keys: automation that reads no case data, so it reaches only
the calls declared ``machine=True``). A client-supplied actor (``fp-actor``) is refused: the audit
log names the account of the session, never a name a client typed.

``guarded`` is the one decorator every servicer method wears: it admits the caller for the
method's action (and, for a call about one case, the case it names), writes ACCESS_DENIED for a
refusal, and answers every error through the one status map. A handler that learns its case only
from content it must read first (``GetMessage``) asks ``Door.on_case`` — the same decision, the
same audit. Reads of a case are recorded by ``Door.served``: the READ event (the account, the view,
the purpose) committed before anything leaves, then the anomaly rules
(``focalpoint.people.watch``).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import grpc
import structlog

from focalpoint.audit import events as audit_events
from focalpoint.cases.views import nationality_answer
from focalpoint.errors import FocalpointError, NotFound, PermissionDenied, Unauthenticated, UsageError
from focalpoint.ids import ACTOR_METADATA
from focalpoint.net.status import abort
from focalpoint.node.accounts import Accounts
from focalpoint.node.casework import CaseWork
from focalpoint.node.ports import Clock, Notifier
from focalpoint.people import permissions
from focalpoint.people.permissions import Action, Decision, Target, View
from focalpoint.people.roles import Account, Role
from focalpoint.people.watch import Read, Watch
from focalpoint.storage.base import LinkRow, Store

__all__ = ["LATER", "MACHINE_ACTOR", "READ", "Caller", "Door", "guarded"]

log = structlog.get_logger("focalpoint.local_api")

# The actor the audit log names for the node's machine credential.
MACHINE_ACTOR = "node"
# A read of a case: the richest view the caller may have (``permissions.read``).
READ = "read"
# The handler decides once it has parsed what the call is about (``Door.decide``, ``Door.on_message``);
# until then the caller is authenticated but allowed nothing.
LATER = "later"

ALLOWED = Decision(True)
Req = TypeVar("Req")
Resp = TypeVar("Resp")
Context = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[[Any, Req, Context, "Caller"], Coroutine[Any, Any, Resp]]
Method = Callable[[Any, Req, Context], Coroutine[Any, Any, Resp]]
ActionOf = Action | str | Callable[[Any], Action]
About = Callable[[Any, Any], Awaitable[LinkRow | None]]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, and what the door decided."""

    account: Account | None  # None: the machine credential (or a call that needs no one)
    token: str = ""  # the session token ("" for the machine credential)
    decision: Decision = ALLOWED
    action: Action = Action.HEALTH
    link: LinkRow | None = None
    source: str = ""
    target: Target | None = None  # what the decision knew of ``link`` (None: no case, or not decided)

    @property
    def actor(self) -> str:
        return self.account.user_id if self.account is not None else MACHINE_ACTOR

    @property
    def view(self) -> View:
        return self.decision.view


class Door:
    def __init__(
        self,
        *,
        machine_token: str,
        accounts: Accounts,
        store: Store,
        work: CaseWork,
        clock_ms: Clock,
        notifier: Notifier,
        watch: Watch | None = None,
    ) -> None:
        self._machine = f"Bearer {machine_token}".encode()
        self.accounts = accounts
        self._store = store
        self._work = work
        self._clock = clock_ms
        self._notifier = notifier
        self._watch = watch or Watch()

    async def admit(
        self,
        context: Context,
        action: Action | str,
        *,
        find: Callable[[], Awaitable[LinkRow | None]] | None,
        machine: bool,
        public: bool,
    ) -> Caller:
        """Authenticate first, then find the case the call names (so an unknown caller learns
        nothing of which cases exist), then decide."""
        metadata = dict(context.invocation_metadata() or ())
        source = _address(context.peer() or "")
        if ACTOR_METADATA in metadata:
            raise UsageError(
                f"{ACTOR_METADATA} is not accepted: the node records the user of the session (log in instead)"
            )
        if public:
            return Caller(None, source=source)
        supplied = metadata.get("authorization", "")
        if not isinstance(supplied, str) or not supplied:
            raise Unauthenticated("log in first (focalpoint login): this call needs a session")
        if supplied.startswith("Bearer "):
            if not hmac.compare_digest(supplied.encode(), self._machine):
                raise Unauthenticated("wrong machine credential")
            if not machine:
                name = action.value if isinstance(action, Action) else action
                await self._denied(MACHINE_ACTOR, name, None)
                raise PermissionDenied(
                    "the node's machine credential reads no case data and changes nothing: log in as a person"
                    " (focalpoint login)"
                )
            return Caller(None, source=source)
        if not supplied.startswith("Session "):
            raise Unauthenticated("the authorization must be 'Session <token>' (focalpoint login)")
        token = supplied.removeprefix("Session ")
        account = await self.accounts.authenticate(token)
        caller = Caller(account, token=token, source=source)
        about = await find() if find is not None else None
        if find is not None and about is None:
            raise NotFound("no such case link")
        if action == LATER:
            return Caller(account, token, Decision(False, reason="not decided yet"), link=about, source=source)
        if not isinstance(action, Action):  # READ: the view is decided on the case
            if about is None:
                raise UsageError("name the case")
            return await self.on_case(caller, READ, about)
        return await self.decide(caller, action, about)

    async def decide(self, caller: Caller, action: Action, about: LinkRow | None) -> Caller:
        """May the caller do ``action`` (on the case ``about``)? Raises PermissionDenied, after
        writing ACCESS_DENIED, when not."""
        account = caller.account
        assert account is not None
        if about is None:
            return await self._verdict(caller, action, permissions.decide(account, action), None)
        target, glass = await self._standing(account, about)
        decision = permissions.decide(account, action, target, break_glass=glass)
        return await self._verdict(caller, action, decision, about, target=target)

    async def may_any(self, caller: Caller, actions: tuple[Action, ...], about: LinkRow) -> None:
        """Refuse (as ``decide`` does, for the first action) unless the caller may do at least one
        of ``actions`` on the case: checked before a request is parsed and validated, so that
        someone who may do none of them learns nothing from the validation."""
        account = caller.account
        assert account is not None
        target, glass = await self._standing(account, about)
        decisions = [permissions.decide(account, a, target, break_glass=glass) for a in actions]
        if not any(d.allowed for d in decisions):
            await self._verdict(caller, actions[0], decisions[0], about)

    async def on_case(self, caller: Caller, action: Action | str, link: LinkRow) -> Caller:
        """The decision for one case; READ picks the richest view the caller may read."""
        if isinstance(action, Action):
            return await self.decide(caller, action, link)
        account = caller.account
        assert account is not None
        target, glass = await self._standing(account, link)
        chosen, decision = permissions.read(account, target, break_glass=glass)
        return await self._verdict(caller, chosen, decision, link, target=target)

    async def _standing(self, account: Account, link: LinkRow) -> tuple[Target, bool]:
        """What the matrix reads of ``link`` for ``account``, and whether its break-glass is open."""
        target = await self.target(link, account)
        return target, await self.accounts.break_glass_open(account.user_id, link.link_id)

    async def on_message(
        self, caller: Caller, case_ref: str, peer: str, *, unit: str = ""
    ) -> tuple[Caller, LinkRow | None]:
        """The READ decision for a stored message of ``case_ref`` exchanged with ``peer``: its
        link's, or, for a message no link holds (parked, or not a case message), as for a case
        owned by the ``unit`` the message was addressed to or sent from ("" when it names none:
        the focal point's triage)."""
        link = await self._store.cases.link_by_ref(case_ref, peer) if case_ref else None
        if link is not None:
            return await self.on_case(caller, READ, link), link
        account = caller.account
        assert account is not None
        chosen, decision = permissions.read(account, Target(unit=unit, os_state="", is_state=""))
        return await self._verdict(caller, chosen, decision, None, case_ref=case_ref), None

    async def on_unlinked(self, caller: Caller, action: Action, case_ref: str, *, unit: str = "") -> Caller:
        """``decide`` for messages of ``case_ref`` that no case link holds, as owned by ``unit``."""
        account = caller.account
        assert account is not None
        decision = permissions.decide(account, action, Target(unit=unit, os_state="", is_state=""))
        return await self._verdict(caller, action, decision, None, case_ref=case_ref)

    async def _verdict(
        self,
        caller: Caller,
        action: Action,
        decision: Decision,
        link: LinkRow | None,
        *,
        case_ref: str = "",
        target: Target | None = None,
    ) -> Caller:
        if not decision.allowed:
            await self._denied(caller.actor, action.value, link, case_ref=case_ref)
            raise PermissionDenied(decision.reason or f"{action.value} is not allowed")
        return Caller(caller.account, caller.token, decision, action, link, caller.source, target)

    async def refuse(self, caller: Caller, action: Action, reason: str, *, link: LinkRow | None = None) -> None:
        """Refuse what a handler found the caller may not do (ACCESS_DENIED, then PermissionDenied)."""
        await self._denied(caller.actor, action.value, link)
        raise PermissionDenied(f"{action.value}: {reason}")

    async def _denied(self, actor: str, action: str, link: LinkRow | None, *, case_ref: str = "") -> None:
        ref = link.case_ref if link is not None else case_ref
        event = audit_events.access_denied(at_ms=self._clock(), actor=actor, action=action, case_ref=ref)
        await self._store.audit.record([event], ref)
        log.info("access_denied", action=action)

    async def target(self, link: LinkRow, account: Account) -> Target:
        """What the matrix needs to know of a case (its nationality answer only for a consul)."""
        is_state, os_state = self._work.states(link)
        nationality = ""
        if Role.CONSULAR_OFFICER in account.roles:
            nationality = nationality_answer(await self._work.state(link))
        return Target(
            unit=link.unit,
            os_state=os_state,
            is_state=is_state,
            nationality=nationality,
            restricted_to=await self.accounts.restricted_to(link.link_id),
            closed=link.closed,
        )

    async def served(
        self, caller: Caller, link: LinkRow | None, *, message_id: bytes = b"", case_ref: str = "", peer: str = ""
    ) -> None:
        """Record that the caller is served ``link`` (or a message of ``case_ref`` no link holds)
        in their view: the READ event is committed before the answer leaves; then the anomaly
        rules run (alerts never block the read)."""
        if not caller.decision.allowed:
            raise PermissionDenied("nothing may be served before the door decided")
        now = self._clock()
        ref = link.case_ref if link is not None else case_ref
        read = audit_events.viewed(
            at_ms=now,
            actor=caller.actor,
            case_ref=ref,
            peer=link.partner_node if link is not None else peer,
            view=caller.decision.view.value,
            purpose=caller.decision.purpose.value,
            message_id=message_id,
        )
        await self._store.audit.record([read], ref)
        if caller.account is None or link is None or caller.decision.view is View.METADATA:
            return
        # The restriction as the decision read it (one read, not two, per served case).
        same = caller.link is not None and caller.link.link_id == link.link_id
        known = caller.target if same else None
        restricted = known.restricted_to if known is not None else await self.accounts.restricted_to(link.link_id)
        fired = self._watch.observe(
            Read(
                user_id=caller.account.user_id,
                link_id=link.link_id,
                at_ms=now,
                purpose=caller.decision.purpose,
                owned=bool(link.unit),
                assigned=await self.accounts.assigned(link.link_id),
                restricted=restricted is not None,
                closed=link.closed,
                content=caller.decision.view in (View.FULL, View.REPATRIATION),
            )
        )
        if fired:
            await self._alert(caller.account.user_id, link, fired, now)

    async def _alert(self, user_id: str, link: LinkRow, fired: list[str], now: int) -> None:
        events = [
            audit_events.anomaly(
                at_ms=now,
                subject=user_id,
                rule=rule,
                case_ref="" if rule == "bulk_reads" else link.case_ref,
                count=self._watch.distinct(user_id) if rule == "bulk_reads" else 0,
            )
            for rule in fired
        ]
        await self._store.audit.record(events, link.case_ref)
        supervisors = await self.accounts.supervisors(link.unit) if link.unit else []
        operators = await self.accounts.operators()
        for rule in fired:
            to = operators if rule == "bulk_reads" else sorted(set(supervisors) | set(operators))
            await self._notifier.notify(to, f"anomaly:{rule}", case_ref="" if rule == "bulk_reads" else link.case_ref)
        log.warning("access_anomaly", rules=",".join(fired))


def _address(peer: str) -> str:
    """The caller's address without its port ("ipv4:127.0.0.1:52114" → "ipv4:127.0.0.1"): a
    login rate limit per connection would let each new connection start afresh."""
    head, sep, port = peer.rpartition(":")
    return head if sep and port.isdigit() else peer


def guarded(
    action: ActionOf,
    *,
    about: About | None = None,
    machine: bool = False,
    public: bool = False,
) -> Callable[[Handler[Req, Resp]], Method[Req, Resp]]:
    """Admit the caller for ``action`` (a function of the request when the action depends on
    it; ``READ`` for the richest view of the case ``about`` names), then run the handler with the
    ``Caller``; every error is answered through the one status map. ``machine``: the node's
    machine credential may call it too; ``public``: no credential at all (login, enrolment)."""

    def wrap(fn: Handler[Req, Resp]) -> Method[Req, Resp]:
        @wraps(fn)
        async def wrapper(self: Any, request: Req, context: Context) -> Resp:
            try:
                door: Door = self.door
                chosen = action if isinstance(action, Action | str) else action(request)
                find = (lambda: about(self, request)) if about is not None else None
                caller = await door.admit(context, chosen, find=find, machine=machine, public=public)
                return await fn(self, request, context, caller)
            except FocalpointError as e:
                await abort(context, e)

        return wrapper

    return wrap

"""The local API's people calls (docs/permissions.md): log in and out, enrol, manage accounts,
open break-glass, review who saw a case, restrict and assign a case. Decode, call the node's
account service (``focalpoint.node.accounts``), encode; every method is admitted at the door
(``focalpoint.server.door``) like every other.

Login and enrolment need no credential (they are how one is obtained); their failures are
audited by the account service and answered with one message whatever went wrong, so a caller
learns nothing of which accounts exist. The machine credential reaches only
``AddFirstOperator``, which works once: while the node has no enabled operator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc

from focalpoint.audit import events as audit_events
from focalpoint.errors import UsageError
from focalpoint.node.accounts import Enrolment, RoleChange, UserInfo
from focalpoint.people.permissions import Action
from focalpoint.people.roles import Account, Grant, Role
from focalpoint.server.door import Caller, guarded
from focalpoint.storage.base import LinkRow
from focalpoint.v1 import local_pb2

if TYPE_CHECKING:
    from focalpoint.server.case_api import CaseApi
    from focalpoint.server.door import Door
    from focalpoint.storage.base import Store

__all__ = ["PeopleApi", "user_info"]

Context = grpc.aio.ServicerContext[Any, Any]
_MAX_REVIEW = 1000
# The audit events an access review shows, by name.
_ACCESS_KINDS = {
    audit_events.Kind.AUDIT_EVENT_KIND_READ: "read",
    audit_events.Kind.AUDIT_EVENT_KIND_EXPORTED: "exported",
    audit_events.Kind.AUDIT_EVENT_KIND_BREAK_GLASS: "break_glass",
    audit_events.Kind.AUDIT_EVENT_KIND_ACCESS_DENIED: "access_denied",
    audit_events.Kind.AUDIT_EVENT_KIND_ANOMALY: "anomaly",
    audit_events.Kind.AUDIT_EVENT_KIND_STATUS_CHANGED: "access_changed",
}


def user_info(info: UserInfo) -> local_pb2.UserInfo:
    a = info.account
    c = info.contact
    return local_pb2.UserInfo(
        email=c.email if c else "",
        language=c.language if c else "en",
        notifications_off=sorted(c.off) if c else [],
        on_call=bool(c and c.on_call),
        user_id=a.user_id,
        unit=a.unit,
        roles=sorted(r.value for r in a.roles),
        grants=sorted(g.value for g in a.grants),
        consular_state=a.consular_state,
        district=sorted(a.district),
        disabled=a.disabled,
        enrolled=info.enrolled,
        locked_until_ms=info.locked_until_ms,
        last_login_ms=info.last_login_ms,
        sessions=info.sessions,
        pending_change=info.pending_change,
    )


def _change(result: Enrolment | RoleChange) -> local_pb2.UserChangeResponse:
    if isinstance(result, Enrolment):
        return local_pb2.UserChangeResponse(
            user_id=result.user_id, applied=True, enrolment_code=result.code, enrolment_expires_ms=result.expires_ms
        )
    return local_pb2.UserChangeResponse(user_id=result.user_id, applied=result.applied)


def _names(values: Any, kind: type[Role] | type[Grant], what: str) -> frozenset[Any]:
    out = set()
    for v in values:
        try:
            out.add(kind(v))
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            raise UsageError(f"{what} {v!r} is not one of: {allowed}") from None
    return frozenset(out)


def _spec(spec: local_pb2.UserSpec) -> dict[str, Any]:
    return {
        "roles": _names(spec.roles, Role, "role"),
        "grants": _names(spec.grants, Grant, "grant"),
        "consular_state": spec.consular_state,
        "district": frozenset(spec.district),
    }


def _about_access(status: str) -> bool:
    """A status change that changed who may read the case (not a stage change)."""
    return status.startswith("access:") or status == "unit assigned"


def _me(caller: Caller) -> Account:
    if caller.account is None:
        raise UsageError("this call needs a person's session")
    return caller.account


async def _link_by_id(self: PeopleApi, request: Any) -> LinkRow | None:
    return await self._cases.find(request.link_id, "", "")


async def _link_named(self: PeopleApi, request: local_pb2.BreakGlassRequest) -> LinkRow | None:
    return await self._cases.find(request.link_id, request.case_ref, request.partner_node)


async def _link_of_ref(self: PeopleApi, request: local_pb2.AccessReviewRequest) -> LinkRow | None:
    return await self._cases.link_of_ref(request.case_ref)


class PeopleApi:
    """The people calls, mixed into the local servicer (which provides ``door``, ``_cases``, ``_store``)."""

    door: Door
    _cases: CaseApi
    _store: Store

    @guarded(Action.HEALTH, public=True)
    async def Login(self, request: local_pb2.LoginRequest, context: Context, caller: Caller) -> local_pb2.LoginResponse:
        session = await self.door.accounts.login(
            request.user_id, request.password, request.second_factor, source=caller.source
        )
        info = await self.door.accounts.show_user(session.account.user_id)
        return local_pb2.LoginResponse(
            session_token=session.token,
            user=user_info(info),
            idle_until_ms=session.idle_until_ms,
            expires_ms=session.expires_ms,
        )

    @guarded(Action.READ_OWN_ACCOUNT)
    async def Logout(
        self, request: local_pb2.LogoutRequest, context: Context, caller: Caller
    ) -> local_pb2.LogoutResponse:
        await self.door.accounts.logout(caller.token)
        return local_pb2.LogoutResponse()

    @guarded(Action.READ_OWN_ACCOUNT)
    async def WhoAmI(
        self, request: local_pb2.WhoAmIRequest, context: Context, caller: Caller
    ) -> local_pb2.WhoAmIResponse:
        return local_pb2.WhoAmIResponse(user=user_info(await self.door.accounts.show_user(_me(caller).user_id)))

    @guarded(Action.HEALTH, public=True)
    async def BeginEnrolment(
        self, request: local_pb2.BeginEnrolmentRequest, context: Context, caller: Caller
    ) -> local_pb2.BeginEnrolmentResponse:
        factor = await self.door.accounts.begin_enrolment(request.enrolment_code, request.password)
        return local_pb2.BeginEnrolmentResponse(
            user_id=factor.user_id,
            secret=factor.secret_b32,
            otpauth_uri=factor.otpauth_uri,
            recovery_codes=list(factor.recovery_codes),
        )

    @guarded(Action.HEALTH, public=True)
    async def FinishEnrolment(
        self, request: local_pb2.FinishEnrolmentRequest, context: Context, caller: Caller
    ) -> local_pb2.UserInfo:
        account = await self.door.accounts.finish_enrolment(request.enrolment_code, request.totp)
        return user_info(await self.door.accounts.show_user(account.user_id))

    @guarded(Action.MANAGE_USERS, machine=True)
    async def AddFirstOperator(
        self, request: local_pb2.AddFirstOperatorRequest, context: Context, caller: Caller
    ) -> local_pb2.UserChangeResponse:
        return _change(await self.door.accounts.add_first_operator(request.user_id, request.unit))

    @guarded(Action.MANAGE_USERS)
    async def AddUser(
        self, request: local_pb2.UserSpec, context: Context, caller: Caller
    ) -> local_pb2.UserChangeResponse:
        result = await self.door.accounts.add_user(_me(caller), request.user_id, request.unit, **_spec(request))
        return _change(result)

    @guarded(Action.MANAGE_USERS)
    async def SetRoles(
        self, request: local_pb2.UserSpec, context: Context, caller: Caller
    ) -> local_pb2.UserChangeResponse:
        return _change(await self.door.accounts.set_roles(_me(caller), request.user_id, **_spec(request)))

    @guarded(Action.MANAGE_USERS)
    async def ConfirmUserChange(
        self, request: local_pb2.UserRequest, context: Context, caller: Caller
    ) -> local_pb2.UserChangeResponse:
        return _change(await self.door.accounts.confirm_change(_me(caller), request.user_id))

    @guarded(Action.MANAGE_USERS)
    async def DisableUser(
        self, request: local_pb2.UserRequest, context: Context, caller: Caller
    ) -> local_pb2.UserChangeResponse:
        await self.door.accounts.disable(_me(caller), request.user_id)
        return local_pb2.UserChangeResponse(user_id=request.user_id, applied=True)

    @guarded(Action.MANAGE_USERS)
    async def EnableUser(
        self, request: local_pb2.UserRequest, context: Context, caller: Caller
    ) -> local_pb2.UserChangeResponse:
        return _change(await self.door.accounts.enable(_me(caller), request.user_id))

    @guarded(Action.MANAGE_USERS)
    async def ResetSecondFactor(
        self, request: local_pb2.UserRequest, context: Context, caller: Caller
    ) -> local_pb2.UserChangeResponse:
        return _change(await self.door.accounts.reset_second_factor(_me(caller), request.user_id))

    @guarded(Action.MANAGE_USERS)
    async def ListUsers(
        self, request: local_pb2.ListUsersRequest, context: Context, caller: Caller
    ) -> local_pb2.ListUsersResponse:
        return local_pb2.ListUsersResponse(users=[user_info(u) for u in await self.door.accounts.list_users()])

    @guarded(Action.MANAGE_USERS)
    async def ShowUser(self, request: local_pb2.UserRequest, context: Context, caller: Caller) -> local_pb2.UserInfo:
        return user_info(await self.door.accounts.show_user(request.user_id))

    @guarded(Action.SET_OWN_NOTIFICATIONS)
    async def SetContact(
        self, request: local_pb2.SetContactRequest, context: Context, caller: Caller
    ) -> local_pb2.UserInfo:
        me = _me(caller)
        user_id = request.user_id or me.user_id
        email = request.email if request.set_email else None
        if not request.set_email and request.email:
            raise UsageError("set_email must be true to change the address (an empty one removes it)")
        await self.door.accounts.set_contact(me, user_id, email=email, language=request.language or None)
        return user_info(await self.door.accounts.show_user(user_id))

    @guarded(Action.SET_OWN_NOTIFICATIONS)
    async def SetNotifications(
        self, request: local_pb2.SetNotificationsRequest, context: Context, caller: Caller
    ) -> local_pb2.UserInfo:
        me = _me(caller)
        user_id = request.user_id or me.user_id
        await self.door.accounts.set_notifications(me, user_id, frozenset(request.off))
        return user_info(await self.door.accounts.show_user(user_id))

    @guarded(Action.MANAGE_USERS)
    async def SetOnCall(
        self, request: local_pb2.SetOnCallRequest, context: Context, caller: Caller
    ) -> local_pb2.UserInfo:
        await self.door.accounts.set_on_call(_me(caller), request.user_id, request.on_call)
        return user_info(await self.door.accounts.show_user(request.user_id))

    @guarded(Action.BREAK_GLASS, about=_link_named)
    async def OpenBreakGlass(
        self, request: local_pb2.BreakGlassRequest, context: Context, caller: Caller
    ) -> local_pb2.BreakGlassResponse:
        link = caller.link
        assert link is not None
        until = await self.door.accounts.open_break_glass(
            _me(caller), link.link_id, link.case_ref, request.reason_code, request.reason, owner_unit=link.unit
        )
        return local_pb2.BreakGlassResponse(until_ms=until)

    @guarded(Action.ACCESS_REVIEW, about=_link_of_ref)
    async def AccessReview(
        self, request: local_pb2.AccessReviewRequest, context: Context, caller: Caller
    ) -> local_pb2.AccessReviewResponse:
        link = caller.link
        assert link is not None
        limit = min(request.limit or 200, _MAX_REVIEW)
        await self.door.served(caller, link)  # reviewing who saw a case is itself a (METADATA) read
        rows = await self._store.audit.events(limit + 1, 0, link.case_ref)
        entries = []
        for index, leaf in rows[:limit]:
            e = audit_events.decode(leaf)
            kind = _ACCESS_KINDS.get(e.kind)
            if kind is None or (kind == "access_changed" and not _about_access(e.status)):
                continue
            entries.append(
                local_pb2.AccessEntry(
                    index=index,
                    at_ms=e.at_ms,
                    kind=kind,
                    actor=e.actor or e.subject,
                    view=e.view,
                    purpose=e.purpose,
                    peer_node=e.peer_node,
                    detail=e.reason_code or e.status,
                )
            )
        return local_pb2.AccessReviewResponse(entries=entries, truncated=len(rows) > limit)

    @guarded(Action.RESTRICT, about=_link_by_id)
    async def RestrictCase(
        self, request: local_pb2.RestrictCaseRequest, context: Context, caller: Caller
    ) -> local_pb2.Empty:
        link = caller.link
        assert link is not None
        if request.lift and request.users:
            raise UsageError("lift a restriction, or name the officers who may read: not both")
        if not request.lift and not request.users:
            raise UsageError("name the officers who may still read the case (users), or lift the restriction")
        users = None if request.lift else frozenset(request.users)
        await self.door.accounts.restrict(_me(caller), link.link_id, users, case_ref=link.case_ref, unit=link.unit)
        return local_pb2.Empty()

    @guarded(Action.READ_ROUTING, about=_link_by_id)
    async def AssignCase(
        self, request: local_pb2.AssignCaseRequest, context: Context, caller: Caller
    ) -> local_pb2.Empty:
        link = caller.link
        account = _me(caller)
        assert link is not None
        if not request.unit and not request.users:
            raise UsageError("give the unit that owns the case, the officers who work it, or both")
        unit = link.unit
        if request.unit:
            if Role.OPERATOR not in account.roles:
                await self.door.refuse(
                    caller, Action.READ_ROUTING, "only an operator gives a case to a unit", link=link
                )
            await self._cases.assign_unit(link.link_id, request.unit, actor=caller.actor)
            unit = request.unit
        if request.users:
            users = frozenset(request.users)
            await self.door.accounts.assign(account, link.link_id, users, case_ref=link.case_ref, unit=unit)
        return local_pb2.Empty()

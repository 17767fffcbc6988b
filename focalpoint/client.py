"""The one client of a node's local API: the CLI, the demo, the tests and (later) the web
console reach the node only through it.

A client calls as a person, with the session ``Login`` returned (``session=``), or as the node's
automation, with the machine credential (``token=``), which reaches only health, the code
list, the audit checkpoint and verification, delivery lists and the first operator's enrolment
(docs/permissions.md). ``LocalClient.login`` is the whole login: password and second factor in,
a client with the session out.

A process that calls for many people at once (the web console) opens one ``LocalChannel`` and
makes a light client per request on it (``LocalClient(channel, session=…)``): the clients carry
only their credential, and closing one leaves the shared channel open for the others; the
channel's owner closes it once, at shutdown. Given an address instead, a client opens and closes
its own channel, as the CLI's do.

A failed call raises the error the node raised, through the one status map
(``focalpoint.net.status``), worded for the person who made the call: "node refused: CODE:
what was wrong", or, when nothing answered, that the node is not reachable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import grpc

from focalpoint.errors import FocalpointError, RefusalError, TransportError
from focalpoint.net.status import answered, error_from_rpc
from focalpoint.v1 import audit_pb2, local_pb2, local_pb2_grpc, messages_pb2

__all__ = ["LocalChannel", "LocalClient", "node_error"]

R = TypeVar("R")
# A sealed file of tens of thousands of messages is opened and stored in one call.
_TRANSFER_TIMEOUT_S = 600.0


def node_error(e: grpc.aio.AioRpcError) -> FocalpointError:
    """The error a failed local-API call stands for: the node's own (same class, e.g. a
    UsageError for a caller's mistake), or a TransportError when the node did not answer."""
    if not answered(e) and e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return TransportError(f"the node's local API is not reachable ({e.details()}); is the node running?")
    err = error_from_rpc(e)
    message = f"node refused: {e.code().name}: {e.details()}"
    return RefusalError(err.code, message) if isinstance(err, RefusalError) else type(err)(message)


def _open_channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=[("grpc.max_receive_message_length", 256 << 20)])


class LocalChannel:
    """One gRPC channel to a node's local API, shared by every client made on it (one per request
    in the console). Made inside the running event loop; ``close`` once, when the owner stops."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.channel = _open_channel(address)

    async def __aenter__(self) -> LocalChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.channel.close(None)


class LocalClient:
    """A small async client for the local API (used by the CLI, the demo and tests).

    Every call raises a ``FocalpointError`` when it fails, never a gRPC error (``node_error``).
    """

    def __init__(
        self,
        address: str | LocalChannel,
        token: str | None = None,
        *,
        session: str | None = None,
        timeout_s: float = 30.0,
        relogin: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        """``token``: the node's machine credential; ``session``: a person's session token (from
        ``login``); neither: only ``login`` and enrolment can be called. ``relogin``: how to get a
        new session when the node says this one ended (called once per failed call, then the call
        is retried once). ``address``: the node's local API, on a channel of this client's own
        (closed with it), or a shared ``LocalChannel`` (left open when this client closes)."""
        if token is not None and session is not None:
            raise ValueError("give the machine token or a session, not both")
        shared = isinstance(address, LocalChannel)
        self._address = address.address if isinstance(address, LocalChannel) else address
        self._channel = address.channel if isinstance(address, LocalChannel) else _open_channel(address)
        self._owns_channel = not shared
        self._stub = local_pb2_grpc.LocalServiceStub(self._channel)
        self._metadata: tuple[tuple[str, str], ...] = ()
        if token is not None:
            self._metadata = (("authorization", f"Bearer {token}"),)
        if session is not None:
            self._metadata = (("authorization", f"Session {session}"),)
        self.session = session
        self._relogin = relogin
        self._timeout = timeout_s

    @classmethod
    async def login(
        cls, address: str | LocalChannel, user_id: str, password: str, second_factor: str, *, timeout_s: float = 30.0
    ) -> tuple[LocalClient, local_pb2.LoginResponse]:
        """Log in; returns a client calling with the new session (on ``address``'s channel when it is
        a shared ``LocalChannel``), and what the node answered."""
        async with cls(address, timeout_s=timeout_s) as anonymous:
            answer = await anonymous._call(
                anonymous._stub.Login,
                local_pb2.LoginRequest(user_id=user_id, password=password, second_factor=second_factor),
            )
        return cls(address, session=answer.session_token, timeout_s=timeout_s), answer

    async def __aenter__(self) -> LocalClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close this client's own channel; a shared ``LocalChannel`` stays open for the others."""
        if self._owns_channel:
            await self._channel.close(None)

    async def _call(self, method: Callable[..., Awaitable[R]], request: object, *, timeout_s: float = 0.0) -> R:
        """``timeout_s``: a longer deadline than the client's for this call (0: the client's)."""
        timeout = max(self._timeout, timeout_s)
        try:
            return await method(request, metadata=self._metadata, timeout=timeout)
        except grpc.aio.AioRpcError as e:
            if self._relogin is None or e.code() != grpc.StatusCode.UNAUTHENTICATED or self.session is None:
                raise node_error(e) from e
        self.session = await self._relogin()
        self._metadata = (("authorization", f"Session {self.session}"),)
        try:
            return await method(request, metadata=self._metadata, timeout=timeout)
        except grpc.aio.AioRpcError as e:
            raise node_error(e) from e

    async def submit(self, request: local_pb2.SubmitRequest) -> local_pb2.SubmitResponse:
        return await self._call(self._stub.Submit, request)

    async def list_outbox(self, limit: int = 50, before: int = 0) -> local_pb2.ListOutboxResponse:
        req = local_pb2.ListRequest(limit=limit, before=before)
        return await self._call(self._stub.ListOutbox, req)

    async def list_inbox(self, limit: int = 50, before: int = 0) -> local_pb2.ListInboxResponse:
        req = local_pb2.ListRequest(limit=limit, before=before)
        return await self._call(self._stub.ListInbox, req)

    async def get_health(self, *, check_now: bool = False) -> local_pb2.GetHealthResponse:
        req = local_pb2.GetHealthRequest(check_now=check_now)
        return await self._call(self._stub.GetHealth, req)

    async def get_message(self, direction: int, message_id: bytes, peer_node: str = "") -> local_pb2.GetMessageResponse:
        req = local_pb2.GetMessageRequest(direction=direction, message_id=message_id, peer_node=peer_node)  # type: ignore[arg-type]
        return await self._call(self._stub.GetMessage, req)

    async def checkpoint(self, *, create: bool = False) -> audit_pb2.SignedCheckpoint:
        req = local_pb2.GetCheckpointLocalRequest(create=create)
        return await self._call(self._stub.GetCheckpoint, req)

    async def list_audit(self, limit: int = 50, before: int = 0, case_ref: str = "") -> local_pb2.ListAuditResponse:
        req = local_pb2.ListAuditRequest(limit=limit, before=before, case_ref=case_ref)
        return await self._call(self._stub.ListAudit, req)

    async def verify_audit(self) -> local_pb2.VerifyAuditResponse:
        req = local_pb2.VerifyAuditRequest()
        return await self._call(self._stub.VerifyAudit, req)

    async def export_case(self, case_ref: str, *, written_request: str = "") -> local_pb2.ExportCaseResponse:
        req = local_pb2.ExportCaseRequest(case_ref=case_ref, written_request=written_request)
        return await self._call(self._stub.ExportCase, req)

    # --- sealed files (docs/operations.md "Sealed files") ----------------------------------------

    async def export_sealed(self, peer_node: str) -> local_pb2.ExportSealedResponse:
        req = local_pb2.ExportSealedRequest(peer_node=peer_node)
        return await self._call(self._stub.ExportSealed, req, timeout_s=_TRANSFER_TIMEOUT_S)

    async def import_sealed(self, data: bytes, *, receipts_file: bool = True) -> local_pb2.ImportSealedResponse:
        req = local_pb2.ImportSealedRequest(file=data, receipts_file=receipts_file)
        return await self._call(self._stub.ImportSealed, req, timeout_s=_TRANSFER_TIMEOUT_S)

    # --- cases (docs/cases.md) ------------------------------------------------------------------

    async def open_case(
        self, partner_node: str, identified_at_ms: int, unit: str = "", *, tracing: bool = False
    ) -> local_pb2.OpenCaseResponse:
        req = local_pb2.OpenCaseRequest(
            partner_node=partner_node, identified_at_ms=identified_at_ms, unit=unit, tracing=tracing
        )
        return await self._call(self._stub.OpenCase, req)

    async def list_cases(
        self,
        unit: str | None = None,
        *,
        include_closed: bool = False,
        limit: int = 50,
        before: tuple[int, str] | None = None,
    ) -> local_pb2.ListCasesResponse:
        """The worklist, newest update first; ``before``: (updated_at_ms, link_id) of the previous page's last link."""
        req = local_pb2.ListCasesRequest(unit=unit, include_closed=include_closed, limit=limit)
        if before is not None:
            req.before_updated_at_ms, req.before_link_id = before
        return await self._call(self._stub.ListCases, req)

    async def show_case(
        self, link_id: str = "", *, case_ref: str = "", partner_node: str = "", content: bool = False
    ) -> local_pb2.ShowCaseResponse:
        """A link's timeline in the caller's view; with ``content``, each message's body too."""
        req = local_pb2.ShowCaseRequest(link_id=link_id, case_ref=case_ref, partner_node=partner_node, content=content)
        return await self._call(self._stub.ShowCase, req)

    async def case_deadlines(
        self, link_id: str = "", *, case_ref: str = "", partner_node: str = ""
    ) -> local_pb2.CaseDeadlinesResponse:
        """A link's requests with their deadlines, and its guardian deadline (ROUTING view)."""
        req = local_pb2.CaseDeadlinesRequest(link_id=link_id, case_ref=case_ref, partner_node=partner_node)
        return await self._call(self._stub.CaseDeadlines, req)

    async def send_case(
        self,
        link_id: str,
        *,
        body: messages_pb2.Body | None = None,
        form_json: str | None = None,
        in_reply_to: bytes = b"",
        client_request_id: str = "",
    ) -> local_pb2.SendCaseResponse:
        """Send on a link: a complete ``body`` or a filled form as JSON (exactly one)."""
        if (body is None) == (form_json is None):
            raise ValueError("give exactly one of body and form_json")
        req = local_pb2.SendCaseRequest(link_id=link_id, in_reply_to=in_reply_to, client_request_id=client_request_id)
        if body is not None:
            req.body.CopyFrom(body)
        else:
            req.form_json = form_json or ""
        return await self._call(self._stub.SendCase, req)

    async def approve_draft(self, link_id: str, draft_id: str) -> local_pb2.SendCaseResponse:
        req = local_pb2.ApproveDraftRequest(link_id=link_id, draft_id=draft_id)
        return await self._call(self._stub.ApproveDraft, req)

    async def list_drafts(self, link_id: str = "") -> local_pb2.ListDraftsResponse:
        return await self._call(self._stub.ListDrafts, local_pb2.ListDraftsRequest(link_id=link_id))

    async def list_parked(self, limit: int = 50, before: int = 0) -> local_pb2.ListParkedResponse:
        return await self._call(self._stub.ListParked, local_pb2.ListRequest(limit=limit, before=before))

    # --- people (docs/permissions.md) -------------------------------------------------------------

    async def logout(self) -> None:
        await self._call(self._stub.Logout, local_pb2.LogoutRequest())

    async def whoami(self) -> local_pb2.UserInfo:
        return (await self._call(self._stub.WhoAmI, local_pb2.WhoAmIRequest())).user

    async def begin_enrolment(self, code: str, password: str) -> local_pb2.BeginEnrolmentResponse:
        req = local_pb2.BeginEnrolmentRequest(enrolment_code=code, password=password)
        return await self._call(self._stub.BeginEnrolment, req)

    async def finish_enrolment(self, code: str, totp: str) -> local_pb2.UserInfo:
        req = local_pb2.FinishEnrolmentRequest(enrolment_code=code, totp=totp)
        return await self._call(self._stub.FinishEnrolment, req)

    async def add_first_operator(self, user_id: str, unit: str) -> local_pb2.UserChangeResponse:
        req = local_pb2.AddFirstOperatorRequest(user_id=user_id, unit=unit)
        return await self._call(self._stub.AddFirstOperator, req)

    async def add_user(self, spec: local_pb2.UserSpec) -> local_pb2.UserChangeResponse:
        return await self._call(self._stub.AddUser, spec)

    async def set_roles(self, spec: local_pb2.UserSpec) -> local_pb2.UserChangeResponse:
        return await self._call(self._stub.SetRoles, spec)

    async def confirm_user_change(self, user_id: str) -> local_pb2.UserChangeResponse:
        return await self._call(self._stub.ConfirmUserChange, local_pb2.UserRequest(user_id=user_id))

    async def disable_user(self, user_id: str) -> local_pb2.UserChangeResponse:
        return await self._call(self._stub.DisableUser, local_pb2.UserRequest(user_id=user_id))

    async def enable_user(self, user_id: str) -> local_pb2.UserChangeResponse:
        return await self._call(self._stub.EnableUser, local_pb2.UserRequest(user_id=user_id))

    async def reset_second_factor(self, user_id: str) -> local_pb2.UserChangeResponse:
        return await self._call(self._stub.ResetSecondFactor, local_pb2.UserRequest(user_id=user_id))

    async def list_users(self) -> local_pb2.ListUsersResponse:
        return await self._call(self._stub.ListUsers, local_pb2.ListUsersRequest())

    async def show_user(self, user_id: str) -> local_pb2.UserInfo:
        return await self._call(self._stub.ShowUser, local_pb2.UserRequest(user_id=user_id))

    async def set_contact(
        self, user_id: str = "", *, email: str | None = None, language: str = ""
    ) -> local_pb2.UserInfo:
        """Set a user's e-mail address (None: unchanged; "": removed) and/or language ("" unchanged);
        ``user_id`` "" is oneself."""
        req = local_pb2.SetContactRequest(
            user_id=user_id, set_email=email is not None, email=email or "", language=language
        )
        return await self._call(self._stub.SetContact, req)

    async def set_notifications(self, user_id: str = "", *, off: Sequence[str] = ()) -> local_pb2.UserInfo:
        req = local_pb2.SetNotificationsRequest(user_id=user_id, off=list(off))
        return await self._call(self._stub.SetNotifications, req)

    async def set_on_call(self, user_id: str, on_call: bool) -> local_pb2.UserInfo:
        return await self._call(self._stub.SetOnCall, local_pb2.SetOnCallRequest(user_id=user_id, on_call=on_call))

    async def open_break_glass(
        self, reason_code: str, reason: str, *, link_id: str = "", case_ref: str = "", partner_node: str = ""
    ) -> local_pb2.BreakGlassResponse:
        req = local_pb2.BreakGlassRequest(
            link_id=link_id, case_ref=case_ref, partner_node=partner_node, reason_code=reason_code, reason=reason
        )
        return await self._call(self._stub.OpenBreakGlass, req)

    async def access_review(self, case_ref: str, limit: int = 200) -> local_pb2.AccessReviewResponse:
        req = local_pb2.AccessReviewRequest(case_ref=case_ref, limit=limit)
        return await self._call(self._stub.AccessReview, req)

    async def get_indicators(self, period: str, *, unit_dashboard: bool = False) -> local_pb2.GetIndicatorsResponse:
        """Indicators for a year (``2026``) or quarter (``2026Q3``): national (auditors) or own unit."""
        req = local_pb2.GetIndicatorsRequest(period=period, unit_dashboard=unit_dashboard)
        return await self._call(self._stub.GetIndicators, req)

    async def get_ageing(self, view: str = "unit") -> local_pb2.GetAgeingResponse:
        """The ageing report's ``view``: unit (case officers), routing or bilateral (operators), audit (auditors)."""
        return await self._call(self._stub.GetAgeing, local_pb2.GetAgeingRequest(view=view))

    async def code_list(self) -> local_pb2.GetCodeListResponse:
        """The newest verified code list the node's directory carries (``list_version`` "" when none):
        ``signed_document`` is a SignedDocument whose ``signed`` bytes are a CodeListDocument."""
        return await self._call(self._stub.GetCodeList, local_pb2.GetCodeListRequest())

    async def restrict_case(self, link_id: str, users: list[str] | None) -> None:
        """Restrict a case to the named officers; ``None`` lifts the restriction."""
        req = local_pb2.RestrictCaseRequest(link_id=link_id, users=users or [], lift=users is None)
        await self._call(self._stub.RestrictCase, req)

    async def record_consular_visit(self, link_id: str, visit: local_pb2.ConsularVisit) -> None:
        """Record a consular visit on a case (a consul's own national, or a case of the officer's unit)."""
        req = local_pb2.RecordConsularVisitRequest(link_id=link_id, visit=visit)
        await self._call(self._stub.RecordConsularVisit, req)

    async def assign_case(self, link_id: str, *, unit: str = "", users: list[str] | None = None) -> None:
        """An operator gives a case to a ``unit``; an officer of that unit names who works it (``users``)."""
        req = local_pb2.AssignCaseRequest(link_id=link_id, unit=unit, users=users or [])
        await self._call(self._stub.AssignCase, req)

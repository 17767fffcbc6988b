"""People on a local network's nodes, for the demo and the tests: accounts made through the real
local API, as an institution would make them.

The first operator is enrolled with the node's machine credential (``AddFirstOperator``); every
other account is added by that operator, then enrols itself (a password, an authenticator
secret, the first code) and logs in with password and code. A person logs in once and keeps the
session; when the node ends it (idle or absolute timeout, after the clock moved), the client logs
in again with one of the person's recovery codes. Passwords are random per run; nothing here is
a default credential of a real node.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyotp

from focalpoint.client import LocalClient
from focalpoint.node.ports import Clock, wall_clock_ms
from focalpoint.people.roles import Grant, Role
from focalpoint.v1 import local_pb2

__all__ = ["OPERATOR", "People", "Person"]

OPERATOR = "operator.1"
_STEP_MS = 30_000


@dataclass
class Person:
    user_id: str
    password: str
    secret: str
    recovery: list[str] = field(default_factory=list)
    session: str = ""
    roles: tuple[Role, ...] = ()


class People:
    """The accounts of one node, by user id, with a logged-in client each."""

    def __init__(self, address: str, machine_token: str, *, unit: str, clock_ms: Clock = wall_clock_ms) -> None:
        self.address = address
        self._machine = machine_token
        self.unit = unit
        self._clock = clock_ms
        self.people: dict[str, Person] = {}
        self._clients: dict[str, LocalClient] = {}

    def code(self, person: Person, steps_ahead: int = 0) -> str:
        """The person's authenticator code at the node's time (``steps_ahead`` 30-s steps later)."""
        return pyotp.TOTP(person.secret).at((self._clock() + steps_ahead * _STEP_MS) // 1000)

    async def _enrol(self, user_id: str, code: str, roles: tuple[Role, ...]) -> Person:
        password = secrets.token_urlsafe(18)
        async with LocalClient(self.address) as anonymous:
            factor = await anonymous.begin_enrolment(code, password)
            person = Person(user_id, password, factor.secret, list(factor.recovery_codes), roles=roles)
            await anonymous.finish_enrolment(code, self.code(person))
        self.people[user_id] = person
        return person

    async def _login(self, person: Person) -> str:
        # The enrolment spent this step's code, so the first login uses the next step's (still
        # accepted); later logins (after the node ended the session) spend a recovery code.
        factor = self.code(person, 1) if not person.session else person.recovery.pop()
        client, _ = await LocalClient.login(self.address, person.user_id, person.password, factor)
        await client.close()
        assert client.session is not None
        person.session = client.session
        return client.session

    async def operator(self) -> LocalClient:
        """The first operator's client (enrolled with the machine credential on first use)."""
        if OPERATOR not in self.people:
            async with LocalClient(self.address, self._machine) as machine:
                added = await machine.add_first_operator(OPERATOR, self.unit)
            await self._enrol(OPERATOR, added.enrolment_code, (Role.OPERATOR,))
        return await self._client(OPERATOR)

    async def client(
        self,
        user_id: str,
        roles: Iterable[Role] = (Role.CASE_OFFICER,),
        *,
        grants: Iterable[Grant] = (Grant.APPROVE,),
        unit: str | None = None,
        consular_state: str = "",
        district: Iterable[str] = (),
    ) -> LocalClient:
        """A logged-in client of ``user_id``, whose account is made on first use (by default a case
        officer of the node's unit who may approve what others prepared)."""
        if user_id not in self.people:
            roles = tuple(roles)
            spec = local_pb2.UserSpec(
                user_id=user_id,
                unit=unit or self.unit,
                roles=[r.value for r in roles],
                grants=[g.value for g in grants] if Role.CASE_OFFICER in roles else [],
                consular_state=consular_state,
                district=list(district),
            )
            added = await (await self.operator()).add_user(spec)
            if not added.applied:  # two operators exist: the other one confirms
                [second, *_] = [p for p in self.people.values() if Role.OPERATOR in p.roles and p.user_id != OPERATOR]
                added = await (await self._client(second.user_id)).confirm_user_change(user_id)
            await self._enrol(user_id, added.enrolment_code, roles)
        return await self._client(user_id)

    async def _client(self, user_id: str) -> LocalClient:
        if user_id not in self._clients:
            person = self.people[user_id]
            session = await self._login(person)
            self._clients[user_id] = LocalClient(self.address, session=session, relogin=lambda: self._login(person))
        return self._clients[user_id]

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

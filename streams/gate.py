"""Who is asking, may they, and the access log: the HTTP side of projections/access.py.

    principal, refusal = gate.check(request, "history")
    if refusal:
        return json_response(web, *refusal)          # 401 bad credentials, 403 not allowed
    ...
    await gate.log(decision, "GET /subjects/{id}/history")  # when decision.non_public

Credentials: `Authorization: Bearer <token>`, or for a browser the cookie that
`/dashboard?token=...` sets once (a page cannot add headers to its own navigation).
No credentials at all is the anonymous public.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from projections.access import AccessDecision, Principal, access_record, can, endpoint_decision
from projections.canonical import instant_text
from streams.codec import encode_access_record
from streams.principals import AuthenticationError, Principals

TOKEN_COOKIE = "credit_ledger_token"
COOKIE_MAX_AGE_S = 12 * 3600  # a working day: then the link with the token is needed again

Refusal = tuple[dict, int]  # (JSON body, HTTP status)


def credentials(request) -> str | None:
    header = request.headers.get("Authorization")
    if header:
        return header
    token = request.cookies.get(TOKEN_COOKIE)
    return f"Bearer {token}" if token else None


class Gate:
    def __init__(self, principals: Principals, send_access_record: Callable[[bytes, bytes], Awaitable[None]],
                 now: Callable[[], datetime]):
        self.principals = principals
        self._send = send_access_record  # (key, value): to credit.access-log, delivered before the answer
        self._now = now

    def principal(self, request) -> Principal:
        """Raises AuthenticationError for credentials that name nobody."""
        return self.principals.authenticate(credentials(request))

    def check(self, request, action: str) -> tuple[Principal | None, Refusal | None]:
        try:
            principal = self.principal(request)
        except AuthenticationError as error:
            return None, ({"errors": [{"field": "Authorization", "rule": "authentication",
                                       "message": error.reason}]}, 401)
        reason = can(principal, action)
        if reason is not None:
            return principal, ({"errors": [{"field": "Authorization", "rule": "forbidden", "message": reason}]}, 403)
        return principal, None

    async def admit(self, request, action: str, endpoint: str, subject_id: str | None = None
                    ) -> tuple[Principal | None, Refusal | None]:
        """check(), and when allowed log the action (if non-public) before anything is read."""
        principal, refusal = self.check(request, action)
        if refusal is None:
            await self.log(endpoint_decision(principal, action, subject_id), endpoint)
        return principal, refusal

    async def log(self, decision: AccessDecision, endpoint: str) -> None:
        """Write a non-public read to credit.access-log (public reads are not logged)."""
        if decision.non_public:
            record = access_record(decision, endpoint, instant_text(self._now()))
            await self._send(decision.principal.encode(), encode_access_record(record))

"""Who is asking, may they, and the access log: the HTTP side of projections/access.py.

    principal, refusal = gate.check(request, "history")
    if refusal:
        return json_response(web, *refusal)          # 401 bad credentials, 403 not allowed
    ...
    await gate.log(decision, "GET /subjects/{id}/history")  # when decision.non_public

Every non-public read is on credit.access-log before it is served. When its record cannot be written
(the broker away, not acknowledged within ACCESS_RECORD_SEND_TIMEOUT_MS) `log` raises AccessLogUnavailable,
and the one middleware every route runs under (`refuse_unlogged_reads`, installed by streams/web_guard.py)
answers 503 {"errors": [{"field": "$", "rule": "unavailable", ...}]} naming the topic: the read is refused,
never served unlogged, and the route needs no handling of its own. Public reads are not logged, so they
are served whatever the broker.

Credentials: `Authorization: Bearer <token>`, or for a browser the session cookie that logging in
at `/dashboard/login` sets (streams/sessions.py: a random id, never the token; a page cannot add
headers to its own navigation). A request with the cookie that changes something must come from
this site (Origin, JSON content type), else 403. No credentials at all is the anonymous public.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import orjson
from aiohttp import web as aiohttp_web

from projections.access import (AccessDecision, Principal, access_record, can, endpoint_decision,
                                subject_id_problems)
from projections.canonical import instant_text
from streams.codec import encode_access_record
from streams.principals import AuthenticationError
from streams.sessions import SESSION_COOKIE, Sessions, cross_site_problem
from streams.topics import ACCESS_LOG

log = logging.getLogger(__name__)

Refusal = tuple[dict, int]  # (JSON body, HTTP status)
# How long a read waits for its access record's acknowledgement. Faust's own producer request timeout is
# 20 minutes, which a read must not wait: past this the read is refused (503) and the client tries again.
ACCESS_RECORD_SEND_TIMEOUT_MS = 15_000
ACCESS_RECORD_SEND_TIMEOUT_MS_MAX = 120_000


def _refusal(rule: str, message: str, status: int) -> Refusal:
    return {"errors": [{"field": "Authorization", "rule": rule, "message": message}]}, status


class AccessLogUnavailable(Exception):
    """A non-public read's access record was not written: the read must not be served. Not an OSError, so
    that a route's own handling of its topics (KafkaException, OSError) lets it through to the middleware.
    It names the cause's class only: never the endpoint's text (a command's may name a subject), never a
    person's data."""

    def __init__(self, cause: BaseException):
        self.cause_name = type(cause).__name__
        super().__init__(f"{ACCESS_LOG} did not take the access record ({self.cause_name})")

    def as_body(self) -> dict:
        return {"errors": [{"field": "$", "rule": "unavailable", "message": (
            f"{ACCESS_LOG} cannot be written ({self.cause_name}): every non-public read is logged before it "
            "is served, so this one is refused; try again once the broker is back")}]}


@aiohttp_web.middleware
async def refuse_unlogged_reads(request, handler):
    """Every route's AccessLogUnavailable as one clear 503 (JSON, the shape of the other 503s)."""
    try:
        return await handler(request)
    except AccessLogUnavailable as error:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "?"  # the pattern, never the subject in the path
        log.warning("%s %s refused: %s", request.method, route, error)
        return aiohttp_web.Response(body=orjson.dumps(error.as_body()), status=503,
                                    headers={"Content-Type": "application/json; charset=utf-8",
                                             "Cache-Control": "no-store"})


class Gate:
    def __init__(self, principals, send_access_record: Callable[[bytes, bytes], Awaitable[None]],
                 now: Callable[[], datetime], sessions: Sessions | None = None,
                 send_timeout_ms: int = ACCESS_RECORD_SEND_TIMEOUT_MS):
        if not 0 < send_timeout_ms <= ACCESS_RECORD_SEND_TIMEOUT_MS_MAX:
            raise ValueError(f"send_timeout_ms must be 1..{ACCESS_RECORD_SEND_TIMEOUT_MS_MAX}")
        self.send_timeout_ms = send_timeout_ms
        self.principals = principals  # streams.principals.Principals, or a PrincipalsFile re-read as it changes
        self.sessions = sessions if sessions is not None else Sessions()
        self._send = send_access_record  # (key, value): to credit.access-log, delivered before the answer
        self._now = now

    def principal(self, request) -> Principal:
        """Raises AuthenticationError for credentials that name nobody."""
        return self.authenticated(request)[0]

    def authenticated(self, request) -> tuple[Principal, bool]:
        """(the principal, whether the session cookie named it); AuthenticationError for credentials that
        name nobody. A bearer header wins over the cookie."""
        header = request.headers.get("Authorization")
        if header:
            return self.principals.authenticate(header), False
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            return self.principals.authenticate(None), False
        name = self.sessions.principal_name(session_id)
        if name is None:
            raise AuthenticationError("the session has ended (it expired, or the worker restarted): "
                                      "log in again at /dashboard/login")
        return self.principals.by_name(name), True

    def check(self, request, action: str) -> tuple[Principal | None, Refusal | None]:
        try:
            principal, by_cookie = self.authenticated(request)
        except AuthenticationError as error:
            return None, _refusal("authentication", error.reason, 401)
        if by_cookie:
            problem = cross_site_problem(request.method, request.headers.get("Origin"), request.headers.get("Host"),
                                         request.headers.get("Content-Type"))
            if problem is not None:
                return principal, _refusal("cross_site", problem, 403)
        reason = can(principal, action)
        if reason is not None:
            return principal, _refusal("forbidden", reason, 403)
        return principal, None

    def login(self, token: str) -> tuple[Principal, str, int]:
        """A session for the holder of `token`: (its principal, the session id for the cookie, its lifetime
        in seconds, never past the token's expiry). AuthenticationError for a token that names nobody."""
        principal = self.principals.by_token(token)
        expires_at = self.principals.expires_at(principal.name)
        session_id, max_age_s = self.sessions.open(principal.name, expires_at.timestamp() if expires_at else None)
        return principal, session_id, max_age_s

    async def admit(self, request, action: str, endpoint: str, subject_id: str | None = None
                    ) -> tuple[Principal | None, Refusal | None]:
        """check(), and when allowed log the action (if non-public) before anything is read. A subject id that
        is neither a USCC nor a pseudonym is refused (400) and not logged: it may be a person's ID number."""
        principal, refusal = self.check(request, action)
        if refusal is None and subject_id is not None and (problems := subject_id_problems(subject_id)):
            return principal, ({"errors": [p.as_dict() for p in problems]}, 400)
        if refusal is None:
            await self.log(endpoint_decision(principal, action, subject_id), endpoint)
        return principal, refusal

    async def log(self, decision: AccessDecision, endpoint: str) -> None:
        """Write a non-public read to credit.access-log (public reads are not logged); AccessLogUnavailable
        when the broker did not acknowledge it within send_timeout_ms, whatever the send raised."""
        if decision.non_public:
            record = access_record(decision, endpoint, instant_text(self._now()))
            try:
                async with asyncio.timeout(self.send_timeout_ms / 1000):
                    await self._send(decision.principal.encode(), encode_access_record(record))
            except Exception as error:  # TimeoutError, Faust's or aiokafka's send errors: none is served unlogged
                raise AccessLogUnavailable(error) from error

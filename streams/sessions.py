"""Browser sessions: what the dashboard's login gives a browser instead of its token, and the
cross-site checks of the requests that come with them.

A browser cannot add an `Authorization` header to its own navigation, so it logs in once
(`POST /dashboard/login` with the token, which is checked) and gets a session cookie:

    credit_ledger_session=<random session id>; HttpOnly; SameSite=Strict; Path=/; Max-Age=...[; Secure]

The cookie holds a random id (256 bits), never the token. The worker keeps, in memory, the
SHA-256 of each id with the principal's name and the session's expiry: SESSION_MAX_AGE_S, or the
token's own `expires_at` when that comes first. Every request made with the cookie is its
principal's only while the principals file still names it with an unexpired token
(streams/principals.py), so removing a principal from the file ends its sessions too. The table
is per worker and bounded (SESSIONS_MAX; the oldest session goes first): behind a load balancer
a browser logs in to each worker, or the balancer keeps it on one.

A request authenticated by the cookie that changes something (any method but GET, HEAD, OPTIONS)
must come from a page of this origin: an `Origin` header naming the host the request was sent to,
and a JSON or NDJSON body (`Content-Type: application/json` or `application/x-ndjson`, which a
cross-site form cannot send without a CORS preflight that this server never answers). Requests with
a bearer token carry no ambient credential and are not checked.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

SESSION_COOKIE = "credit_ledger_session"
SESSION_MAX_AGE_S = 12 * 3600  # a working day; then the token is needed again
SESSION_ID_BYTES = 32
SESSIONS_MAX = 10_000  # open sessions per worker; the oldest is dropped first
SESSION_ID_CHARS_MAX = 64  # secrets.token_urlsafe(32) is 43
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STATE_CHANGING_TYPES = frozenset({"application/json", "application/x-ndjson"})


@dataclass(frozen=True)
class Session:
    principal_name: str
    expires_at_s: float  # wall clock, seconds since the epoch


class Sessions:
    """Session ids -> (principal name, expiry), in memory, at most `max_sessions`. `now_s` is the wall clock
    (injected for tests)."""

    def __init__(self, now_s: Callable[[], float] = time.time, max_sessions: int = SESSIONS_MAX,
                 max_age_s: float = SESSION_MAX_AGE_S) -> None:
        self._now_s = now_s
        self._max_sessions = max_sessions
        self._max_age_s = max_age_s
        self._table: OrderedDict[bytes, Session] = OrderedDict()  # by the SHA-256 of the id, oldest first

    def open(self, principal_name: str, token_expires_at_s: float | None = None) -> tuple[str, int]:
        """A new session for `principal_name`: (its id, for the cookie; its lifetime in whole seconds)."""
        now_s = self._now_s()
        expires_at_s = now_s + self._max_age_s
        if token_expires_at_s is not None:
            expires_at_s = min(expires_at_s, token_expires_at_s)
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        self._table[_key(session_id)] = Session(principal_name, expires_at_s)
        while len(self._table) > self._max_sessions:
            self._table.popitem(last=False)
        return session_id, max(0, int(expires_at_s - now_s))

    def principal_name(self, session_id: str) -> str | None:
        """The principal a live session belongs to; None for an unknown or expired id (then forgotten)."""
        if not isinstance(session_id, str) or not 0 < len(session_id) <= SESSION_ID_CHARS_MAX:
            return None
        key = _key(session_id)
        session = self._table.get(key)
        if session is None:
            return None
        if self._now_s() >= session.expires_at_s:
            del self._table[key]
            return None
        return session.principal_name

    def close(self, session_id: str) -> None:
        if isinstance(session_id, str) and 0 < len(session_id) <= SESSION_ID_CHARS_MAX:
            self._table.pop(_key(session_id), None)

    def __len__(self) -> int:
        return len(self._table)


def _key(session_id: str) -> bytes:
    # the table holds digests: a dump of the worker's memory gives no cookie to replay
    return hashlib.sha256(session_id.encode("utf-8", "replace")).digest()


def cross_site_problem(method: str, origin: str | None, host: str | None, content_type: str | None) -> str | None:
    """Why a request authenticated by the session cookie may not change anything, or None when it may:
    a safe method always may; any other needs an Origin whose host is the request's Host, and a JSON or
    NDJSON body."""
    if method.upper() in SAFE_METHODS:
        return None
    if not origin or origin == "null":
        return "a request made with the session cookie that changes something needs an Origin header of this site"
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not host or parts.netloc.lower() != host.strip().lower():
        return f"the Origin {origin[:100]!r} is not this site: requests of another site may not use the session"
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in STATE_CHANGING_TYPES:
        return (f"a request made with the session cookie that changes something must send "
                f"{' or '.join(sorted(STATE_CHANGING_TYPES))}, not {media or 'no Content-Type'}")
    return None


def cookie_is_secure(scheme: str | None, forwarded_proto: str | None) -> bool:
    """Whether the browser reached us over TLS: the request's own scheme, or what a TLS-terminating proxy in
    front says (X-Forwarded-Proto). Trusting that header cannot weaken anything: a client that lies about it
    only gets a cookie its browser will not send back over plain HTTP."""
    first_hop = (forwarded_proto or "").split(",")[0].strip().lower()
    return (scheme or "").lower() == "https" or first_hop == "https"

"""Principals from configuration, and bearer-token authentication (DESIGN "Access").

The principals file (JSON, or TOML with `[[principals]]` tables) names each principal with
its role (projections.access.CONFIGURED_ROLES), the authority code it acts for, the
SHA-256 of its token and the instant the token expires; the tokens themselves are never
stored by the ledger. A supervisor may carry a `scope` (projections/scopes.py: authority codes,
a GB/T 2260 region prefix, GB/T 4754 industry sections) that bounds every view it gets:

    {"format": 1, "principals": [
      {"name": "szscjg-case-system", "role": "publisher", "authority_code": "11440300MB2C92050G",
       "token_sha256": "9f2c…(64 hex)", "expires_at": "2027-03-31T00:00:00+08:00"},
      {"name": "futian-supervisor", "role": "supervisor", "scope": {"region_prefix": "440304",
       "industry_sections": ["C", "F"]}, "token_sha256": "…", "expires_at": "2027-03-31T00:00:00+08:00"}]}

A token is 256 random bits (`new_token`), so a plain SHA-256 is enough to make a stolen
file useless: a slow password hash protects guessable secrets, and these are not guessable.

`Principals.authenticate(header)` turns an `Authorization` header into a Principal: no header
is the anonymous public; a header that is not `Bearer <known token>` raises
AuthenticationError (HTTP 401), as does a token past its `expires_at`. In embedded mode `up`
calls `create_dev_principals` (tokens valid DEV_TOKEN_DAYS, renewed by every `up`).

The worker reads the file through `PrincipalsFile`: it looks at the file's mtime at most once
a RELOAD_CHECK_S and re-reads it when it changed, so a principal removed from the file (or
its expires_at moved into the past) is refused within about a second, without a restart. A
file that cannot be read, or breaks a rule, or that group or others may write, leaves the
last good one in force and is logged with the reason.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from projections.access import ADMIN, ANONYMOUS_PRINCIPAL, AUDITOR, CONFIGURED_ROLES, PUBLISHER, SUBJECT, SUPERVISOR
from projections.access import PRINCIPAL_NAME_CHARS_MAX, Principal, is_subject_id
from projections.ids import uscc_problems
from projections.scopes import scope_of, scope_problems
from streams.private_files import PrivateFileError, read_private_file, write_private_file

PRINCIPALS_FORMAT = 1
PRINCIPALS_MAX = 1_000  # every request compares its token with each, in constant time
PRINCIPALS_FILE_BYTES_MAX = 1024 * 1024
AUTHORIZATION_CHARS_MAX = 512  # of the header; a token is 43
TOKEN_BYTES = 32
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,256}", re.ASCII)  # secrets.token_urlsafe's alphabet
_SHA256_HEX_RE = re.compile(r"[0-9a-f]{64}", re.ASCII)
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*", re.ASCII)  # shown in logs and the access log: no markup

TOKENS_FILE = "tokens.json"
KAFKA_MECHANISM = "SCRAM-SHA-512"
PRINCIPALS_FILE = "principals.json"
DEV_PREFIX = "dev-"
DEV_TOKEN_DAYS = 30  # the development principals' tokens expire this long after the last `up`
RELOAD_CHECK_S = 1.0  # the principals file's mtime is looked at most this often

log = logging.getLogger(__name__)


class AuthenticationError(Exception):
    """Bad credentials (HTTP 401); `reason` says what was wrong, never the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PrincipalsError(ValueError):
    """The principals file is unreadable or breaks a rule."""


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Credential:
    principal: Principal
    token_sha256: str
    expires_at: datetime  # aware: the token is refused from this instant on

    def as_dict(self) -> dict:
        scope = self.principal.scope
        return {"name": self.principal.name, "role": self.principal.role,
                "authority_code": self.principal.authority_code, "token_sha256": self.token_sha256,
                "expires_at": self.expires_at.isoformat(),
                **({} if scope is None else {"scope": scope.named()}),
                **({} if self.principal.subject_id is None else {"subject_id": self.principal.subject_id})}


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Principals:
    """The configured principals; authenticates Authorization headers and tokens."""

    def __init__(self, credentials: list[Credential], now: Callable[[], datetime] = _utc_now) -> None:
        if len(credentials) > PRINCIPALS_MAX:
            raise PrincipalsError(f"{len(credentials)} principals, the limit is {PRINCIPALS_MAX}")
        self.credentials = tuple(credentials)
        self._now = now  # the wall clock: a token expires in real time, whatever the ledger's clock says
        self._digests = [(bytes.fromhex(c.token_sha256), c) for c in credentials]
        self._by_name = {c.principal.name: c for c in credentials}

    @classmethod
    def load(cls, path: Path | str, missing_ok: bool = False) -> Principals:
        """Read a principals file (.toml as TOML, anything else as JSON). With `missing_ok`, a
        missing file means no principals: everyone is the anonymous public."""
        path = Path(path)
        try:
            data = read_principals_file(path)
        except FileNotFoundError:
            if missing_ok:
                return cls([])
            raise PrincipalsError(f"no principals file {path}") from None
        except PrivateFileError as error:
            raise PrincipalsError(str(error)) from None
        except OSError as error:
            raise PrincipalsError(f"cannot read {path}: {error.strerror or error}") from None
        try:
            document = tomllib.loads(data.decode("utf-8")) if path.suffix == ".toml" else json.loads(data)
        except (UnicodeDecodeError, ValueError) as error:
            raise PrincipalsError(f"{path}: not {'TOML' if path.suffix == '.toml' else 'JSON'}: {error}") from None
        return cls(parse_principals(document, str(path)))

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal an `Authorization` header names; the anonymous public without one."""
        if authorization is None or not authorization.strip():
            return ANONYMOUS_PRINCIPAL
        if len(authorization) > AUTHORIZATION_CHARS_MAX:
            raise AuthenticationError(f"the Authorization header is longer than {AUTHORIZATION_CHARS_MAX} characters")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise AuthenticationError("use 'Authorization: Bearer <token>'")
        return self.by_token(token.strip())

    def by_token(self, token: str) -> Principal:
        """The principal holding `token`; AuthenticationError for any other."""
        if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
            raise AuthenticationError("malformed token: expected 16 to 256 characters of A-Z a-z 0-9 _ -")
        digest = hashlib.sha256(token.encode("ascii")).digest()
        found = None
        for known, credential in self._digests:  # all of them, no early exit: the time tells nothing
            if hmac.compare_digest(known, digest):
                found = credential
        if found is None:
            raise AuthenticationError("unknown token")
        return self._unexpired(found)

    def by_name(self, name: str) -> Principal:
        """The principal named `name` while it is in the file and its token has not expired (a browser
        session is its principal's for no longer); AuthenticationError otherwise."""
        found = self._by_name.get(name)
        if found is None:
            raise AuthenticationError(f"{name} is no longer a principal: log in again")
        return self._unexpired(found)

    def expires_at(self, name: str) -> datetime | None:
        found = self._by_name.get(name)
        return found.expires_at if found else None

    def _unexpired(self, credential: Credential) -> Principal:
        if self._now() >= credential.expires_at:
            raise AuthenticationError(f"the token of {credential.principal.name} expired at "
                                      f"{credential.expires_at.isoformat()}: ask for a new one")
        return credential.principal

    def __len__(self) -> int:
        return len(self.credentials)


def parse_principals(document, where: str = "principals") -> list[Credential]:
    """The credentials of a principals document; PrincipalsError naming the first broken rule."""
    def fail(message: str):
        raise PrincipalsError(f"{where}: {message}")

    if not isinstance(document, dict) or set(document) - {"format", "principals"}:
        fail('must be {"format": 1, "principals": [...]}')
    if document.get("format", PRINCIPALS_FORMAT) != PRINCIPALS_FORMAT:
        fail(f"format {document.get('format')!r}; this version reads format {PRINCIPALS_FORMAT}")
    entries = document.get("principals", [])
    if not isinstance(entries, list):
        fail("principals must be a list")
    if len(entries) > PRINCIPALS_MAX:
        fail(f"{len(entries)} principals, the limit is {PRINCIPALS_MAX}")
    credentials, names, hashes = [], set(), set()
    for n, entry in enumerate(entries):
        at = f"principals[{n}]"
        if not isinstance(entry, dict) or set(entry) - {"name", "role", "authority_code", "token_sha256", "expires_at",
                                                        "scope", "subject_id"}:
            fail(f"{at}: must have name, role, token_sha256, expires_at and, for a publisher, authority_code, "
                 "for a subject, subject_id; a supervisor may have a scope; nothing else")
        name, role, code, digest = (entry.get(k) for k in ("name", "role", "authority_code", "token_sha256"))
        if not isinstance(name, str) or len(name) > PRINCIPAL_NAME_CHARS_MAX or not _NAME_RE.fullmatch(name):
            fail(f"{at}.name: 1 to {PRINCIPAL_NAME_CHARS_MAX} characters of A-Z a-z 0-9 . _ @ -")
        if name in names:
            fail(f"{at}.name: {name} is named twice")
        if role not in CONFIGURED_ROLES:
            fail(f"{at}.role: must be one of {', '.join(CONFIGURED_ROLES)}")
        if role == PUBLISHER and code is None:
            fail(f"{at}.authority_code: a publisher is bound to its authority's unified social credit code")
        if code is not None and (not isinstance(code, str) or uscc_problems(code)):
            fail(f"{at}.authority_code: not a unified social credit code")
        if not isinstance(digest, str) or not _SHA256_HEX_RE.fullmatch(digest):
            fail(f"{at}.token_sha256: 64 lower-case hex digits, the SHA-256 of the token")
        if digest in hashes:
            fail(f"{at}.token_sha256: two principals share a token")
        expires_at = _instant(entry.get("expires_at"))
        if expires_at is None:
            fail(f"{at}.expires_at: when the token expires, an ISO 8601 instant with its offset "
                 "(2027-03-31T00:00:00+08:00)")
        scope = _scope(entry, role, at, fail)
        subject_id = entry.get("subject_id")
        if (role == SUBJECT) != (subject_id is not None):
            fail(f"{at}.subject_id: a subject, and only a subject, is bound to the file it may read and file on")
        if subject_id is not None and not is_subject_id(subject_id):
            fail(f"{at}.subject_id: a unified social credit code, or a natural person's pseudonym (np- and 32 hex "
                 "digits, after the credit office's real-name check)")
        if role == SUBJECT and code is not None:
            fail(f"{at}.authority_code: a subject acts as itself (its subject_id), for no authority")
        names.add(name)
        hashes.add(digest)
        credentials.append(Credential(Principal(name, role, code, scope, subject_id), digest, expires_at))
    return credentials


def _scope(entry: dict, role: str, at: str, fail):
    """A supervisor's scope (projections/scopes.py) from its entry, None without one; `fail` names the field."""
    if "scope" not in entry:
        return None
    if role != SUPERVISOR:
        fail(f"{at}.scope: only a supervisor carries a scope, not a {role}")
    problems = scope_problems(entry["scope"])
    if problems:
        field, message = problems[0]
        fail(f"{at}.scope{'.' + field if field and not field.startswith('[') else field}: {message}")
    return scope_of(entry["scope"])


def _instant(value) -> datetime | None:
    """An aware datetime from an ISO 8601 text (JSON) or an offset date-time (TOML); None for anything else."""
    if isinstance(value, str) and len(value) <= 40:
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        return None
    return value


def read_principals_file(path: Path) -> bytes:
    """The file's bytes. Hashes of random tokens are no secret (a config map mounted 0644 is fine), but a
    file that group or others may WRITE lets them make themselves admin: refused (PrivateFileError)."""
    with path.open("rb") as stream:
        info = os.fstat(stream.fileno())
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise PrivateFileError(f"{path} is writable by group or others (mode {stat.S_IMODE(info.st_mode):o}); "
                                   f"anyone who may write it may make themselves admin: chmod go-w {path}")
        if info.st_size > PRINCIPALS_FILE_BYTES_MAX:
            raise PrivateFileError(f"{path} is {info.st_size} bytes, the limit is {PRINCIPALS_FILE_BYTES_MAX}")
        return stream.read(PRINCIPALS_FILE_BYTES_MAX + 1)


class PrincipalsFile:
    """The principals of a file as it is now: `current()` re-reads the file when its mtime, size or inode
    changed, looking at most once a `check_every_s` (a stat, ~microseconds). What cannot be read keeps the
    last good principals in force and is logged once per change of the file."""

    def __init__(self, path: Path | str, initial: Principals | None = None, *,
                 monotonic_s: Callable[[], float] = time.monotonic, check_every_s: float = RELOAD_CHECK_S) -> None:
        self.path = Path(path)
        self._monotonic_s = monotonic_s
        self._check_every_s = check_every_s
        self._checked_s: float | None = None
        self._signature = self._stat()
        self._principals = initial if initial is not None else Principals.load(self.path, missing_ok=True)

    def _stat(self) -> tuple | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino, info.st_mode)

    def current(self) -> Principals:
        now_s = self._monotonic_s()
        if self._checked_s is not None and now_s - self._checked_s < self._check_every_s:
            return self._principals
        self._checked_s = now_s
        signature = self._stat()
        if signature == self._signature:
            return self._principals
        self._signature = signature
        try:
            self._principals = Principals.load(self.path, missing_ok=False)
            log.warning("principals: read %s again: %d principals", self.path, len(self._principals))
        except PrincipalsError as error:
            log.error("principals: %s; the %d principals read before stay in force", error, len(self._principals))
        return self._principals

    def authenticate(self, authorization: str | None) -> Principal:
        return self.current().authenticate(authorization)

    def by_token(self, token: str) -> Principal:
        return self.current().by_token(token)

    def by_name(self, name: str) -> Principal:
        return self.current().by_name(name)

    def expires_at(self, name: str) -> datetime | None:
        return self.current().expires_at(name)


def write_principals(path: Path, credentials: list[Credential]) -> None:
    """Write the principals file (0600, atomically: a worker re-reading it sees the old file or the new one)."""
    document = {"format": PRINCIPALS_FORMAT, "principals": [c.as_dict() for c in credentials]}
    parse_principals(document, str(path))  # never write what could not be read back
    write_private_file(path, (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode())


def create_dev_principals(data_dir: Path | str, authority_codes, principals_path: Path | str | None = None,
                          subject_ids=()) -> dict:
    """Development principals for the embedded stack: a supervisor, an auditor, an admin, a
    publisher for each authority code and a subject for each of `subject_ids` (the demo's organisations).
    Writes their tokens to <data dir>/tokens.json ({"supervisor", "auditor", "admin": token,
    "publishers": {authority code: token}, "subjects": {subject id: token}}, 0600,
    keeping the "kafka" section of create_dev_kafka_credentials)
    and their hashes to the principals file (default <data dir>/principals.json), keeping the
    principals there that are not development ones. Idempotent: tokens already in tokens.json
    are reused, so clients keep working across restarts. Returns the tokens."""
    data_dir = Path(data_dir)
    tokens_path = data_dir / TOKENS_FILE
    principals_path = Path(principals_path) if principals_path else data_dir / PRINCIPALS_FILE
    codes = sorted(set(authority_codes))
    for code in codes:
        if uscc_problems(code):
            raise PrincipalsError(f"authority code {code!r} is not a unified social credit code")
    subjects = sorted(set(subject_ids))
    for subject_id in subjects:
        if not is_subject_id(subject_id):
            raise PrincipalsError(f"subject {subject_id!r} is neither a unified social credit code nor a pseudonym")
    old = read_tokens(tokens_path)
    tokens = {role: old.get(role) or new_token() for role in (SUPERVISOR, AUDITOR, ADMIN)}
    tokens["publishers"] = {**old.get("publishers", {}),
                            **{code: old.get("publishers", {}).get(code) or new_token() for code in codes}}
    if subjects or old.get("subjects"):  # no section for a stack with no subjects
        tokens["subjects"] = {**old.get("subjects", {}),
                              **{sid: old.get("subjects", {}).get(sid) or new_token() for sid in subjects}}
    if "kafka" in old:
        tokens["kafka"] = old["kafka"]  # create_dev_kafka_credentials' Kafka users: kept
    if tokens != old:
        write_private_file(tokens_path, (json.dumps(tokens, indent=1, sort_keys=True) + "\n").encode())
    expires_at = (_utc_now() + timedelta(days=DEV_TOKEN_DAYS)).replace(microsecond=0)
    dev = [Credential(Principal(DEV_PREFIX + role, role), token_sha256(tokens[role]), expires_at)
           for role in (SUPERVISOR, AUDITOR, ADMIN)]
    dev += [Credential(Principal(f"{DEV_PREFIX}publisher-{code}", PUBLISHER, code), token_sha256(token), expires_at)
            for code, token in sorted(tokens["publishers"].items())]
    dev += [Credential(Principal(f"{DEV_PREFIX}subject-{sid}", SUBJECT, subject_id=sid), token_sha256(token), expires_at)
            for sid, token in sorted(tokens.get("subjects", {}).items())]
    kept = [c for c in Principals.load(principals_path, missing_ok=True).credentials
            if not c.principal.name.startswith(DEV_PREFIX)]
    write_principals(principals_path, kept + dev)
    return tokens


def create_dev_kafka_credentials(data_dir: Path | str) -> dict:
    """The embedded broker's SCRAM users, one per role (streams.kafka_access.ROLES), in <data dir>/tokens.json
    under "kafka": {"mechanism": "SCRAM-SHA-512", "<role>": {"username", "password"}}, next to the
    development tokens (0600). Idempotent: credentials already there are kept. Returns that section."""
    from streams.kafka_access import DEV_USERNAMES, ROLES

    old = read_tokens(Path(data_dir) / TOKENS_FILE).get("kafka", {})
    kafka = {"mechanism": KAFKA_MECHANISM, **{role: old.get(role) or
                                                 {"username": DEV_USERNAMES[role], "password": new_token()}
                                                 for role in ROLES}}
    if kafka != old:
        write_kafka_credentials(data_dir, kafka)
    return kafka


def write_kafka_credentials(data_dir: Path | str, kafka: dict) -> None:
    """Make `kafka` the "kafka" section of <data dir>/tokens.json, keeping the rest of the file."""
    tokens_path = Path(data_dir) / TOKENS_FILE
    tokens = {**read_tokens(tokens_path), "kafka": kafka}
    write_private_file(tokens_path, (json.dumps(tokens, indent=1, sort_keys=True) + "\n").encode())


def read_tokens(path: Path) -> dict:
    """tokens.json as written before, or {} when absent or not in the expected shape (then new ones)."""
    try:
        data = json.loads(read_private_file(path, PRINCIPALS_FILE_BYTES_MAX))
    except FileNotFoundError:
        return {}
    except PrivateFileError as error:  # new tokens would silently lock every client out: say so instead
        raise PrincipalsError(str(error)) from None
    except ValueError:
        return {}
    valid = lambda t: isinstance(t, str) and _TOKEN_RE.fullmatch(t) is not None  # noqa: E731
    if not isinstance(data, dict):
        return {}
    out = {role: data[role] for role in (SUPERVISOR, AUDITOR, ADMIN) if valid(data.get(role))}
    publishers = data.get("publishers")
    if isinstance(publishers, dict):
        out["publishers"] = {code: t for code, t in publishers.items()
                             if isinstance(code, str) and not uscc_problems(code) and valid(t)}
    subjects = data.get("subjects")
    if isinstance(subjects, dict):
        out["subjects"] = {sid: t for sid, t in subjects.items() if is_subject_id(sid) and valid(t)}
    kafka = data.get("kafka")
    if isinstance(kafka, dict) and kafka.get("mechanism") == KAFKA_MECHANISM:
        out["kafka"] = {"mechanism": KAFKA_MECHANISM, **{
            role: {"username": found["username"], "password": found["password"]} for role, found in kafka.items()
            if isinstance(found, dict) and isinstance(found.get("username"), str)
            and _NAME_RE.fullmatch(found["username"]) and valid(found.get("password"))}}
    return out

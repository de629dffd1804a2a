"""Who may see and do what (DESIGN "Access"): principals, roles, and the view of a credit file each gets.

Pure: the web API, the report and the CLI ask these functions and do what they answer;
authentication (tokens) lives in streams/principals.py, the access log on credit.access-log.

Roles, and what each sees of a credit file (`view_file`) and may do (`can`, `publish_problems`):

| role       | records of a credit file                                  | rest of the file   | may publish      |
|------------|-----------------------------------------------------------|--------------------|------------------|
| anonymous  | PUBLIC records in force                                   | subject, as_of     | no               |
| querier    | as anonymous, + AUTHORIZED records a live grant covers    | subject, as_of     | no               |
| publisher  | as querier (a grant may name its authority too)           | subject, as_of     | as its authority |
| supervisor | every record in force: PUBLIC, AUTHORIZED, INTERNAL       | all but rejections | no               |
| auditor    | everything, hidden records too (repaired, ended, ...)     | everything         | no               |
| admin      | everything                                                | everything         | as any authority |
| subject    | its own file only: every record in force, every class     | all but rejections | its own filings  |

A supervisor may carry a scope (projections/scopes.py: authority codes, a region prefix, industry
sections): every view it gets is then bounded by it. A file outside the scope is as absent (known_state
answers None: 404); the lists, timeliness, the dashboard and the sample keep what is in scope; each
access record it causes carries the scope. A scope narrows a supervisor, never widens it.

A subject (本人, issue 31 part 5) is bound to one file: a USCC, or a natural person's pseudonym after the
credit office's real-name check (实名核验). Any other file is absent to it (known_state: 404). Its own file
it sees whole, as a supervisor does (every classification: it is about itself), with its grade and
reasons, its pending deadlines and the access log of its file (GET /subjects/{id}/access-log). It may
publish exactly the events a subject files itself, SELF_FILED_TYPES (ObjectionFiled 异议, RepairRequested
信用修复, QueryAuthorized 授权查询), and only on its own file (subject.id its own; never an ID number in
its place), with the source naming itself: source.authority_code is its own subject id
(publish_problems: subject_event_type, subject_own_file, subject_source, all 403). For an organisation
that is its USCC; for a natural person its pseudonym, with source.authority_name 本人 (SELF_SOURCE_NAME,
so that no name stands in a source) and no source.system, so the record says the person filed it
itself, not a department. The fold holds the same rules for what reaches it: an event whose source is
its own subject may file these three types, and no other act on a record (projections/records.py:
not_record_authority, not_credit_office on credit.rejected); a source that is a pseudonym is valid
only on that person's own filing (rule self_source, in projections/validate.py and in the fold), so
no department can write as a person, and a person writes nothing else and on no other file.

"In force" (still in publicity) is one rule for every reader: the record's status beneath a
pending objection is none of the ended ones (REPAIRED, PUBLICITY_ENDED, REVOKED, RETRACTED,
EXITED, TERM_ENDED, SUPERSEDED, EXPIRED), and no end date of its own has passed: a penalty's last day
of publicity (projections.deadlines.publicity_end: the maximum period, or the authority's
publicity_until), a list entry's term_until, a permit's or rating's valid_to. The timers turn
those dates into events; the dates are checked here too so that nothing stays on public display
in the hours between the end and the timer's event. A record under objection stays shown,
marked 异议中 by its status. Commitments end only by being retracted: a fulfilled one shows
the closed loop (践诺), a breached one is 失信 information.

A QueryAuthorized grant (授权查询) lets its grantee read the subject's AUTHORIZED records:
- live: not revoked, and granted_on <= today <= valid_until (valid_until is the last day);
- grantee: the principal's authority_code (the organisation's USCC, as the demo's banks are
  named) or its name;
- scope: the record collections it covers, by name: permits, penalties, commitments, lists,
  ratings; "ALL" covers them all. An item naming no collection covers nothing. A grant never
  opens INTERNAL records, nor records no longer in force.

Every read that shows more than the anonymous public sees is non-public: its AccessDecision
says so, with the non-public record ids and the reason it was allowed, and the caller writes
it to credit.access-log (`access_record`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from projections.deadlines import publicity_end
from projections.ids import uscc_problems
from projections.json_input import load_json
from projections.personal_data import holds_resident_id, is_resident_id, masked
from projections.catalogue import MEASURE_FEEDBACK_TYPES
from projections.policy import DEFAULT_POLICY, Policy, implemented_measures
from projections.scopes import Scope, in_scope
from projections.pseudonym import PSEUDONYM_PREFIX, is_pseudonym
from projections.records import (COLLECTIONS, EXITED, EXPIRED, PUBLICITY_ENDED, REPAIRED, RETRACTED, REVOKED,
                                 SELF_FILED_TYPES, SUPERSEDED, TERM_ENDED, base_status)
from projections.state_types import State
from projections.validate import Problem

# --- roles and principals ------------------------------------------------------------------------
ANONYMOUS, QUERIER, PUBLISHER, SUPERVISOR, AUDITOR, ADMIN, SUBJECT = (
    "anonymous", "querier", "publisher", "supervisor", "auditor", "admin", "subject")
ROLES = (ANONYMOUS, QUERIER, PUBLISHER, SUPERVISOR, AUDITOR, ADMIN, SUBJECT)
CONFIGURED_ROLES = ROLES[1:]  # a principal in the principals file; anonymous is whoever has no credentials
SUPERVISOR_UP = (SUPERVISOR, AUDITOR, ADMIN)
AUDITOR_UP = (AUDITOR, ADMIN)
PRINCIPAL_NAME_CHARS_MAX = 100


@dataclass(frozen=True)
class Principal:
    """Who is asking. `authority_code` is the USCC the principal acts for: a publisher's
    authority (it may publish only as that authority), a querier's organisation. `scope` bounds a
    supervisor to the subjects and authorities it supervises (projections/scopes.py); None: the whole ledger.
    `subject_id` binds a subject to its own file (a USCC, or a natural person's pseudonym)."""

    name: str
    role: str
    authority_code: str | None = None
    scope: Scope | None = None
    subject_id: str | None = None

    def __post_init__(self) -> None:
        assert self.role in ROLES, self.role
        assert (self.role == SUBJECT) == (self.subject_id is not None), "a subject, and only it, is bound to a file"
        assert self.scope is None or self.role == SUPERVISOR, "only a supervisor carries a scope"
        assert self.role != PUBLISHER or self.authority_code, "a publisher is bound to an authority code"
        assert 0 < len(self.name) <= PRINCIPAL_NAME_CHARS_MAX, self.name


ANONYMOUS_PRINCIPAL = Principal("anonymous", ANONYMOUS)
# The operator's own tools in-process (`credit-ledger publish` without --token, `up --demo`).
OPERATOR = Principal("operator", ADMIN)

# --- endpoint-level rules ------------------------------------------------------------------------
EVERYONE = ROLES


@dataclass(frozen=True)
class Action:
    roles: tuple[str, ...]
    non_public: bool  # a read whose every allowed use goes to credit.access-log
    what: str


# Every action an endpoint or command performs. A file read (`read_file`, `report`) is allowed to
# everyone and then filtered by view_file, which decides whether that read was non-public.
ACTIONS: dict[str, Action] = {
    "read_file": Action(EVERYONE, False, "GET /subjects/{id}: the credit file, as view_file shows it to the role"),
    "report": Action(EVERYONE, False, "GET /subjects/{id}/report, credit-ledger report: the view_file view as HTML"),
    "read_list": Action(EVERYONE, False, "GET /lists/{kind}: a public red or black list"),
    "health": Action(EVERYONE, False, "GET /healthz, /readyz"),
    "metrics": Action(EVERYONE, False, "GET /metrics: counters of the whole ledger (per type, grade, rule), "
                                       "none per authority or subject"),
    # Prometheus scrapes it every 15 s: logging each scrape would bury the reads of files that matter
    "metrics_by_authority": Action(SUPERVISOR_UP, False, "GET /metrics/authorities: 双公示 timeliness counters "
                                                         "per authority (迟报, 漏报), as /timeliness"),
    "grade": Action((*SUPERVISOR_UP, SUBJECT), True, "GET /subjects/{id}/grade, credit-ledger grade: derived from "
                                                     "INTERNAL and AUTHORIZED records too (a subject: its own)"),
    "timeliness": Action(SUPERVISOR_UP, True, "GET /timeliness: 双公示 timeliness per authority"),
    "stats": Action(SUPERVISOR_UP, True, "GET /stats/disclosure, credit-ledger stats: assessment figures per "
                                         "authority, region or industry (on time, late, missing, exempt, rejected)"),
    "dashboard": Action(SUPERVISOR_UP, True, "GET /dashboard and its stream: live risk and deadlines"),
    "personal_info": Action((*SUPERVISOR_UP, SUBJECT), True, "a natural person's unsealed name and ID number "
                                                             "(a subject: its own)"),
    "subject_access_log": Action((SUBJECT, *AUDITOR_UP), True, "GET /subjects/{id}/access-log: who read the file, "
                                                               "when and why (a subject: of its own file)"),
    "self_service": Action((SUBJECT,), False, "GET /self: a subject's own page (本人信用信息), its file read as "
                                              "read_file"),
    "measure_check": Action((PUBLISHER, *SUPERVISOR_UP), True, "GET /subjects/{id}/measures: the joint measures "
                                                               "binding an implementing authority now (信用审查; a "
                                                               "publisher: its own authority's), with purpose and matter"),
    "history": Action(AUDITOR_UP, True, "GET /subjects/{id}/history, credit-ledger history: every accepted event"),
    "verify": Action(AUDITOR_UP, True, "credit-ledger verify, GET /state/digest: chains and digests"),
    "access_log": Action(AUDITOR_UP, True, "credit-ledger access-log: who read which file"),
    "publish": Action((PUBLISHER, ADMIN, SUBJECT), False, "POST /events, the SDK, credit-ledger publish (a write; "
                                                          "a subject: SELF_FILED_TYPES on its own file)"),
    "login": Action(EVERYONE, False, "GET, POST /dashboard/login: the form, and a browser session for a valid token"),
    "static": Action(EVERYONE, False, "GET /dashboard/dashboard.js, .css: the dashboard's code, no data"),
    # the credit office's own act (个人信息删除): its admin alone; logged like a read, before it is done
    # the credit office's publication of a list (红黑榜发布): recorded on credit.releases, logged like a read
    "release": Action((ADMIN,), True, "credit-ledger release, POST /releases: record a dated, numbered release "
                                      "of a red or black list"),
    # the credit office's upward export (向上级平台报送): its receipts on credit.exports, logged like a read
    "export": Action((ADMIN,), True, "credit-ledger export, GET and POST /exports: a destination's receipts and "
                                     "cursor, and recording a batch's receipt"),
    "erase_personal_info": Action((ADMIN,), True, "credit-ledger erase, POST /subjects/{id}/personal-info/erase: "
                                                  "destroy a natural person's keys, for good, in every process"),
}


# Every route the worker serves ("METHOD /path", as its router names it) and the action of ACTIONS that says
# who may use it and whether each use is logged. tests/unit/test_routes.py holds the worker to it: a route
# not in this table is not served (streams/web_guard.py), and a route here the worker lacks is an error.
ROUTES: dict[str, tuple[str, ...]] = {
    "GET /subjects/{subject_id}": ("read_file",),
    "GET /subjects/{subject_id}/report": ("report",),
    "GET /subjects/{subject_id}/grade": ("grade",),
    "GET /subjects/{subject_id}/history": ("history",),
    "GET /subjects/{subject_id}/access-log": ("subject_access_log",),
    "GET /subjects/{subject_id}/measures": ("measure_check",),
    "GET /self": ("self_service",),
    "POST /subjects/{subject_id}/personal-info/erase": ("erase_personal_info",),
    "POST /access-log": ("history", "verify", "stats"),  # the read a command announces names its action
    "POST /events": ("publish",),
    "POST /events:batch": ("publish",),
    "GET /lists/{list_kind}": ("read_list",),
    "GET /releases": ("read_list",),
    "POST /releases": ("release",),
    "GET /releases/{number}": ("read_list",),
    "GET /exports": ("export",),
    "POST /exports": ("export",),
    "GET /timeliness": ("timeliness",),
    "GET /stats/disclosure": ("stats",),
    "GET /state/digest": ("verify",),
    "GET /healthz": ("health",),
    "GET /readyz": ("health",),
    "GET /metrics": ("metrics",),
    "GET /metrics/authorities": ("metrics_by_authority",),
    "GET /dashboard": ("dashboard",),
    "GET /dashboard/snapshot": ("dashboard",),
    "GET /dashboard/stream": ("dashboard",),
    "GET /dashboard/login": ("login",),
    "POST /dashboard/login": ("login",),
    "GET /dashboard/dashboard.js": ("static",),
    "GET /dashboard/dashboard.css": ("static",),
}


def can(principal: Principal, action: str) -> str | None:
    """None when `principal` may perform `action`; otherwise the reason it may not (HTTP 403)."""
    rule = ACTIONS.get(action)
    if rule is None:  # fail closed: an endpoint nobody classified is nobody's
        return f"unknown action {action!r}: no role may perform it"
    if principal.role in rule.roles:
        return None
    return f"role {principal.role} may not {action.replace('_', ' ')} ({rule.what}); allowed: {', '.join(rule.roles)}"


# --- publishing ----------------------------------------------------------------------------------
# The rules publish_problems names; an edge answers a problem with one of them 403, not 422.
FORBIDDEN_RULES = frozenset(("role_may_not_publish", "publisher_authority", "historical_admin_only",
                             "subject_event_type", "subject_own_file", "subject_source", "measure_implementer"))


def publish_problems(principal: Principal, event, policy: Policy | None = None) -> list[Problem]:
    """Why `principal` may not publish `event` (raw or validated JSON form); empty when it may.

    A publisher is bound to one authority on every path (SDK, HTTP, CLI): the event's
    source.authority_code must be its own, or a department could publish in another's name. With the
    `policy` in force, a publisher files feedback on a joint measure (MeasureApplied, MeasureDeclined) only
    for a measure its authority implements (its register entry's measures: measure_implementer); that the
    entry is an active one of the subject is the fold's to judge (projections/records.py)."""
    if principal.role == ADMIN:
        return []
    if principal.role == SUBJECT:
        return _self_filing_problems(principal, event)
    if principal.role != PUBLISHER:
        return [Problem("$", "role_may_not_publish", f"principal {principal.name} has role {principal.role}; "
                                                     f"only a publisher or an admin may publish")]
    source = event.get("source") if isinstance(event, dict) else None
    code = source.get("authority_code") if isinstance(source, dict) else None
    payload = event.get("payload") if isinstance(event, dict) else None
    if isinstance(payload, dict) and payload.get("historical") is True:  # issue 29 R10
        return [Problem("payload.historical", "historical_admin_only",
                        "a historical import (publish --historical) is an admin's: a publisher's records are judged "
                        "for timeliness")]
    if code != principal.authority_code:
        # only text is quoted: the repr of a 5,000-digit integer or of a list 1,000 deep raises
        shown = _shown(code) if isinstance(code, str) else "none" if code is None else f"a {type(code).__name__}"
        return [Problem("source.authority_code", "publisher_authority",
                        f"publisher {principal.name} may publish only as authority {principal.authority_code}, "
                        f"not as {shown}")]
    if policy is not None and event.get("type") in MEASURE_FEEDBACK_TYPES and isinstance(payload, dict):
        measure = payload.get("measure")
        if measure not in implemented_measures(policy, code):
            shown = _shown(measure) if isinstance(measure, str) else "none"
            return [Problem("payload.measure", "measure_implementer",
                            f"authority {code} does not implement the joint measure {shown} ({policy.version} policy "
                            f"register): only the implementing department reports on it")]
    return []


def _self_filing_problems(principal: Principal, event) -> list[Problem]:
    """Why a subject may not publish `event`: only SELF_FILED_TYPES, on its own file, as itself (module doc)."""
    raw = event if isinstance(event, dict) else {}
    subject, source, payload = (raw.get(k) if isinstance(raw.get(k), dict) else {}
                                for k in ("subject", "source", "payload"))
    kind = raw.get("type")
    if kind not in SELF_FILED_TYPES:
        shown = _shown(kind) if isinstance(kind, str) else "none" if kind is None else f"a {type(kind).__name__}"
        return [Problem("type", "subject_event_type", f"a subject files only {', '.join(SELF_FILED_TYPES)} on its own "
                                                      f"file, not {shown}")]
    if "id_number" in subject or "pii" in subject:  # validation would put the number's pseudonym in its place
        return [Problem("subject.id_number" if "id_number" in subject else "subject.pii", "subject_own_file",
                        "a subject names its own file by subject.id only, never by an ID number")]
    if subject.get("id") != principal.subject_id:
        return [Problem("subject.id", "subject_own_file", f"subject {principal.name} may file only on its own file, "
                                                          f"{principal.subject_id}")]
    if source.get("authority_code") != principal.subject_id:
        return [Problem("source.authority_code", "subject_source", f"a subject files as itself: source.authority_code "
                                                                   f"must be {principal.subject_id}")]
    if payload.get("historical") is True:
        return [Problem("payload.historical", "historical_admin_only", "a historical import is an admin's")]
    return []


def is_subject_id(value) -> bool:
    """Whether `value` names a file a subject principal may be bound to: a USCC, or a pseudonym (np-<hex>)."""
    if not isinstance(value, str) or len(value) > SUBJECT_ID_CHARS_MAX:
        return False
    return is_pseudonym(value) if value.startswith(PSEUDONYM_PREFIX) else not uscc_problems(value)


def subject_id_problems(value, field: str = "subject_id") -> list[Problem]:
    """[] when `value` names a subject as the ledger does (is_subject_id); else the problem, which does not
    repeat the value: a request's subject id that is neither may be a person's ID number, and is neither
    echoed nor written to credit.access-log."""
    if is_subject_id(value):
        return []
    return [Problem(field, "subject_id", "a USCC or a natural person's pseudonym (np-…), never an ID number")]


def forbidden(problems: list[Problem]) -> bool:
    """Whether the problems say "not allowed" (403) rather than "not valid" (400/422)."""
    return any(p.rule in FORBIDDEN_RULES for p in problems)


# --- what a credit file shows to whom --------------------------------------------------------------
RECORD_ID_FIELD = {"permits": "record_id", "penalties": "record_id", "commitments": "commitment_id",
                   "lists": "entry_id", "ratings": "rating_id"}
ENDED = frozenset((REPAIRED, PUBLICITY_ENDED, REVOKED, RETRACTED, EXITED, TERM_ENDED, SUPERSEDED, EXPIRED))
_END_DATE = {"permits": "valid_to", "ratings": "valid_to", "lists": "term_until"}
SCOPE_ALL = "ALL"
# Fields of a record that tell of INTERNAL events (objection and repair files, the authority's
# own timeliness): shown to supervisors and auditors only.
_INTERNAL_FIELDS = ("history", "pending_repair", "late", "disclosure_due_on", "feedback", "feedback_counts")
RECORD_IDS_LOGGED_MAX = 1_000  # per access record; record_count keeps the true number


@dataclass(frozen=True)
class AccessDecision:
    """What a read showed and why it was allowed; `non_public` reads go to credit.access-log."""

    principal: str
    role: str
    authority_code: str | None
    subject_id: str | None
    action: str
    non_public: bool
    reason: str  # why it was allowed, for the access log
    record_ids: tuple[str, ...] = field(default=())  # the non-public records the view showed
    scope: Scope | None = None  # the reader's scope (projections/scopes.py), None for the whole ledger


def in_force(collection: str, record: dict, today: str, policy: Policy = DEFAULT_POLICY) -> bool:
    """Whether a record is still in force (in publicity) on `today` (ISO date): see the module doc."""
    if base_status(record) in ENDED or record.get("status") == RETRACTED:
        return False
    if collection == "penalties":
        return publicity_end(record, policy)[0].due_on.isoformat() >= today
    end = record.get(_END_DATE.get(collection, ""))
    return end is None or end >= today


def live_grants(state: State, principal: Principal, today: str) -> list[dict]:
    """The subject's grants that let `principal` read AUTHORIZED records today."""
    if principal.role == ANONYMOUS:
        return []
    names = {principal.name, principal.authority_code} - {None}
    return [grant for grant in sorted(state.get("grants", {}).values(), key=lambda g: g["grant_id"])
            if not grant["revoked"] and grant["granted_on"] <= today <= grant["valid_until"]
            and grant["grantee"] in names]


def granted_collections(grants: list[dict]) -> set[str]:
    covered: set[str] = set()
    for grant in grants:
        scope = set(grant["scope"])
        covered |= set(COLLECTIONS) if SCOPE_ALL in scope else scope & set(COLLECTIONS)
    return covered


def view_file(file: dict, state: State, principal: Principal, today: str, *,
              policy: Policy = DEFAULT_POLICY) -> tuple[dict, AccessDecision]:
    """The credit file as `principal` may see it on `today` (ISO date, Asia/Shanghai), and the
    decision to log. `file` is projections.fold.credit_file(state, policy)."""
    subject_id = file["subject"]["id"]

    def decision(non_public: bool, reason: str, record_ids: list[str]) -> AccessDecision:
        return AccessDecision(principal.name, principal.role, principal.authority_code, subject_id, "read_file",
                              non_public, reason, tuple(record_ids), principal.scope)

    public = {_identity(collection, record) for collection, record in _records(file)
              if record["classification"] == "PUBLIC" and in_force(collection, record, today, policy)}
    if principal.role == SUBJECT and principal.subject_id == subject_id:
        current = {collection: [r for r in file["records"][collection] if in_force(collection, r, today, policy)]
                   for collection in COLLECTIONS}
        view = {**file, "records": current, "rejected": [], "rejected_total": None}
        non_public = [_record_id(c, r) for c in COLLECTIONS for r in current[c] if _identity(c, r) not in public]
        return view, decision(True, "role subject: its own file, every record in force of every classification, "
                                    "with grade, deadlines and pending objections and repairs (本人查询)", non_public)
    if principal.role in AUDITOR_UP:
        hidden = [_record_id(c, r) for c, r in _records(file) if _identity(c, r) not in public]
        return file, decision(True, f"role {principal.role}: the whole file, hidden records included (审计)", hidden)
    if principal.role == SUPERVISOR:
        current = {collection: [r for r in file["records"][collection] if in_force(collection, r, today, policy)]
                   for collection in COLLECTIONS}
        view = {**file, "records": current, "rejected": [], "rejected_total": None}
        non_public = [_record_id(c, r) for c in COLLECTIONS for r in current[c] if _identity(c, r) not in public]
        return view, decision(True, "role supervisor: every record in force, INTERNAL and AUTHORIZED included, "
                                    "with grade, deadlines and pending objections and repairs (监管)", non_public)

    grants = live_grants(state, principal, today)
    granted = granted_collections(grants)
    shown: dict[str, list[dict]] = {}
    authorized: list[str] = []
    authorized_collections: set[str] = set()
    for collection in COLLECTIONS:
        shown[collection] = []
        for record in file["records"][collection]:
            rid = _record_id(collection, record)
            if _identity(collection, record) in public:
                shown[collection].append(_as_public(state, collection, _without_internal_fields(record)))
            elif (record["classification"] == "AUTHORIZED" and collection in granted
                  and in_force(collection, record, today, policy)):
                shown[collection].append(_as_public(state, collection, _without_internal_fields(record)))
                authorized.append(rid)
                authorized_collections.add(collection)
    view = {
        "subject": file["subject"],
        "grade": None,  # derived from non-public records as well: supervisors and up
        "records": shown,
        "pending": {"objections": [], "repairs": [], "deadlines": []},
        "decisions": [],
        "grants": [],
        "events_by_type": {},
        "events_total": None,
        "rejected": [],
        "rejected_total": None,
        "chain": None,
        "as_of": public_as_of(state),  # never the time or offset of a non-public event
    }
    if not authorized:
        return view, decision(False, "public view: PUBLIC records in force", [])
    used = [g for g in grants if granted_collections([g]) & authorized_collections]
    reason = "授权查询 (authorised query): " + "; ".join(
        f"grant {g['grant_id']} to {g['grantee']} for {', '.join(g['scope'])} until {g['valid_until']}" for g in used)
    return view, decision(True, reason, authorized)


def public_as_of(state: State) -> dict | None:
    """The newest PUBLIC event's {offset, recorded_at}, None when the subject has none. A state stored
    before the fold kept it: the newest PUBLIC record's, or None."""
    if "public_as_of" in state:
        return state["public_as_of"]
    newest = max((r for c in COLLECTIONS for r in state["records"][c].values() if r["classification"] == "PUBLIC"),
                 key=lambda r: r["offset"], default=None)
    return None if newest is None else {"offset": newest["offset"], "recorded_at": newest["recorded_at"]}


def known_state(state: State | None, principal: Principal, today: str) -> dict | None:
    """`state`, or None when `principal` may not even learn that the subject is in the ledger: below
    the supervisors, a subject is known by a PUBLIC event of it, or by a live grant naming the reader;
    to a scoped supervisor a subject outside its scope is unknown, whatever it holds (404 as if absent)."""
    if not in_scope(principal.scope, state):
        return None
    if principal.role == SUBJECT:  # its own file, whatever it holds; any other is unknown to it
        return state if state is not None and state["subject"]["id"] == principal.subject_id else None
    if state is None or principal.role in SUPERVISOR_UP or public_as_of(state) is not None:
        return state
    return state if live_grants(state, principal, today) else None


def _as_public(state: State, collection: str, record: dict) -> dict:
    """A record as a reader below the supervisors sees it. A pending objection marks it 异议中 whatever
    the objection's class (the mark is the record's, DESIGN "Objections"); a correction decided in a
    non-public ObjectionResolved (INTERNAL by default) shows neither its text nor its day."""
    if record.get("correction") is None:
        return record
    authority, rid = record["source"]["authority_code"], _record_id(collection, record)
    if any(k.startswith(authority + "/") and o["record_kind"] == collection and o["record_id"] == rid
           and o["outcome"] == "UPHELD_CORRECTED" and o["correction"] == record["correction"]
           and o.get("resolution_classification") == "PUBLIC" for k, o in state.get("objections", {}).items()):
        return record
    return {**record, "correction": None, "corrected_on": None}


def endpoint_decision(principal: Principal, action: str, subject_id: str | None = None,
                      record_ids: tuple[str, ...] = ()) -> AccessDecision:
    """The decision of an allowed endpoint-level action (history, grade, dashboard ...), to log
    when ACTIONS says the action is non-public. Call `can` first: this asserts it allowed it."""
    assert can(principal, action) is None, (principal, action)
    rule = ACTIONS[action]
    return AccessDecision(principal.name, principal.role, principal.authority_code, subject_id, action,
                          rule.non_public, f"role {principal.role} may {action.replace('_', ' ')}", record_ids,
                          principal.scope)


AUDIT_READ_ACTIONS = ("history", "verify", "stats")  # what `history`, `report`, `verify`, `stats` announce first
AUDIT_READ_BYTES_MAX = 2_048
COMMAND_CHARS_MAX = 300
SUBJECT_ID_CHARS_MAX = 64


def audit_read(body: bytes | None) -> tuple[dict | None, list[Problem]]:
    """The read a command announces (POST /access-log): ({"action", "subject_id", "command"}, []) or
    (None, the problems). The command's text is the principal's own account of what it reads; who the
    principal is comes from its token, never from the body."""
    def refused(field: str, message: str) -> tuple[None, list[Problem]]:
        return None, [Problem(field, "audit_read", message)]

    if body is None:
        return refused("$", f"the body is larger than {AUDIT_READ_BYTES_MAX} bytes")
    read, problems = load_json(body)
    if problems:
        return None, problems
    if not isinstance(read, dict) or set(read) != {"action", "subject_id", "command"}:
        return refused("$", "give exactly action, subject_id and command")
    if read["action"] not in AUDIT_READ_ACTIONS:
        return refused("action", f"one of {', '.join(AUDIT_READ_ACTIONS)}")
    # both go to credit.access-log: a subject by its id as the ledger keeps it, never a person's ID number
    if read["subject_id"] is not None and not is_subject_id(read["subject_id"]):
        return refused("subject_id", "null, or a USCC or a natural person's pseudonym (np-…), never an ID number")
    command = read["command"]
    if not (isinstance(command, str) and command.startswith("credit-ledger ") and len(command) <= COMMAND_CHARS_MAX
            and command.isprintable()):
        return refused("command", f"the command as run: 'credit-ledger ...', at most {COMMAND_CHARS_MAX} "
                                  "printable characters")
    if holds_resident_id(command):
        return refused("command", "holds a resident ID number: name a natural person by its pseudonym (np-…)")
    return read, []


def access_record(decision: AccessDecision, endpoint: str, at: str) -> dict:
    """The credit.access-log record (streams.codec.encode_access_record) of a non-public read.
    `endpoint` says where, e.g. "GET /subjects/{id}"; `at` is an ISO instant."""
    assert decision.non_public, "only non-public reads are logged"
    return {"principal": decision.principal, "role": decision.role, "authority_code": decision.authority_code,
            "subject_id": decision.subject_id, "action": decision.action,
            "record_ids": list(decision.record_ids[:RECORD_IDS_LOGGED_MAX]),
            "record_count": len(decision.record_ids), "reason": decision.reason, "endpoint": endpoint, "at": at,
            "scope": None if decision.scope is None else decision.scope.as_dict()}


def _records(file: dict):
    for collection in COLLECTIONS:
        for record in file["records"][collection]:
            yield collection, record


def _record_id(collection: str, record: dict) -> str:
    return record[RECORD_ID_FIELD[collection]]


def _identity(collection: str, record: dict) -> tuple[str, str, str]:
    # records are identified per issuing authority: two authorities' records may share an id
    return collection, record["source"]["authority_code"], _record_id(collection, record)


def _without_internal_fields(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in _INTERNAL_FIELDS}


def _shown(value, limit_chars: int = 40) -> str:
    # an authority code that is not one may be an ID number: its digit runs are not quoted back
    plain = isinstance(value, str) and len(value) == 18 and not uscc_problems(value) and not is_resident_id(value)
    text = repr(value) if plain else masked(repr(value))
    return text if len(text) <= limit_chars else text[:limit_chars] + "…"

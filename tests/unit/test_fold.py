"""The fold: effects, the chain, and idempotence under at-least-once delivery."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.canonical import GENESIS_HEAD, canonical_bytes, chain_link
from projections.state_versions import VERSION_KEY, upcast
from projections.fold import APPLIED, DUPLICATE, REDELIVERED, REJECTED, credit_file, fold
from projections.records import ID_FIELD, OBJECTABLE, PENDING, UNDER_OBJECTION, key, key_authority
from projections.validate import require_valid
from tests.unit import events as ev
from tests.unit.events import CTX, event


def log_of(n: int) -> list[dict]:
    registered = event("SubjectRegistered", {"region_code": "410105", "registered_on": "2001-01-01"})
    rest = [event(payload={"record_id": f"P-{i}", "decision_no": f"郑市监罚〔2025〕{i}号", "violation_type": "x",
                           "facts": "f", "basis": "b", "penalty_kinds": ["WARNING"], "severity": "GENERAL"})
            for i in range(n - 1)]
    return [require_valid(e, CTX) for e in [registered, *rest]]


def replay(entries: list[tuple[int, dict]]) -> dict | None:
    state = None
    for offset, e in entries:
        state, _ = fold(state, e, offset)
    return state


def test_given_registration_and_penalty_then_counts_subject_and_chain():
    events = log_of(2)
    state = replay(list(enumerate(events)))
    file = credit_file(state)
    assert file["subject"]["region_code"] == "410105"
    assert file["subject"]["name"] == "郑州金水宏达机械制造有限公司"
    assert file["events_by_type"] == {"PenaltyImposed": 1, "SubjectRegistered": 1}
    assert file["as_of"] == {"offset": 1, "recorded_at": events[1]["recorded_at"]}
    assert file["chain"] == {"length": 2, "head": chain_link(chain_link(GENESIS_HEAD, events[0]), events[1])}


def test_redelivery_and_duplicates_change_nothing():
    events = log_of(3)
    state = replay(list(enumerate(events)))
    same, outcome = fold(state, events[1], 1)
    assert outcome.kind == REDELIVERED and same is state
    same, outcome = fold(state, events[1], 7)  # the same event id published again, later in the log
    assert outcome.kind == DUPLICATE and same is state


def test_a_rule_breach_is_rejected_recorded_and_changes_nothing_else():
    events = log_of(1)
    state = replay([(0, events[0])])
    other_kind = dict(events[0], event_id="00000000-0000-0000-0000-0000000000ff",
                      subject={**events[0]["subject"], "kind": "OTHER_ORGANIZATION"})
    new, outcome = fold(state, other_kind, 1)
    assert outcome.kind == REJECTED and outcome.reasons[0].rule == "same_kind"
    assert new["chain"] == state["chain"] and new["counts"] == state["counts"]
    assert new["rejected"][0]["offset"] == 1 and new["rejected_total"] == 1
    again, outcome = fold(new, other_kind, 1)
    assert outcome.kind == REDELIVERED and again is new


def test_a_rejection_is_kept_whole_and_counted_in_the_credit_file():
    events = log_of(1)
    other_kind = dict(events[0], event_id="00000000-0000-0000-0000-0000000000ff",
                      subject={**events[0]["subject"], "kind": "OTHER_ORGANIZATION"})
    new, outcome = fold(replay([(0, events[0])]), other_kind, 1)
    file = credit_file(new)
    assert (file["rejected_total"], file["rejected"]) == (1, new["rejected"])
    assert new["rejected"] == [{"event_id": other_kind["event_id"], "type": other_kind["type"], "offset": 1,
                                "recorded_at": other_kind["recorded_at"],
                                "reasons": [reason.as_dict() for reason in outcome.reasons]}]
    assert new["rejected"][0]["reasons"][0]["rule"] == "same_kind"


def test_fold_does_not_mutate_its_input():
    events = log_of(2)
    state = replay([(0, events[0])])
    before = canonical_bytes(state)
    fold(state, events[1], 1)
    assert canonical_bytes(state) == before


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_redelivery_schedule_gives_the_state_of_a_clean_replay(data):
    """At-least-once: after a crash Kafka redelivers from any earlier offset, any number of times,
    and publishers may send an event id twice; the state is the clean replay's, byte for byte."""
    events = log_of(data.draw(st.integers(1, 12), label="events"))
    log = list(enumerate(events))
    duplicate_at = data.draw(st.lists(st.integers(0, len(events) - 1), max_size=3), label="republished")
    for i in duplicate_at:  # a publisher's retry lands the same event again at the end of the log
        log.append((len(log), events[i]))
    clean = replay(log)
    delivered = redelivered(data, log)
    assert canonical_bytes(replay(delivered)) == canonical_bytes(clean)
    outcomes = [fold(replay(log[:i]), e, off)[1].kind for i, (off, e) in enumerate(log)]
    assert outcomes.count(APPLIED) == len(events) and outcomes.count(DUPLICATE) == len(duplicate_at)


# --- random mixed logs: many event types, valid and invalid, over a small id space ---------------
def redelivered(data, log: list) -> list:
    """The log as an at-least-once consumer may see it: each crash rewinds to an earlier offset."""
    delivered, position = [], 0
    while position < len(log):
        step = data.draw(st.integers(1, len(log) - position), label="advance")
        delivered.extend(log[position:position + step])
        position += step
        back = data.draw(st.integers(0, position), label="crash rewinds to")
        delivered.extend(log[back:position])
    return delivered


DAYS = tuple(f"{2024 + m // 12}-{m % 12 + 1:02d}-10" for m in range(18))  # 2024-01-10 .. 2025-06-10
OUTCOMES = ("DISMISSED", "UPHELD_CORRECTED", "UPHELD_WITHDRAWN")
# Weighted by repetition: the stories that need several steps (repair, objection) come up often.
OPERATIONS = ("penalty", "penalty", "penalty", "fulfil", "fulfil", "revoke", "publicity_ended", "permit",
              "revoke_permit", "object", "object", "resolve", "resolve", "resolve", "repair", "repair", "decide",
              "decide", "processing_overdue", "commit", "keep", "breach", "commitment_overdue", "enter", "exit",
              "term_end", "rate", "grant", "ungrant", "decision", "disclosure_overdue", "deregister")
BOOKKEEPING = ("as_of", "rejected", "rejected_total")


def _operation(op: str, a: int, b: int, k: int, day: str, objection: tuple[str, str], repair: str) -> dict:
    """One event over ids P-0/1 (penalties), X-0/1 (permits), L-0/1, G-0/1, C-0/1, Q-0/1, so that
    references often hit and often miss; `objection` (id, record) and `repair` are chosen by the caller."""
    p, x, entry, c = f"P-{a}", f"X-{a}", f"L-{a}", f"C-{a}"
    build = {
        "penalty": lambda: ev.penalty_imposed(p, day, severity=("GENERAL", "SEVERE", "SERIOUS", "GENERAL")[b],
                                              **({"sector": "WORK_SAFETY"} if b == 3 and k else {})),
        "permit": lambda: ev.permit_granted(x, day),
        "fulfil": lambda: ev.penalty_fulfilled(p, day),
        "revoke": lambda: ev.penalty_revoked(p, day),
        "revoke_permit": lambda: ev.permit_revoked(x, day),
        "publicity_ended": lambda: ev.publicity_ended(p, day),
        "object": lambda: ev.objection_filed(*objection, day),
        "resolve": lambda: ev.objection_resolved(*objection, OUTCOMES[(a + b) % 3], day),
        "repair": lambda: ev.repair_requested(repair, p, day),
        "decide": lambda: ev.repair_decided(repair, f"P-{repair[2]}", ("APPROVED", "REJECTED")[k], day),
        "processing_overdue": lambda: (ev.processing_overdue("REPAIR", repair, on=day) if k
                                       else ev.processing_overdue("OBJECTION", objection[0], on=day)),
        "commit": lambda: ev.commitment_made(c, day, related_record_id=p) if b == 3 else ev.commitment_made(c, day),
        "keep": lambda: ev.commitment_fulfilled(c, day),
        "breach": lambda: ev.commitment_breached(c, day, false_commitment=b == 1),
        "commitment_overdue": lambda: ev.commitment_overdue(c, day, day),
        "enter": lambda: ev.list_entered(entry, day, **({"term_until": "2025-06-30"} if k else {})),
        "exit": lambda: ev.list_exited(entry, day),
        "term_end": lambda: ev.list_term_ended(entry, day),
        "rate": lambda: ev.rating_assigned(f"G-{a}", day, rating_kind=("TAX", "ENVIRONMENT")[k]),
        "grant": lambda: ev.query_authorized(f"Q-{a}", day),
        "ungrant": lambda: ev.query_authorization_revoked(f"Q-{a}", day),
        "decision": lambda: ev.decision_registered(ev.decision_no(p), ("PENALTY", "PERMIT")[k], day),
        "disclosure_overdue": lambda: ev.disclosure_overdue(ev.decision_no(p), "PENALTY", day, day),
        "deregister": lambda: ev.subject_deregistered(day),
    }
    return build[op]()


def mixed_log(data) -> list[tuple[int, dict]]:
    """A random log. Objection and repair decisions mostly name one pending at that point (the
    generator folds as it goes to know which), so the longer stories get told, not only rejected."""
    events, state, day_index = [ev.subject_registered()], None, 0
    state, _ = fold(state, events[0], 0)
    for _ in range(data.draw(st.integers(1, 60), label="length")):
        op = data.draw(st.sampled_from(OPERATIONS), label="operation")
        a, b, k = data.draw(st.tuples(st.integers(0, 1), st.integers(0, 3), st.integers(0, 1)), label="ids")
        clock = data.draw(st.integers(0, 5), label="clock")  # mostly the same day, sometimes 3 months on or back
        day_index = min(len(DAYS) - 1, day_index + 3 * (clock == 4))
        day = data.draw(st.sampled_from(DAYS), label="backdated") if clock == 5 else DAYS[day_index]
        objection = (f"O-{a}{k}", (f"P-{a}", f"X-{a}", f"L-{a}", f"G-{a}")[b])
        repair = f"R-{a}{k}"
        pending_objections = sorted((o["objection_id"], o["record_id"]) for o in state["objections"].values()
                                    if o["status"] == PENDING)
        pending_repairs = sorted(r["repair_id"] for r in state["repairs"].values() if r["status"] == PENDING)
        if op in ("resolve", "processing_overdue") and pending_objections and b:
            objection = data.draw(st.sampled_from(pending_objections), label="objection")
        if op in ("decide", "processing_overdue") and pending_repairs and b:
            repair = data.draw(st.sampled_from(pending_repairs), label="repair")
        if op in ("repair", "decide") and b:
            day = DAYS[-1]  # usually past the minimum publicity of the penalties before it
        events.append(_operation(op, a, b, k, day, objection, repair))
        state, _ = fold(state, events[-1], len(events) - 1)
    log = list(enumerate(events))
    for i in data.draw(st.lists(st.integers(0, len(events) - 1), max_size=3), label="republished"):
        log.append((len(log), events[i]))  # a publisher's retry: the same event id again, later in the log
    return log


def content(state: dict) -> bytes:
    return canonical_bytes({k: v for k, v in state.items() if k not in BOOKKEEPING})


def assert_invariants(state: dict) -> None:
    # every table is keyed per authority (records.key): an objection or repair under its record's authority
    records, objections, repairs = state["records"], state["objections"], state["repairs"]
    for collection in OBJECTABLE:
        for record_key, record in records[collection].items():
            pending = record["pending_objection"]
            assert (record["status"] == UNDER_OBJECTION) == (pending is not None), record
            pending_key = key(key_authority(record_key), pending) if pending is not None else None
            assert pending is None or (objections[pending_key]["status"] == PENDING
                                       and objections[pending_key]["record_id"] == record[ID_FIELD[collection]])
    for objection_key, objection in objections.items():
        if objection["status"] == PENDING:
            record_key = key(key_authority(objection_key), objection["record_id"])
            assert records[objection["record_kind"]][record_key]["pending_objection"] == objection["objection_id"]
    for record_key, penalty in records["penalties"].items():
        pending = penalty["pending_repair"]
        assert pending is None or repairs[key(key_authority(record_key), pending)]["status"] == PENDING
        assert penalty["fulfilled"] or "REPAIRED" not in (penalty["status"], penalty["status_before_objection"])
    for repair_key, repair in repairs.items():
        if repair["status"] == PENDING:
            record_key = key(key_authority(repair_key), repair["record_id"])
            assert records["penalties"][record_key]["pending_repair"] == repair["repair_id"]
    assert state["chain"]["length"] == len(state["seen_event_ids"]) == sum(state["counts"].values())


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mixed_logs_fold_deterministically_reject_cleanly_and_never_mutate(data):
    """Random valid-or-invalid operations over many event types: (1) any redelivery schedule gives the
    clean replay's state byte for byte, (2) a rejected event changes only as_of/rejected/rejected_total,
    (3) fold never mutates its input, even when old states are folded again later."""
    log = mixed_log(data)
    states, snapshots, state = [], [], None
    for offset, e in log:
        before = state
        state, outcome = fold(state, e, offset)
        if outcome.kind == REJECTED:
            assert before is not None and content(state) == content(before)
            assert state["rejected_total"] == before["rejected_total"] + 1 and state["rejected"][-1]["offset"] == offset
        elif outcome.kind == DUPLICATE:
            assert state is before
        assert state["as_of"]["offset"] == offset or outcome.kind == DUPLICATE
        assert_invariants(state)
        states.append(state)
        snapshots.append(canonical_bytes(state))

    delivered = redelivered(data, log)
    assert canonical_bytes(replay(delivered)) == snapshots[-1]
    assert credit_file(replay(delivered)) == credit_file(states[-1])

    for _ in range(data.draw(st.integers(0, 5), label="branches")):  # fold old states again, as a replay would
        i = data.draw(st.integers(0, len(states) - 1), label="from state")
        _, e = log[data.draw(st.integers(0, len(log) - 1), label="event")]
        branched, _ = fold(states[i], e, len(log) + 10)
        assert_invariants(branched)
    assert [canonical_bytes(s) for s in states] == snapshots  # no state was changed after it was made


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_folding_a_handed_over_state_in_place_gives_the_pure_folds_states(data):
    """A replay hands each state over (fold(..., handed_over=True)) and its tables are written in
    place; every state along the way is byte for byte the pure fold's, and the events are untouched."""
    log = mixed_log(data)
    events_before = canonical_bytes([e for _, e in log])
    pure, in_place = None, None
    for offset, e in redelivered(data, log):
        pure, outcome = fold(pure, e, offset)
        in_place, in_place_outcome = fold(in_place, e, offset, handed_over=True)
        assert in_place_outcome == outcome
        assert canonical_bytes(in_place) == canonical_bytes(pure)
    assert canonical_bytes([e for _, e in log]) == events_before


def test_a_state_stored_with_its_event_ids_as_a_list_folds_on():
    """States stored before seen_event_ids became a table keep working: the same ids, the same duplicates."""
    log = log_of(3)
    state = replay(list(enumerate(log[:2])))
    stored = {**{k: v for k, v in state.items() if k != VERSION_KEY}, "seen_event_ids": list(state["seen_event_ids"])}
    assert fold(upcast(stored), log[1], 5)[1].kind == DUPLICATE  # as a store reads it: upcast
    after, outcome = fold(upcast(stored), log[2], 5)
    assert outcome.kind == APPLIED and list(after["seen_event_ids"]) == [e["event_id"] for e in log]
    assert credit_file(after) == credit_file(replay(list(enumerate(log[:2])) + [(5, log[2])]))

"""The fold: effects, the chain, and idempotence under at-least-once delivery."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.canonical import GENESIS_HEAD, canonical_bytes, chain_link
from projections.fold import APPLIED, DUPLICATE, REDELIVERED, REJECTED, credit_file, fold
from projections.validate import require_valid
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
    delivered, position = [], 0
    while position < len(log):
        step = data.draw(st.integers(1, len(log) - position), label="advance")
        delivered.extend(log[position:position + step])
        position += step
        back = data.draw(st.integers(0, position), label="crash rewinds to")
        delivered.extend(log[back:position])
    assert canonical_bytes(replay(delivered)) == canonical_bytes(clean)
    outcomes = [fold(replay(log[:i]), e, off)[1].kind for i, (off, e) in enumerate(log)]
    assert outcomes.count(APPLIED) == len(events) and outcomes.count(DUPLICATE) == len(duplicate_at)

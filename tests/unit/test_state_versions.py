"""Stored states of older versions are upcast when read, outside the fold (projections/state_versions.py)."""
from __future__ import annotations

from copy import deepcopy

import orjson
import pytest

from projections.fold import APPLIED, credit_file, fold
from projections.state_versions import STATE_VERSION, VERSION_KEY, UnknownStateVersion, upcast, version_of
from streams.store import MemoryStore, SubjectStore
from tests.unit import events as ev
from tests.unit.test_fold_rules import given
from tests.unit.test_ownership import unscoped


def version_0(state: dict) -> dict:
    """As the first stored states were: the ids seen a list, tables keyed by the publisher's own id."""
    old = unscoped(state)
    old["seen_event_ids"] = sorted(old["seen_event_ids"])
    return old


STATE = given(ev.penalty_imposed("P-1", "2024-06-03"), ev.commitment_made("C-1"), ev.query_authorized("Q-1"))


def test_a_new_state_is_of_the_current_version_and_passes_through_unchanged():
    assert STATE[VERSION_KEY] == STATE_VERSION == 2 and version_of(STATE) == 2
    assert upcast(STATE) is STATE


@pytest.mark.parametrize("old, version", [(version_0(STATE), 0), (unscoped(STATE), 1)])
def test_an_older_state_is_told_by_its_shape_and_upcast_to_the_same_file(old, version):
    frozen = deepcopy(old)
    assert version_of(old) == version
    new = upcast(old)
    assert old == frozen  # the stored state is not touched
    assert new[VERSION_KEY] == STATE_VERSION
    assert {k: v for k, v in new.items() if k != "seen_event_ids"} == {
        k: v for k, v in STATE.items() if k != "seen_event_ids"}
    assert set(new["seen_event_ids"]) == set(STATE["seen_event_ids"])
    assert credit_file(new) == credit_file(STATE)


@pytest.mark.parametrize("version", [3, 99, -1, "2"])
def test_a_state_of_a_version_this_code_does_not_know_is_refused_with_what_to_do(version):
    with pytest.raises(UnknownStateVersion, match="re-fold the store"):
        upcast({**STATE, VERSION_KEY: version})


def test_the_fold_takes_only_a_current_state():
    with pytest.raises(AssertionError, match="upcast"):
        fold(unscoped(STATE), ev.penalty_fulfilled("P-1", "2024-06-03"), 99)
    assert fold(upcast(unscoped(STATE)), ev.penalty_fulfilled("P-1", "2024-06-03"), 99)[1].kind == APPLIED


def test_the_stores_upcast_what_they_read(tmp_path):
    rocks = SubjectStore(tmp_path / "store")
    memory = MemoryStore()
    try:
        subject_id = STATE["subject"]["id"]
        # a state an older worker wrote: as it lies in the store (this code writes the current version only)
        rocks._db.put(b"s/" + subject_id.encode(), orjson.dumps(version_0(STATE)))
        memory.states[subject_id] = version_0(STATE)
        for store in (rocks, memory):
            assert store.get(subject_id)[VERSION_KEY] == STATE_VERSION
            assert credit_file(store.get(subject_id)) == credit_file(STATE)
            store.write({subject_id: STATE}, {0: 5})
            assert credit_file(store.get(subject_id)) == credit_file(STATE)
            with pytest.raises(AssertionError, match=VERSION_KEY):
                store.write({subject_id: version_0(STATE)}, {0: 6})
            assert store.get("S-none") is None
    finally:
        rocks.close()


def test_a_current_state_stored_without_its_version_is_told_by_its_shape_and_stamped():
    unstamped = {k: v for k, v in STATE.items() if k != VERSION_KEY}
    assert version_of(unstamped) == 2
    stamped = upcast(unstamped)
    assert stamped is not unstamped and stamped == STATE and VERSION_KEY not in unstamped


def test_a_state_of_an_unknown_version_says_what_to_do():
    with pytest.raises(UnknownStateVersion) as raised:
        upcast({**STATE, VERSION_KEY: 3})
    assert str(raised.value) == ("a stored state of version 3; this code reads up to 2: re-fold the store from the log "
                                 "(start the worker on an empty data dir)")

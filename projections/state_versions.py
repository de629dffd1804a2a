"""The version of a subject's stored state, and the upcasters that bring an older state to it.

A state is plain data (projections/fold.py `new_state`, its types in projections/state_types.py) stored
by the worker as JSON. When its shape changes, `STATE_VERSION` goes up by one and an upcaster from the
version before is added to `UPCASTERS`: a pure function from a state of version n to the same file in
version n + 1. Stores call `upcast` on every state they read, so the fold and every reader see the current shape only; the fold
asserts it. A state of a version this code does not know (written by newer code) is refused: that
store must be re-folded from the log (a worker started on an empty data dir), or read by the newer code;
the worker says so at start (streams/worker_build.state_version_notice).

| version | what changed                                                              |
|--------:|---------------------------------------------------------------------------|
| 0       | seen_event_ids a list of ids                                              |
| 1       | seen_event_ids a table: id -> offset (later [offset, content digest])     |
| 2       | records, objections, repairs, decisions and grants keyed per authority    |
"""
from __future__ import annotations

from collections.abc import Callable

from projections.records import scope_ids

STATE_VERSION = 2
VERSION_KEY = "state_version"


class UnknownStateVersion(ValueError):
    """A stored state of a version this code cannot read: re-fold the store from the log."""


# A state stored before versions were written is told by its shape, and each of its changes was made
# on its own: each upcaster looks at its own part, so that a state with one change and not the other
# comes out right.
def _seen_ids_as_table(state: dict) -> dict:
    if not isinstance(state["seen_event_ids"], list):
        return state
    return {**state, "seen_event_ids": dict.fromkeys(state["seen_event_ids"], -1)}


def _ids_per_authority(state: dict) -> dict:
    return state if state.get("scoped_ids") else scope_ids(state)


UPCASTERS: dict[int, Callable[[dict], dict]] = {0: _seen_ids_as_table, 1: _ids_per_authority}
assert set(UPCASTERS) == set(range(STATE_VERSION)), "one upcaster from each version before the current one"


def version_of(state: dict) -> int:
    """The state's version; a state stored before versions were written is told by its shape."""
    version = state.get(VERSION_KEY)
    if version is not None:
        return version
    if isinstance(state["seen_event_ids"], list):
        return 0
    return 1 if not state.get("scoped_ids") else 2


def upcast(state: dict) -> dict:
    """`state` in the current version (the same object when it is current already)."""
    version = version_of(state)
    if version == STATE_VERSION and state.get(VERSION_KEY) == STATE_VERSION:
        return state
    if not isinstance(version, int) or not 0 <= version <= STATE_VERSION:
        raise UnknownStateVersion(f"a stored state of version {version!r}; this code reads up to {STATE_VERSION}: "
                                  "re-fold the store from the log (start the worker on an empty data dir)")
    for step in range(version, STATE_VERSION):
        state = UPCASTERS[step](state)
    return {**state, VERSION_KEY: STATE_VERSION}

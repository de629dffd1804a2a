"""streams/ is plumbing (issue 30): what an event means is decided in projections/, so no module of streams/
names an event type, and the statistics' counter names are formatted and parsed in streams/store.py alone."""
from __future__ import annotations

import re

from projections.catalogue import EVENT_TYPES
from projections.records import HANDLERS
from tests.helpers import REPO

COUNTER_STORE = "store.py"  # the one module that formats and parses counter names
COUNTER_NAME = re.compile(r"""["'](?:timeliness|deadlines|grades)/""")


def streams_sources() -> dict[str, str]:
    sources = {path.name: path.read_text(encoding="utf-8") for path in sorted((REPO / "streams").glob("*.py"))}
    assert len(sources) > 30 and "ledger.py" in sources  # the package, not an empty glob
    return sources


def test_no_module_of_streams_names_an_event_type():
    names = set(HANDLERS) | set(EVENT_TYPES)
    assert "PenaltyImposed" in names and "DisclosureOverdue" in names
    literal = re.compile(r"""["'](%s)["']""" % "|".join(sorted(map(re.escape, names))))
    found = [f"streams/{name}:{text.count(chr(10), 0, match.start()) + 1}: {match.group(0)}"
             for name, text in streams_sources().items() for match in literal.finditer(text)]
    assert found == [], "event types are projections/' business (projections/effects.py, watch.py, catalogue.py)"


def test_counter_names_are_the_store_s_alone():
    found = [f"streams/{name}:{text.count(chr(10), 0, match.start()) + 1}: {match.group(0)}"
             for name, text in streams_sources().items() if name != COUNTER_STORE
             for match in COUNTER_NAME.finditer(text)]
    assert found == [], "ask the store for a counter type (SubjectStore.counters), never split a name"
    assert len(set(COUNTER_NAME.findall(streams_sources()[COUNTER_STORE]))) == 3  # all three there


def test_the_store_reads_back_every_counter_it_names():
    from projections.effects import DeadlineCounter, GradeCounter, TimelinessCounter
    from streams.store import MemoryStore, counter_name, parse_counter

    counters = [TimelinessCounter("11410100MB1234567X", "late"), DeadlineCounter("DISCLOSURE"), GradeCounter("B")]
    assert [counter_name(c) for c in counters] == ["timeliness/11410100MB1234567X/late", "deadlines/DISCLOSURE",
                                                   "grades/B"]  # the names on disk, as every store holds them
    assert [parse_counter(counter_name(c)) for c in counters] == counters
    store = MemoryStore()
    store.write({}, {}, counters={c: 2 for c in counters})
    store.write({}, {}, counters={counters[0]: -1})
    assert [store.counters(type(c)) for c in counters] == [{counters[0]: 1}, {counters[1]: 2}, {counters[2]: 2}]
    for bad in ("timeliness/A", "deadlines/", "grades/A/B", "other/A", "timeliness//late"):
        try:
            parse_counter(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} parsed")

"""`python -m ops.state_types_bench [--json]`: a subject's state as plain dicts, as the same dicts decoded
through their declared types (projections/state_types.py, what the stores do), as dataclasses (slots=True)
or as msgspec Structs, measured side by side on real states (issue 30: typed
state, chosen by measurement; the result is in docs/performance.md).

The states are real: the bench's ledger (ops.bench_suite.mixed_events, every story of `subjects`
companies) and one company with `long_events` permits (ops.bench.subject_events), folded by
projections.replay. The typed classes are made from those states: one class a part of the state (the
state, its subject, chain, as_of, records and each collection's record, a record's source and history
change, objections, repairs, decisions, grants, inspections), a field for every key seen there, typed by
the values seen (a field absent or null somewhere is optional, None by default). Everything else (the
seen-id table, counts, rejections, lists inside a record) stays JSON data in all three.

Per state, in CPU time, the best of `repeat` rounds in which the forms take turns, each run over all
the states: decode the stored bytes (orjson with sorted keys, as streams/store.py writes them) into the
form; encode it back; a copy-on-write update as the fold makes one (a permit added, its event id seen,
counts, as_of and chain replaced); the reads that grading makes (projections/grading.py); and the memory
the decoded form holds (tracemalloc). Ratios are against the dict of the same run. Each form must give
back the same data (nulls aside) before it is timed.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import json
import operator
import os
import time
import timeit
import tracemalloc
from collections import Counter, deque
from datetime import date, datetime
from itertools import islice
from typing import Any

import msgspec
import orjson

from projections.records import ACTIVE, BREACHED, COLLECTIONS, OVERDUE
from projections.state_types import STATE_DECODER

SUBJECTS_DEFAULT, SUBJECTS_MAX = 2_000, 100_000
LONG_EVENTS_DEFAULT, LONG_EVENTS_MAX = 1_000, 100_000
REPEAT_DEFAULT, REPEAT_MAX = 5, 100
EVENTS_MAX = 2_000_000  # of the bench's ledger folded for the states
STATES_A_RUN_MIN = 20  # a timed run goes over the states this many times, at least
VARIANTS = ("dict", "typeddict", "dataclass", "msgspec")
MEASURES = ("decode_us", "encode_us", "update_us", "reads_us", "memory_bytes", "encoded_bytes")
GROUPS = ("mixed", "long")

RECORD_ROLES = {"permits": "Permit", "penalties": "Penalty", "commitments": "Commitment", "lists": "ListEntry",
                "ratings": "Rating"}
TABLES = {"objections": "Objection", "repairs": "Repair", "decisions": "Decision", "grants": "Grant",
          "inspections": "Inspection"}
_IN_A_RECORD = {"source": ("one", "Source"), "history": ("list", "Change")}
# role -> {field: (container, role)}: the parts of the state that become classes of their own
NESTED: dict[str, dict[str, tuple[str, str]]] = {
    "State": {"subject": ("one", "Subject"), "chain": ("one", "Chain"), "as_of": ("one", "AsOf"),
              "public_as_of": ("one", "AsOf"), "records": ("one", "Records"),
              **{name: ("table", role) for name, role in TABLES.items()}},
    "Records": {name: ("table", role) for name, role in RECORD_ROLES.items()},
    **{role: _IN_A_RECORD for role in (*RECORD_ROLES.values(), *TABLES.values())},
}
# each role before the roles of its parts: the classes are made in the reverse order
ROLES = ("State", "Records", *RECORD_ROLES.values(), *TABLES.values(), "Subject", "Chain", "AsOf", "Source", "Change")
assert set(RECORD_ROLES) == set(COLLECTIONS), "a role for every collection of records"


# --- the states ----------------------------------------------------------------------------------
def collect_states(subjects: int, long_events: int) -> dict[str, list[dict]]:
    """The states of the bench's ledger (every story of `subjects` companies, recorded on their days) and
    of one company with `long_events` events, folded by the replay."""
    from ops.bench import subject_events
    from ops.bench_suite import BENCH_PSEUDONYM_KEY, DAY_RECORDED, mixed_events
    from projections.canonical import SHANGHAI
    from projections.ids import make_uscc
    from projections.policy import DEFAULT_POLICIES
    from projections.replay import replay
    from projections.validate import EdgeContext, require_valid

    if not 1 <= subjects <= SUBJECTS_MAX:
        raise ValueError(f"subjects: must be 1..{SUBJECTS_MAX}")
    if not 1 <= long_events <= LONG_EVENTS_MAX:
        raise ValueError(f"long_events: must be 1..{LONG_EVENTS_MAX}")

    def logged(raw: dict) -> dict:
        day = datetime.combine(date.fromisoformat(raw["occurred_on"]), DAY_RECORDED, SHANGHAI)
        return require_valid(raw, EdgeContext(now=day, pseudonym_key=BENCH_PSEUDONYM_KEY))

    mixed = replay(enumerate(logged(raw) for raw in islice(mixed_events(subjects), EVENTS_MAX)),
                   policy=DEFAULT_POLICIES).states
    long = replay(enumerate(subject_events(make_uscc("440300", 9003), long_events)), policy=DEFAULT_POLICIES).states
    return {"mixed": list(mixed.values()), "long": list(long.values())}


# --- the typed forms, made from the states' shapes ---------------------------------------------------
def shapes(states: list[dict]) -> dict[str, dict[str, set[type]]]:
    """role -> field -> the types of its values (NoneType too where it is absent or null somewhere)."""
    seen: dict[str, dict[str, set[type]]] = {role: {} for role in ROLES}
    present: dict[str, Counter] = {role: Counter() for role in ROLES}
    instances: Counter = Counter()

    def walk(role: str, data: dict) -> None:
        instances[role] += 1
        present[role].update(data.keys())
        for name, value in data.items():
            seen[role].setdefault(name, set()).add(type(value))
            container, sub = NESTED.get(role, {}).get(name, (None, None))
            if value is None or container is None:
                continue
            for item in value.values() if container == "table" else value if container == "list" else [value]:
                walk(sub, item)

    for state in states:
        walk("State", state)
    for role, fields in seen.items():
        for name, kinds in fields.items():
            if present[role][name] < instances[role]:
                kinds.add(type(None))
    return seen


def _annotation(role: str, name: str, kinds: set[type], classes: dict[str, type]):
    """A field's type: its part's class (one, a table of them, a list of them), or the JSON types seen."""
    container, sub = NESTED.get(role, {}).get(name, (None, None))
    if container == "one":
        typed = classes[sub]
    elif container == "table":
        typed = dict[str, classes[sub]]
    elif container == "list":
        typed = list[classes[sub]]
    else:
        plain = [kind for kind in (str, int, bool, float, list, dict) if kind in kinds]
        typed = functools.reduce(operator.or_, plain) if plain else Any
    return typed | None if type(None) in kinds and typed is not Any else typed


def make_classes(shape: dict[str, dict[str, set[type]]], variant: str) -> dict[str, type]:
    """A class a role, fields in name order (so that their encoding has sorted keys, as the store's)."""
    classes: dict[str, type] = {}
    for role in reversed(ROLES):  # the nested roles first
        fields = []
        for name in sorted(shape[role]):
            kinds = shape[role][name]
            optional = type(None) in kinds
            typed = _annotation(role, name, kinds, classes)
            if variant == "msgspec":
                fields.append((name, typed, None) if optional else (name, typed))
            else:
                fields.append((name, typed, dataclasses.field(default=None)) if optional else (name, typed))
        if variant == "msgspec":
            classes[role] = msgspec.defstruct(role, fields, kw_only=True, omit_defaults=True)
        else:
            classes[role] = dataclasses.make_dataclass(role, fields, slots=True, kw_only=True)
    return classes


def dataclass_builder(classes: dict[str, type]):
    """`build(role, data)`: the dataclass tree of a decoded JSON object."""
    def build(role: str, data: dict):
        values = dict(data)
        for name, (container, sub) in NESTED.get(role, {}).items():
            value = values.get(name)
            if value is None:
                continue
            if container == "one":
                values[name] = build(sub, value)
            elif container == "table":
                values[name] = {key: build(sub, item) for key, item in value.items()}
            else:
                values[name] = [build(sub, item) for item in value]
        return classes[role](**values)
    return build


SORTED_STRUCTS = msgspec.json.Encoder(order="sorted")


@dataclasses.dataclass(frozen=True)
class Form:
    """One way to hold a state: from the stored bytes, back to bytes, its parts' classes, its replace."""
    decode: Any
    encode: Any
    classes: dict[str, type]
    replace: Any


def forms(states: list[dict]) -> dict[str, Form]:
    """The three forms, the typed ones with classes made from what `states` hold."""
    shape = shapes(states)
    sorted_keys = functools.partial(orjson.dumps, option=orjson.OPT_SORT_KEYS)
    data = make_classes(shape, "dataclass")
    build = dataclass_builder(data)
    structs = make_classes(shape, "msgspec")
    return {
        "dict": Form(orjson.loads, sorted_keys, {}, None),
        # the form chosen (projections/state_types.py): the same dicts, decoded with every field's type checked
        "typeddict": Form(STATE_DECODER.decode, sorted_keys, {}, None),
        "dataclass": Form(lambda raw: build("State", orjson.loads(raw)), sorted_keys, data, dataclasses.replace),
        # "deterministic": the tables' keys sorted, the fields in their (name) order: the bytes of "sorted", ~4x cheaper
        "msgspec": Form(msgspec.json.Decoder(structs["State"]).decode,
                        msgspec.json.Encoder(order="deterministic").encode, structs, msgspec.structs.replace),
    }


def without_nulls(value):
    """JSON data with every null member left out: the forms differ only in writing absent fields as null."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


# --- what is measured ----------------------------------------------------------------------------------
def update_dict(state: dict, permit: dict, n: int) -> dict:
    """The fold's typical change, copy-on-write as records.Draft makes it: a permit added, its id seen."""
    new = dict(state)
    records = state["records"]
    new["records"] = {**records, "permits": {**records["permits"], f"BENCH/{n}": permit}}
    new["seen_event_ids"] = {**state["seen_event_ids"], f"bench-{n}": [n, "0123456789abcdef"]}
    counts = state["counts"]
    new["counts"] = {**counts, "PermitGranted": counts.get("PermitGranted", 0) + 1}
    new["as_of"] = {"offset": n, "recorded_at": "2026-12-07T10:00:00+08:00"}
    new["chain"] = {"length": state["chain"]["length"] + 1, "head": "0" * 64}
    return new


def update_typed(form: Form, state, permit, n: int):
    """The same change on a typed state: its parts replaced, the tables still dicts."""
    records, counts, classes = state.records, state.counts, form.classes
    return form.replace(
        state, records=form.replace(records, permits={**records.permits, f"BENCH/{n}": permit}),
        seen_event_ids={**state.seen_event_ids, f"bench-{n}": [n, "0123456789abcdef"]},
        counts={**counts, "PermitGranted": counts.get("PermitGranted", 0) + 1},
        as_of=classes["AsOf"](offset=n, recorded_at="2026-12-07T10:00:00+08:00"),
        chain=classes["Chain"](length=state.chain.length + 1, head="0" * 64))


def reads_dict(state: dict) -> int:
    """What grading reads of a state (projections/grading.py `grade`), as dict lookups."""
    records, read = state["records"], []
    for penalty in records["penalties"].values():
        status = penalty["status_before_objection"] if penalty.get("pending_objection") else penalty["status"]
        read += [status == ACTIVE, penalty["record_id"], penalty["severity"], penalty["decision_no"]]
    for commitment in records["commitments"].values():
        status = commitment["status_before_objection"] if commitment.get("pending_objection") else commitment["status"]
        read += [status in (BREACHED, OVERDUE), commitment["commitment_id"], commitment.get("false_commitment"),
                 commitment.get("due_on")]
    for entry in records["lists"].values():
        status = entry["status_before_objection"] if entry.get("pending_objection") else entry["status"]
        read += [status == ACTIVE, entry["entry_id"], entry["list_kind"]]
    for rating in records["ratings"].values():
        status = rating["status_before_objection"] if rating.get("pending_objection") else rating["status"]
        read += [status == ACTIVE, rating["rating_id"], rating["rating_kind"], rating["level"], rating["valid_from"],
                 rating.get("valid_to")]
    for inspection in (state.get("inspections") or {}).values():
        read += [inspection["occurred_on"], inspection["offset"], inspection["outcome"], inspection["inspection_id"]]
    return len(read)


def reads_typed(state) -> int:
    """The same reads as attributes."""
    records, read = state.records, []
    for penalty in records.penalties.values():
        status = penalty.status_before_objection if penalty.pending_objection else penalty.status
        read += [status == ACTIVE, penalty.record_id, penalty.severity, penalty.decision_no]
    for commitment in records.commitments.values():
        status = commitment.status_before_objection if commitment.pending_objection else commitment.status
        read += [status in (BREACHED, OVERDUE), commitment.commitment_id, commitment.false_commitment,
                 commitment.due_on]
    for entry in records.lists.values():
        status = entry.status_before_objection if entry.pending_objection else entry.status
        read += [status == ACTIVE, entry.entry_id, entry.list_kind]
    for rating in records.ratings.values():
        status = rating.status_before_objection if rating.pending_objection else rating.status
        read += [status == ACTIVE, rating.rating_id, rating.rating_kind, rating.level, rating.valid_from,
                 rating.valid_to]
    for inspection in (getattr(state, "inspections", None) or {}).values():
        read += [inspection.occurred_on, inspection.offset, inspection.outcome, inspection.inspection_id]
    return len(read)


def _run_us(work, items: list, *more) -> float:
    """Microseconds of this process's CPU time (on a shared machine, the time spent waiting for a core is
    not counted) an item, of one run of `work` over all `items` (a few times over when they are few, so
    that a run is not too short to time), each result dropped as soon as it is made."""
    number = max(1, STATES_A_RUN_MIN // len(items))
    seconds = timeit.timeit(lambda: deque(map(work, items, *more), maxlen=0), number=number, timer=time.process_time)
    return seconds / (number * len(items)) * 1e6


def _memory_bytes(decode, blobs: list[bytes]) -> float:
    """Bytes the decoded forms of `blobs` hold, a state (tracemalloc: allocated and still alive)."""
    gc.collect()
    tracemalloc.start()
    try:
        kept = [decode(raw) for raw in blobs]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del kept
    return held / len(blobs)


def workloads(name: str, form: Form, blobs: list[bytes], permit_json: bytes) -> dict[str, tuple]:
    """One form's timed work over one group's stored states: measure -> (work, items, more items)."""
    decoded = [form.decode(raw) for raw in blobs]
    for raw, state in zip(blobs, decoded):  # the same data back, or the numbers mean nothing
        assert without_nulls(orjson.loads(form.encode(state))) == without_nulls(orjson.loads(raw)), name
        assert name != "msgspec" or form.encode(state) == SORTED_STRUCTS.encode(state), "keys in sorted order"
    if name in ("dict", "typeddict"):
        permit, update, reads = orjson.loads(permit_json), update_dict, reads_dict
    else:
        permit = msgspec.json.decode(permit_json, type=form.classes["Permit"]) if name == "msgspec" \
            else dataclass_builder(form.classes)("Permit", orjson.loads(permit_json))
        update, reads = functools.partial(update_typed, form), reads_typed
    return {"decode_us": (form.decode, blobs), "encode_us": (form.encode, decoded),
            "update_us": (lambda state, n: update(state, permit, n), decoded, range(len(decoded))),
            "reads_us": (reads, decoded)}


def measure(made: dict[str, Form], blobs: list[bytes], permit_json: bytes, repeat: int) -> dict[str, dict]:
    """form -> measure -> number, over one group's stored states. The forms take turns, a run of each
    measure a round, and the best of `repeat` rounds is kept: a machine that slows down slows all alike."""
    work = {name: workloads(name, form, blobs, permit_json) for name, form in made.items()}
    best = {name: dict.fromkeys(work[name], float("inf")) for name in made}
    for _ in range(repeat):
        for name, measures in work.items():
            for key, (task, *items) in measures.items():
                best[name][key] = min(best[name][key], _run_us(task, *items))
    for name, form in made.items():
        best[name]["memory_bytes"] = _memory_bytes(form.decode, blobs)
        best[name]["encoded_bytes"] = sum(len(form.encode(state)) for state in work[name]["encode_us"][1]) / len(blobs)
    return best


def _a_permit(states: list[dict]) -> bytes:
    """A permit of the states (the record the update adds), as stored."""
    for state in states:
        for permit in state["records"]["permits"].values():
            return orjson.dumps(permit, option=orjson.OPT_SORT_KEYS)
    raise ValueError("the states hold no permit to add in the update")


def run(subjects: int = SUBJECTS_DEFAULT, long_events: int = LONG_EVENTS_DEFAULT,
        repeat: int = REPEAT_DEFAULT) -> dict[str, float]:
    """Every measure of every form for both groups of states: "<group>.<form>.<measure>", the typed forms'
    ratios to the dict ("..._ratio"), the groups' sizes and the load average while it ran."""
    if not 1 <= repeat <= REPEAT_MAX:
        raise ValueError(f"repeat: must be 1..{REPEAT_MAX}")
    groups = collect_states(subjects, long_events)
    every_state = [state for states in groups.values() for state in states]
    made = forms(every_state)  # one set of classes for both groups, as the code would have
    permit_json = _a_permit(every_state)
    result: dict[str, float] = {"load_avg_1m_before": os.getloadavg()[0]}
    for group, states in groups.items():
        blobs = [orjson.dumps(state, option=orjson.OPT_SORT_KEYS) for state in states]
        result[f"{group}.states"] = len(states)
        result[f"{group}.stored_bytes"] = sum(map(len, blobs)) / len(blobs)
        numbers = measure(made, blobs, permit_json, repeat)
        for name, measured in numbers.items():
            for key, value in measured.items():
                result[f"{group}.{name}.{key}"] = value
                if name != "dict":
                    result[f"{group}.{name}.{key}_ratio"] = value / numbers["dict"][key]
    result["load_avg_1m_after"] = os.getloadavg()[0]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ops.state_types_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=SUBJECTS_DEFAULT, help="companies of the bench's ledger")
    parser.add_argument("--long-events", type=int, default=LONG_EVENTS_DEFAULT, help="events of the long company")
    parser.add_argument("--repeat", type=int, default=REPEAT_DEFAULT, help="runs of each measure (the best kept)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    args = parser.parse_args(argv)
    try:
        result = run(args.subjects, args.long_events, args.repeat)
    except ValueError as error:
        parser.error(str(error))
    print(json.dumps(result) if args.json else table(result))


def table(result: dict[str, float]) -> str:
    """The result as text: a table a group, each typed form's ratio to the dict beside its number."""
    lines = [f"load average {result['load_avg_1m_before']:.2f} before, {result['load_avg_1m_after']:.2f} after"]
    for group in GROUPS:
        lines += ["", f"{group}: {result[f'{group}.states']:,.0f} states, {result[f'{group}.stored_bytes']:,.0f} "
                      "bytes stored each (mean)",
                  f"{'measure (a state)':<18}" + "".join(f"{name:>22}" for name in VARIANTS)]
        for key in MEASURES:
            cells = [f"{result[f'{group}.dict.{key}']:,.2f}"] + [
                f"{result[f'{group}.{name}.{key}']:,.2f} ({result[f'{group}.{name}.{key}_ratio']:.2f}x)"
                for name in VARIANTS[1:]]
            lines.append(f"{key:<18}" + "".join(f"{cell:>22}" for cell in cells))
    return "\n".join(lines)


if __name__ == "__main__":
    main()

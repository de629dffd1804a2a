"""Worker crash under load: the worker is killed with SIGKILL at five random instants while
50,000 events stream in, and restarted each time.

Injected: a stream of 50,000 realistic events (the demo's stories of ~8,000 organisations and three
people, every event type) published with the SDK through the worker's edge from a background thread,
each once the fast ledger clock (CLOCK_SPEED, the worker's, which stamps them) reaches its day, so
that records arrive on their day and
deadlines fall due among them while the worker runs, lies dead or catches up; five SIGKILLs at
random instants (random.Random(seed); the seed is printed and named in every assertion message, and
CREDIT_LEDGER_TEST_SEED=<seed> replays its kill instants), each followed by a restart. After each
kill the dead member is removed from the consumer group, as the expiry of its 10 s session would
do, so that a restart takes seconds. The test has a broker of its own: its fast clock fires nobody
else's deadlines, nobody else's events slow it down.

Checked throughout: the worker's applied offsets never go back, across kills too. Afterwards:
- the state digest the live worker serves (/state/digest, as `rebuild --verify` asks it) equals the
  digest of a clean re-fold of the log up to the same offsets: every subject's state, byte for byte;
  a sample of credit files served equals the re-fold's;
- every event the publisher got a receipt for is in credit.events at its receipt's partition and
  offset, and applied exactly once; the SDK sends again what the edge of a killed worker had not
  answered for, so the log may hold such an event twice (the fold skips the copy: a duplicate);
- timers: every deadline that fell due (FELL_DUE_SLACK_S real seconds before the check, or earlier)
  has fired: none is still pending in the re-folded state; each took effect exactly once (one applied
  system event per deadline, with the deadline's own id, not before it fell due), though the log may
  hold a system event twice (a kill between its publication and its fold).
"""
from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from functools import partial
from itertools import count

import pytest

from ops.config import load_settings
from ops.demo import demo_events
from ops.embedded_kafka import free_port
from projections.calendar import deadline_instant
from projections.canonical import instant_text
from projections.deadlines import (COMMITMENT, DISCLOSURE, ESCALATION, LIST_TERM, PUBLICITY, RATING, RED_LIST_END,
                                   TIMER_SYSTEM, Deadline)
from projections.fold import credit_file
from projections.ids import make_uscc
from projections.records import key
from streams import ledger_reader, topics
from streams.clock import Clock
from streams.codec import CodecError, decode_event
from streams.ledger import LedgerProcessor
from streams.rebuild import REBUILD_CHUNK
from streams.sdk import Publisher
from streams.store import MemoryStore, SubjectStore
from streams.topics import ensure_topics
from tests.helpers import Worker, evict_group_members, folded_file, http_json, kafka_access, test_broker, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]  # a real broker (its own): not among the fast tests

KEY = b"worker-kill-test-pseudonym-key-0001"
EVENTS_COUNT = 50_000
KILLS_COUNT = 5
BATCH_SUBJECTS = 2_000  # organisations per demo_events call (one call runs out of distinct shop names near 4,000)
DATA_DAYS = 150  # the stories' span, from the ledger clock's first day
STREAM_S = 60.0  # the stream's pace: the fast clock covers DATA_DAYS in this many real seconds
CLOCK_SPEED = DATA_DAYS * 86_400 / STREAM_S  # 2.5 ledger days a real second
CHUNK_EVENTS_MAX = 2_000  # events per publish_many call
HELD_BACK_EVENTS = 2_000  # the stream's last events wait for the last kill: every kill meets a stream
AHEAD_EVENTS_MAX = 8_000  # the stream waits while this far ahead of the worker, so that a restart's
# catch-up stays well within Worker.start's 90 s on a loaded machine
UPTIME_S = (0.2, 1.5)  # a kill comes this long after the worker is ready again
WORKER_GROUP = "credit-ledger"  # the worker's consumer group (its Faust app id)
REFOLD_STEP_RECORDS = 500  # records of each partition the background re-fold folds between looks at the worker
FELL_DUE_SLACK_S = 20.0  # a deadline due this long before the check must have fired and been folded
FOLDED_TIMEOUT_S = 180.0
FILES_COMPARED_COUNT = 25  # credit files compared over HTTP (the digest covers every subject)
SYSTEM_EVENT_DEADLINES = {  # system event type -> (deadline kind, the payload field naming its ref)
    "DisclosureOverdue": (DISCLOSURE, "decision_no"), "CommitmentOverdue": (COMMITMENT, "commitment_id"),
    "PublicityEnded": (PUBLICITY, "record_id"), "ListTermEnded": (LIST_TERM, "entry_id"),
    "ListEntered": (ESCALATION, "basis_record_id"), "RatingExpired": (RATING, "rating_id"),
    "ListExited": (RED_LIST_END, "entry_id")}


def stream_events(events_count: int, start: date, days: int) -> list[dict]:
    """demo_events of several seeds, each batch's organisations renumbered so that no two batches share
    a subject, merged in day order and cut at events_count: each subject keeps a prefix of its story."""
    batches, total = [], 0
    for batch in count():
        events = demo_events(seed=90 + batch, subjects=BATCH_SUBJECTS, start=start, days=days)
        batches.append(renumbered(events, batch) if batch else events)
        total += len(batches[-1])
        if total >= events_count:
            break
    return sorted((e for events in batches for e in events), key=lambda e: e["occurred_on"])[:events_count]


def renumbered(events: list[dict], batch: int) -> list[dict]:
    """The organisations under USCCs of their own (serials from batch * 10^6); the three natural persons
    are left out (their pseudonyms come from ID numbers another batch may share)."""
    ids: dict[str, str] = {}
    out = []
    for event in events:
        subject = event["subject"]
        if subject["kind"] == "NATURAL_PERSON":
            continue
        old = subject["id"]
        if old not in ids:
            ids[old] = make_uscc(old[2:8], batch * 1_000_000 + len(ids), old[0], old[1])
        out.append({**event, "subject": {**subject, "id": ids[old]}})
    return out


class Refold:
    """A clean re-fold of credit.events in this process (LedgerProcessor over a MemoryStore, as
    `rebuild` does) that advances as the log grows, so that the final check folds only the tail.
    Notes the event id at every offset it reads (from the fold's own decoding: only duplicates, which
    it neither applies nor rejects, are decoded again)."""

    def __init__(self, bootstrap, policy):
        self.bootstrap = bootstrap
        self.store = MemoryStore()
        self.processor = LedgerProcessor(self.store, policy=policy)
        self.next_offsets: dict[int, int] = {}
        self.event_ids: dict[tuple[int, int], str | None] = {}  # (partition, offset) -> event id
        self.system_ids: set[str] = set()  # the ids of the timers' system events
        self.rejected_system: list[str] = []  # system events the fold rejected (a record met the deadline first)
        self.rejected_ids: Counter = Counter()  # the ids of the events the fold rejected
        self.lock = threading.Lock()

    def advance(self, until: dict[int, int]) -> None:
        """Fold each partition up to and including its offset in `until`."""
        with self.lock:
            for partition, last in sorted(until.items()):
                start = self.next_offsets.get(partition, 0)
                assert last + 1 >= start, f"partition {partition}: folded to {start - 1} already, not to {last}"
                chunk = []
                for offset, record_key, value, _ in ledger_reader.read_range(self.bootstrap, topics.EVENTS,
                                                                             partition, start, last + 1):
                    chunk.append((partition, offset, record_key, value))
                    if len(chunk) >= REBUILD_CHUNK:
                        self._fold(chunk)
                        chunk = []
                self._fold(chunk)
                self.next_offsets[partition] = last + 1

    def note_tail(self) -> None:
        """Note the event ids past the folded offsets, up to the end of the log (not folded)."""
        with self.lock:
            for partition, (_, high) in ledger_reader.watermarks(self.bootstrap, topics.EVENTS).items():
                for offset, _, value, _ in ledger_reader.read_range(self.bootstrap, topics.EVENTS, partition,
                                                                    self.next_offsets.get(partition, 0), high):
                    self._note(partition, offset, _decoded(value))

    def _fold(self, chunk: list) -> None:
        batch = self.processor.process(chunk)
        self.processor.commit(batch)
        for _, _, entry in batch.history:
            self._note(chunk[0][0], entry["offset"], entry["event"])
        for rejection in batch.rejections:
            self.event_ids[(rejection.partition, rejection.offset)] = rejection.event_id
            self.rejected_ids[rejection.event_id] += 1
            if rejection.event_id in self.system_ids:
                self.rejected_system.append(rejection.event_id)
        for partition, offset, _, value in chunk:
            if (partition, offset) not in self.event_ids:  # a duplicate
                self._note(partition, offset, _decoded(value))

    def _note(self, partition: int, offset: int, event: dict | None) -> None:
        self.event_ids[(partition, offset)] = event["event_id"] if event else None
        if event and event["source"].get("system") == TIMER_SYSTEM:
            self.system_ids.add(event["event_id"])


def _decoded(value: bytes | None) -> dict | None:
    try:
        return decode_event(value or b"")
    except CodecError:
        return None


def differing_subjects(worker: Worker, refold: Refold, limit: int = 3) -> list[tuple[str, list[str]]]:
    """After a digest mismatch: stop the worker, open its store and name the subjects whose state differs
    from the re-fold's at the store's offsets, with the keys that differ."""
    worker.stop()
    store = SubjectStore(worker.data_dir / "subjects")
    try:
        refold.advance(store.applied_offsets())
        found = []
        for subject_id in sorted(set(refold.store.states) | set(store.subject_ids_after("", 10**9))):
            live, want = store.get(subject_id) or {}, refold.store.get(subject_id) or {}
            if live != want:
                found.append((subject_id, sorted(k for k in set(live) | set(want) if live.get(k) != want.get(k))))
                if len(found) >= limit:
                    break
        return found
    finally:
        store.close()


def deadline_of(subject_id: str, event: dict) -> Deadline:
    """The deadline a timer's system event fired for (projections.deadlines.system_event, inverted)."""
    payload = event["payload"]
    if event["type"] == "ProcessingOverdue":
        kind, ref = payload["kind"], payload["ref_id"]
    else:
        kind, field = SYSTEM_EVENT_DEADLINES[event["type"]]
        ref = payload[field]
    ref = key(event["source"]["authority_code"], ref)  # a deadline's ref is its table key, under that authority
    due_on = date.fromisoformat(event["occurred_on"]) - timedelta(days=1)  # it occurs the day after due_on
    return Deadline(deadline_instant(due_on).isoformat(), subject_id, kind, ref, due_on.isoformat(), False)


def check_files_served_equal_the_refold(worker: Worker, refold: Refold, policy, subject_ids: list[str],
                                        context: str) -> None:
    """The credit files the worker serves equal the re-fold's, for at least half of `subject_ids` (a file a
    timer moved since the re-fold's offsets is skipped)."""
    compared = 0
    for subject_id in subject_ids:
        served, want = folded_file(worker.file(subject_id)), credit_file(refold.store.get(subject_id), policy)
        if served is not None and served["as_of"] == want["as_of"]:
            assert served == want, f"{subject_id}: the file served differs from the re-fold's {context}"
            compared += 1
    assert compared >= len(subject_ids) // 2, (compared, context)


def check_each_receipt_applied_once(refold: Refold, receipts: list, context: str) -> None:
    """Every event the publisher got a receipt for is in the log at its receipt's partition and offset,
    and applied once (or rejected); an event sent again after a kill may be in the log twice."""
    refold.note_tail()
    in_log = Counter(refold.event_ids.values())
    missing = [r for r in receipts if in_log[r.event_id] == 0]
    misplaced = [r for r in receipts if refold.event_ids.get((r.partition, r.offset)) != r.event_id]
    applied = Counter(entry["event"]["event_id"] for history in refold.store.histories.values()
                      for entry in history)
    twice = [r for r in receipts if applied[r.event_id] > 1]
    unsettled = [r for r in receipts if not applied[r.event_id] and not refold.rejected_ids[r.event_id]]
    assert not missing and not misplaced and not twice and not unsettled, \
        f"{len(missing)} published events missing from the log, {len(misplaced)} not at their receipt's " \
        f"offset, {len(twice)} applied twice, {len(unsettled)} neither applied nor rejected, e.g. " \
        f"{(missing + misplaced + twice + unsettled)[:3]} {context}"
    resent = sum(1 for r in receipts if in_log[r.event_id] > 1)
    print(f"{resent} published events are in the log twice (sent again after a kill; the fold skipped the copy)")


def check_each_deadline_took_effect_once(refold: Refold, context: str) -> Counter:
    """Each deadline in the re-fold took effect once, by a system event with its own id, not before it fell
    due; the deadlines fired, by kind."""
    effects: Counter = Counter()
    wrong = []
    for subject_id, history in refold.store.histories.items():
        for entry in history:
            event = entry["event"]
            if event["source"].get("system") != TIMER_SYSTEM:
                continue
            deadline = deadline_of(subject_id, event)
            effects[(subject_id, deadline.kind, deadline.ref)] += 1
            early = datetime.fromisoformat(event["recorded_at"]) < datetime.fromisoformat(deadline.fires_at)
            if early or event["event_id"] != deadline.event_id():
                wrong.append(event)
    repeated = [(k, n) for k, n in effects.items() if n > 1]
    assert not repeated, f"deadlines that took effect more than once: {repeated[:5]} {context}"
    assert not wrong, f"system events fired early or not under their deadline's id: {wrong[:3]} {context}"
    by_kind = Counter(kind for _, kind, _ in effects)
    in_log = Counter(refold.event_ids.values())
    again = sum(n - 1 for event_id, n in in_log.items() if event_id in refold.system_ids and n > 1)
    print(f"deadlines fired: {dict(by_kind)}; {again} system events published again (duplicates the fold "
          f"ignored); {len(refold.rejected_system)} rejected (a record had met the deadline first)")
    return by_kind


def test_sigkill_at_five_random_instants_mid_stream_loses_nothing_and_repeats_nothing(tmp_path):
    started_s = time.monotonic()
    seed = int(os.environ.get("CREDIT_LEDGER_TEST_SEED") or random.SystemRandom().randrange(1_000_000))
    rng = random.Random(seed)
    kills: list[str] = []
    print(f"\nworker kill test: seed {seed} (CREDIT_LEDGER_TEST_SEED={seed} replays its kill instants)")

    def context() -> str:
        return f"[seed {seed}; kills: {'; '.join(kills) or 'none yet'}]"

    # The broker starts while the events are generated: both take seconds.
    generated: dict = {}
    first_day = date.fromisoformat(instant_text(datetime.now(timezone.utc))[:10])  # the ledger clock's
    generating = threading.Thread(target=lambda: generated.update(
        events=stream_events(EVENTS_COUNT, first_day, DATA_DAYS)))
    generating.start()
    broker = test_broker(tmp_path / "kafka", port=free_port()).start()
    worker = None
    stopping, kills_done, streamed = threading.Event(), threading.Event(), threading.Event()
    try:
        ensure_topics(broker.admin_access)
        generating.join()
        events = generated["events"]
        assert len(events) == EVENTS_COUNT
        print(f"{len(events):,} events of {len({e['subject'].get('id') for e in events}):,} subjects: "
              f"{dict(Counter(e['type'] for e in events).most_common())}")

        clock = Clock(CLOCK_SPEED, started_s=time.time())  # the worker's and the publisher's
        # with two fold processes (streams/fold_pool.py): a kill also leaves batches handed to them unmerged
        env = {"CREDIT_LEDGER_PSEUDONYM_KEY": KEY.decode(), "CREDIT_LEDGER_CLOCK_SPEED": repr(clock.speed),
               "CREDIT_LEDGER_CLOCK_STARTED_S": repr(clock.started_s), "CREDIT_LEDGER_FOLD_PROCESSES": "2"}
        worker = Worker(broker.bootstrap, tmp_path / "worker", free_port(), env=env)
        settings = load_settings()
        refold = Refold(kafka_access(broker.bootstrap, "auditor"), settings.policies())
        reports, failures, sent, folded = [], [], [0], [0]  # sent: events handed to the SDK so far

        def note_sent(start: int, done: int) -> None:
            sent[0] = start + done

        def stream():
            """Each event once the ledger clock reaches its day, as an upstream system sends it."""
            try:
                # the worker's edge: a kill cuts a batch off, the SDK sends it again to the restarted worker
                with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
                    position = 0
                    while position < len(events) and not stopping.is_set():
                        today = instant_text(clock.now())[:10]
                        bound = len(events) if kills_done.is_set() else len(events) - HELD_BACK_EVENTS
                        bound = min(bound, folded[0] + AHEAD_EVENTS_MAX)
                        end = position
                        while (end < bound and end - position < CHUNK_EVENTS_MAX
                               and events[end]["occurred_on"] <= today):
                            end += 1
                        if end == position:
                            time.sleep(0.05)
                            continue
                        reports.append(publisher.publish_many(events[position:end],
                                                              on_progress=partial(note_sent, position)))
                        position = end
            except BaseException as error:  # noqa: BLE001  (the main thread reports it)
                failures.append(("stream", error))
            finally:
                streamed.set()

        def keep_refolding():
            """Re-fold the log as it grows, a step at a time; between steps, note how far the worker has
            folded (the stream's pace) and check that its applied offsets never go back."""
            applied: dict[int, int] = {}
            try:
                while not stopping.is_set():
                    _, body = http_json(worker.url + "/readyz")
                    if body and "applied_offsets" in body:
                        now = {int(p): o for p, o in body["applied_offsets"].items()}
                        back = {p: (applied[p], o) for p, o in now.items() if o < applied.get(p, -1)}
                        assert not back, f"the worker's applied offsets went back (from, to): {back}"
                        applied.update(now)
                        folded[0] = sum(o + 1 for o in applied.values())
                    ends = {p: high - 1 for p, (_, high) in ledger_reader.watermarks(kafka_access(broker.bootstrap),
                                                                                      topics.EVENTS).items()}
                    step = {p: min(end, refold.next_offsets.get(p, 0) + REFOLD_STEP_RECORDS - 1)
                            for p, end in ends.items()}
                    refold.advance(step)
                    if step == ends:
                        stopping.wait(0.5)
            except BaseException as error:  # noqa: BLE001  (the main thread reports it)
                failures.append(("re-fold", error))

        publishing = threading.Thread(target=stream, daemon=True)
        refolding = threading.Thread(target=keep_refolding, daemon=True)
        worker.start()  # on the empty log: ready at once, so every restart has a bounded catch-up
        publishing.start()
        refolding.start()
        wait_for(lambda: folded[0] > 0, FOLDED_TIMEOUT_S, what=f"the worker folding the first events {context()}")
        for kill in range(KILLS_COUNT):
            time.sleep(rng.uniform(*UPTIME_S))
            assert not failures, f"failed: {failures!r} {context()}"
            assert not streamed.is_set(), f"the stream ended before kill {kill + 1} {context()}"
            kills.append(f"#{kill + 1} at {time.monotonic() - started_s:.1f} s with {sent[0]:,} events sent")
            worker.stop(signal.SIGKILL)
            evict_group_members(broker.bootstrap, WORKER_GROUP)  # as its session's expiry would, 10 s sooner
            if kill == KILLS_COUNT - 1:
                kills_done.set()
            try:
                worker.start()
            except AssertionError as error:
                raise AssertionError(f"{error} {context()}") from None
        print(f"kills: {'; '.join(kills)}")

        publishing.join(FOLDED_TIMEOUT_S)
        assert streamed.is_set() and not failures, f"failed: {failures!r} {context()}"
        receipts = [r for report in reports for r in report.delivered]
        problems = [p for report in reports for p in [*report.invalid.values(), *report.failed.values()]]
        assert not problems and len(receipts) == EVENTS_COUNT, (len(receipts), problems[:3], context())

        # Every published event folded: the worker's store reaches the last receipt of each partition.
        last_receipts: dict[int, int] = {}
        for receipt in receipts:
            last_receipts[receipt.partition] = max(last_receipts.get(receipt.partition, -1), receipt.offset)

        def applied() -> dict[int, int]:
            _, body = worker.get("/readyz")
            return {int(p): o for p, o in body["applied_offsets"].items()} if body else {}
        wait_for(lambda: all(applied().get(p, -1) >= o for p, o in last_receipts.items()), FOLDED_TIMEOUT_S,
                 what=f"the worker folding every published event {context()}")
        stopping.set()
        refolding.join(FOLDED_TIMEOUT_S)
        assert not failures, f"failed: {failures!r} {context()}"

        # The live digest at its offsets against the re-fold's at the same offsets, taken again until
        # every deadline due FELL_DUE_SLACK_S before has fired (the clock runs on: more keep falling due).
        snapshot: dict = {}

        def fired_everything_due() -> bool:
            snapshot.clear()
            taken_s = time.time()
            status, live = worker.get("/state/digest")
            assert status == 200, (status, live, context())
            until = {int(p): o for p, o in live["applied_offsets"].items()}
            if any(refold.next_offsets.get(p, 0) > o + 1 for p, o in until.items()):
                return False  # the re-fold is further on: ask again once the worker has folded as far
            refold.advance(until)
            rebuilt = refold.store.state_digest()
            if (rebuilt["digest"], rebuilt["subjects"]) != (live["digest"], live["subjects"]):
                raise AssertionError(
                    f"the live state differs from a clean re-fold at offsets {live['applied_offsets']}: live "
                    f"{live['digest']} ({live['subjects']} subjects), re-fold {rebuilt['digest']} "
                    f"({rebuilt['subjects']}); differing: {differing_subjects(worker, refold)} {context()}")
            cutoff_s = clock.started_s + (taken_s - FELL_DUE_SLACK_S - clock.started_s) * clock.speed
            cutoff = datetime.fromtimestamp(cutoff_s, timezone.utc)  # the ledger clock's, then
            snapshot.update(live=live, cutoff=cutoff, missed=refold.store.timers_due(cutoff))
            return not snapshot["missed"]
        try:
            wait_for(fired_everything_due, 90, interval_s=1.0, what="every deadline due to have fired")
        except AssertionError as error:
            if "timed out" not in str(error):
                raise
            if not snapshot:
                raise AssertionError(f"the worker never folded as far as the log reached {context()}") from None
            raise AssertionError(f"deadlines due before {snapshot['cutoff']} never fired: "
                                 f"{snapshot['missed'][:5]} {context()}") from None
        live = snapshot["live"]
        print(f"live digest {live['digest']} of {live['subjects']:,} subjects at {live['applied_offsets']} "
              "equals the re-fold's")

        # A sample of the credit files served against the re-fold's (skipping any a timer moved since).
        policy = settings.policies().in_force(instant_text(clock.now())[:10])
        check_files_served_equal_the_refold(worker, refold, policy,
                                            rng.sample(sorted({r.subject_id for r in receipts}), FILES_COMPARED_COUNT),
                                            context())

        # Every published event in the log where its receipt says, and applied once.
        check_each_receipt_applied_once(refold, receipts, context())
        # Timers: each deadline took effect once, by a system event with its own id, not before it fell due.
        by_kind = check_each_deadline_took_effect_once(refold, context())
        assert sum(by_kind.values()) >= 100 and {DISCLOSURE, COMMITMENT} <= set(by_kind), (by_kind, context())
        print(f"worker kill test: {time.monotonic() - started_s:.1f} s")
    finally:
        stopping.set()
        if worker is not None and worker.process is not None:
            worker.stop(signal.SIGKILL)  # nothing left to keep
        broker.stop()

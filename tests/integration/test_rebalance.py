"""Two workers share the ledger's partitions; one is stopped and started again mid-stream, so
partitions move to the other and back. Afterwards, for every subject, the worker that folds its
partition now serves the same file as a single clean re-fold of the log.

That the partitions did move is read from the consumer group's own description (the coordinator's
answer, as `kafka-consumer-groups --describe --members` shows it), before and after each step: which
member owns which partition of credit.events. The first worker's member id is the group's only one
while it is alone, and a member keeps its id across rebalances, so the owner of each partition is
known by worker: without a rebalance, the waits for the new owners time out and the test fails."""
from __future__ import annotations

import signal
from datetime import date, timedelta

from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from ops.demo import demo_events
from ops.embedded_kafka import free_port
from projections.fold import credit_file
from streams import topics
from streams.ledger_consumer import GROUP_ID
from streams.sdk import Publisher
from tests.helpers import Worker, folded_file, kafka_config, refold_log, wait_for

KEY = b"rebalance-test-pseudonym-key-000001"
PARTITIONS = 4  # the ledger's, as the tests' broker creates it
EVERY_PARTITION = frozenset(range(PARTITIONS))
MOVED_TIMEOUT_S = 90.0  # the killed worker's session (10 s) expires, the group rebalances, on a loaded host


def owners(admin: AdminClient) -> dict[str, frozenset[int]] | None:
    """The partitions of credit.events each member of the workers' group owns, by member id, as the group's
    coordinator describes it; None while it rebalances."""
    group = admin.describe_consumer_groups([GROUP_ID], request_timeout=10)[GROUP_ID].result(15)
    if group.state != ConsumerGroupState.STABLE:
        return None
    return {m.member_id: frozenset(tp.partition for tp in m.assignment.topic_partitions if tp.topic == topics.EVENTS)
            for m in group.members}


def wait_for_owners(admin: AdminClient, settled, what: str) -> dict[str, frozenset[int]]:
    """The group's owners once `settled(owners)` holds: stable, every partition owned exactly once."""
    found: list = []

    def check():
        found[:] = [owners(admin)]
        now = found[0]
        return now if now is not None and sorted(p for ps in now.values() for p in ps) == sorted(EVERY_PARTITION) \
            and settled(now) else None
    try:
        return wait_for(check, MOVED_TIMEOUT_S, interval_s=0.5, what=what)
    except AssertionError as error:
        raise AssertionError(f"{error}; the group's owners last: {found}") from None


def test_a_worker_leaving_and_coming_back_ends_in_the_single_worker_state(kafka, tmp_path):
    events = demo_events(seed=41, subjects=200, start=date.today() - timedelta(days=300), days=299)
    third = len(events) // 3
    env = {"CREDIT_LEDGER_PSEUDONYM_KEY": KEY.decode()}
    first = Worker(kafka.bootstrap, tmp_path / "first", free_port(), env=env).start()
    second = Worker(kafka.bootstrap, tmp_path / "second", free_port(), env=env)
    admin = AdminClient(kafka_config(kafka.bootstrap))  # as the worker's principal: the group is its
    try:
        (first_id,) = wait_for_owners(admin, lambda now: len(now) == 1, "the first worker alone")
        second.start()
        shared = wait_for_owners(admin, lambda now: len(now) == 2 and first_id in now and all(now.values()),
                                 "the two workers sharing the partitions")
        (second_id,) = set(shared) - {first_id}
        with Publisher(first.url, token=first.tokens["admin"]) as publisher:  # the worker never stopped
            receipts = publisher.publish_many(events[:third]).delivered
            second.stop(signal.SIGKILL)  # its partitions go to the first worker after the session times out
            receipts += publisher.publish_many(events[third:2 * third]).delivered
            alone = wait_for_owners(admin, lambda now: set(now) == {first_id},
                                    "the killed worker's partitions moving to the first")
            wait_for(lambda: len(first.get("/readyz")[1]["applied_offsets"]) == PARTITIONS, 90,
                     what="the first worker folding every partition")
            second.start()  # and some come back, while the last third comes in
            receipts += publisher.publish_many(events[2 * third:]).delivered
            back = wait_for_owners(admin, lambda now: len(now) == 2 and first_id in now and all(now.values()),
                                   "the restarted worker taking partitions from the first")
        assert len(receipts) == len(events)
        # Each step moved partitions from one worker to the other: the killed worker's went to the first,
        # and the restarted worker (a new member) took some of the first's. A group that never rebalanced
        # would show the same owners throughout (and the waits above time out).
        (restarted_id,) = set(back) - {first_id}
        print(f"owners: shared {dict(shared)}, alone {dict(alone)}, back {dict(back)}")
        assert shared[second_id] and shared[first_id] < EVERY_PARTITION  # each owned some, neither all
        assert alone == {first_id: EVERY_PARTITION}  # the killed worker's partitions are the first's now
        assert restarted_id not in (first_id, second_id) and back[restarted_id]
        assert back[first_id] == EVERY_PARTITION - back[restarted_id]  # ...and some left it again
        subjects = sorted({r.subject_id for r in receipts})

        def served(subject_id: str) -> dict | None:
            # the worker folding the subject's partition now is the one that has gone furthest in it
            files = [folded_file(f) for f in (first.file(subject_id), second.file(subject_id)) if f]
            return max(files, key=lambda f: f["as_of"]["offset"]) if files else None

        differing: list = []

        def all_equal() -> bool:
            expected = refold_log(kafka.bootstrap)
            differing[:] = [s for s in subjects if served(s) != credit_file(expected.get(s))][:3]
            return not differing
        wait_for(all_equal, 180, interval_s=2.0, what="both workers together equal a single clean re-fold")
        by_worker = [sum(1 for s in subjects if folded_file(w.file(s) or {}) == served(s)) for w in (first, second)]
        assert all(by_worker), by_worker  # both fold some of the subjects now
    finally:
        second.stop()
        first.stop()

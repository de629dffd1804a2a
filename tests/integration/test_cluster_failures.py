"""The ledger on a cluster of three brokers (ops/kafka_cluster.py: KRaft nodes, broker and controller each,
three replicas of every topic and two in sync for a write to count, SASL/SCRAM and ACLs as in production),
under failure. Two tests share the cluster, one after the other:

1. Brokers killed. While two publishers send 20,000 events through a worker's edge with the SDK, the broker
   that leads the most of credit.events' partitions is killed with SIGKILL, kept down DOWN_S and started again
   on its storage; once every replica is back in sync, the broker that now leads the most (another one) is
   killed, and stays down to the end of the checks (two of three serve).
2. A worker killed. Two workers share the ledger's partitions; while 8,000 events are published through the
   first one's edge, the second (owning partitions, as the group's coordinator describes it) is killed with
   SIGKILL; its partitions move to the first (a rebalance), which folds on.

That each fault met the stream is shown, not assumed. A broker: the metadata names it as the leader of
partitions of credit.events just before the kill, and, polled after it, the instant its partitions had other
leaders; a stream of events starts at the kill, so requests are sent while it is down, and a request sent
before the leaders moved is answered only after they did (a write waits for a leader). A worker: the group's
description before the kill gives it partitions, after it gives the first worker all of them, and events are
published between the two.

Checked after each, exactly: every event with a receipt is in credit.events exactly once, at its receipt's
partition and offset (read with the library's reader, as the auditor); every event the publishers sent has a
receipt (none failed, none refused); no event is in the log without a receipt, but the timers' own; the
worker's state equals a `rebuild` of the log (`rebuild --verify`, the state digest); `verify` passes against the
digests the worker published.

Marked `alone`: three JVMs, a worker and publishers fill the two cores; beside another test process timeouts
would measure the load rather than the ledger.
"""
from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from datetime import date, timedelta

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from ops.demo import demo_events
from ops.embedded_kafka import free_port
from ops.kafka_cluster import EmbeddedKafkaCluster
from projections.deadlines import TIMER_SYSTEM
from streams import ledger_reader, topics
from streams.codec import CodecError, decode_event
from streams.sdk import Publisher
from tests.helpers import Worker, cli, kafka_config, kafka_credentials, wait_for
from tests.integration import test_rebalance as rebalance

pytestmark = [pytest.mark.alone, pytest.mark.slow, pytest.mark.kafka]

EVENTS = 20_000
# The rebalance test needs a stream long enough to outlive a worker's session and the partitions' move (~11 s
# here), not the broker test's 20,000: fewer keep the suite within its budget.
WORKER_KILL_EVENTS = 8_000
SUBJECTS = 2_700  # ~7.7 events each in the demo's stories: a little over EVENTS
BATCH_LINES = 100  # a request of the SDK: a steady stream, every partition in each request
DOWN_S = 15.0  # longer than a dead broker's session (9 s): its partitions move before it comes back
ACCEPTED = 202


class RecordingPublisher(Publisher):
    """The SDK with each HTTP request recorded: {"sent_s", "answered_s" (monotonic), "lines", "accepted"}."""

    def __init__(self, *args, attempts: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.attempts = attempts

    def _post(self, body: bytes, lines: int) -> list[dict]:
        attempt = {"sent_s": time.monotonic(), "answered_s": None, "lines": lines, "accepted": 0}
        self.attempts.append(attempt)
        try:
            results = super()._post(body, lines)
        finally:
            attempt["answered_s"] = time.monotonic()
        attempt["accepted"] = sum(1 for result in results if result.get("status") == ACCEPTED)
        return results


class Stream:
    """Publishers sending parts of `events` through `url`, each part from the moment its gate opens."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.reports, self.attempts, self.threads = [], [], []

    def part(self, events: list[dict], gate: threading.Event | None = None) -> None:
        def publish():
            if gate is not None and not gate.wait(600):
                return
            with RecordingPublisher(self.url, token=self.token, attempts=self.attempts) as publisher:
                for start in range(0, len(events), BATCH_LINES):
                    self.reports.append(publisher.publish_many(events[start:start + BATCH_LINES]))
        thread = threading.Thread(target=publish, daemon=True)
        thread.start()
        self.threads.append(thread)

    def receipts(self) -> list:
        return [receipt for report in list(self.reports) for receipt in report.delivered]

    def join(self, timeout_s: float = 600) -> None:
        for thread in self.threads:
            thread.join(timeout_s)
            assert not thread.is_alive(), "a publisher still sending"
        failed = {i: f for report in self.reports for i, f in report.failed.items()}
        invalid = {i: v for report in self.reports for i, v in report.invalid.items()}
        assert failed == {} and invalid == {}, (list(failed.values())[:3], list(invalid.values())[:3])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("cluster")
    running = EmbeddedKafkaCluster(data_dir, credentials=kafka_credentials()).start(timeout_s=240)
    try:
        running.ensure_topics()
        yield running
    finally:
        running.stop()


@pytest.fixture
def healthy(cluster):
    """The cluster with every node running and every replica of the ledger's topics in sync."""
    for node_id in set(cluster.nodes) - set(cluster.running()):
        cluster.restart(node_id)
    wait_for(lambda: cluster.fully_in_sync(*topics.ALL), 120, interval_s=0.5, what="every replica in sync")
    return cluster


def the_events(seed: int) -> list[dict]:
    events = demo_events(seed=seed, subjects=SUBJECTS, start=date.today() - timedelta(days=300), days=299)
    assert len(events) >= EVENTS
    return events[:EVENTS]


def leading_most(cluster: EmbeddedKafkaCluster, among) -> tuple[int, dict]:
    """The node among `among` that leads the most partitions of credit.events now, and the metadata."""
    found = cluster.partitions(topics.EVENTS)
    led = Counter(leader for leader, _, _ in found.values() if leader in among)
    assert led, f"none of {among} leads a partition of {topics.EVENTS}: {found}"
    return led.most_common(1)[0][0], found


def kill_leader(cluster: EmbeddedKafkaCluster, among, gate: threading.Event) -> dict:
    """SIGKILL the node leading the most partitions of the ledger, open `gate` (a stream starts), and wait
    until its partitions have other leaders. What happened, with the instants (monotonic)."""
    victim, before = leading_most(cluster, among)
    cluster.kill(victim)
    killed_s = time.monotonic()
    gate.set()

    still_led_s = [killed_s]  # when a look last showed the dead node leading (or without a leader)

    def moved():
        looked_s = time.monotonic()
        try:
            now = cluster.partitions(topics.EVENTS)
        except KafkaException:  # a metadata request that went to the dead node: asked again
            return None
        if all(leader not in (victim, -1) for leader, _, _ in now.values()):
            return now
        still_led_s.append(looked_s)
        return None
    after = wait_for(moved, 90, interval_s=0.2, what=f"the partitions of node {victim} led by others")
    fault = {"node": victim, "killed_s": killed_s, "still_led_s": still_led_s[-1], "moved_s": time.monotonic(),
             "before": before, "after": after}
    assert any(leader == victim for leader, _, _ in before.values()), fault  # it did lead the ledger's partitions
    return fault


def met_the_stream(fault: dict, attempts: list, up_again_s: float) -> dict:
    """Requests sent while the node was down, and one sent before a look still showed the dead node leading,
    answered only after that look (held until its partitions moved: anchored on the look, not on the moment
    the move was seen, which an answer may precede by up to a poll)."""
    down = [a for a in attempts if fault["killed_s"] < a["sent_s"] < up_again_s]
    held = [a for a in down if a["sent_s"] < fault["still_led_s"] < a["answered_s"]]
    seen = {"node": fault["node"], "leaders_before": {p: m[0] for p, m in fault["before"].items()},
            "leaders_after": {p: m[0] for p, m in fault["after"].items()},
            "moved_after_s": round(fault["moved_s"] - fault["killed_s"], 1), "sent_while_down": len(down),
            "held_until_moved": len(held)}
    print(f"fault: {seen}")
    assert down and held, seen
    return seen


def log_ids(bootstrap_access) -> tuple[dict[str, list[tuple[int, int]]], set[str]]:
    """{event id: [(partition, offset), ...]} of credit.events now, and the ids of the timers' events."""
    where, timers = {}, set()
    for partition, offset, _, value, _ in ledger_reader.read_topic(bootstrap_access, topics.EVENTS):
        try:
            event = decode_event(value)
        except CodecError:
            continue
        where.setdefault(event["event_id"], []).append((partition, offset))
        if event["source"].get("system") == TIMER_SYSTEM:
            timers.add(event["event_id"])
    return where, timers


def check_the_ledger(cluster: EmbeddedKafkaCluster, worker: Worker, receipts: list, sent: list[dict],
                     before: set[str]) -> None:
    """The exact checks (module docstring): receipts against the log both ways, the worker against `rebuild`,
    `verify`. `before`: the ids in the log before the test."""
    assert len(receipts) == len(sent) == len({r.event_id for r in receipts})
    where, timers = log_ids(cluster.access("auditor"))
    not_once = {r.event_id: where.get(r.event_id) for r in receipts if where.get(r.event_id) != [(r.partition, r.offset)]}
    assert not_once == {}, list(not_once.items())[:5]  # each receipt's event: in the log once, where it said
    unreceipted = set(where) - before - timers - {r.event_id for r in receipts}
    assert unreceipted == set(), sorted(unreceipted)[:5]  # nothing in the log that no receipt accounts for
    last = {}
    for r in receipts:
        last[r.partition] = max(last.get(r.partition, -1), r.offset)

    def folded_every_receipt() -> bool:
        applied = (worker.get("/readyz")[1] or {}).get("applied_offsets", {})  # 503 while catching up: still said
        return all(int(applied.get(str(p), -1)) >= o for p, o in last.items())
    wait_for(folded_every_receipt, 180, what="the worker folded every receipt")
    rebuilt = cli("rebuild", "--verify", "--kafka", cluster.bootstrap, "--web-url", worker.url,
                  env={"CREDIT_LEDGER_TOKEN": worker.tokens["admin"]}, timeout_s=300)
    print(rebuilt.stdout)
    assert rebuilt.returncode == 0 and "equal" in rebuilt.stdout, rebuilt.stdout + rebuilt.stderr
    verified = cli("verify", "--kafka", cluster.bootstrap, "--web-url", worker.url,
                   env={"CREDIT_LEDGER_TOKEN": worker.tokens["auditor"]}, timeout_s=300)
    print(verified.stdout)
    assert verified.returncode == 0 and "VERIFIED" in verified.stdout, verified.stdout + verified.stderr


def test_brokers_killed_under_load_lose_no_receipted_event(healthy, tmp_path):
    cluster = healthy
    events = the_events(seed=33)
    before = set(log_ids(cluster.access("auditor"))[0])
    worker = Worker(cluster.bootstrap, tmp_path / "worker", free_port()).start()
    try:
        stream = Stream(worker.url, worker.tokens["admin"])
        first_kill, second_kill = threading.Event(), threading.Event()
        half, three_quarters = EVENTS // 2, 3 * EVENTS // 4
        # the first half from now (two publishers), the third quarter from the first kill, the last from the second
        stream.part(events[:half // 2])
        stream.part(events[half // 2:half])
        stream.part(events[half:three_quarters], first_kill)
        stream.part(events[three_quarters:], second_kill)
        wait_for(lambda: len(stream.receipts()) >= EVENTS // 5, 300, what="a fifth published")  # mid-stream

        first = kill_leader(cluster, set(cluster.nodes), first_kill)
        time.sleep(max(0.0, first["killed_s"] + DOWN_S - time.monotonic()))
        restart_s = time.monotonic()
        cluster.restart(first["node"])
        wait_for(lambda: cluster.fully_in_sync(*topics.ALL), 180, interval_s=0.5, what="the restarted node in sync")
        in_sync_s = time.monotonic()

        second = kill_leader(cluster, set(cluster.running()) - {first["node"]}, second_kill)
        stream.join()
        done_s = time.monotonic()
        faults = [met_the_stream(first, stream.attempts, restart_s), met_the_stream(second, stream.attempts, done_s)]
        assert faults[1]["node"] != faults[0]["node"]
        print(f"first node {first['node']} down {restart_s - first['killed_s']:.1f} s, in sync again "
              f"{in_sync_s - restart_s:.1f} s after its restart; second node {second['node']} down from then on")
        assert worker.alive()
        check_the_ledger(cluster, worker, stream.receipts(), events, before)  # with two brokers of three
    finally:
        worker.stop()


def test_a_worker_killed_mid_stream_on_the_cluster(healthy, tmp_path):
    cluster = healthy
    events = the_events(seed=34)[:WORKER_KILL_EVENTS]
    third = WORKER_KILL_EVENTS // 3
    before = set(log_ids(cluster.access("auditor"))[0])
    first = Worker(cluster.bootstrap, tmp_path / "first", free_port()).start()
    second = Worker(cluster.bootstrap, tmp_path / "second", free_port())
    admin = AdminClient(kafka_config(cluster.bootstrap))  # the worker's principal: the group is its
    try:
        (first_id,) = rebalance.wait_for_owners(admin, lambda now: len(now) == 1, "the first worker alone")
        second.start()
        shared = rebalance.wait_for_owners(admin, lambda now: len(now) == 2 and first_id in now and all(now.values()),
                                           "the two workers sharing the partitions")
        (second_id,) = set(shared) - {first_id}
        stream = Stream(first.url, first.tokens["admin"])
        killed = threading.Event()
        stream.part(events[:third])
        stream.part(events[third:], killed)
        wait_for(lambda: len(stream.receipts()) >= third // 2, 300, what="a sixth published")
        second.stop(signal.SIGKILL)
        killed_s = time.monotonic()
        killed.set()
        alone = rebalance.wait_for_owners(admin, lambda now: set(now) == {first_id},
                                          "the killed worker's partitions moving to the first")
        moved_s = time.monotonic()
        stream.join()
        after_kill = [a for a in stream.attempts if a["sent_s"] > killed_s]
        during = [a for a in after_kill if a["sent_s"] < moved_s]
        print(f"owners: shared {dict(shared)}, after the kill {dict(alone)} ({moved_s - killed_s:.1f} s later); "
              f"requests sent after the kill {len(after_kill)}, before the partitions moved {len(during)}")
        assert shared[second_id] and alone == {first_id: rebalance.EVERY_PARTITION}
        assert during  # the stream went on through the rebalance
        check_the_ledger(cluster, first, stream.receipts(), events, before)
    finally:
        second.stop()
        first.stop()

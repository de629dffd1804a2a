"""What the parts of the worker share, in one object handed to each part's `install(app, worker)`.

The worker (streams/app.py wires it; streams/worker_build.py builds this object, streams/faust_app.py
the Faust app) is a handful of parts, each a file with one job:
- streams/worker_fold.py: the fold loop, publish-then-commit of its outputs, and the stop policy;
- streams/worker_loops.py: the timers (deadlines, digests, stray keys, the regrade sweep, readiness);
- streams/routes_publishing.py: POST /events and /events:batch, the edge and its quotas;
- streams/routes_files.py: a subject's file, report, grade and history;
- streams/routes_audit.py: the access log, the state digest and the erasure of personal information;
- streams/routes_public.py: the public lists, health, readiness, metrics and timeliness;
- streams/routes_stats.py: statistics for assessment, from the log itself;
- streams/routes_self.py: a subject's own page (/self) and the access log of its file;
- streams/routes_releases.py: the lists' dated, numbered releases (credit.releases);
- streams/routes_exports.py: the upward export's receipts (credit.exports);
- streams/dashboard_routes.py: the live dashboard (streams/dashboard.py and its dashboard_*.py parts);
- streams/stack_dump.py: the stacks of every task and thread to the log on SIGUSR1.
They share only what is here: no state hides in closures or in attributes stuck on the Faust app.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from projections.canonical import instant_text
from streams import topics
from streams.proofs import PartitionTree

if TYPE_CHECKING:
    from projections.policy import Policy, PolicyBook
    from streams.clock import Clock
    from streams.dashboard import Dashboard
    from streams.gate import Gate
    from streams.kafka_access import KafkaAccess
    from streams.ledger import LedgerProcessor
    from streams.ledger_consumer import LedgerConsumer
    from streams.ledger_reader import TopicReader
    from streams.outputs import BatchProducer, EdgeProducer
    from streams.pii import KeyStore
    from streams.release_log import ReleaseLog
    from streams.store import SubjectStore


def policy_in_force(policies: PolicyBook, clock: Clock) -> Policy:
    """The policy in force on the ledger's clock: grades use it (each event folds under its own day's)."""
    return policies.in_force(instant_text(clock.now())[:10])


@dataclass
class Readiness:
    """Whether this worker has folded its partitions up to where the log stood when it first looked
    (GET /readyz; the deadlines and the regrade sweep wait for it). Set by worker_loops.check_ready."""

    ready: bool = False
    targets: dict[int, int] | None = None  # partition -> the offset to reach, the log's end when first looked at
    shown_partitions: list[int] = field(default_factory=list)  # the partitions whose lag gauges this worker shows
    checked_at_s: float = float("-inf")  # monotonic: when it last looked (worker_loops.check_ready_when_due)


@dataclass(eq=False)
class Worker:
    settings: Any  # ops.config.Settings (streams/ does not import ops/)
    kafka: KafkaAccess  # every client of the worker, Faust's too, is its principal
    store: SubjectStore  # or a MemoryStore in tests
    clock: Clock  # the ledger's (fast in a demo)
    policies: PolicyBook
    processor: LedgerProcessor
    gate: Gate  # who is asking, may they, the access log
    key_store: KeyStore | None  # None when sealing is off (pii_key_store = "off")
    pseudonym_key: bytes  # read once (it may be a file): the worker has none otherwise
    ledger_consumer: LedgerConsumer
    outputs: BatchProducer  # a batch's rejections and grade changes
    # credit.events' one producer (streams.outputs.EdgeProducer, librdkafka): the edge's events, the timers'
    # and the erasure's system events
    events_producer: EdgeProducer
    dashboard: Dashboard | None = None  # fed by the fold once installed
    # what the parts read topics with (the statistics, the releases, the access log, the digests, readiness):
    # a TopicReader as `kafka`; an in-memory log of the same interface in the unit tests
    reader: TopicReader | None = None
    releases: ReleaseLog | None = None  # credit.releases as read from the log
    exports: ReleaseLog | None = None  # credit.exports (the upward export's receipts) as read from the log
    readiness: Readiness = field(default_factory=Readiness)
    # The fold and the policy sweep both write grades: one at a time, publish then commit.
    writing: asyncio.Lock = field(default_factory=asyncio.Lock)
    # the batch the fold folded and sent the outputs of, not yet written (streams/worker_fold.settle):
    # whoever takes `writing` settles it first
    unsettled: Any = None
    # GET /stats/disclosure reads and folds the whole log: one at a time, so that memory holds one copy
    stats_reading: asyncio.Lock = field(default_factory=asyncio.Lock)
    stop_error: Exception | None = None  # the error that stopped the worker, if one did
    # partition -> its Merkle tree (streams/proofs.py), grown by the fold and, where it is behind, by the
    # digests timer's catch-up from the log; the partitions whose catch-up runs now, which the fold leaves alone
    trees: dict[int, PartitionTree] = field(default_factory=dict)
    trees_catching_up: set[int] = field(default_factory=set)

    def tree(self, partition: int) -> PartitionTree:
        if partition not in self.trees:
            self.trees[partition] = PartitionTree(self.store, partition)
        return self.trees[partition]

    def policy_now(self) -> Policy:
        return policy_in_force(self.policies, self.clock)

    def today(self) -> str:
        return instant_text(self.clock.now())[:10]  # the Asia/Shanghai date on the ledger's clock

    async def send_event(self, subject_id: str, value: bytes) -> asyncio.Future:
        """A system event onto credit.events, keyed by its subject: the future of its (partition, offset), set
        once the broker has it (DeliveryError if not in time). BufferError at once when the queue is full."""
        return self.events_producer.produce(topics.EVENTS, subject_id.encode(), value)

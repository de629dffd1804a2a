"""Building the Worker from the settings (streams/worker_build.py), no broker reached: its store in the
data dir, and a store folded from nothing marked as graded under the policy in force."""
from __future__ import annotations

import base64

from ops.config import Settings
from streams.faust_app import faust_app
from streams.kafka_access import WORKER
from streams.store import MemoryStore
from streams.worker_build import build_worker, mark_fresh_store_graded


def test_a_fresh_worker_folds_into_the_data_dir_and_needs_no_regrade(tmp_path):
    settings = Settings(data_dir=str(tmp_path), pseudonym_key="k" * 32,
                        master_key=base64.b64encode(bytes(32)).decode(), kafka="127.0.0.1:9")
    kafka = settings.kafka_access(WORKER)
    worker = build_worker(faust_app(settings, kafka), settings, kafka)
    try:
        assert (tmp_path / "subjects").is_dir() and worker.store.applied_offsets() == {}
        assert worker.store.meta("graded_with") == worker.policy_now().version
        assert worker.dashboard is None and worker.readiness.ready is False  # parts set these once installed
    finally:
        worker.store.close()


def test_a_store_with_offsets_or_a_grading_policy_is_left_as_it_is():
    fresh = MemoryStore()
    assert mark_fresh_store_graded(fresh, "v1") and fresh.meta("graded_with") == "v1"
    assert not mark_fresh_store_graded(fresh, "v2") and fresh.meta("graded_with") == "v1"
    folded = MemoryStore()
    folded.write({}, {0: 41})
    assert not mark_fresh_store_graded(folded, "v1") and folded.meta("graded_with") is None

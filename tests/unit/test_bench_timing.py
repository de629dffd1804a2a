"""The bench's fold rate: timed from the first progress past where the workers first answered, so that a
restarted worker's start-up (its group join, its fold processes) is not counted as folding."""
import itertools

import pytest

from ops import bench_suite


class ScriptedWorker:
    """Answers /readyz's applied offsets as scripted: None while not answering."""

    def __init__(self, answers):
        self._answers = iter(answers)

    def applied(self):
        return next(self._answers)


@pytest.fixture
def one_second_a_poll(monkeypatch):
    clock = itertools.count()
    monkeypatch.setattr(bench_suite, "PROGRESS_POLL_S", 0)
    monkeypatch.setattr(bench_suite.time, "perf_counter", lambda: float(next(clock)))


def test_a_restarted_worker_is_timed_from_its_first_progress(one_second_a_poll):
    # starting (None), then where its store stood (100 applied), the same while it joins the group,
    # then 100 records a second
    worker = ScriptedWorker([None, {0: 99}, {0: 99}, {0: 99}, {0: 199}, {0: 299}, {0: 399}])
    assert bench_suite.fold_throughput([worker], {0: 400}) == pytest.approx(100.0)


def test_a_fresh_worker_is_timed_from_its_first_applied_record(one_second_a_poll):
    worker = ScriptedWorker([None, {}, {0: 49}, {0: 149}, {0: 249}])
    assert bench_suite.fold_throughput([worker], {0: 250}) == pytest.approx(100.0)


def test_records_folded_between_two_polls_cannot_be_timed(one_second_a_poll):
    worker = ScriptedWorker([None, {0: 99}, {0: 399}])
    with pytest.raises(RuntimeError, match="too few records to time"):
        bench_suite.fold_throughput([worker], {0: 400})

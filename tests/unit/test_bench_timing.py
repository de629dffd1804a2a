"""The bench's fold rate: timed from the first progress past where the workers first answered, so that a
restarted worker's start-up (its group join, its fold processes) is not counted as folding."""
import itertools
import os
import subprocess
import sys
import time

import pytest

from ops import bench_suite
from ops.bench_suite import process_tree_cpu_s


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


def test_the_cores_of_a_process_include_the_processes_under_it():
    """The lag run's shares (CoresUsed): a worker's fold processes count as the worker's."""
    burn_s = 0.3
    # it burns a little past burn_s: /proc counts in clock ticks, and may lag process_time() by one
    child = subprocess.Popen([sys.executable, "-c", "import sys, time\nwhile time.process_time() < %s: pass\n"
                              "sys.stdin.read()" % (burn_s + 0.1)], stdin=subprocess.PIPE)
    try:
        waited_until_s = time.monotonic() + 60
        while process_tree_cpu_s(child.pid) < burn_s:  # until it has burned its share, then it waits
            assert time.monotonic() < waited_until_s, "the child never burned its share"
            time.sleep(0.05)
        own = os.times()  # this process alone
        tick_s = 1 / os.sysconf("SC_CLK_TCK")
        assert process_tree_cpu_s(os.getpid()) - (own.user + own.system) >= burn_s - 2 * tick_s
    finally:
        child.communicate(b"")
    assert process_tree_cpu_s(2 ** 22 + 1) == 0  # no such process: nothing used

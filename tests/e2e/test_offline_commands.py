"""Commands that need no running stack, as a user runs them: replay with the timers, the benchmarks
(which start their own brokers and workers)."""
from __future__ import annotations

import json

from ops.demo import demo_jsonl
from tests.helpers import cli


def test_replay_with_a_clock_shows_the_file_as_it_will_be(tmp_path):
    path = tmp_path / "demo.jsonl"
    demo_jsonl(path)  # a publisher's file: no recorded_at, stamped as of its occurred_on
    now = json.loads(cli("replay", "--from-file", str(path), "--json").stdout)
    later = json.loads(cli("replay", "--from-file", str(path), "--json", "--clock", "2099-01-01").stdout)
    assert now["rejected"] == [] and later["rejected"] == []
    subjects = now["files"].keys()
    pending_now = sum(len(now["files"][s]["file"]["pending"]["deadlines"]) for s in subjects)
    pending_later = sum(len(later["files"][s]["file"]["pending"]["deadlines"]) for s in subjects)
    assert pending_now > 0 and pending_later == 0  # by 2099 every deadline of the file has fired
    fired = [h["event"] for s in subjects for h in later["files"][s]["history"]
             if h["event"]["source"].get("system") == "credit-ledger timers"]
    assert {"PublicityEnded", "DisclosureOverdue"} <= {e["type"] for e in fired}
    statuses = {p["status"] for s in subjects for p in later["files"][s]["file"]["records"]["penalties"]}
    assert "PUBLICITY_ENDED" in statuses and "ACTIVE" not in statuses

    one = next(s for s in subjects if now["files"][s]["file"]["records"]["penalties"])
    done = cli("replay", "--from-file", str(path), "--subject", one, "--clock", "2099-01-01T00:00:00+08:00", "--json")
    view = json.loads(done.stdout)
    assert done.returncode == 0 and set(view) == {"file", "history"}
    assert all(p["status"] != "ACTIVE" for p in view["file"]["records"]["penalties"])

    bad = cli("replay", "--from-file", str(path), "--clock", "next tuesday")
    assert bad.returncode == 2 and "--clock" in bad.stderr and "next tuesday" in bad.stderr


def test_bench_timers_prints_the_index_against_the_heap_baseline():
    done = cli("bench", "timers", "--deadlines", "20000")
    assert done.returncode == 0, done.stderr
    for measure in ("index_rss_mib", "heap_rss_mib", "memory_ratio_index_to_heap", "index_tick_ms"):
        assert measure in done.stdout
    assert cli("bench", "nothing").returncode == 2


BENCH_KEYS = ("e2e_events_per_s", "lag_p50_ms", "lag_p99_ms", "rebuild_events_per_s", "history_p95_ms",
              "timers_pending_1m_rss_mib", "baseline_raw_events_per_s", "baseline_faust_events_per_s",
              "baseline_faust_table_events_per_s", "ratio_e2e_vs_raw", "ratio_e2e_vs_faust", "ratio_rebuild_vs_raw",
              "scaleout_2_workers_ratio", "edge_events_per_s", "edge_direct_events_per_s", "ratio_edge_vs_direct",
              "ratio_edge_vs_fold", "baseline_replay_events_per_s", "ratio_e2e_vs_replay", "ratio_rebuild_vs_replay",
              "ratio_rebuild_vs_replay_per_process", "rebuild_processes", "lag_rate_per_s", "lag_backlog_events_per_s",
              "baseline_replay_cpu_us_per_event", "rebuild_cpu_us_per_event", "ratio_rebuild_vs_replay_cpu",
              "machine_cores", "lag_backlog_worker_cores", "lag_worker_cores", "lag_broker_cores", "lag_publisher_cores")


def test_bench_quick_measures_every_goal_and_baseline():
    # its own brokers, workers and Faust agents; the numbers are not asserted (timings are the
    # machine's), only that every measure ran and came out positive. The history part checks
    # inside that the proved (Merkle-checked) history agreed with the scan.
    done = cli("bench", "--quick", "--json", timeout_s=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    missing = [key for key in BENCH_KEYS if not (isinstance(result.get(key), (int, float)) and result[key] > 0)]
    assert not missing, {key: result.get(key) for key in missing}
    assert result["lag_timer_events_per_s"] >= 0  # none, when no offered event left a deadline past due
    bad = cli("bench", "history", "--log-events", "100", "--subject-events", "1000")
    assert bad.returncode == 2 and "at most a partition's share" in bad.stderr

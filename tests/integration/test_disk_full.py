"""The worker's disk fills up.

Injected: the worker's data dir lives on a small tmpfs mounted for the test (a real filesystem
that answers ENOSPC; the test is skipped, saying why, where mounting is not allowed), and a
filler file takes every free byte of it: before the worker starts, and while it runs.

Checked:
- started on the full filesystem, the worker exits 1 naming the data dir and the cause, and
  leaves nothing behind (no data dir, no probe file);
- when the disk fills under a running worker, its next write fails and it stops by itself,
  exit status 1, naming its store and the cause (it does not go on serving files that no
  longer follow the log); restarted while the disk is still full, it refuses in the same way
  and leaves its store as it was;
- once the filler is deleted and the worker restarted, every subject's state equals a clean
  re-fold of the log (`rebuild --verify`), and so does every history it serves, event by event:
  none lost, none applied twice.
"""
from __future__ import annotations

import errno
import os
import subprocess
import threading
from collections import Counter
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest

from ops.demo import demo_events
from ops.embedded_kafka import free_port
from streams.sdk import Publisher
from tests.helpers import Worker, cli, refold_log, wait_for

FILESYSTEM_MIB = 64  # room for the worker's store of everything the session's log holds, and more
STOP_TIMEOUT_S = 30.0
RESEND_TIMEOUT_S = 150.0  # longer than the SDK's retries (streams/sdk.py RETRY_WITHIN_S)
NO_SPACE = os.strerror(errno.ENOSPC)  # "No space left on device"
KEY = b"disk-full-test-pseudonym-key-0000001"


@contextmanager
def small_filesystem(mount_point: Path, size_mib: int):
    """A tmpfs of `size_mib` at `mount_point` for the duration (needs CAP_SYS_ADMIN, e.g. root)."""
    mount_point.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0755", "tmpfs",
                               str(mount_point)], capture_output=True, text=True)
        refusal = done.stderr.strip() if done.returncode != 0 else None
    except OSError as error:  # no mount command
        refusal = str(error)
    if refusal is not None:
        pytest.skip(f"cannot mount a small tmpfs to fill up here (needs root or CAP_SYS_ADMIN): {refusal}")
    try:
        yield mount_point
    finally:
        # lazily: a process still holding a file there must not keep the test from finishing
        subprocess.run(["umount", "--lazy", str(mount_point)], check=False)


def fill(filesystem: Path) -> Path:
    """Take every free byte of `filesystem` with a filler file; returns the file."""
    filler = filesystem / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for block in (b"\0" * (1 << 20), b"\0" * 4096):  # megabytes, then what is left page by page
            while True:
                try:
                    os.write(descriptor, block)  # unbuffered: nothing is left to write at close
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(descriptor)
    return filler


def test_a_worker_started_on_a_full_disk_names_it_and_leaves_nothing(kafka, tmp_path):
    with small_filesystem(tmp_path / "small", 4) as filesystem:
        fill(filesystem)
        data_dir = filesystem / "data"
        done = cli("worker", env={"CREDIT_LEDGER_DATA_DIR": str(data_dir), "CREDIT_LEDGER_KAFKA": kafka.bootstrap,
                                  "CREDIT_LEDGER_WEB_PORT": str(free_port())}, timeout_s=60)
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"data dir {data_dir} is not writable: {NO_SPACE}" in done.stderr, done.stderr
        assert sorted(p.name for p in filesystem.iterdir()) == ["filler"]  # no data dir, no probe file


def test_a_disk_filling_up_stops_the_worker_and_a_restart_loses_nothing(kafka, tmp_path):
    events = demo_events(seed=71, subjects=60, start=date.today() - timedelta(days=300), days=299)
    half = len(events) // 2
    with small_filesystem(tmp_path / "small", FILESYSTEM_MIB) as filesystem:
        data_dir = filesystem / "data"
        env = {"CREDIT_LEDGER_PSEUDONYM_KEY": KEY.decode()}
        worker = Worker(kafka.bootstrap, data_dir, free_port(), env=env)
        worker.log_path = tmp_path / "worker.log"  # off the full disk, so that the error can be read
        worker.start()
        sending = None
        try:
            with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
                receipts = publisher.publish_many(events[:half]).delivered
            wait_for(lambda: folded(worker, receipts), 60, what="the first half folded")
            filler = fill(filesystem)
            # The second half goes to the worker's edge, which writes it to the log (the broker's disk is not
            # full), and the worker's next store write fails. What the edge had not answered for when the
            # worker stopped, the SDK sends again once the worker is back (its retries: up to two minutes).
            second: list = []
            sending = threading.Thread(target=lambda: second.append(
                Publisher(worker.url, token=worker.tokens["admin"]).publish_many(events[half:])))
            sending.start()

            wait_for(lambda: worker.process.poll() is not None, STOP_TIMEOUT_S, what="the worker to stop by itself")
            log = worker.log_path.read_text(errors="replace")
            assert worker.process.returncode == 1, log[-3000:]
            assert f"cannot write the worker's store {data_dir / 'subjects'}" in log and NO_SPACE in log, log[-3000:]

            # restarted on the disk still full: refused before anything is touched
            fill(filesystem)  # whatever the stopping worker may have freed
            store_files = sorted((p.name, p.stat().st_size) for p in (data_dir / "subjects").iterdir())
            done = cli("worker", env=worker.env, timeout_s=60)
            assert done.returncode == 1 and f"data dir {data_dir} is not writable: {NO_SPACE}" in done.stderr, \
                done.stdout + done.stderr
            assert sorted((p.name, p.stat().st_size) for p in (data_dir / "subjects").iterdir()) == store_files

            filler.unlink()  # space again
            worker.start()
            sending.join(RESEND_TIMEOUT_S)
            (report,) = second
            assert report.ok, (report.invalid, report.failed)
            receipts += report.delivered
            assert len(receipts) == len(events)  # the log has them all: the disk that filled is the worker's
            wait_for(lambda: folded(worker, receipts), 60, what="the restarted worker folding every event")
            # every subject's state (its hash chain included) equals a clean re-fold of the log up to
            # where the worker stands: the auditor's own check
            verified = cli("rebuild", "--verify", env=worker.env)
            assert verified.returncode == 0, verified.stdout + verified.stderr
            # and event by event, what it serves: each subject's history is the clean re-fold's (which
            # settles the events the fold rejects, e.g. a commitment fulfilled after it fell overdue)
            subject_ids = sorted({r.subject_id for r in receipts})
            wait_for(lambda: histories_equal_to_refold(worker, kafka.bootstrap, subject_ids), 30,
                     what="the worker's histories equal to a clean re-fold's")
        finally:
            worker.stop()
            if sending is not None:
                sending.join(RESEND_TIMEOUT_S)


def histories_equal_to_refold(worker: Worker, bootstrap: str, subject_ids) -> bool:
    expected = refold_log(bootstrap)
    for subject_id in subject_ids:
        status, body = worker.get(f"/subjects/{subject_id}/history")
        applied = [entry["event"]["event_id"] for entry in body["history"]] if status == 200 else None
        assert applied is None or max(Counter(applied).values()) == 1, f"{subject_id}: an event applied twice"
        if applied != [entry["event"]["event_id"] for entry in expected.history(subject_id)]:
            return False
    return True


def folded(worker: Worker, receipts) -> bool:
    """Whether the worker's store has reached every receipt's offset."""
    status, body = worker.get("/readyz")
    applied = {int(p): o for p, o in (body or {}).get("applied_offsets", {}).items()} if status == 200 else {}
    return all(applied.get(r.partition, -1) >= r.offset for r in receipts)

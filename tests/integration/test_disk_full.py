"""The worker's disk fills up.

Injected, two ways (each test runs with both):
- `rlimit`, runs anywhere, no privilege: the worker process's RLIMIT_FSIZE, the largest size a file
  it writes may reach. Past it a write fails with EFBIG ("File too large") as it would with ENOSPC on
  a full disk: the file cannot grow (Python ignores SIGXFSZ, so the write fails instead of the signal
  killing the process). "Full" is a limit of 0 set when the process starts (no file can grow), or,
  under a running worker, the limit lowered with prlimit(2) (allowed on one's own processes) to the
  size its store's write-ahead log has reached, so that its next store write fails.
- `tmpfs`, where the test may mount one (root or CAP_SYS_ADMIN; skipped, saying why, elsewhere): the
  data dir on a small tmpfs and a filler file taking every free byte of it. What it adds: a real
  ENOSPC, which RocksDB classifies apart from other I/O errors (NoSpace), and a write that may stop
  part-way into a page, leaving a torn write-ahead log tail for the restart to recover.

Checked:
- started on the full disk, the worker exits 1 naming the data dir and the cause, and
  leaves nothing behind (no data dir, no probe file);
- when the disk fills under a running worker, its next write fails and it stops by itself,
  exit status 1, naming its store and the cause (it does not go on serving files that no
  longer follow the log); restarted while the disk is still full, it refuses in the same way
  and leaves its store as it was;
- once there is room again and the worker restarted, every subject's state equals a clean
  re-fold of the log (`rebuild --verify`), and so does every history it serves, event by event:
  none lost, none applied twice.
"""
from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
import threading
from collections import Counter
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest

from ops.demo import demo_events
from ops.embedded_kafka import free_port
from streams.sdk import Publisher
from tests.helpers import REPO, Worker, cli, kafka_credentials_dir, refold_log, test_keys_env, wait_for

FILESYSTEM_MIB = 64  # room for the worker's store of everything the session's log holds, and more
STOP_TIMEOUT_S = 30.0
RESEND_TIMEOUT_S = 150.0  # longer than the SDK's retries (streams/sdk.py RETRY_WITHIN_S)
KEY = b"disk-full-test-pseudonym-key-0000001"


class LimitedFiles:
    """A full disk as RLIMIT_FSIZE makes one for a process: no file of it can grow past the limit."""
    name = "rlimit"
    cause = os.strerror(errno.EFBIG)  # "File too large"

    def __init__(self, tmp_path: Path):
        self.root = tmp_path / "disk"

    def full_from_the_start(self):
        """A preexec_fn: the process can make directories and empty files, but write no byte."""
        return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

    def fill_under(self, worker: Worker) -> None:
        """The worker's files can no longer grow: the newest write-ahead log of its store is the one it
        appends to, so its next store write fails. (Its log, a smaller file, can still take the message.)"""
        wals = sorted((worker.data_dir / "subjects").glob("*.log"), key=lambda p: int(p.stem))
        limit = wals[-1].stat().st_size
        assert worker.log_path.stat().st_size < limit // 2, "the worker's log must stay writable under the limit"
        resource.prlimit(worker.process.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        print(f"rlimit: the worker's files limited to {limit} bytes, its write-ahead log's size "
              f"(its log: {worker.log_path.stat().st_size} bytes)")

    def free(self) -> None:
        pass  # a worker started afresh has no limit

    @contextmanager
    def mounted(self):
        self.root.mkdir()
        yield self.root


class SmallTmpfs:
    """A full disk as it is: a small tmpfs whose every free byte a filler file takes."""
    name = "tmpfs"
    cause = os.strerror(errno.ENOSPC)  # "No space left on device"

    def __init__(self, tmp_path: Path, size_mib: int = FILESYSTEM_MIB):
        self.root, self.size_mib = tmp_path / "small", size_mib
        self.filler = self.root / "filler"

    def full_from_the_start(self):
        fill(self.filler)
        return None

    def fill_under(self, worker: Worker) -> None:
        fill(self.filler)

    def free(self) -> None:
        self.filler.unlink()

    @contextmanager
    def mounted(self):
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mib}m,mode=0755", "tmpfs",
                                   str(self.root)], capture_output=True, text=True)
            refusal = done.stderr.strip() if done.returncode != 0 else None
        except OSError as error:  # no mount command
            refusal = str(error)
        if refusal is not None:
            pytest.skip(f"cannot mount a small tmpfs to fill up here (needs root or CAP_SYS_ADMIN; the rlimit "
                        f"variant runs without): {refusal}")
        try:
            yield self.root
        finally:
            # lazily: a process still holding a file there must not keep the test from finishing
            subprocess.run(["umount", "--lazy", str(self.root)], check=False)


DISKS = {"rlimit": LimitedFiles, "tmpfs": SmallTmpfs}


def fill(filler: Path) -> Path:
    """Take every free byte of the filesystem holding `filler` with it (appending); returns it."""
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


def worker_command(env: dict, preexec_fn=None, timeout_s: float = 60) -> subprocess.CompletedProcess:
    """`credit-ledger worker` run to its end (it refuses to start here), as tests.helpers.cli runs
    commands, with `preexec_fn` run in the child before it starts (the rlimit disk's limit)."""
    return subprocess.run([sys.executable, "-m", "ops.cli", "worker"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "CREDIT_LEDGER_DATA_DIR": str(kafka_credentials_dir()),
                               **test_keys_env(), **env},
                          preexec_fn=preexec_fn, timeout=timeout_s)


@pytest.mark.parametrize("disk_kind", sorted(DISKS))
def test_a_worker_started_on_a_full_disk_names_it_and_leaves_nothing(kafka, tmp_path, disk_kind):
    disk = DISKS[disk_kind](tmp_path) if disk_kind == "rlimit" else SmallTmpfs(tmp_path, 4)
    with disk.mounted() as filesystem:
        limit = disk.full_from_the_start()
        before = sorted(p.name for p in filesystem.iterdir())  # the tmpfs: its filler
        data_dir = filesystem / "deeper" / "data"  # neither exists yet
        done = worker_command({"CREDIT_LEDGER_DATA_DIR": str(data_dir), "CREDIT_LEDGER_KAFKA": kafka.bootstrap,
                               "CREDIT_LEDGER_WEB_PORT": str(free_port())}, preexec_fn=limit)
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"data dir {data_dir} is not writable: {disk.cause}" in done.stderr, done.stderr
        assert sorted(p.name for p in filesystem.iterdir()) == before  # no data dir, no probe file


@pytest.mark.parametrize("disk_kind", sorted(DISKS))
def test_a_disk_filling_up_stops_the_worker_and_a_restart_loses_nothing(kafka, tmp_path, disk_kind):
    events = demo_events(seed=71, subjects=60, start=date.today() - timedelta(days=300), days=299)
    half = len(events) // 2
    disk = DISKS[disk_kind](tmp_path)
    with disk.mounted() as filesystem:
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
            disk.fill_under(worker)
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
            assert f"cannot write the worker's store {data_dir / 'subjects'}" in log and disk.cause in log, log[-3000:]
            # restarted on the disk still full: refused before anything is touched
            limit = disk.full_from_the_start()  # the tmpfs: whatever the stopping worker may have freed
            store_files = sorted((p.name, p.stat().st_size) for p in (data_dir / "subjects").iterdir())
            done = worker_command(worker.env, preexec_fn=limit)
            assert done.returncode == 1 and f"data dir {data_dir} is not writable: {disk.cause}" in done.stderr, \
                done.stdout + done.stderr
            assert sorted((p.name, p.stat().st_size) for p in (data_dir / "subjects").iterdir()) == store_files

            disk.free()  # space again
            # it stopped at the store write that failed, before the second half was folded: the restart has
            # something to fold on to (a worker the full disk never stopped would have folded it all)
            stopped_at = store_offsets(data_dir)
            worker.start()
            sending.join(RESEND_TIMEOUT_S)
            (report,) = second
            assert report.ok, (report.invalid, report.failed)
            receipts += report.delivered
            assert len(receipts) == len(events)  # the log has them all: the disk that filled is the worker's
            assert not folded_offsets(stopped_at, report.delivered), "the full disk stopped no fold"
            wait_for(lambda: folded(worker, receipts), 60, what="the restarted worker folding every event")
            # every subject's state (its hash chain included) equals a clean re-fold of the log up to
            # where the worker stands: the auditor's own check
            verified = cli("rebuild", "--verify", env=worker.env)
            assert verified.returncode == 0, verified.stdout + verified.stderr
            # and event by event, what it serves: each subject's history is the clean re-fold's (which
            # settles the events the fold rejects, e.g. a commitment fulfilled after it fell overdue)
            subject_ids = sorted({r.subject_id for r in receipts})
            wait_for(lambda: histories_equal_to_refold(worker, kafka.bootstrap, subject_ids), 120,
                     what="the worker's histories equal to a clean re-fold's")
        finally:
            worker.stop()
            if sending is not None:
                sending.join(RESEND_TIMEOUT_S)


def store_offsets(data_dir: Path) -> dict[int, int]:
    """The partition offsets the stopped worker's store at `data_dir` has folded to, read from its files
    opened read-only (so that the worker's restart, not this read, recovers what the failed write left)."""
    from rocksdict import AccessType, Options, Rdict

    from streams.store import _OFFSET

    db = Rdict(str(data_dir / "subjects"), Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        return {int(key[len(_OFFSET):]): int(value) for key, value in db.items(from_key=_OFFSET)
                if key.startswith(_OFFSET)}
    finally:
        db.close()


def folded_offsets(applied: dict[int, int], receipts) -> bool:
    return all(applied.get(r.partition, -1) >= r.offset for r in receipts)


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
    return folded_offsets(applied, receipts)

"""`credit-ledger release` against the real broker and worker: list entries entered and exited through the
edge over three days of a fast ledger clock, released as of the first two; the files, their digest (SHA-256
of the CSV's bytes, recomputed here), the record on credit.releases, the same release made twice, and the
public lists page's link."""
from __future__ import annotations

import csv
import hashlib
import io
import time
from datetime import date, datetime, timedelta

from ops.embedded_kafka import free_port
from projections.canonical import SHANGHAI
from projections.ids import make_uscc
from streams import ledger_reader, topics
from streams.codec import CodecError, decode_release_record
from streams.principals import DEV_PREFIX
from streams.sdk import Publisher
from tests.helpers import Worker, cli, http_json, wait_for

AUTHORITY = {"authority_code": make_uscc("330100", 41, "1", "1"), "authority_name": "杭州市财政局"}
KIND = "PROCUREMENT_BAN"
ADMIN = f"{DEV_PREFIX}admin"  # the development admin the worker's principals file names
# 30 real seconds a ledger day: time enough to start the worker (~3-8 s) and publish within one day
SPEED = 86_400 / 30
START_IN_DAY_S = 1_800  # the ledger's clock starts at 00:30 of a day


def company(n: int) -> dict:
    return {"id": make_uscc("330106", 9400 + n), "kind": "LEGAL_PERSON", "name": f"杭州西湖发布测试{n}号有限公司"}


def event(n: int, type_: str, on: date, payload: dict, **envelope) -> dict:
    return {"type": type_, "subject": company(n), "source": AUTHORITY, "occurred_on": on.isoformat(),
            "payload": payload, **envelope}


def entered(n: int, on: date, **payload) -> dict:
    return event(n, "ListEntered", on, {"entry_id": f"HZ-L-{n}", "list_kind": KIND, "reason": f"提供虚假材料谋取中标{n}",
                                        **payload})


def exited(n: int, on: date) -> dict:
    return event(n, "ListExited", on, {"entry_id": f"HZ-L-{n}", "exit_reason": "处罚期满"})


def clock_env(first_day: date) -> dict[str, str]:
    """The worker's clock showing 00:30 of `first_day` now and running SPEED times faster: shown(t) =
    s + (t - s) * SPEED, so s = (t * SPEED - shown) / (SPEED - 1)."""
    shown = datetime.combine(first_day, datetime.min.time(), SHANGHAI).timestamp() + START_IN_DAY_S
    now = time.time()
    return {"CREDIT_LEDGER_CLOCK_SPEED": str(SPEED),
            "CREDIT_LEDGER_CLOCK_STARTED_S": repr((now * SPEED - shown) / (SPEED - 1))}


def release(worker: Worker, day: date, out) -> tuple[int, str, str, str]:
    """(exit code, number, digest, what it said) of `credit-ledger release` as the worker's admin."""
    done = cli("release", "--list", KIND, "--as-of", day.isoformat(), "--out", str(out), "--web-url", worker.url,
               env={**worker.env, "CREDIT_LEDGER_TOKEN": worker.tokens["admin"]})
    number, digest = (done.stdout.split() + ["", ""])[:2]
    return done.returncode, number, digest, done.stdout + done.stderr


def ledger_now(env: dict[str, str]) -> datetime:
    """What the worker's clock of clock_env shows now."""
    started_s = float(env["CREDIT_LEDGER_CLOCK_STARTED_S"])
    return datetime.fromtimestamp(started_s + (time.time() - started_s) * SPEED, SHANGHAI)


def rows(csv_bytes: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(csv_bytes.decode("utf-8-sig"), newline="")))[2:]  # after title and header


def mine(csv_bytes: bytes) -> list[list[str]]:
    """The rows of this test's subjects (the broker is shared), each as its cells."""
    ids = {company(n)["id"] for n in range(1, 6)}
    return [row for row in rows(csv_bytes) if row[1] in ids]


def test_releases_of_two_days_their_digest_record_and_link(kafka, tmp_path):
    env = clock_env(datetime.now(SHANGHAI).date() + timedelta(days=1))
    worker = Worker(kafka.bootstrap, tmp_path / "w", free_port(), env=env).start()

    def today() -> str:
        return http_json(f"{worker.url}/releases")[1]["today"]
    try:
        # day A holds the first publishes: the day the worker came up in, or the next when it took so long to
        # start (a loaded machine) that less than half of that day is left
        shown = ledger_now(env)
        day_a = shown.date() + timedelta(days=1 if shown.hour >= 12 else 0)
        day_b, day_c = day_a + timedelta(days=1), day_a + timedelta(days=2)
        wait_for(lambda: today() == day_a.isoformat(), 60, what="day A on the ledger's clock")
        _, before = http_json(f"{worker.url}/releases?list_kind={KIND}")
        numbered = sum(1 for r in before["releases"] if r["as_of"][:4] == str(day_a.year))
        with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
            penalty = event(1, "PenaltyImposed", day_a, {
                "record_id": "HZ-P-1", "decision_no": "杭财罚〔2026〕7号", "violation_type": "提供虚假材料",
                "facts": "投标文件中提供虚假业绩证明", "basis": "《政府采购法》第七十七条", "penalty_kinds": ["FINE"],
                "fine_fen": 500_000, "severity": "SEVERE"})
            assert publisher.publish_many([
                penalty, entered(1, day_a, basis_record_id="HZ-P-1"), entered(2, day_a), entered(3, day_a),
                entered(4, day_a, term_until=day_a.isoformat()),  # its term's last day is day A
                {**entered(5, day_a), "classification": "INTERNAL"}]).ok  # never public
            wait_for(lambda: today() == day_b.isoformat(), 60, what="day B on the ledger's clock")
            assert publisher.publish_many([exited(1, day_a),  # recorded on B, effective the day before
                                           exited(2, day_b)]).ok  # effective on B itself
            wait_for(lambda: today() == day_c.isoformat(), 60, what="day C on the ledger's clock")
            assert publisher.publish(exited(3, day_c)).event_id  # effective the day after B

        # a day not over yet cannot be released (asked first: a ledger day is 30 real seconds)
        code, _, _, said = release(worker, day_c, tmp_path / "early")
        assert code == 1 and "not over" in said and not (tmp_path / "early").exists()

        code, number_a, digest_a, said = release(worker, day_a, tmp_path / "out")
        assert code == 0, said
        code, number_b, digest_b, said = release(worker, day_b, tmp_path / "out")
        assert code == 0, said
        # numbered per list and year, in the order recorded
        assert number_a == f"{KIND}-{day_a.year}-{numbered + 1:03d}"
        assert number_b == (f"{KIND}-{day_b.year}-{numbered + 2:03d}" if day_b.year == day_a.year
                            else f"{KIND}-{day_b.year}-001")

        # the digest is SHA-256 of the CSV file's bytes
        csv_a, csv_b = ((tmp_path / "out" / f"{n}.csv").read_bytes() for n in (number_a, number_b))
        assert hashlib.sha256(csv_a).hexdigest() == digest_a and hashlib.sha256(csv_b).hexdigest() == digest_b
        # A as known at its end: 1's exit was recorded on B, so 1 is still on; 4's term ends that day; 5 is not public
        rows_a = mine(csv_a)
        assert sorted(r[1] for r in rows_a) == sorted(company(n)["id"] for n in (1, 2, 3, 4))
        (one,) = [r for r in rows_a if r[1] == company(1)["id"]]
        assert one[2] == company(1)["name"] and one[3] == AUTHORITY["authority_name"]
        assert one[5] == "杭财罚〔2026〕7号（杭州市财政局）" and one[7] == day_a.isoformat()
        # B: 1 exited the day before, 2 on the day itself, 3 only the day after; 4's term is over
        assert [r[1] for r in mine(csv_b)] == [company(3)["id"]]
        assert csv_b.decode("utf-8-sig").startswith(f"名单,政府采购严重违法失信行为记录名单（{KIND}）,数据日期,{day_b},")
        page = (tmp_path / "out" / f"{number_b}.html").read_text("utf-8")
        assert number_b in page and digest_b in page and company(3)["name"] in page and company(2)["name"] not in page

        # the same list and day again: the same release, no new number, no new record
        code, again, digest_again, said = release(worker, day_b, tmp_path / "again")
        assert (code, again, digest_again) == (0, number_b, digest_b), said
        assert (tmp_path / "again" / f"{number_b}.csv").read_bytes() == csv_b

        # recorded on credit.releases, once each
        records = []
        for *_, value, _ in ledger_reader.read_topic(kafka.access(), topics.RELEASES):
            try:
                records.append(decode_release_record(value))
            except CodecError:
                continue
        ours = [r for r in records if r["number"] in (number_a, number_b)]
        assert [(r["number"], r["as_of"], r["digest"], r["principal"]) for r in ours] == [
            (number_a, day_a.isoformat(), digest_a, ADMIN), (number_b, day_b.isoformat(), digest_b, ADMIN)]

        # the public lists page links them, newest first, served from the log
        status, page = http_json(f"{worker.url}/lists/{KIND}")
        assert status == 200
        linked = {r["number"]: r for r in page["releases"]}
        assert [r["number"] for r in page["releases"]][:2] == [number_b, number_a]
        assert (linked[number_a]["as_of"], linked[number_a]["digest"]) == (day_a.isoformat(), digest_a)
        status, shown = http_json(worker.url + linked[number_b]["href"])
        assert status == 200 and (shown["digest"], shown["entry_count"]) == (digest_b, len(rows(csv_b)))
        # recording is an admin's act
        status, _ = http_json(f"{worker.url}/releases", data=b"{}", token=worker.tokens["supervisor"])
        assert status == 403
    finally:
        worker.stop()

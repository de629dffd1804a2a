"""`credit-ledger export` against the real broker and worker: events published through the edge, exported in
batches to a directory; the templates and the manifest (its counts and SHA-256 recomputed here), the receipt
on credit.exports, a second run with nothing new, a third with only what came since, a run killed before
its receipt repeated byte for byte, a batch cut by --max-events, and the CSVs read back by `publish`'s
template reader into the records published."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from datetime import date

from ops.embedded_kafka import free_port
from ops.export import compute, write_batch
from projections import exports as x
from projections.policy import DEFAULT_POLICIES
from projections.ids import make_resident_id, make_uscc
from projections.templates import read_penalty_csv, read_permit_csv
from streams import ledger_reader, topics
from streams.codec import CodecError, decode_export_receipt
from streams.principals import DEV_PREFIX
from streams.sdk import Publisher
from tests.helpers import Worker, cli

AUTHORITY = {"authority_code": make_uscc("330100", 43, "1", "1"), "authority_name": "杭州市市场监督管理局"}
PERSON = {"kind": "NATURAL_PERSON", "name": "钱塘测试", "id_number": make_resident_id("330106", date(1981, 4, 9), 3)}


def company(n: int) -> dict:
    return {"id": make_uscc("330106", 9600 + n), "kind": "LEGAL_PERSON", "name": f"杭州西湖报送测试{n}号有限公司"}


def event(subject: dict, type_: str, payload: dict, **envelope) -> dict:
    return {"type": type_, "subject": subject, "source": AUTHORITY, "occurred_on": "2026-11-20", "payload": payload,
            **envelope}


def permit(n: int) -> dict:
    return event(company(n), "PermitGranted", {"record_id": f"HZ-X-{n}", "decision_no": f"杭市监许〔2026〕{n}号",
                                               "permit_kind": "普通", "certificate_name": "食品经营许可证",
                                               "certificate_no": f"JY2330106{n:07d}", "content": "热食类食品制售",
                                               "valid_from": "2026-11-20", "valid_to": "2031-11-19"})


def penalty(n: int, subject: dict | None = None, extra: dict | None = None, **envelope) -> dict:
    return event(subject or company(n), "PenaltyImposed", {
        "record_id": f"HZ-P-{n}", "decision_no": f"杭市监罚〔2026〕{n}号", "violation_type": "经营超过保质期的食品",
        "facts": "销售超过保质期的酸奶12盒", "basis": "《中华人民共和国食品安全法》第一百二十四条", "penalty_kinds": ["FINE", "CONFISCATION"],
        "fine_fen": 5_000_000, "confiscation_fen": 6_000, "severity": "GENERAL", **(extra or {})}, **envelope)


def first_events() -> list[dict]:
    internal = penalty(3, extra={"exemption": "TRADE_SECRET", "exemption_basis": "涉及商业秘密"}, classification="INTERNAL")
    return [permit(1), permit(2), penalty(1), internal, penalty(4, subject=PERSON),
            event(company(2), "ListEntered", {"entry_id": "HZ-L-2", "list_kind": "ABNORMAL_OPERATION",
                                              "reason": "未按照规定期限公示年度报告", "term_until": "2029-11-19"})]


def later_events() -> list[dict]:
    return [permit(5), event(company(1), "PenaltyRevoked", {"record_id": "HZ-P-1", "reason": "经行政复议撤销"}),
            event(company(2), "ListExited", {"entry_id": "HZ-L-2", "exit_reason": "已补报并公示年度报告"})]


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def ledger_end(kafka) -> str:
    marks = ledger_reader.watermarks(kafka.access("admin"), topics.EVENTS)
    return ",".join(f"{p}:{high}" for p, (_, high) in sorted(marks.items()))


def receipts(kafka, destination: str) -> list[dict]:
    found = []
    for *_, value, _ in ledger_reader.read_topic(kafka.access("admin"), topics.EXPORTS):
        try:
            found.append(decode_export_receipt(value))
        except CodecError:
            continue
    return [r for r in found if r["destination"] == destination]


def check_batch(batch_dir, receipt: dict) -> dict:
    """The manifest's counts and hashes are the files'; the receipt's are the manifest's."""
    manifest = json.loads((batch_dir / "manifest.json").read_bytes())
    assert hashlib.sha256((batch_dir / "manifest.json").read_bytes()).hexdigest() == receipt["manifest_sha256"]
    for name, described in manifest["files"].items():
        data = (batch_dir / name).read_bytes()
        assert (described["sha256"], described["bytes"], described["rows"]) == (
            hashlib.sha256(data).hexdigest(), len(data), len(rows(data))), name
    assert (manifest["from"], manifest["to"], manifest["events"]) == (
        receipt["from_cursor"], receipt["to_cursor"], receipt["event_count"])
    assert [receipt[k] for k in ("permit_rows", "penalty_rows", "withdrawal_rows")] == [
        manifest["files"][f]["rows"] for f in ("permits.csv", "penalties.csv", "withdrawals.csv")]
    return manifest


def killed_before_receipt(kafka, batch_dir, destination: str, receipt: dict) -> dict[str, bytes]:
    """What a run killed before it had its receipt recorded leaves: the next batch's files, written."""
    access, start = kafka.access("auditor"), x.parse_cursor(receipt["to_cursor"])
    end = x.batch_end(start, ledger_reader.watermarks(access, topics.EVENTS), x.BATCH_EVENTS_MAX)
    batch = compute(lambda p, s, e: ledger_reader.read_range(access, topics.EVENTS, p, s, e), start, end,
                    DEFAULT_POLICIES)
    files = x.batch_files(batch)
    write_batch(batch_dir, files, x.manifest(destination, receipt["sequence"] + 1, start, end, batch, files))
    return {p.name: p.read_bytes() for p in batch_dir.iterdir()}


def test_export_in_batches_with_receipts_cursor_and_round_trip(kafka, tmp_path):
    destination = f"it-{uuid.uuid4().hex[:8]}"  # the broker is shared: a destination of this test's own
    worker = Worker(kafka.bootstrap, tmp_path / "w", free_port()).start()

    def export(*args: str, to=tmp_path / "out"):
        done = cli("export", "--to", str(to), "--destination", destination, "--web-url", worker.url, *args,
                   env={**worker.env, "CREDIT_LEDGER_TOKEN": worker.tokens["admin"]})
        return done.returncode, done.stdout + done.stderr
    try:
        since = ledger_end(kafka)  # what the broker held before: not this test's
        with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
            assert publisher.publish_many(first_events()).ok
        code, said = export("--since", since)
        assert code == 0 and f"{destination}-000001: 2 permits, 1 penalties, 1 withdrawals" in said, said
        first = tmp_path / "out" / f"{destination}-000001"
        (receipt,) = receipts(kafka, destination)
        assert (receipt["sequence"], receipt["from_cursor"], receipt["principal"]) == (1, since, f"{DEV_PREFIX}admin")
        manifest = check_batch(first, receipt)
        assert manifest["withheld"] == {"natural_person": 1, "not_public": 1} and manifest["events"] == 6
        everything = b"".join(p.read_bytes() for p in first.iterdir())
        assert PERSON["id_number"].encode() not in everything and PERSON["name"].encode() not in everything

        # the CSVs read back by publish's reader: the records published
        permits = [e for r in read_permit_csv((first / "permits.csv").read_bytes()) for e in r.events]
        assert [(e["subject"], e["payload"]["decision_no"], e["payload"]["certificate_no"], e["payload"]["valid_to"])
                for e in permits] == [(company(n), f"杭市监许〔2026〕{n}号", f"JY2330106{n:07d}", "2031-11-19")
                                      for n in (1, 2)]
        (fined,) = [e for r in read_penalty_csv((first / "penalties.csv").read_bytes()) for e in r.events]
        assert {k: fined["payload"][k] for k in penalty(1)["payload"] if k != "record_id"} == {
            k: v for k, v in penalty(1)["payload"].items() if k != "record_id"}
        assert (fined["subject"], fined["source"], fined["occurred_on"]) == (company(1), AUTHORITY, "2026-11-20")
        (listed,) = rows((first / "withdrawals.csv").read_bytes())
        assert (listed["变更代码"], listed["记录编号"], listed["名单类别"]) == ("LIST_ENTERED", "HZ-L-2", "ABNORMAL_OPERATION")

        # again, with nothing new: nothing written, no receipt
        code, said = export()
        assert code == 0 and "nothing new" in said, said
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [first.name]
        assert len(receipts(kafka, destination)) == 1

        # more events: only those in the third run's batch, from where the first ended
        with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
            assert publisher.publish_many(later_events()).ok
        code, said = export()
        assert code == 0 and f"{destination}-000002: 1 permits, 0 penalties, 2 withdrawals" in said, said
        second = tmp_path / "out" / f"{destination}-000002"
        receipt = receipts(kafka, destination)[-1]
        assert (receipt["sequence"], receipt["from_cursor"]) == (2, manifest["to"])
        check_batch(second, receipt)
        assert [r["行政相对人代码_1(统一社会信用代码)"] for r in rows((second / "permits.csv").read_bytes())] == [company(5)["id"]]
        assert [(r["变更代码"], r["决定文书号"]) for r in rows((second / "withdrawals.csv").read_bytes())] == [
            ("PENALTY_REVOKED", "杭市监罚〔2026〕1号"), ("LIST_EXITED", "")]

        # a run killed after writing batch 3, before its receipt: the next run records that batch, byte for
        # byte, although the ledger has grown since; what came after is the next batch's
        with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
            assert publisher.publish(permit(6)).event_id
        written = killed_before_receipt(kafka, tmp_path / "out" / f"{destination}-000003", destination, receipt)
        with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
            assert publisher.publish_many([permit(7), permit(8)]).ok
        code, said = export()
        assert code == 0 and f"{destination}-000003: 1 permits, 0 penalties, 0 withdrawals" in said, said
        assert {p.name: p.read_bytes() for p in (tmp_path / "out" / f"{destination}-000003").iterdir()} == written
        recorded = receipts(kafka, destination)[-1]["manifest_sha256"]
        assert recorded == hashlib.sha256(written["manifest.json"]).hexdigest()
        code, said = export("--max-events", "1")  # a batch of one record: the rest waits
        assert code == 0 and f"{destination}-000004: 1 permits" in said and "1 more records to export" in said, said
        code, said = export()
        assert code == 0 and f"{destination}-000005: 1 permits" in said and "more records" not in said, said
        assert [r["sequence"] for r in receipts(kafka, destination)] == [1, 2, 3, 4, 5]
    finally:
        worker.stop()

"""Upward export (向上级平台报送), pure: which records go into a batch, their CSV rows, the manifest, and the
receipts that record each batch on credit.exports.

A batch is what credit.events gained between two cursors (a cursor: each partition's next offset, e.g.
``0:120,1:98,2:0,3:77``). Of the events in that range, those the ledger applied (folded from each subject's
whole history, as the worker folds them: a rejected or duplicate event is never sent up) become rows:

- ``permits.csv`` and ``penalties.csv``: the national 双公示 templates (行政许可, 行政处罚), the columns
  `credit-ledger publish` reads (projections/templates.py), one row per PermitGranted or PenaltyImposed;
  reading a row back with that reader gives the same record (the round trip is tested);
- ``withdrawals.csv``: what the upper platform must change in what it shows: list entries, exits and
  ended terms, permit and penalty revocations, approved credit repairs, and objections upheld (the
  record withdrawn or corrected). WITHDRAWAL_COLUMNS names its columns.

Only PUBLIC records of organisations go up (法人, 非法人组织, 个体工商户). A natural person's records are
withheld: the ledger holds a person only by pseudonym, the templates identify a person by ID number, and
no export unseals one (DESIGN: nothing of a natural person leaves in plaintext); the manifest counts them.
A withdrawal's reason is shown only when the withdrawing event is itself PUBLIC.

Everything here is a function of the events between the two cursors and of the subjects' histories before
them: the same cursors give the same bytes, so a batch exported again (a run killed before its receipt)
has the same files and the same SHA-256. The manifest (``manifest.json``) names the destination, the batch,
both cursors, and each file's rows, bytes and SHA-256; its own SHA-256 is in the receipt.

Receipts (ExportReceipt records on credit.exports, one partition) run per destination: sequence 1, 2, ...
in log order, first recorded wins (a record whose sequence is not the destination's next is void, so two
runs at once cannot both record batch n). The destination's cursor is the ``to`` of its newest receipt.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from projections import templates as t
from projections.fold import APPLIED
from projections.json_input import load_json
from projections.policy import DEFAULT_POLICY, Policy, PolicyBook
from projections.replay import NO_KEY, Replay, step
from projections.subject_kinds import wire_kind_for
from projections.validate import Problem

FORMAT = "credit-ledger-export/1"
BOM = "\ufeff"
DESTINATION_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")  # in file and directory names: ASCII only
DESTINATION_DEFAULT = "province"
PARTITIONS_MAX = 1_000  # of credit.events, in a cursor
OFFSET_MAX = 2**63 - 1
CURSOR_CHARS_MAX = 30_000
SEQUENCE_MAX = 999_999  # batches of one destination: one a minute for almost two years
BATCH_EVENTS_MAX = 1_000_000  # records of credit.events one batch takes; the rest waits for the next run
REQUEST_BYTES_MAX = 64 * 1024
SHA256_RE = re.compile(r"[0-9a-f]{64}")
PERMITS_FILE, PENALTIES_FILE, WITHDRAWALS_FILE, MANIFEST_FILE = (
    "permits.csv", "penalties.csv", "withdrawals.csv", "manifest.json")
DATA_FILES = (PERMITS_FILE, PENALTIES_FILE, WITHDRAWALS_FILE)

# The national templates' columns in their order (DESIGN "The national 双公示 CSV templates"), and
# 失信严重程度, the reader's optional column: the ledger's severity travels, whatever the receiver's policy.
PERMIT_COLUMNS = (t.NAME, t.CATEGORY, t.CODE, "法定代表人", t.ID_TYPE, t.ID_NUMBER, "行政许可决定文书名称", t.PERMIT_NO,
                  t.PERMIT_KIND, t.CERT_NAME, t.CERT_NO, t.PERMIT_CONTENT, t.PERMIT_DATE, t.VALID_FROM, t.VALID_TO,
                  t.PERMIT_AUTHORITY, t.PERMIT_AUTHORITY_CODE, t.STATE, "数据来源单位", "数据来源单位统一社会信用代码", "备注")
PENALTY_COLUMNS = (t.NAME, t.CATEGORY, t.CODE, "法定代表人", t.ID_TYPE, t.ID_NUMBER, t.PENALTY_NO, t.VIOLATION, t.FACTS,
                   t.BASIS, t.KINDS, "处罚内容", t.FINE, t.CONFISCATED, "暂扣或吊销证照名称及编号", t.PENALTY_DATE,
                   "处罚有效期", t.PUBLICITY_UNTIL, t.PENALTY_AUTHORITY, t.PENALTY_AUTHORITY_CODE, "数据来源单位",
                   "数据来源单位统一社会信用代码", "备注", t.SEVERITY)
WITHDRAWAL_COLUMNS = ("序号", "变更类型", "变更代码", "生效日期", "记录类别", "决定文书号", "记录编号", "名单类别",
                      t.NAME, t.CODE, "记录机关", "记录机关统一社会信用代码", "原因", "名单有效期至", "事件编号", "记录时间")
NO_END = "长期"  # 有效期至 of a permit without an end (the reader reads it as none)
VALID = "有效"
KIND_NAMES_ZH = {"WARNING": "警告", "NOTICE_OF_CRITICISM": "通报批评", "FINE": "罚款",
                 "CONFISCATION": "没收违法所得、没收非法财物", "CERTIFICATE_DOWNGRADE": "暂扣许可证件、降低资质等级",
                 "CERTIFICATE_REVOCATION": "吊销许可证件", "PRODUCTION_RESTRICTION": "限制开展生产经营活动",
                 "SUSPENSION": "责令停产停业、责令关闭", "EMPLOYMENT_RESTRICTION": "限制从业", "DETENTION": "行政拘留",
                 "OTHER": "其他行政处罚"}
assert all(t.PENALTY_KIND_BY_NAME[name] == kind for kind, name in KIND_NAMES_ZH.items())
SEVERITY_NAMES_ZH = {"GENERAL": "一般", "SERIOUS": "较重", "SEVERE": "严重"}
RECORD_KINDS_ZH = {"permits": "行政许可", "penalties": "行政处罚", "lists": "名单"}
# change code -> (变更类型, the collections it may touch)
CHANGES = {
    "LIST_ENTERED": ("列入名单", ("lists",)), "LIST_EXITED": ("移出名单", ("lists",)),
    "LIST_TERM_ENDED": ("名单期满", ("lists",)), "PERMIT_REVOKED": ("撤销许可", ("permits",)),
    "PENALTY_REVOKED": ("撤销处罚", ("penalties",)), "REPAIR_APPROVED": ("信用修复", ("penalties",)),
    "OBJECTION_WITHDRAWN": ("异议成立撤销", ("permits", "penalties", "lists")),
    "OBJECTION_CORRECTED": ("异议成立更正", ("permits", "penalties", "lists")),
}
_BY_TYPE = {"ListEntered": "LIST_ENTERED", "ListExited": "LIST_EXITED", "ListTermEnded": "LIST_TERM_ENDED",
            "PermitRevoked": "PERMIT_REVOKED", "PenaltyRevoked": "PENALTY_REVOKED"}
# The event types a batch looks at: a record of credit.events whose bytes hold none of these names is not
# decoded (the type is a string in every CreditEvent).
EXPORTED_TYPES = ("PermitGranted", "PenaltyImposed", *_BY_TYPE, "RepairDecided", "ObjectionResolved")
_REASON_FIELD = {"LIST_ENTERED": "reason", "LIST_EXITED": "exit_reason", "PERMIT_REVOKED": "reason",
                 "PENALTY_REVOKED": "reason", "REPAIR_APPROVED": "reason", "OBJECTION_CORRECTED": "correction"}
# why an applied event of those types sends nothing up (the manifest counts each)
NATURAL_PERSON, NOT_PUBLIC, NO_NAME, NOT_A_CHANGE = "natural_person", "not_public", "no_subject_name", "not_a_change"


# --- cursors ---------------------------------------------------------------------------------------
class CursorError(ValueError):
    pass


def parse_cursor(text: str) -> dict[int, int]:
    """``0:120,1:98`` (partition:next offset; a partition not named starts at its beginning) or ``start``
    (every partition from its beginning). Raises CursorError naming the rule."""
    if not isinstance(text, str) or len(text) > CURSOR_CHARS_MAX:
        raise CursorError(f"a cursor is text of at most {CURSOR_CHARS_MAX} characters")
    if text.strip() in ("start", ""):
        return {}
    cursor: dict[int, int] = {}
    for number, part in enumerate(text.split(","), 1):
        match = re.fullmatch(r"\s*([0-9]{1,4}):([0-9]{1,19})\s*", part)
        if match is None:  # by its place, not its text: a value typed in the wrong field is not repeated
            raise CursorError(f"part {number} is not partition:offset (e.g. 0:120,1:98, or start)")
        partition, offset = int(match[1]), int(match[2])
        if partition >= PARTITIONS_MAX or offset > OFFSET_MAX:
            raise CursorError(f"partition {partition}: partitions 0..{PARTITIONS_MAX - 1}, offsets 0..{OFFSET_MAX}")
        if partition in cursor:
            raise CursorError(f"partition {partition} is named twice")
        cursor[partition] = offset
    return cursor


def cursor_text(cursor: Mapping[int, int]) -> str:
    """The canonical text of a cursor: partitions in order, every one named; ``start`` when empty."""
    return ",".join(f"{p}:{o}" for p, o in sorted(cursor.items())) or "start"


def batch_end(start: Mapping[int, int], marks: Mapping[int, tuple[int, int]], events_max: int) -> dict[int, int]:
    """The cursor a batch from `start` ends at, given each partition's (low, high) watermarks: every partition's
    end, or fewer records when the range holds more than `events_max` (partitions in order, the first
    ones first). A partition whose start is past its end (a cursor of another ledger) stays where it is."""
    if not 1 <= events_max <= BATCH_EVENTS_MAX:
        raise ValueError(f"events_max: 1..{BATCH_EVENTS_MAX}")
    end, left = {}, events_max
    for partition, (low, high) in sorted(marks.items()):
        first = max(low, start.get(partition, 0))
        take = max(0, min(high - first, left))
        end[partition] = max(first + take, start.get(partition, 0))
        left -= take
    return end


def range_size(start: Mapping[int, int], end: Mapping[int, int]) -> int:
    return sum(max(0, offset - start.get(partition, 0)) for partition, offset in end.items())


# --- rows ------------------------------------------------------------------------------------------
def fen_to_wan(fen: int) -> str:
    """Integer fen as the templates' 万元 text, exactly (1 万元 = 1,000,000 fen): 5000000 -> 5, 6000 -> 0.006."""
    whole, rest = divmod(fen, 1_000_000)
    return str(whole) if rest == 0 else f"{whole}.{rest:06d}".rstrip("0")


def subject_category(subject: Mapping) -> str:
    """行政相对人类别 as the national template spells it (法人及非法人组织, 个体工商户), or 法人 / 非法人组织
    where the code and name alone would be read as the other kind (the reader takes both)."""
    kind = subject["kind"]
    if kind == "INDIVIDUAL_BUSINESS":
        return "个体工商户"
    if wire_kind_for(subject["id"], subject.get("name")) == kind:
        return "法人及非法人组织"
    return {"LEGAL_PERSON": "法人", "OTHER_ORGANIZATION": "非法人组织"}[kind]


def _subject_cells(subject: Mapping) -> list[str]:
    return [subject["name"], subject_category(subject), subject["id"], "", "", ""]


def permit_row(event: Mapping) -> list[str]:
    """A PermitGranted (an organisation's, with its name) as a row of PERMIT_COLUMNS."""
    p, source = event["payload"], event["source"]
    return [*_subject_cells(event["subject"]), "", p["decision_no"], p["permit_kind"], p.get("certificate_name", ""),
            p.get("certificate_no", ""), p["content"], event["occurred_on"], p["valid_from"],
            p.get("valid_to") or NO_END,
            source["authority_name"], source["authority_code"], VALID, source["authority_name"],
            source["authority_code"], ""]


def penalty_row(event: Mapping) -> list[str]:
    """A PenaltyImposed (an organisation's, with its name) as a row of PENALTY_COLUMNS."""
    p, source = event["payload"], event["source"]
    amount = (lambda name: fen_to_wan(p[name]) if p.get(name) is not None else "")
    return [*_subject_cells(event["subject"]), p["decision_no"], p["violation_type"], p["facts"], p["basis"],
            "；".join(KIND_NAMES_ZH[k] for k in p["penalty_kinds"]), "", amount("fine_fen"), amount("confiscation_fen"),
            "", event["occurred_on"], "", p.get("publicity_until", ""), source["authority_name"],
            source["authority_code"], source["authority_name"], source["authority_code"], "",
            SEVERITY_NAMES_ZH[p["severity"]]]


def change_code(event: Mapping) -> str | None:
    """What an event changes upward (a key of CHANGES), or None."""
    if event["type"] in _BY_TYPE:
        return _BY_TYPE[event["type"]]
    outcome = event["payload"].get("outcome")
    if event["type"] == "RepairDecided" and outcome == "APPROVED":
        return "REPAIR_APPROVED"
    if event["type"] == "ObjectionResolved" and outcome in ("UPHELD_WITHDRAWN", "UPHELD_CORRECTED"):
        return "OBJECTION_WITHDRAWN" if outcome == "UPHELD_WITHDRAWN" else "OBJECTION_CORRECTED"
    return None


def touched_record(state: Mapping, event: Mapping, collections: Iterable[str]) -> tuple[str, dict] | None:
    """The record an applied event made or edited, found in the state right after it: the one it created
    (its event_id), else the one whose newest history entry it is. An entry that escalates another makes
    itself and edits the other (exits it): the one it made is the one it touched."""
    made = [(collection, record) for collection in collections for record in state["records"][collection].values()
            if record.get("event_id") == event["event_id"]]
    return made[0] if made else next(iter(edited_records(state, event, collections)), None)


def edited_records(state: Mapping, event: Mapping, collections: Iterable[str]) -> list[tuple[str, dict]]:
    """The records whose newest history entry is `event` (and that it did not make), in the state after it."""
    return [(collection, record) for collection in collections for record in state["records"][collection].values()
            if record.get("event_id") != event["event_id"] and (history := record.get("history"))
            and history[-1].get("event_id") == event["event_id"]]


def withdrawal_row(event: Mapping, code: str, collection: str, record: Mapping, name: str) -> list[str]:
    """A row of WITHDRAWAL_COLUMNS but its position (序号): `record` as it stands after `event`."""
    shown = event["classification"] == "PUBLIC"
    reason = event["payload"].get(_REASON_FIELD.get(code, ""), "") if shown else ""
    local_id = record.get("entry_id") or record.get("record_id") or ""
    return [CHANGES[code][0], code, event["occurred_on"], RECORD_KINDS_ZH[collection], record.get("decision_no", ""),
            local_id, record.get("list_kind", ""), name, event["subject"]["id"], record["source"]["authority_name"],
            record["source"]["authority_code"], reason or "", (record.get("term_until") or "") if collection == "lists"
            else "", event["event_id"], event["recorded_at"]]


# --- a batch -----------------------------------------------------------------------------------------
@dataclass
class Batch:
    permits: list[list[str]] = field(default_factory=list)
    penalties: list[list[str]] = field(default_factory=list)
    withdrawals: list[list[str]] = field(default_factory=list)
    withheld: Counter = field(default_factory=Counter)  # reason -> applied events of EXPORTED_TYPES not sent

    def add(self, event: Mapping, state: Mapping) -> None:
        """An applied event and its subject's state right after it."""
        if event["type"] not in EXPORTED_TYPES:
            return
        name = event["subject"].get("name") or state["subject"].get("name")
        code = change_code(event)
        found = touched_record(state, event, CHANGES[code][1]) if code else None
        why = (NATURAL_PERSON if event["subject"]["kind"] == "NATURAL_PERSON"
               else NOT_A_CHANGE if event["type"] not in ("PermitGranted", "PenaltyImposed") and found is None
               else NOT_PUBLIC if (found[1]["classification"] if found else event["classification"]) != "PUBLIC"
               else NO_NAME if not name else None)
        if why is not None:
            self.withheld[why] += 1
        elif event["type"] == "PermitGranted":
            self.permits.append(permit_row({**event, "subject": {**event["subject"], "name": name}}))
        elif event["type"] == "PenaltyImposed":
            self.penalties.append(penalty_row({**event, "subject": {**event["subject"], "name": name}}))
        else:
            self.withdrawals.append(withdrawal_row(event, code, found[0], found[1], name))
            if code == "LIST_ENTERED":  # an escalation exits the entry it escalates: the upper platform is told
                self.withdrawals += [withdrawal_row(event, "LIST_EXITED", collection, record, name)
                                     for collection, record in edited_records(state, event, ("lists",))]

    @property
    def rows(self) -> int:
        return len(self.permits) + len(self.penalties) + len(self.withdrawals)


def collect(entries: Iterable[tuple[int, int, dict]], start: Mapping[int, int],
            policy: Policy | PolicyBook = DEFAULT_POLICY) -> Batch:
    """The batch of the (partition, offset, event in JSON form) entries: every subject's events, from the
    log's beginning to the batch's end, each subject's in log order. They are folded as the worker folds
    them; an event at or past `start` of its partition that the fold applied is added to the batch."""
    folded, batch = Replay(policy=policy), Batch()
    for partition, offset, event in entries:
        done = step(folded.states.get, event, offset, NO_KEY, policy, handed_over=True, deadlines=True)
        folded.record(done, offset)
        if done.outcome == APPLIED and offset >= start.get(partition, 0):
            batch.add(done.event, done.state)
    return batch


def csv_bytes(columns: tuple[str, ...], rows: Iterable[list]) -> bytes:
    """UTF-8 with a BOM (a spreadsheet shows the Chinese), CRLF, RFC 4180 quoting; the cells as they are (a
    formula-like cell is not altered: the receiver imports the data, and reading back must give it)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return (BOM + text.getvalue()).encode("utf-8")


def batch_files(batch: Batch) -> dict[str, bytes]:
    withdrawals = [[position, *row] for position, row in enumerate(batch.withdrawals, 1)]
    return {PERMITS_FILE: csv_bytes(PERMIT_COLUMNS, batch.permits),
            PENALTIES_FILE: csv_bytes(PENALTY_COLUMNS, batch.penalties),
            WITHDRAWALS_FILE: csv_bytes(WITHDRAWAL_COLUMNS, withdrawals)}


def batch_name(destination: str, sequence: int) -> str:
    return f"{destination}-{sequence:06d}"


def manifest(destination: str, sequence: int, start: Mapping[int, int], end: Mapping[int, int], batch: Batch,
             files: Mapping[str, bytes]) -> bytes:
    """manifest.json's bytes (keys sorted, no instant in it: the same batch gives the same bytes)."""
    counts = {PERMITS_FILE: len(batch.permits), PENALTIES_FILE: len(batch.penalties),
              WITHDRAWALS_FILE: len(batch.withdrawals)}
    body = {"format": FORMAT, "destination": destination, "sequence": sequence,
            "batch": batch_name(destination, sequence), "from": cursor_text(start), "to": cursor_text(end),
            "events": range_size(start, end), "withheld": dict(sorted(batch.withheld.items())),
            "files": {name: {"rows": counts[name], "bytes": len(data), "sha256": sha256(data)}
                      for name, data in files.items()}}
    return (json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- receipts, from the records of credit.exports ---------------------------------------------------
RECEIPT_FIELDS = ("destination", "sequence", "batch", "from_cursor", "to_cursor", "manifest_sha256", "event_count",
                  "permit_rows", "penalty_rows", "withdrawal_rows")


def receipt_table(records: Iterable[dict]) -> list[dict]:
    """The valid receipts among credit.exports' records, in log order: a receipt counts when its sequence is
    its destination's next; any other (a second record of batch n, a gap) is void."""
    table, last = [], Counter()
    for record in records:
        destination = record.get("destination")
        if not isinstance(destination, str) or record.get("sequence") != last[destination] + 1:
            continue
        last[destination] += 1
        table.append(record)
    return table


def last_receipt(table: list[dict], destination: str) -> dict | None:
    return next((r for r in reversed(table) if r["destination"] == destination), None)


def receipt_request(body: bytes | None) -> tuple[dict | None, list[Problem]]:
    """POST /exports' body (RECEIPT_FIELDS), checked; or (None, the problems)."""
    def refused(name: str, message: str) -> tuple[None, list[Problem]]:
        return None, [Problem(name, "export_receipt", message)]

    if body is None:
        return refused("$", f"the body is larger than {REQUEST_BYTES_MAX} bytes")
    request, problems = load_json(body)
    if problems:
        return None, problems
    if not isinstance(request, dict) or set(request) != set(RECEIPT_FIELDS):
        return refused("$", f"give exactly {', '.join(RECEIPT_FIELDS)}")
    if not isinstance(request["destination"], str) or not DESTINATION_RE.fullmatch(request["destination"]):
        return refused("destination", "1 to 40 of a-z, 0-9, - and _, starting with a letter or digit")
    for name in ("sequence", "event_count", "permit_rows", "penalty_rows", "withdrawal_rows"):
        value, low = request[name], 1 if name == "sequence" else 0
        high = SEQUENCE_MAX if name == "sequence" else BATCH_EVENTS_MAX * 2
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return refused(name, f"a whole number in {low}..{high:,}")
    for name in ("from_cursor", "to_cursor"):
        try:
            parse_cursor(request[name])
        except CursorError as error:
            return refused(name, str(error))
    if request["batch"] != batch_name(request["destination"], request["sequence"]):
        return refused("batch", "destination-sequence, the sequence in 6 digits")
    if not isinstance(request["manifest_sha256"], str) or not SHA256_RE.fullmatch(request["manifest_sha256"]):
        return refused("manifest_sha256", "the SHA-256 of manifest.json: 64 lowercase hex digits")
    return request, []


def receipt_admission(table: list[dict], request: dict) -> tuple[int, dict]:
    """What a checked request gets: (200, the receipt) when that batch is recorded with that manifest already;
    (201, the record to write, but for principal and at) when it is the destination's next; else 409."""
    last = last_receipt(table, request["destination"])
    recorded = next((r for r in table if r["destination"] == request["destination"]
                     and r["sequence"] == request["sequence"]), None)
    if recorded is not None and recorded["manifest_sha256"] == request["manifest_sha256"]:
        return 200, recorded
    expected = (last["sequence"] if last else 0) + 1
    if request["sequence"] != expected:
        return 409, {"error": f"{request['destination']}'s next batch is {expected}, not {request['sequence']}: "
                              "another export was recorded meanwhile; run the command again", "receipt": last}
    return 201, {k: request[k] for k in RECEIPT_FIELDS}

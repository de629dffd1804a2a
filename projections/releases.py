"""Dated, numbered releases of a red or black list (红黑榜定期发布), pure.

A release of list L as of day D shows who was on L that day, as the ledger knew it at the end of that day
(Asia/Shanghai): the events recorded before D+1 00:00 +08:00 are folded (`known_on`), and of the states they
give, the PUBLIC entries of L in force on D are the rows (`release_rows`). What a row shows of a subject is
what the public lists page shows (projections.lists.public_entry): a natural person by pseudonym only.

The canonical form of a release is its CSV (`release_csv`: UTF-8 with a BOM, CRLF, each cell made
formula-safe): a first record naming the list, the day and the count, so that no two releases of different
lists or days have the same bytes (not even two empty ones), then the header and the rows. Its digest is the
SHA-256 of those bytes (`digest_of`): anyone holding the file can check it with `sha256sum`. The number is not in the digested bytes: it is given when the release is
first recorded on credit.releases, and a second release of the same list and day with the same digest is the
same release, with the same number.

Numbers run per list and year of D: RED_LIST-2026-001, -002, ... in the order the releases were recorded.
`release_table` derives them from the records of credit.releases in log order, first recorded wins: a later
record for a list and day already released, or with a number not the next free one, is void (two workers
recording at once cannot both win). `admission` says what a request to record a release gets.
"""
from __future__ import annotations

import csv
import hashlib
import html
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta

from projections.canonical import SHANGHAI, BadInstant, read_instant
from projections.catalogue import LIST_KINDS
from projections.json_input import load_json
from projections.lists import public_entry
from projections.records import ACTIVE, COLLECTIONS, EXITED, ID_FIELD, TERM_ENDED, base_status
from projections.sampling import spreadsheet_cell
from projections.state_types import State
from projections.validate import Problem

LIST_TITLES_ZH = {
    "RED_LIST": "守信激励名单（红名单）", "SERIOUS_DISHONESTY": "严重失信主体名单", "ABNORMAL_OPERATION": "经营异常名录",
    "DISHONEST_JUDGMENT_DEBTOR": "失信被执行人名单", "MAJOR_TAX_VIOLATION": "重大税收违法失信主体名单",
    "PROCUREMENT_BAN": "政府采购严重违法失信行为记录名单", "OTHER_BLACKLIST": "其他失信名单",
}
assert set(LIST_TITLES_ZH) == set(LIST_KINDS)
SEQUENCE_MAX = 999  # releases of one list in one year: one a day fits
ENTRY_COUNT_MAX = 10_000_000
REQUEST_BYTES_MAX = 1_024
DIGEST_RE = re.compile(r"[0-9a-f]{64}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
BOM = "\ufeff"  # spreadsheets read the Chinese right with it
CSV_COLUMNS = ("序号", "主体标识", "主体名称", "认定机关", "认定机关代码", "认定依据", "认定理由", "列入日期", "有效期至",
               "状态", "名单条目编号")
NO_TERM = "未设期限"  # an entry with no term_until: on the list until it is exited


# --- what was known, and who was listed -----------------------------------------------------------
def known_until(day: str) -> datetime:
    """The first instant not known to the release of `day`: the next day's 00:00 Asia/Shanghai."""
    return datetime.combine(date.fromisoformat(day) + timedelta(days=1), datetime.min.time(), SHANGHAI)


def known_on(entries: Iterable[tuple[int, dict]], day: str) -> Iterator[tuple[int, dict]]:
    """The (offset, event) pairs recorded by the end of `day` (Asia/Shanghai); an event whose recorded_at
    cannot be read is passed on, for the fold to reject it as it would anywhere."""
    cut = known_until(day)
    for offset, event in entries:
        try:
            recorded = datetime.fromisoformat(event["recorded_at"])
        except (KeyError, TypeError, ValueError):
            yield offset, event
            continue
        if recorded.tzinfo is not None and recorded < cut:
            yield offset, event


def on_list(entry: dict, day: str) -> bool:
    """Whether a list entry is in force on `day`: entered by then, not retracted, not ended by then (an exit
    takes effect on its own day), its term (term_until, its last day) not over."""
    status = base_status(entry)
    if status not in (ACTIVE, EXITED, TERM_ENDED) or entry["occurred_on"] > day:
        return False
    if status != ACTIVE and (entry.get("ended_on") or day) <= day:
        return False
    return entry.get("term_until") is None or entry["term_until"] >= day


def basis_of(state: State, entry: dict) -> str:
    """The document the entry rests on, as the public may see it: the PUBLIC record its basis_record_id
    names (the entry's own authority's first), by decision number and authority; "" when there is none."""
    record_id = entry.get("basis_record_id")
    if not record_id:
        return ""
    own = entry["source"]["authority_code"]
    found = sorted((record["source"]["authority_code"] != own, key) for collection in COLLECTIONS
                   for key, record in state["records"][collection].items()
                   if record.get(ID_FIELD[collection]) == record_id and record["classification"] == "PUBLIC")
    for _, key in found:
        record = next(state["records"][c][key] for c in COLLECTIONS if key in state["records"][c])
        number = record.get("decision_no") or f"记录 {record_id}"
        return f"{number}（{record['source']['authority_name']}）"
    return ""


def release_rows(states: Mapping[str, dict | None], list_kind: str, day: str) -> list[dict]:
    """The rows of the release of `list_kind` on `day` from the subjects' states as known then: every
    PUBLIC entry of that list in force on `day`, ordered by entry date, subject and entry."""
    rows = []
    for state in states.values():
        if state is None:
            continue
        for key, entry in state["records"]["lists"].items():
            if entry["list_kind"] != list_kind or entry["classification"] != "PUBLIC" or not on_list(entry, day):
                continue
            shown = public_entry(state, key)
            rows.append({"subject_id": shown["subject_id"], "name": shown["name"], "list_kind": list_kind,
                         "authority": shown["authority"], "authority_code": entry["source"]["authority_code"],
                         "basis": basis_of(state, entry), "reason": shown["reason"], "entered_on": shown["entered_on"],
                         "term_until": shown["term_until"], "under_objection": bool(entry.get("pending_objection")),
                         "entry_id": shown["entry_id"]})
    return sorted(rows, key=lambda r: (r["entered_on"], r["subject_id"], r["authority_code"], r["entry_id"]))


# --- the canonical form and its digest -------------------------------------------------------------
def _cells(position: int, row: dict) -> list:
    return [position, row["subject_id"], row["name"] or "", row["authority"], row["authority_code"], row["basis"],
            row["reason"], row["entered_on"], row["term_until"] or NO_TERM, "异议中" if row["under_objection"] else "在列",
            row["entry_id"]]


def release_csv(rows: list[dict], list_kind: str, day: str) -> bytes:
    """The release's canonical bytes (RFC 4180, CRLF): the title record (名单, its name and code, 数据日期, the
    day, 在列条目数, the count), the header, the rows; every text cell formula-safe."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(["名单", f"{LIST_TITLES_ZH[list_kind]}（{list_kind}）", "数据日期", day, "在列条目数", len(rows)])
    writer.writerow(CSV_COLUMNS)
    for position, row in enumerate(rows, 1):
        writer.writerow([spreadsheet_cell(cell) for cell in _cells(position, row)])
    return (BOM + text.getvalue()).encode("utf-8")


def digest_of(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


# --- numbers, from the records of credit.releases ----------------------------------------------------
def release_number(list_kind: str, year: int, sequence: int) -> str:
    return f"{list_kind}-{year:04d}-{sequence:03d}"


def release_table(records: Iterable[dict]) -> list[dict]:
    """The valid releases among credit.releases' records (in log order): first recorded wins."""
    table: list[dict] = []
    taken: set[tuple[str, str]] = set()
    for record in records:
        if record.get("list_kind") not in LIST_KINDS or not _DAY.fullmatch(str(record.get("as_of"))):
            continue  # only the worker writes here, after release_request: never met, never a crash of a page
        year = int(record["as_of"][:4])
        expected = release_number(record["list_kind"], year, next_sequence(table, record["list_kind"], year))
        if (record["list_kind"], record["as_of"]) in taken or record["number"] != expected:
            continue
        taken.add((record["list_kind"], record["as_of"]))
        table.append(record)
    return table


def next_sequence(table: list[dict], list_kind: str, year: int) -> int:
    return 1 + sum(1 for r in table if r["list_kind"] == list_kind and r["as_of"][:4] == f"{year:04d}")


def find_release(table: list[dict], list_kind: str, day: str) -> dict | None:
    return next((r for r in table if r["list_kind"] == list_kind and r["as_of"] == day), None)


# --- a request to record a release ---------------------------------------------------------------------
def release_request(body: bytes | None) -> tuple[dict | None, list[Problem]]:
    """POST /releases' body {list_kind, as_of, digest, entry_count}, checked; or (None, the problems)."""
    def refused(field: str, message: str) -> tuple[None, list[Problem]]:
        return None, [Problem(field, "release", message)]

    if body is None:
        return refused("$", f"the body is larger than {REQUEST_BYTES_MAX} bytes")
    request, problems = load_json(body)
    if problems:
        return None, problems
    if not isinstance(request, dict) or set(request) != {"list_kind", "as_of", "digest", "entry_count"}:
        return refused("$", "give exactly list_kind, as_of, digest and entry_count")
    if request["list_kind"] not in LIST_KINDS:
        return refused("list_kind", f"one of {', '.join(LIST_KINDS)}")
    try:
        read_instant(request["as_of"], "as_of", date_only=True)
    except BadInstant as error:
        return refused("as_of", str(error))
    if not (isinstance(request["digest"], str) and DIGEST_RE.fullmatch(request["digest"])):
        return refused("digest", "the SHA-256 of the release's CSV: 64 lowercase hex digits")
    count = request["entry_count"]
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= ENTRY_COUNT_MAX:
        return refused("entry_count", f"a whole number in 0..{ENTRY_COUNT_MAX:,}")
    return request, []


def admission(table: list[dict], request: dict, today: str) -> tuple[int, dict]:
    """What a checked request gets, given the releases recorded and the ledger's `today`: (200, the release)
    when it is one already recorded; (201, the record to write, but for principal and at); 409 when the day
    is not over, the list and day were released with another digest, or the year's numbers are used up."""
    kind, day = request["list_kind"], request["as_of"]
    if day >= today:
        return 409, {"error": f"{day} is not over on the ledger's clock ({today}): a release shows a day as known "
                              "at its end, so it can be made from the next day on"}
    found = find_release(table, kind, day)
    if found is not None and found["digest"] == request["digest"]:
        return 200, found
    if found is not None:
        return 409, {"error": f"{found['number']} released {kind} as of {day} with digest {found['digest']}; "
                              f"the ledger now gives {request['digest']}", "release": found}
    sequence = next_sequence(table, kind, int(day[:4]))
    if sequence > SEQUENCE_MAX:
        return 409, {"error": f"{kind} has {SEQUENCE_MAX} releases in {day[:4]} already"}
    return 201, {"number": release_number(kind, int(day[:4]), sequence), "list_kind": kind, "as_of": day,
                 "digest": request["digest"], "entry_count": request["entry_count"]}


# --- the page ---------------------------------------------------------------------------------------
_STYLE = """body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
h1{font-size:1.5em;text-align:center;margin-bottom:.2em}.sub{text-align:center;color:#555;margin-top:0}
table{border-collapse:collapse;width:100%;font-size:.9em}th,td{border:1px solid #999;padding:.3em .5em;vertical-align:top}
th{background:#f0f0f0}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}
code{word-break:break-all}footer{margin-top:2em;font-size:.85em;color:#555}@media print{body{margin:0}}"""


def release_html(release: dict, rows: list[dict]) -> str:
    """The release as one self-contained page in Chinese (no script, no external asset: it reads offline).
    `release`: its record {number, list_kind, as_of, digest, entry_count, at}."""
    e = html.escape
    day = release["as_of"]
    cells = "".join("<tr>" + "".join(f"<td>{e(str(cell))}</td>" for cell in _cells(position, row)) + "</tr>\n"
                    for position, row in enumerate(rows, 1))
    head = "".join(f"<th>{e(column)}</th>" for column in CSV_COLUMNS)
    body = (f"<table><thead><tr>{head}</tr></thead><tbody>\n{cells}</tbody></table>" if rows
            else "<p>当日该名单无公开在列主体。</p>")
    title = f"{LIST_TITLES_ZH[release['list_kind']]}公布"
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{e(title)} {e(release['number'])}</title>
<style>{_STYLE}</style></head><body>
<h1>{e(title)}</h1><p class="sub">编号 {e(release['number'])}</p>
<dl><dt>名单</dt><dd>{e(LIST_TITLES_ZH[release['list_kind']])}（{e(release['list_kind'])}）</dd>
<dt>数据日期</dt><dd>{e(day)}：截至当日 24 时（北京时间）信用信息共享平台已记录的信息，列示当日在列的公开名单主体</dd>
<dt>在列条目数</dt><dd>{len(rows)}</dd>
<dt>首次登记发布</dt><dd>{e(release['at'])}</dd>
<dt>CSV 文件 SHA-256</dt><dd><code>{e(release['digest'])}</code></dd></dl>
{body}
<footer><p>本发布依据各认定机关报送的名单认定信息（列入、移出）生成；自然人以化名标识，不公示姓名和身份证件号码。
同编号的 CSV 文件（{e(release['number'])}.csv）为本发布的规范文本，其 SHA-256 摘要与上列一致即未经改动；
本发布已记入信用信息共享平台的发布记录（credit.releases）。对名单信息有异议的，可向认定机关提出。</p></footer>
</body></html>
"""

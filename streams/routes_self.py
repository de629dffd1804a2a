"""A subject's self-service (本人信用信息, issue 31 part 5): its own page and the access log of its file.

GET /self is the page of the subject principal asking (projections/access.py, role subject): its own
credit file as the report shows it (every record in force of every classification, its grade with its
reasons, its pending deadlines), who read the file and why, and how it files an objection, a repair
request or a query authorisation (POST /events, as itself: a natural person as its pseudonym, named 本人).
GET /subjects/{id}/access-log answers the same access log as JSON, to the subject of that file and to
auditors; any other file is absent to a subject (404). What a subject may publish is the edge's to decide (publish_problems).

The access log is credit.access-log itself, keyed by reader, not by file: a request reads the last
ACCESS_LOG_SCAN_MAX records of each partition (in an executor, off the event loop) and keeps the newest
ACCESS_LOG_SHOWN_MAX of the file; `complete` says whether that reached back to the topic's start.
"""
from __future__ import annotations

import asyncio
import heapq
import logging
from html import escape

from confluent_kafka import KafkaException

from projections import access
from projections.access import SUBJECT
from projections.catalogue import SELF_SOURCE_NAME
from projections.canonical import instant_text
from projections.pseudonym import PSEUDONYM_PREFIX
from streams import topics
from streams.codec import CodecError, decode_access_record
from streams.html_pages import HTML_PAGE_HEADERS, prefers_html
from streams.http_json import json_response
from streams.report import render_report
from streams.routes_files import LIVE_REPORT_SOURCE, file_view
from streams.worker import Worker

log = logging.getLogger(__name__)

ACCESS_LOG_SCAN_MAX = 200_000  # records per partition of credit.access-log a request reads, from the end
ACCESS_LOG_SHOWN_MAX = 200  # the newest reads of the file shown
ACCESS_ROWS_ON_PAGE = 50
ROLE_LABELS_ZH = {"querier": "授权查询机构", "publisher": "信息提供部门", "supervisor": "监管部门", "auditor": "审计",
                  "admin": "信用办管理员", "subject": "本人"}


def own_access_records(reader, subject_id: str, limit: int = ACCESS_LOG_SHOWN_MAX,
                       scan_max: int = ACCESS_LOG_SCAN_MAX) -> tuple[list[dict], bool]:
    """The newest `limit` access records of `subject_id`'s file, newest first, and whether the scan of the
    last `scan_max` records of each partition reached the topic's start. `reader`: a ledger_reader.TopicReader
    (or an in-memory log of its interface). Blocking: run it in an executor."""
    complete = True

    def records():
        nonlocal complete
        for partition, (low, high) in reader.watermarks(topics.ACCESS_LOG).items():
            start = max(low, high - scan_max)
            complete = complete and start == low
            for _, _, value, _ in reader.read_range(topics.ACCESS_LOG, partition, start, high):
                try:
                    record = decode_access_record(value or b"")
                except CodecError:
                    continue
                if record["subject_id"] == subject_id:
                    yield record
    newest = heapq.nlargest(limit, records(), key=lambda record: record["at"])  # bounded, whatever the topic
    return newest, complete


async def access_log_of(worker: Worker, subject_id: str) -> dict:
    found, complete = await asyncio.get_running_loop().run_in_executor(None, own_access_records, worker.reader,
                                                                       subject_id)
    return {"subject_id": subject_id, "reads": found, "complete": complete,
            "scanned_per_partition_max": ACCESS_LOG_SCAN_MAX}


def install(app, worker: Worker) -> None:
    gate, store = worker.gate, worker.store

    @app.page("/subjects/{subject_id}/access-log")
    async def subject_access_log(web, request, subject_id: str):
        """Who read the file's non-public records, when and why: the subject's own, or any for an auditor."""
        principal, refusal = gate.check(request, "subject_access_log")
        if refusal:
            return json_response(web, *refusal)
        if (principal.role == SUBJECT and subject_id != principal.subject_id) or store.get(subject_id) is None:
            return json_response(web, {"error": f"no subject {subject_id} in the ledger"}, status=404)
        await gate.log(access.endpoint_decision(principal, "subject_access_log", subject_id),
                       "GET /subjects/{id}/access-log")
        try:
            return json_response(web, await access_log_of(worker, subject_id))
        except (KafkaException, OSError) as error:  # OSError: a timeout, a refused connection
            return json_response(web, {"errors": [{"field": "$", "rule": "unavailable", "message":
                                                   f"{topics.ACCESS_LOG} cannot be read: {error}"}]}, 503)

    @app.page("/self")
    async def self_service(web, request):
        """The subject's own page, in Chinese (a browser logs in at /dashboard/login with its token)."""
        principal, refusal = gate.check(request, "self_service")
        if refusal:
            if prefers_html(request) and (principal is None or principal.role == access.ANONYMOUS):
                return web.bytes(b"", status=303, headers={"Location": "/dashboard/login", "Cache-Control": "no-store"})
            return json_response(web, *refusal)
        state = access.known_state(store.get(principal.subject_id), principal, worker.today())
        if state is None:
            return web.bytes(empty_page(principal.subject_id).encode(), status=404, headers=HTML_PAGE_HEADERS)
        view = await file_view(worker, principal, state, "GET /self")
        await gate.log(access.endpoint_decision(principal, "subject_access_log", principal.subject_id), "GET /self")
        try:
            reads = await access_log_of(worker, principal.subject_id)
        except (KafkaException, OSError) as error:  # the file is still shown, the section says so
            log.warning("GET /self: %s cannot be read (%s)", topics.ACCESS_LOG, error)
            reads = {"reads": [], "complete": False, "unavailable": True}
        page = render_report(view, [], instant_text(worker.clock.now()), source=LIVE_REPORT_SOURCE)
        page = page.replace("<h1>信用报告</h1>", "<h1>本人信用信息</h1>", 1)
        page = page.replace("</main></body>", self_section(principal.subject_id, reads) + "</main></body>", 1)
        return web.bytes(page.encode(), headers={**HTML_PAGE_HEADERS, "Cache-Control": "no-store"})


def empty_page(subject_id: str) -> str:
    return ('<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8"><title>本人信用信息</title>'
            '<link rel="icon" href="data:,"></head>'
            '<body style="font-family:\'Noto Sans CJK SC\',\'Microsoft YaHei\',sans-serif;margin:40px">'
            f'<h1>本人信用信息</h1><p>账本中尚无 <code>{escape(subject_id)}</code> 的信用记录。</p></body></html>\n')


def self_section(subject_id: str, log: dict) -> str:
    """The access log of the file and how the subject files its own requests, as the report's sections."""
    rows = "".join(
        f"<tr><td>{escape(r['at'][:19].replace('T', ' '))}</td><td>{escape(r['principal'])}</td>"
        f"<td>{escape(ROLE_LABELS_ZH.get(r['role'], r['role']))}</td><td>{escape(r['endpoint'])}</td>"
        f"<td>{r['record_count']}</td><td>{escape(r['reason'])}</td></tr>"
        for r in log["reads"][:ACCESS_ROWS_ON_PAGE])
    note = ("（访问日志暂时无法读取，请稍后刷新）" if log.get("unavailable")
            else "" if log["complete"] else "（仅检索了访问日志最近的部分记录）")
    table = (f"<table><thead><tr><th>时间</th><th>查询者</th><th>身份</th><th>途径</th><th>非公开记录数</th>"
             f"<th>依据</th></tr></thead><tbody>{rows}</tbody></table>" if rows else "<p>暂无非公开查询记录。</p>")
    code = escape(subject_id)
    name = (f"，<code>source.authority_name</code> 为「{SELF_SOURCE_NAME}」（不填姓名），不填 <code>source.system</code>"
            if subject_id.startswith(PSEUDONYM_PREFIX) else "")  # a natural person: its pseudonym, never its name
    return (f'<section><h2>本人档案查询记录</h2><p>下列为查阅本档案非公开信息的记录（最近 {ACCESS_ROWS_ON_PAGE} 条）{note}。'
            f"完整记录：<code>GET /subjects/{code}/access-log</code>。</p>{table}</section>"
            "<section><h2>本人可办理的事项</h2><ul>"
            "<li>异议申请（ObjectionFiled）：认为记录有误的，对该记录提出异议；</li>"
            "<li>信用修复申请（RepairRequested）：对已满最短公示期的行政处罚等记录申请修复；</li>"
            "<li>授权查询（QueryAuthorized）：授权金融机构等查询本人的授权类信息。</li></ul>"
            f"<p>以本人令牌向 <code>POST /events</code> 提交，事件的 <code>subject.id</code> 与 "
            f"<code>source.authority_code</code> 均须为本人代码 <code>{code}</code>{name}；"
            "不得对他人档案提交，亦不得提交其他类型的事件。</p></section>")

"""The credit files' routes: GET /subjects/{id} (JSON, or the report page for a browser), its report,
its grade (now or as known at an instant) and its history, each as the reader may see it."""
from __future__ import annotations

import asyncio

from projections import access, measure_checks
from projections.canonical import BadInstant, instant_text, read_instant
from projections.fold import credit_file, shown_grade
from projections.replay import bitemporal_view, state_as_of
from streams.html_pages import HTML_PAGE_HEADERS, not_found_page, prefers_html
from streams.http_json import json_response
from streams.partitioner import partition_of
from streams.pii import with_personal_info
from streams.proofs import PartitionTree, history_proofs
from streams.report import render_report
from streams.worker import Worker

LIVE_REPORT_SOURCE = "本账本工作进程的实时档案（由 credit.events 折叠而成）"  # what a report served here is built from


async def file_view(worker: Worker, principal, state: dict, endpoint: str) -> dict:
    """The credit file as `principal` may see it (projections/access.py), its reading logged;
    a natural person's name and ID number only for the roles allowed them."""
    gate, key_store = worker.gate, worker.key_store
    view, decision = access.view_file(credit_file(state, worker.policy_now()), state, principal, worker.today(),
                                      policy=worker.policy_now())
    await gate.log(decision, endpoint)
    if key_store is not None and access.can(principal, "personal_info") is None \
            and view["subject"].get("kind") == "NATURAL_PERSON":
        # the key store reads credit.pii-keys up to its end first (an erasure anywhere holds here): off the loop
        view = await asyncio.get_running_loop().run_in_executor(
            None, with_personal_info, view, worker.store.history(view["subject"]["id"]), key_store)
        await gate.log(access.endpoint_decision(principal, "personal_info", view["subject"]["id"]), endpoint)
    return view


async def proved_history(worker: Worker, subject_id: str, history: list[dict]) -> dict:
    """The history with each entry's inclusion proof in its partition's Merkle tree as last published on
    credit.digests (streams/proofs.py): {"subject_id", "history", "tree", "proofs"}, a proof None for an
    entry folded after that tree. Off the loop: a 1,000-entry history of a 2,500,000-record partition
    reads ~1,040 tiles of 16 KB and ~13,000 nodes from them (~20 ms of CPU)."""
    partition = partition_of(subject_id, worker.settings.partitions)
    tree = PartitionTree(worker.store, partition)
    proved = await asyncio.get_running_loop().run_in_executor(
        None, history_proofs, tree, [entry["offset"] for entry in history])
    return {"subject_id": subject_id, "history": history, **proved}


def report_page(worker: Worker, web, principal, view: dict):
    # the report lists the events only to those who may read the history
    history = worker.store.history(view["subject"]["id"]) if access.can(principal, "history") is None else []
    page = render_report(view, history, instant_text(worker.clock.now()), source=LIVE_REPORT_SOURCE)
    return web.bytes(page.encode(), headers=HTML_PAGE_HEADERS)


def install(app, worker: Worker) -> None:
    install_file(app, worker)
    install_as_known_then(app, worker)
    install_measure_check(app, worker)


def install_measure_check(app, worker: Worker) -> None:
    """GET /subjects/{id}/measures?authority=&purpose=&matter=: 信用审查 at the point of action."""
    gate, store = worker.gate, worker.store

    @app.page("/subjects/{subject_id}/measures")
    async def subject_measures(web, request, subject_id: str):
        """The joint measures binding the implementing authority on the subject now
        (projections/measure_checks.py), the check logged with its purpose and matter."""
        principal, refusal = gate.check(request, measure_checks.ACTION)
        if refusal:
            return json_response(web, *refusal)
        query, problems = measure_checks.check_request(dict(request.query), principal)
        problems = [*problems, *access.subject_id_problems(subject_id)]  # never an ID number into the access log
        if problems:
            status = 403 if any(p.rule == measure_checks.FORBIDDEN_RULE for p in problems) else 400
            return json_response(web, {"errors": [p.as_dict() for p in problems]}, status=status)
        state = store.get(subject_id)
        if principal.scope is not None and access.known_state(state, principal, worker.today()) is None:
            return json_response(web, {"error": f"no subject {subject_id} in the ledger"}, status=404)
        policy, today = worker.policy_now(), worker.today()
        found = measure_checks.binding_measures(state, query["authority"], today, policy)
        await gate.log(measure_checks.decision(principal, subject_id, query, found), "GET /subjects/{id}/measures")
        return json_response(web, {"subject_id": subject_id, "authority_code": query["authority"], "as_of": today,
                                   "policy_version": policy.version, "purpose": query["purpose"],
                                   "matter": query["matter"], "measures": found})


def install_file(app, worker: Worker) -> None:
    """GET /subjects/{id} and its report: the file as the reader may see it now."""
    gate, store = worker.gate, worker.store

    @app.page("/subjects/{subject_id}")
    async def subject_file(web, request, subject_id: str):
        """The credit file: JSON, or the credit report page for a browser (Accept prefers text/html)."""
        principal, refusal = gate.check(request, "read_file")
        if refusal:
            return json_response(web, *refusal)
        # below the supervisors a subject with no PUBLIC event is not found, as one the ledger never heard of
        state, html = access.known_state(store.get(subject_id), principal, worker.today()), prefers_html(request)
        if state is None:
            if html:
                return web.bytes(not_found_page(subject_id).encode(), status=404, headers=HTML_PAGE_HEADERS)
            return json_response(web, {"error": f"no subject {subject_id} in the ledger"}, status=404)
        view = await file_view(worker, principal, state, "GET /subjects/{id}")
        return report_page(worker, web, principal, view) if html else json_response(web, view)

    @app.page("/subjects/{subject_id}/report")
    async def subject_report(web, request, subject_id: str):
        """The printable credit report (信用报告), in Simplified Chinese, self-contained (works offline),
        of what the reader may see."""
        principal, refusal = gate.check(request, "report")
        if refusal:
            return json_response(web, *refusal)
        state = access.known_state(store.get(subject_id), principal, worker.today())
        if state is None:
            return json_response(web, {"error": f"no subject {subject_id} in the ledger"}, status=404)
        view = await file_view(worker, principal, state, "GET /subjects/{id}/report")
        return report_page(worker, web, principal, view)


def install_as_known_then(app, worker: Worker) -> None:
    """A subject's grade and history, now or as the ledger knew them at an instant."""
    gate, store = worker.gate, worker.store

    @app.page("/subjects/{subject_id}/grade")
    async def subject_grade(web, request, subject_id: str):
        """The grade now, or `?at=T` (an instant, or a date meaning 00:00 Asia/Shanghai): as the ledger
        knew the file at T, under the policy in force at T."""
        principal, refusal = await gate.admit(request, "grade", "GET /subjects/{id}/grade", subject_id)
        if refusal:
            return json_response(web, *refusal)
        state = access.known_state(store.get(subject_id), principal, worker.today())  # out of scope: absent
        if state is None:
            return json_response(web, {"error": f"no subject {subject_id} in the ledger"}, status=404)
        at = request.query.get("at")
        if at is None:
            return json_response(web, {"subject_id": subject_id, **shown_grade(state, worker.policy_now())})
        try:
            moment = read_instant(at, "at")
        except BadInstant as error:
            return json_response(web, {"errors": [error.as_dict()]}, status=400)
        then = state_as_of(store.history(subject_id), moment, worker.policies)
        day = instant_text(moment)[:10]
        body = {"subject_id": subject_id, "at": instant_text(moment),
                **(shown_grade(then, worker.policies.in_force(day)) if then is not None
                   else {"letter": None, "reasons": []})}
        return json_response(web, body)

    @app.page("/subjects/{subject_id}/history")
    async def subject_history(web, request, subject_id: str):
        """The accepted events with their chain hashes; with `as_of=T` (transaction time) and/or
        `valid_at=D` (valid time) also the credit file as the ledger knew it at T / as true on D."""
        _, refusal = await gate.admit(request, "history", "GET /subjects/{id}/history", subject_id)
        if refusal:
            return json_response(web, *refusal)
        if store.get(subject_id) is None:
            return json_response(web, {"error": f"no subject {subject_id} in the ledger"}, status=404)
        history = store.history(subject_id)
        as_of, valid_at = request.query.get("as_of"), request.query.get("valid_at")
        if request.query.get("proofs") == "1" and as_of is None and valid_at is None:
            return json_response(web, await proved_history(worker, subject_id, history))
        if as_of is None and valid_at is None:
            return json_response(web, {"subject_id": subject_id, "history": history})
        try:
            view = bitemporal_view(history, as_of, valid_at, worker.policies, today=worker.today())
        except BadInstant as error:
            return json_response(web, {"errors": [error.as_dict()]}, 400)
        return json_response(web, {"subject_id": subject_id, **view})

"""The routes of lists and of the ledger as a whole: the public red and black lists, health, readiness,
Prometheus metrics (whole-ledger, and per authority for a supervisor) and 双公示 timeliness."""
from __future__ import annotations

import re

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from projections.canonical import instant_text
from projections.catalogue import LIST_KINDS
from projections.effects import ON_TIME, TIMELINESS_JUDGED, TIMELINESS_OUTCOMES, TimelinessCounter
from projections.lists import listed_on, public_entry
from projections.scopes import authority_in_scope, in_scope
from streams import metrics
from streams.http_json import json_response
from streams.routes_releases import shown
from streams.worker import Worker

LIST_PAGE_DEFAULT, LIST_PAGE_MAX = 100, 1000
LIST_RELEASES_SHOWN = 30  # the newest; GET /releases?list_kind= has them all


def install(app, worker: Worker) -> None:
    install_lists(app, worker)
    install_health(app, worker)


def install_lists(app, worker: Worker) -> None:
    gate, store, clock = worker.gate, worker.store, worker.clock

    @app.page("/lists/{list_kind}")
    async def public_list(web, request, list_kind: str):
        """The public view of a red or black list: active PUBLIC entries with their measures, paged by
        `?after=<subject id>/<entry id>&limit=N`; `?sector=WORK_SAFETY` keeps the entries of that sector or
        sub-kind (a page may then hold fewer than `limit`: follow next_after)."""
        principal, refusal = gate.check(request, "read_list")
        if refusal:
            return json_response(web, *refusal)
        if list_kind not in LIST_KINDS:
            return json_response(web, {"error": f"no list {list_kind!r}; lists: {', '.join(LIST_KINDS)}"}, status=404)
        try:
            limit = int(request.query.get("limit", LIST_PAGE_DEFAULT))
        except ValueError:
            limit = -1
        if not 1 <= limit <= LIST_PAGE_MAX:
            return json_response(web, {"errors": [{"field": "limit", "rule": "range",
                                                   "message": f"a whole number in 1..{LIST_PAGE_MAX}"}]}, status=400)
        members = store.list_members(list_kind, request.query.get("after", ""), limit)
        states = ((store.get(subject_id), entry_id) for subject_id, entry_id in members)
        # a scoped supervisor's list holds the subjects of its scope (projections/scopes.py)
        entries = [public_entry(state, entry_id) for state, entry_id in states
                   if listed_on(state, entry_id, worker.today()) and in_scope(principal.scope, state)]
        sector = request.query.get("sector")
        if sector is not None:  # issue 29: a list entry carries its sector
            entries = [entry for entry in entries if entry.get("sector") == sector]
        next_after = f"{members[-1][0]}/{members[-1][1]}" if len(members) == limit else None
        # its dated, numbered releases (红黑榜发布), newest first, as credit.releases holds them
        table = await worker.releases.table() if worker.releases is not None else []
        released = [shown(r) for r in table[::-1] if r["list_kind"] == list_kind]
        return json_response(web, {"list_kind": list_kind, "entries": entries, "next_after": next_after,
                                   "releases": released[:LIST_RELEASES_SHOWN], "releases_total": len(released)})

    @app.page("/timeliness")
    async def timeliness(web, request):
        """双公示 timeliness per authority: on time, late (迟报), overdue (漏报)."""
        principal, refusal = await gate.admit(request, "timeliness", "GET /timeliness")
        if refusal:
            return json_response(web, *refusal)
        authorities: dict[str, dict] = {}
        for counter, count in store.counters(TimelinessCounter).items():
            if not authority_in_scope(principal.scope, counter.authority_code):  # a scoped supervisor's only
                continue
            counts = authorities.setdefault(counter.authority_code, dict.fromkeys(TIMELINESS_OUTCOMES, 0))
            counts[counter.outcome] = count
        for counts in authorities.values():
            # each decision once (R6); exempt records (R8) and historical imports (R10) counted apart
            due = sum(counts[outcome] for outcome in TIMELINESS_JUDGED)
            counts["timely_ratio"] = round(counts[ON_TIME] / due, 4) if due else None
        return json_response(web, {"authorities": authorities, "clock": instant_text(clock.now())})


def install_health(app, worker: Worker) -> None:
    gate, store, readiness = worker.gate, worker.store, worker.readiness

    @app.page("/healthz")
    async def healthz(web, request):
        return json_response(web, {"status": "ok"})

    @app.page("/readyz")
    async def readyz(web, request):
        body = {"ready": readiness.ready, "applied_offsets": store.applied_offsets()}
        return json_response(web, body, status=200 if readiness.ready else 503)

    @app.page("/metrics")
    async def prometheus_metrics(web, request):
        """Counts of the whole ledger, labelled by nothing an authority or a subject could be told apart by."""
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/metrics/authorities")
    async def prometheus_metrics_by_authority(web, request):
        """双公示 timeliness per authority, for Prometheus with a supervisor's token (as /timeliness tells it)."""
        principal, refusal = gate.check(request, "metrics_by_authority")
        if refusal:
            return json_response(web, *refusal)
        exposition = scoped_exposition(generate_latest(metrics.BY_AUTHORITY), principal.scope)
        return web.bytes(exposition, content_type=CONTENT_TYPE_LATEST.split(";")[0])


_AUTHORITY_LABEL = re.compile(rb'authority="([^"]*)"')


def scoped_exposition(exposition: bytes, scope) -> bytes:
    """Prometheus text without the samples of authorities outside `scope` (projections/scopes.py)."""
    if scope is None:
        return exposition
    kept = [line for line in exposition.split(b"\n") if (found := _AUTHORITY_LABEL.search(line)) is None
            or authority_in_scope(scope, found.group(1).decode("utf-8", "replace"))]
    return b"\n".join(kept)

"""The dashboard on the Faust app: its page and assets, the snapshot once (/dashboard/snapshot) or
pushed every second as server-sent events (/dashboard/stream), the login (streams/dashboard_login.py),
and its background work (the trend's samples, the seeding from the topics' tails, the streams' end).

The data is for supervisors and up (streams/gate.py); the static assets are public."""
from __future__ import annotations

import asyncio
import logging
from importlib import resources

import orjson
from aiohttp import web as aiohttp_web

from projections.access import ANONYMOUS
from streams import dashboard_login
from streams.dashboard import SNAPSHOT_INTERVAL_S, TREND_INTERVAL_S, Dashboard
from streams.dashboard_tails import read_tails
from streams.html_pages import HTML_PAGE_HEADERS, refusal_page
from streams.ledger_reader import TopicReader

log = logging.getLogger(__name__)

STREAMS_MAX = 32  # open /dashboard/stream connections at most; more get 503
STREAM_RETRY_MS = 3_000  # how soon a browser reconnects after the stream breaks
ASSETS = {"dashboard.html": "text/html", "dashboard.js": "text/javascript", "dashboard.css": "text/css"}
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
TO_LOGIN = {"Location": "/dashboard/login", "Cache-Control": "no-store"}


def install(app, worker) -> None:
    """Add the dashboard's pages, stream and timers to the Faust app, and the Dashboard the fold feeds
    to the worker (worker.dashboard)."""
    dashboard = worker.dashboard = Dashboard(worker.store, worker.clock, lambda: worker.readiness.ready)
    assets = {name: read_asset(name) for name in ASSETS}  # read once: a handful of kilobytes
    install_page(app, worker.gate, assets)
    dashboard_login.install(app, worker)
    for name in ("dashboard.js", "dashboard.css"):
        app.page(f"/dashboard/{name}", name=f"dashboard_{name.replace('.', '_')}")(asset_page(assets, name))
    install_data(app, dashboard, worker.gate)
    install_background(app, dashboard, worker.reader)


def read_asset(name: str) -> bytes:
    return (resources.files("streams") / "static" / name).read_bytes()


def asset_page(assets: dict[str, bytes], name: str):
    async def serve(web, request):
        return web.bytes(assets[name], headers={"Content-Type": f"{ASSETS[name]}; charset=utf-8",
                                                "Cache-Control": "no-cache"})
    return serve


def install_page(app, gate, assets: dict[str, bytes]) -> None:
    """GET /dashboard: the page for those who may see it, the login form for a browser without a session."""

    @app.page("/dashboard", name="dashboard")
    async def page(web, request):
        if "token" in request.query:  # the old link: a token in a URL is refused, never kept; log in instead
            return web.bytes(b"", status=303, headers=TO_LOGIN)
        principal, refusal = await gate.admit(request, "dashboard", "GET /dashboard")
        if refusal:
            body, status = refusal
            if principal is None or principal.role == ANONYMOUS:  # nobody yet, or a session that ended
                return web.bytes(b"", status=303, headers=TO_LOGIN)
            return web.bytes(refusal_page(body["errors"][0]["message"]).encode(), status=status,
                             headers=HTML_PAGE_HEADERS)
        return await asset_page(assets, "dashboard.html")(web, request)


async def admitted(gate, web, request, endpoint: str):
    """(the reader's scope, None) for a reader who may see the dashboard's data (read logged), else
    (None, the JSON refusal). A scoped supervisor gets its scope's snapshot (Dashboard.scoped_snapshot)."""
    principal, refusal = await gate.admit(request, "dashboard", endpoint)
    if refusal:
        body, status = refusal
        return None, web.bytes(orjson.dumps(body), status=status, headers=JSON_HEADERS)
    return principal.scope, None


def install_data(app, dashboard: Dashboard, gate) -> None:
    """The snapshot, once (/dashboard/snapshot) or pushed every second (/dashboard/stream)."""

    @app.page("/dashboard/snapshot", name="dashboard_snapshot")
    async def snapshot(web, request):
        scope, refusal = await admitted(gate, web, request, "GET /dashboard/snapshot")
        if refusal:
            return refusal
        return web.bytes(dashboard.snapshot_bytes(scope), headers={**JSON_HEADERS, "Cache-Control": "no-cache"})

    @app.page("/dashboard/stream", name="dashboard_stream")
    async def stream(web, request):
        """A snapshot every SNAPSHOT_INTERVAL_S as a server-sent event, until the page goes or we stop."""
        scope, refusal = await admitted(gate, web, request, "GET /dashboard/stream")  # logged once per stream
        if refusal:
            return refusal
        if dashboard.streams >= STREAMS_MAX:
            return web.bytes(orjson.dumps({"error": f"at most {STREAMS_MAX} dashboard streams are open"}),
                             status=503, headers={**JSON_HEADERS, "Retry-After": "10"})
        return await send_snapshots(dashboard, scope, request)


async def send_snapshots(dashboard: Dashboard, scope, request) -> aiohttp_web.StreamResponse:
    """The event stream itself: faust's aiohttp driver hands the handler aiohttp's own request, so aiohttp
    streams the response."""
    response = aiohttp_web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})  # a reverse proxy must not hold the events back
    dashboard.streams += 1
    try:
        await response.prepare(request)
        await response.write(b"retry: %d\n\n" % STREAM_RETRY_MS)
        while not dashboard.closing.is_set():
            await response.write(b"event: snapshot\ndata: " + dashboard.snapshot_bytes(scope) + b"\n\n")
            try:
                await asyncio.wait_for(dashboard.closing.wait(), SNAPSHOT_INTERVAL_S)
            except asyncio.TimeoutError:
                pass
    except ConnectionError:
        pass  # the page was closed
    finally:
        dashboard.streams -= 1
    return response


def install_background(app, dashboard: Dashboard, reader: TopicReader) -> None:
    """The streams' end at shutdown, the trend's samples, and the buffers seeded from the topics' tails."""

    async def close_streams(*args, **kwargs) -> None:
        dashboard.closing.set()
    # Whichever comes first: the app stopping, or the web server shutting down (which would otherwise
    # wait for open streams for a minute).
    app.on_before_shutdown.connect(close_streams)
    app.web.web_app.on_shutdown.append(close_streams)

    @app.timer(TREND_INTERVAL_S)
    async def sample_dashboard_trend():
        dashboard.sample_trend()

    @app.task
    async def seed_dashboard():
        try:
            tails = await asyncio.get_running_loop().run_in_executor(None, read_tails, reader)
        except Exception as error:  # the dashboard starts empty rather than stopping the worker
            log.warning("dashboard: could not read the topics' tails (%s); recent lists start empty", error)
            return
        dashboard.seed(tails)
        dashboard.sample_trend()

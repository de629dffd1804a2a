"""The worker's wiring: its Faust app (streams/faust_app.py), the Worker its parts share
(streams/worker_build.py), and each part installed on the app with `install(app, worker)`;
streams/worker.py lists the parts. Run it with `credit-ledger worker` (ops/worker_main.py)."""
from __future__ import annotations

import faust

from streams import dashboard_routes, routes_audit, routes_files, routes_public, routes_publishing, routes_releases
from streams import routes_exports, routes_self, routes_stats, stack_dump, web_guard, worker_fold, worker_loops
from streams.faust_app import faust_app
from streams.kafka_access import WORKER
from streams.worker import Worker
from streams.worker_build import build_worker


def create_app(settings) -> faust.App:
    """The worker's Faust app with every part installed (tests read its router without running it)."""
    return create_worker(settings)[0]


def create_worker(settings) -> tuple[faust.App, Worker]:
    """The Faust app and the Worker its parts share, each part installed in the order it was declared
    before the split (the fold, its timers, the routes); the web guard last, over every page."""
    kafka = settings.kafka_access(WORKER)  # every client of the worker, Faust's too, is its principal
    app = faust_app(settings, kafka)
    worker = build_worker(app, settings, kafka)
    dashboard_routes.install(app, worker)
    worker_fold.install(app, worker)
    stack_dump.install(app, worker)
    worker_loops.install(app, worker)
    routes_audit.install(app, worker)
    routes_files.install(app, worker)
    routes_publishing.install(app, worker)
    routes_public.install(app, worker)
    routes_stats.install(app, worker)
    routes_self.install(app, worker)
    routes_releases.install(app, worker)
    routes_exports.install(app, worker)
    # every page is declared: only these are served (Faust's own web apps are not), all with security headers
    web_guard.install(app.web.web_app, web_guard.our_routes(app.web.web_app))
    return app, worker

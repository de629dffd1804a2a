"""What every HTTP answer of the worker carries, and the routes it never serves.

Every answer gets the security headers below: the pages load only their own script and styles
(no inline script anywhere: the dashboard's is /dashboard/dashboard.js), are never framed, never
sniffed to another type, and send no Referer. Styles may be inline: the report and the small
refusal pages carry their own CSS so that they print and work offline.

Faust's own web apps (`/`, `/router`, `/table`, `/graph`, `/stats`, `/performance`) are switched
off by its settings where it has one (streams/faust_app.py) and refused here where it has none (its
index at `/`): the worker serves only the routes it declares itself.
"""
from __future__ import annotations

from aiohttp import web as aiohttp_web

from streams.gate import refuse_unlogged_reads

CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
                           "base-uri 'none'; form-action 'self'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
}
# Faust's settings that switch its built-in web apps off (its index at "/" has none)
FAUST_WEB_APPS_OFF = {"web_router_enabled": False, "web_tables_enabled": False, "web_graph_enabled": False,
                      "web_stats_enabled": False, "web_metrics_enabled": False}


def our_routes(web_app: aiohttp_web.Application) -> frozenset[str]:
    """The route patterns on the router now, e.g. "/subjects/{subject_id}". Called once every page of
    the worker is declared and before the server starts: Faust adds its own web apps only then."""
    return frozenset(route.resource.canonical for route in web_app.router.routes() if route.resource is not None)


def install(web_app: aiohttp_web.Application, served_routes: frozenset[str]) -> None:
    """Refuse (404) every route but `served_routes`, answer 503 for a read whose access record could not be
    written (streams/gate.py), and add SECURITY_HEADERS to every answer, streamed ones included."""
    assert served_routes and "/" not in served_routes, served_routes

    @aiohttp_web.middleware
    async def only_served_routes(request, handler):
        resource = request.match_info.route.resource
        if resource is None or resource.canonical not in served_routes:
            raise aiohttp_web.HTTPNotFound(text='{"error": "no such route"}', content_type="application/json")
        return await handler(request)

    async def add_security_headers(request, response) -> None:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)

    web_app.middlewares.append(only_served_routes)
    web_app.middlewares.append(refuse_unlogged_reads)
    web_app.on_response_prepare.append(add_security_headers)

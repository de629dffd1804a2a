"""Every route the worker serves is in the access table (projections.access.ROUTES) with the action that
says who may use it, and the table names no route the worker lacks. The worker is built, not run: no
broker is reached, only its router is read."""
from __future__ import annotations

import base64

import pytest

from ops.config import Settings
from projections.access import ACTIONS, ROUTES


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> set[str]:
    from streams.app import create_app

    settings = Settings(data_dir=str(tmp_path_factory.mktemp("routes")), pseudonym_key="k" * 32,
                        master_key=base64.b64encode(bytes(32)).decode(), kafka="127.0.0.1:9")
    router = create_app(settings).web.web_app.router
    return {f"{route.method} {route.resource.canonical}" for route in router.routes() if route.method != "HEAD"}


def test_every_route_is_in_the_access_table_and_no_other(served):
    assert served == set(ROUTES), {"served, not in ROUTES": served - set(ROUTES),
                                   "in ROUTES, not served": set(ROUTES) - served}


def test_each_route_names_known_actions():
    assert all(actions and set(actions) <= set(ACTIONS) for actions in ROUTES.values()), ROUTES


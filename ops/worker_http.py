"""The CLI's reads of the live worker's HTTP API, with the operator's bearer token."""
from __future__ import annotations

import urllib.request


def open_worker(url: str, token: str | None, timeout_s: float = 30.0):
    """urlopen(url) carrying `Authorization: Bearer <token>` when there is one (else the public's view).
    Raises what urlopen raises: HTTPError for 4xx/5xx, OSError when unreachable."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s)

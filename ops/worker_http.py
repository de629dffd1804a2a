"""The CLI's reads of the live worker's HTTP API, with the operator's bearer token, and the access
records of the commands that read the ledger from Kafka itself (`history`, `report`, `verify`): the
worker writes them, since the auditor's Kafka user may write nothing."""
from __future__ import annotations

import json
import urllib.error
import urllib.request


def open_worker(url: str, token: str | None, timeout_s: float = 30.0):
    """urlopen(url) carrying `Authorization: Bearer <token>` when there is one (else the public's view).
    Raises what urlopen raises: HTTPError for 4xx/5xx, OSError when unreachable."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s)


def record_audit_read(web_url: str, token: str | None, action: str, subject_id: str | None,
                      command: str) -> str | None:
    """Have the worker write this command's read to credit.access-log before it is made (POST /access-log,
    as the principal `token` names). None once recorded; else why not, for the command to stop on."""
    body = json.dumps({"action": action, "subject_id": subject_id, "command": command}).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    url = f"{web_url.rstrip('/')}/access-log"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=30) as response:
            response.read()
            return None
    except urllib.error.HTTPError as error:
        try:
            reasons = "; ".join(e.get("message", "") for e in json.loads(error.read())["errors"])
        except (ValueError, KeyError, TypeError, AttributeError):
            reasons = error.reason
        return f"the worker at {web_url} refused to record the read ({error.code}: {reasons})"
    except OSError as error:
        return f"the worker at {web_url} cannot record the read ({error})"


def worker_json(url: str, token: str | None, body: dict | None = None,
                timeout_s: float = 30.0) -> tuple[int, dict]:
    """(status, JSON answer) of the worker, 4xx included; OSError when it cannot be reached."""
    if body is None:
        try:
            with open_worker(url, token, timeout_s=timeout_s) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def worker_why(answer: dict) -> str:
    """The reasons of a worker's refusal, as one line."""
    return answer.get("error") or "; ".join(e.get("message", "") for e in answer.get("errors", ())) or str(answer)

"""Parts of the worker served without a broker, as tests/unit/test_worker_routes.py serves the files': a
Faust app that is never started, the parts installed on it with `install(app, worker)` as the worker
installs them (streams/app.py), the web guard last, and aiohttp's test client sending the requests.

The Worker reads topics through tests/driver.MemoryTopics (Worker.reader), records releases and export
receipts on it (streams/release_log.ReleaseLog over its senders) and its gate writes the access log to it,
so the parts that read topics run on the same records they would find on a broker."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import faust
import orjson
from aiohttp.test_utils import TestClient, TestServer

from projections.access import ADMIN, AUDITOR, PUBLISHER, SUBJECT, SUPERVISOR, Principal
from projections.exports import receipt_table
from projections.policy import DEFAULT_POLICIES
from projections.scopes import Scope
from streams import topics, web_guard
from streams.codec import decode_access_record, decode_export_receipt
from streams.gate import Gate
from streams.principals import Credential, Principals, token_sha256
from streams.release_log import ReleaseLog
from streams.store import MemoryStore
from streams.worker import Worker
from tests.driver import MemoryTopics
from tests.unit import events as ev

PRINCIPALS = (Principal("audit", AUDITOR), Principal("admin", ADMIN), Principal("office", SUPERVISOR),
              Principal("zhengzhou", SUPERVISOR, scope=Scope(region_prefix="4101")),
              Principal("shenzhen", SUPERVISOR, scope=Scope(region_prefix="4403")),
              Principal("market", PUBLISHER, authority_code=ev.AUTHORITY),
              Principal("company", SUBJECT, subject_id=ev.COMPANY))
TOKENS = {principal.name: f"{principal.name}-token-" + "t" * 30 for principal in PRINCIPALS}


@dataclass
class Served:
    loop: asyncio.AbstractEventLoop
    client: TestClient
    worker: Worker
    log: MemoryTopics

    def send(self, method: str, path: str, who: str | None = None, body: dict | bytes | None = None,
             accept: str | None = None) -> tuple[int, dict, bytes]:
        """(status, headers, body) of one request, as `who` (a name of PRINCIPALS) or anonymous."""
        headers = {**({"Authorization": f"Bearer {TOKENS[who]}"} if who else {}),
                   **({"Accept": accept} if accept else {})}
        data = body if body is None or isinstance(body, bytes) else orjson.dumps(body)

        async def one():
            response = await self.client.request(method, path, headers=headers, data=data, allow_redirects=False)
            return response.status, response.headers, await response.read()
        return self.loop.run_until_complete(one())

    def access_log(self) -> list[dict]:
        """The access records the gate wrote, decoded, in the order written."""
        return [decode_access_record(value) for partition in self.log.logs[topics.ACCESS_LOG]
                for _, value in partition]

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


def serve(parts, store: MemoryStore | None = None, log: MemoryTopics | None = None, now: datetime = ev.NOW,
          key_store=None) -> Served:
    """`parts` (modules with install(app, worker)) served over `store` and `log`, the ledger's clock at `now`
    (`key_store`: a streams.pii.KeyStore, else sealing is off)."""
    log = log or MemoryTopics()
    expires_at = datetime.now(timezone.utc) + timedelta(days=1)
    principals = Principals([Credential(p, token_sha256(TOKENS[p.name]), expires_at) for p in PRINCIPALS])
    send_access_record = log.sender(topics.ACCESS_LOG)
    worker = Worker(settings=None, kafka=None, store=store or MemoryStore(),
                    clock=SimpleNamespace(now=lambda: now, speed=1.0), policies=DEFAULT_POLICIES, processor=None,
                    key_store=key_store, pseudonym_key=ev.KEY, ledger_consumer=None, outputs=None, events_producer=None,
                    gate=Gate(principals, send_access_record, lambda: datetime.now(timezone.utc)), reader=log,
                    releases=ReleaseLog(log, log.sender(topics.RELEASES)),
                    exports=ReleaseLog(log, log.sender(topics.EXPORTS), topics.EXPORTS, decode_export_receipt,
                                       receipt_table))
    app = faust.App("served-parts-test", broker="kafka://127.0.0.1:9", web_port=1)  # never started
    for part in parts:
        part.install(app, worker)
    web_guard.install(app.web.web_app, web_guard.our_routes(app.web.web_app))
    loop = asyncio.new_event_loop()  # one loop for the server and every request of a test
    client = TestClient(TestServer(app.web.web_app, loop=loop), loop=loop)
    loop.run_until_complete(client.start_server())
    return Served(loop, client, worker, log)

"""The auditors' and the admin's routes: POST /access-log (a command's read recorded before it reads the
log), GET /state/digest (the store's digest, to verify against a rebuild) and the erasure of a natural
person's personal information (streams/erasure.py)."""
from __future__ import annotations

import asyncio
from dataclasses import replace

import faust

from projections import access
from projections.access import AUDIT_READ_BYTES_MAX, audit_read
from projections.validate import EdgeContext, problems_as_dicts, validate_event
from streams.codec import encode_event
from streams.erasure import ERASE_BODY_BYTES_MAX, erase_problems, erasure_event
from streams.http_json import json_response, read_body
from streams.outputs import DeliveryError
from streams.pii import KeyStoreError
from streams.worker import Worker


def install(app, worker: Worker) -> None:
    install_erase(app, worker)
    install_reads(app, worker)


def install_reads(app, worker: Worker) -> None:
    gate, store = worker.gate, worker.store

    @app.page("/access-log")
    class AuditReads(faust.web.View):
        """POST /access-log: a command about to read the ledger from Kafka itself (`history`, `report`,
        `verify`) has its read recorded first, as the principal its token names: {"action": "history" or
        "verify", "subject_id": the subject or null for the whole log, "command": what it reads}. 201 once
        the record is on credit.access-log; the command reads nothing without it (the auditor's Kafka
        user may read the ledger but write nothing, so the record comes from here)."""

        async def post(self, request):
            body = await read_body(request, AUDIT_READ_BYTES_MAX)
            read, problems = audit_read(body)
            if problems:
                return json_response(self.web, {"errors": problems_as_dicts(problems)}, 400)
            principal, refusal = await gate.admit(request, read["action"], read["command"], read["subject_id"])
            if refusal:
                return json_response(self.web, *refusal)
            return json_response(self.web, {"recorded": True, "principal": principal.name}, 201)

    @app.page("/state/digest")
    async def state_digest(web, request):
        # Computed between two batches (the fold runs on this loop): a consistent snapshot.
        _, refusal = await gate.admit(request, "verify", "GET /state/digest")
        if refusal:
            return json_response(web, *refusal)
        return json_response(web, store.state_digest())


def install_erase(app, worker: Worker) -> None:
    gate, key_store, clock = worker.gate, worker.key_store, worker.clock

    @app.page("/subjects/{subject_id}/personal-info/erase")
    class ErasePersonalInfo(faust.web.View):
        """POST {"reason": "..."}: erase a natural person's personal information for good (streams/erasure.py).
        200 {subject_id, erased_at, keys_erased, newly_erased, event_id, partition, offset}; 400 a bad request,
        401/403 not the admin, 404 no key of it ever, 503 no key store (sealing off) or the broker away."""

        async def post(self, request, subject_id: str):
            principal, refusal = gate.check(request, "erase_personal_info")
            if refusal:
                return json_response(self.web, *refusal)
            reason, problems = erase_problems(subject_id, await read_body(request, ERASE_BODY_BYTES_MAX))
            if problems:
                return json_response(self.web, {"errors": problems_as_dicts(problems)}, 400)
            if key_store is None:
                return json_response(self.web, {"errors": [{"field": "$", "rule": "unavailable", "message": (
                    "this worker seals no personal information (pii_key_store = off): there is none to erase")}]}, 503)
            loop = asyncio.get_running_loop()
            try:
                if not await loop.run_in_executor(None, key_store.known, subject_id):
                    return json_response(self.web, {"error": f"no personal information of {subject_id} in the key "
                                                             "store: nothing to erase"}, 404)
                decision = access.endpoint_decision(principal, "erase_personal_info", subject_id)
                await gate.log(replace(decision, reason=f"{decision.reason}: {reason}"),
                               "POST /subjects/{id}/personal-info/erase")
                erased = await loop.run_in_executor(None, key_store.erase, subject_id, reason, principal.name)
                marker = await loop.run_in_executor(None, key_store.erasure, subject_id)
            except KeyStoreError as error:
                return json_response(self.web, {"errors": [{"field": "$", "rule": "key_store",
                                                            "message": error.reason}]}, 503)
            event, problems = validate_event(erasure_event(subject_id, marker, clock.now(), worker.policy_now()),
                                             EdgeContext(now=clock.now(), pseudonym_key=b"", stamp_recorded_at=False,
                                                         allow_system=True))
            assert not problems, problems  # built from bounded parts: a bug otherwise
            try:  # on the broker before the answer
                partition, offset = await (await worker.send_event(subject_id, encode_event(event)))
            except (DeliveryError, BufferError):
                return json_response(self.web, {"errors": [{"field": "$", "rule": "unavailable", "message": (
                    "the keys are erased, but the erasure's event is not on the broker yet: send the request "
                    "again (the same event, folded once)")}]}, 503)
            return json_response(self.web, {"subject_id": subject_id, "erased_at": marker["erased_at"],
                                            "keys_erased": marker["keys_erased"], "newly_erased": erased,
                                            "event_id": event["event_id"], "partition": partition, "offset": offset})

"""The routes of the upward export's receipts (projections/exports.py): a destination's receipts and cursor,
and the recording of a batch's receipt on credit.exports, the credit office's act (`credit-ledger export`
reads credit.events as the auditor, writes the batch's files and asks for the receipt to be recorded here:
its Kafka user may write nothing)."""
from __future__ import annotations

import faust
from confluent_kafka import KafkaException

from projections.access import endpoint_decision
from projections.canonical import instant_text
from projections.exports import (DESTINATION_RE, REQUEST_BYTES_MAX, last_receipt, receipt_admission,
                                 receipt_request)
from projections.validate import problems_as_dicts
from streams import topics
from streams.codec import encode_export_receipt
from streams.http_json import json_response, read_body
from streams.worker import Worker

RECEIPTS_SHOWN_MAX = 1_000  # newest first


def shown(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "offset"}


def install(app, worker: Worker) -> None:
    gate, exports = worker.gate, worker.exports

    @app.page("/exports")
    class Exports(faust.web.View):
        """GET ?destination=NAME: its receipts, newest first, its cursor (the newest receipt's to_cursor, or
        start) and its next batch's sequence. POST {destination, sequence, batch, from_cursor, to_cursor,
        manifest_sha256, event_count, permit_rows, penalty_rows, withdrawal_rows}: record a batch's receipt
        (an admin's): 201, 200 when that batch was recorded with that manifest already, 409 when the
        destination's next batch is another."""

        async def get(self, request):
            principal, refusal = gate.check(request, "export")
            if refusal:
                return json_response(self.web, *refusal)
            destination = request.query.get("destination", "")
            if not DESTINATION_RE.fullmatch(destination):
                return json_response(self.web, {"errors": [{"field": "destination", "rule": "export_receipt",
                                                            "message": "1 to 40 of a-z, 0-9, - and _"}]}, 400)
            try:
                table = [r for r in await exports.table(fresh=True) if r["destination"] == destination]
            except (KafkaException, OSError) as error:
                return json_response(self.web, {"error": f"{topics.EXPORTS} cannot be read: {error}"}, 503)
            await gate.log(endpoint_decision(principal, "export"), f"GET /exports?destination={destination}")
            last = last_receipt(table, destination)
            return json_response(self.web, {
                "destination": destination, "cursor": last["to_cursor"] if last else "start",
                "next_sequence": (last["sequence"] if last else 0) + 1,
                "receipts": [shown(r) for r in table[::-1][:RECEIPTS_SHOWN_MAX]]})

        async def post(self, request):
            principal, refusal = gate.check(request, "export")
            if refusal:
                return json_response(self.web, *refusal)
            wanted, problems = receipt_request(await read_body(request, REQUEST_BYTES_MAX))
            if problems:
                return json_response(self.web, {"errors": problems_as_dicts(problems)}, 400)
            try:
                async with exports.lock:
                    status, body = receipt_admission(await exports.table(fresh=True), wanted)
                    if status != 201:
                        return json_response(self.web, {"receipt": shown(body)} if status == 200 else body, status)
                    record = {**body, "principal": principal.name, "at": instant_text(worker.clock.now())}
                    await gate.log(endpoint_decision(principal, "export"), "POST /exports")
                    offset = await exports.record(record["destination"].encode(), encode_export_receipt(record))
                    table = await exports.table(fresh=True)
            except (KafkaException, OSError) as error:
                return json_response(self.web, {"error": f"{topics.EXPORTS} cannot be read or written: {error}"}, 503)
            won = next((r for r in table if r["destination"] == record["destination"]
                        and r["sequence"] == record["sequence"]), None)
            if won is None or won["offset"] != offset:  # another run's receipt came first
                return json_response(self.web, {"error": "another receipt of this batch was recorded at the same "
                                                         "moment", "receipt": won and shown(won)}, 409)
            return json_response(self.web, {"receipt": shown(won)}, 201)

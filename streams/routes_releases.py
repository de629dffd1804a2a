"""The routes of the red and black lists' releases (projections/releases.py): the releases recorded on
credit.releases, for everyone, and the recording of one, the credit office's act (`credit-ledger release`
computes the release from credit.events, writes its files and asks for it to be recorded here: its Kafka
user may write nothing)."""
from __future__ import annotations

import faust
from confluent_kafka import KafkaException

from projections.access import endpoint_decision
from projections.canonical import instant_text
from projections.catalogue import LIST_KINDS
from projections.releases import REQUEST_BYTES_MAX, admission, find_release, release_request
from projections.validate import problems_as_dicts
from streams import topics
from streams.codec import encode_release_record
from streams.http_json import json_response, read_body
from streams.worker import Worker

RELEASES_SHOWN_MAX = 1_000  # newest first; a list released daily has 365 a year


def shown(record: dict) -> dict:
    """A release as the public sees it, with where its record is."""
    return {**{k: v for k, v in record.items() if k != "offset"}, "href": f"/releases/{record['number']}"}


def install(app, worker: Worker) -> None:
    gate, releases = worker.gate, worker.releases

    @app.page("/releases")
    class Releases(faust.web.View):
        """GET: the releases recorded, newest first (`?list_kind=RED_LIST`: of one list), and the ledger's
        today (a day can be released from the next on). POST {list_kind, as_of, digest, entry_count}: record
        a release (an admin's): 201 with its new number, 200 when that list and day were released with that
        digest already (the same release), 409 when with another, or when the day is not over."""

        async def get(self, request):
            _, refusal = gate.check(request, "read_list")
            if refusal:
                return json_response(self.web, *refusal)
            kind = request.query.get("list_kind")
            if kind is not None and kind not in LIST_KINDS:
                return json_response(self.web, {"error": f"no such list_kind; lists: {', '.join(LIST_KINDS)}"}, 404)
            table = [r for r in await releases.table() if kind is None or r["list_kind"] == kind]
            return json_response(self.web, {"today": worker.today(),
                                            "releases": [shown(r) for r in table[::-1][:RELEASES_SHOWN_MAX]]})

        async def post(self, request):
            principal, refusal = gate.check(request, "release")
            if refusal:
                return json_response(self.web, *refusal)
            wanted, problems = release_request(await read_body(request, REQUEST_BYTES_MAX))
            if problems:
                return json_response(self.web, {"errors": problems_as_dicts(problems)}, 400)
            try:
                async with releases.lock:
                    status, body = admission(await releases.table(fresh=True), wanted, worker.today())
                    if status != 201:
                        return json_response(self.web, {"release": shown(body)} if status == 200 else body, status)
                    record = {**body, "principal": principal.name, "at": instant_text(worker.clock.now())}
                    await gate.log(endpoint_decision(principal, "release"), "POST /releases")
                    offset = await releases.record(record["list_kind"].encode(), encode_release_record(record))
                    won = find_release(await releases.table(fresh=True), record["list_kind"], record["as_of"])
            except (KafkaException, OSError) as error:
                return json_response(self.web, {"error": f"{topics.RELEASES} cannot be read or written: {error}"}, 503)
            if won is None or won["offset"] != offset:  # another worker's record came first
                return json_response(self.web, {"error": "another release of this list and day was recorded at "
                                                         "the same moment", "release": won and shown(won)}, 409)
            return json_response(self.web, {"release": shown(won)}, 201)

    @app.page("/releases/{number}")
    async def release(web, request, number: str):
        """One release's record: number, list, day, digest of its CSV, entry count, who recorded it, when."""
        _, refusal = gate.check(request, "read_list")
        if refusal:
            return json_response(web, *refusal)
        found = next((r for r in await releases.table() if r["number"] == number), None)
        if found is None:
            return json_response(web, {"error": "no release of that number (numbers are LIST_KIND-YEAR-NNN)"}, 404)
        return json_response(web, shown(found))

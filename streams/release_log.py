"""credit.releases as the worker holds it: the records read from the topic (one partition), the valid
releases derived from them (projections.releases.release_table), and the one way a release is recorded.
The same for credit.exports, the upward export's receipts (projections.exports.receipt_table): a ReleaseLog
of that topic, its decoder and its table.

Every read is the log's: the table is re-read when the topic's end moved (a watermark request) and at most
every REFRESH_MIN_S for the public pages, always before a release is recorded. A record this worker wrote
counts only once the table read back from the log shows it won (first recorded wins), so two workers
recording the same list and day at once cannot both answer 201.
"""
from __future__ import annotations

import asyncio
import logging
import time

from confluent_kafka import KafkaException

from projections.releases import release_table
from streams import topics
from streams.codec import CodecError, decode_release_record

log = logging.getLogger(__name__)

REFRESH_MIN_S = 5.0  # the public pages see a release recorded by another worker within this


class ReleaseLog:
    def __init__(self, reader, send, topic: str = topics.RELEASES, decode=decode_release_record, derive=release_table):
        self._reader = reader  # streams.ledger_reader.TopicReader, or an in-memory log of its interface
        self._send = send  # async (key, value) -> RecordMetadata once the broker has it
        self._topic, self._decode, self._derive = topic, decode, derive  # bytes -> record; records -> table
        self._records: list[dict] = []
        self._next_offset = 0
        self._read_at_s = float("-inf")
        self.undecodable = 0
        self.lock = asyncio.Lock()  # one recording at a time in this worker
        self._reading = asyncio.Lock()  # one read of the topic at a time

    def _read_new(self) -> None:
        (low, high), = self._reader.watermarks(self._topic).values()
        start = max(low, self._next_offset)
        for offset, _, value, _ in self._reader.read_range(self._topic, 0, start, high):
            try:
                self._records.append({**self._decode(value or b""), "offset": offset})
            except CodecError:
                self.undecodable += 1
        self._next_offset = max(self._next_offset, high)
        self._read_at_s = time.monotonic()

    async def table(self, fresh: bool = False) -> list[dict]:
        """The valid releases, in the order recorded; `fresh`: read to the log's end now."""
        async with self._reading:
            if fresh or time.monotonic() - self._read_at_s >= REFRESH_MIN_S:
                try:
                    await asyncio.get_running_loop().run_in_executor(None, self._read_new)
                except (KafkaException, OSError) as error:  # OSError: a timeout, a refused connection
                    if fresh:
                        raise
                    log.warning("%s unreadable, its last table shown: %s", self._topic, error)
        return self._derive(self._records)

    async def record(self, key: bytes, value: bytes) -> int:
        """Write one record and wait for the broker; its offset."""
        written = await self._send(key, value)
        return written.offset

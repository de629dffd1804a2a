"""Avro's date and timestamp-micros values in the JSON form of the ledger's records: an ISO date, and
an ISO instant in +08:00 (China has no daylight saving time). The generated reader
(avro_schemas/codecs.py) and streams/codec.py both convert with these."""
from __future__ import annotations

import functools
from datetime import date

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
CST_OFFSET_US = 8 * 3600 * 1_000_000
US_PER_S = 1_000_000
S_PER_DAY = 86_400


@functools.lru_cache(maxsize=8_192)  # a decoded event has two or three dates, mostly recent days
def iso_date(days: int) -> str:
    """Days since 1970-01-01 as an ISO date."""
    return date.fromordinal(EPOCH_ORDINAL + days).isoformat()


def iso_instant(micros: int) -> str:
    """Microseconds since the epoch as an ISO instant in +08:00: what (the epoch in +08:00 +
    timedelta(microseconds=micros)).isoformat() gives, without building the datetime: every event
    has one, and this is half the cost."""
    seconds, fraction = divmod(micros + CST_OFFSET_US, US_PER_S)
    days, seconds = divmod(seconds, S_PER_DAY)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    if fraction:
        return "%sT%02d:%02d:%02d.%06d+08:00" % (iso_date(days), hour, minute, second, fraction)
    return "%sT%02d:%02d:%02d+08:00" % (iso_date(days), hour, minute, second)

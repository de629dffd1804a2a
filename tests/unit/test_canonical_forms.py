"""Fast paths that read the canonical form of a value give what parsing it gives."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from projections.canonical import instant_text
from projections.records import recorded_day
from projections.validate import CANONICAL_UUID_RE

offsets = st.integers(-12 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)), offsets)
def test_the_recorded_day_of_the_canonical_instant_is_that_of_any_other_form(moment, zone):
    moment = moment.replace(tzinfo=zone)
    canonical = instant_text(moment)
    assert recorded_day({"recorded_at": canonical}) == recorded_day({"recorded_at": moment.isoformat()})
    assert canonical.endswith("+08:00")


@given(st.uuids())
def test_a_canonical_uuid_is_what_parsing_it_gives_and_other_spellings_are_not_canonical(value):
    text = str(value)
    assert CANONICAL_UUID_RE.fullmatch(text) and str(uuid.UUID(text)) == text
    assert not CANONICAL_UUID_RE.fullmatch(text.upper()) or text == text.upper()
    assert not CANONICAL_UUID_RE.fullmatch(value.hex) and not CANONICAL_UUID_RE.fullmatch("{" + text + "}")
    assert not CANONICAL_UUID_RE.fullmatch(text + "\n")

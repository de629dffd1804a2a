"""Quotas per principal (projections/quotas.py), on an injected clock, and their numbers in the policy."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.canonical import SHANGHAI
from projections.policy import DEFAULT_POLICY, parse_policy
from projections.quotas import (EVENTS_PER_MINUTE, EVENTS_PER_SUBJECT_PER_DAY, Limits, Quotas, TokenBucket,
                                shanghai_day)

LIMITS = Limits(events_per_minute=60, events_per_subject_per_day=3, rejections_recorded_per_minute=6)
T0 = datetime(2026, 5, 6, 10, 0, tzinfo=SHANGHAI).timestamp()


def test_a_minute_quota_lets_a_burst_through_then_its_rate():
    quotas = Quotas()
    assert quotas.lines("szscjg", 50, LIMITS, T0) == (50, None)
    granted, refusal = quotas.lines("szscjg", 20, LIMITS, T0)
    assert granted == 10 and refusal.rule == EVENTS_PER_MINUTE and refusal.retry_after_s == 1
    assert "60 events a minute" in refusal.message
    granted, refusal = quotas.lines("szscjg", 1, LIMITS, T0 + 0.5)  # half a token back
    assert granted == 0 and refusal.retry_after_s == 1
    assert quotas.lines("szscjg", 1, LIMITS, T0 + 1.0) == (1, None)  # 60 a minute: one a second
    assert quotas.lines("szscjg", 30, LIMITS, T0 + 31.0)[0] == 30
    # another principal has its own bucket
    assert quotas.lines("hzscjg", 60, LIMITS, T0 + 1.0) == (60, None)


def test_retry_after_says_when_the_lines_asked_for_would_pass():
    quotas = Quotas()
    slow = Limits(events_per_minute=6, events_per_subject_per_day=3, rejections_recorded_per_minute=6)  # one in 10 s
    quotas.lines("p", 6, slow, T0)
    _, refusal = quotas.lines("p", 1, slow, T0 + 3)
    assert refusal.retry_after_s == 7
    assert quotas.lines("p", 1, slow, T0 + 3 + 6.9)[0] == 0
    assert quotas.lines("p", 1, slow, T0 + 3 + 7)[0] == 1


def test_a_clock_stepping_back_refills_nothing():
    bucket = TokenBucket(10, 1.0, T0)
    assert bucket.take_up_to(10, T0) == 10
    assert bucket.take_up_to(1, T0 - 3600) == 0
    assert bucket.take_up_to(5, T0 + 5) == 5


@given(st.lists(st.tuples(st.floats(0, 30), st.integers(0, 40)), max_size=40))
@settings(max_examples=200, deadline=None)
def test_no_minute_lets_through_more_than_the_quota_and_its_refill(steps):
    """Over any run, what passes is at most the burst plus the refill of the time elapsed."""
    quotas, now_s, passed = Quotas(), T0, 0
    for wait_s, wanted in steps:
        now_s += wait_s
        granted, refusal = quotas.lines("p", wanted, LIMITS, now_s)
        assert 0 <= granted <= wanted and (refusal is None) == (granted == wanted)
        passed += granted
        assert passed <= LIMITS.events_per_minute + (now_s - T0) * LIMITS.events_per_minute / 60 + 1e-6


def test_events_per_subject_per_day_until_midnight_in_shanghai():
    quotas = Quotas()
    for _ in range(3):
        assert quotas.subject("p", "91440300MA5FXXXX1X", LIMITS, T0) is None
    refusal = quotas.subject("p", "91440300MA5FXXXX1X", LIMITS, T0)
    assert refusal.rule == EVENTS_PER_SUBJECT_PER_DAY and refusal.retry_after_s == 14 * 3600  # 10:00 to 24:00
    assert quotas.subject("p", "another subject", LIMITS, T0) is None  # per subject
    assert quotas.subject("q", "91440300MA5FXXXX1X", LIMITS, T0) is None  # per principal
    assert quotas.subject("p", "91440300MA5FXXXX1X", LIMITS, T0 + 14 * 3600) is None  # the next day


def test_shanghai_day_and_the_seconds_left():
    assert shanghai_day(datetime(2026, 5, 6, 23, 59, 59, tzinfo=SHANGHAI).timestamp()) == ("2026-05-06", 1)
    assert shanghai_day(datetime(2026, 5, 6, 16, 0, tzinfo=SHANGHAI).timestamp()) == ("2026-05-06", 8 * 3600)


def test_the_tables_are_bounded_least_recently_used_first():
    quotas = Quotas(max_buckets=3, max_subject_days=5)
    for n in range(10):
        quotas.lines(f"p{n}", 1, LIMITS, T0)
        quotas.subject("p", f"s{n}", LIMITS, T0)
    assert quotas.sizes() == (3, 5)
    # the oldest were dropped: a subject counted long ago starts again
    assert all(quotas.subject("p", "s0", LIMITS, T0) is None for _ in range(3))


def test_rejections_written_are_bounded_per_principal():
    quotas = Quotas()
    assert [quotas.may_record_rejection("p", LIMITS, T0) for _ in range(8)] == [True] * 6 + [False] * 2
    assert quotas.may_record_rejection("q", LIMITS, T0)
    assert quotas.may_record_rejection("p", LIMITS, T0 + 10)  # 6 a minute: one each 10 s


def test_a_new_policy_number_takes_effect_at_once():
    quotas = Quotas()
    quotas.lines("p", 60, LIMITS, T0)
    assert quotas.lines("p", 100, replace(LIMITS, events_per_minute=600), T0)[0] == 100


def test_the_policy_carries_the_quotas_and_refuses_bad_ones():
    assert DEFAULT_POLICY.quota_limits("publisher").events_per_minute == 6000
    assert DEFAULT_POLICY.quota_limits("admin").events_per_subject_per_day == 100_000
    assert 1 <= DEFAULT_POLICY.events_per_authority_per_subject <= 100_000
    from projections import policy as module
    from pathlib import Path

    text = (Path(module.__file__).parent / "policies" / "2024.1.yaml").read_text(encoding="utf-8")
    for bad, key in (("{publisher: 6000, admin: 6000000}", "quotas.events_per_minute"),
                     ("events_per_authority_per_subject: 10000", "quotas.events_per_authority_per_subject")):
        broken = text.replace(bad, "{publisher: 0}" if "{" in bad else "events_per_authority_per_subject: 0")
        with pytest.raises(ValueError, match=key.replace(".", r"\.")):
            parse_policy(broken, "broken.yaml")
    with pytest.raises(ValueError, match="quotas.events_per_minute: missing"):
        parse_policy(text.replace("  events_per_minute: {publisher: 6000, admin: 6000000}\n", ""), "short.yaml")


def test_the_minute_quota_and_the_rejection_records_are_counted_apart():
    """Each rule its own bucket: spending a principal's lines leaves its rejection records untouched."""
    quotas, limits, now_s = Quotas(), Limits(events_per_minute=3, events_per_subject_per_day=10,
                                             rejections_recorded_per_minute=2), 1_000_000.0
    assert quotas.lines("p", 5, limits, now_s)[0] == 3  # the minute's three lines, no more
    assert [quotas.may_record_rejection("p", limits, now_s) for _ in range(3)] == [True, True, False]


def test_retry_after_is_one_second_when_a_token_is_there_and_counts_up_when_not():
    bucket = TokenBucket(capacity=60, per_s=1.0, now_s=0.0)
    assert bucket.retry_after_s(0.0) == 1  # a token is there: try again at once (at least 1 s)
    assert bucket.take_up_to(60, 0.0) == 60
    assert bucket.retry_after_s(0.0) == 1 and bucket.retry_after_s(0.25) == 1  # 0.75 of a token missing
    slow = TokenBucket(capacity=2, per_s=2 / 60, now_s=0.0)
    assert slow.take_up_to(2, 0.0) == 2 and slow.retry_after_s(0.0) == 30  # a token every 30 s

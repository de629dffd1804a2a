"""The bench's event stream: each part takes its events whole, or the run stops saying which part ran short."""
from itertools import islice

import pytest

from ops.bench_suite import LAG_SHARE_OF_FOLD, QUICK, mixed_events, taken

# a fold rate above any this 2-core machine has measured with two fold processes (~9,800 events/s)
FOLD_RATE_ABOVE_MEASURED_PER_S = 16_000


def test_a_short_stream_names_the_part_that_ran_short():
    events = iter(islice(mixed_events(12), 20))
    assert len(taken(events, 15, "the edge")) == 15
    with pytest.raises(RuntimeError, match=r"ran out in the direct produce: 5 of 10 left"):
        taken(events, 10, "the direct produce")


def test_the_quick_scale_holds_every_part_a_fast_worker_takes():
    lag_offer = int(FOLD_RATE_ABOVE_MEASURED_PER_S * LAG_SHARE_OF_FOLD * QUICK.lag_s)
    needed = QUICK.events + QUICK.lag_backlog_events + lag_offer + 2 * QUICK.edge_events
    assert sum(1 for _ in mixed_events(QUICK.subjects)) >= needed

"""free_port: the test processes pick their servers' ports from slices of their own, and no process hands
out a port, or the one after it (a broker's controller), twice while a server may still be binding it."""
from __future__ import annotations

import pytest

from ops import embedded_kafka
from ops.embedded_kafka import free_port, listen_ports, share_listen_ports


@pytest.fixture
def share(monkeypatch):
    monkeypatch.setattr(embedded_kafka, "_share", embedded_kafka._share)  # restored after the test
    monkeypatch.setattr(embedded_kafka, "_handed_out", type(embedded_kafka._handed_out)(
        maxlen=embedded_kafka._handed_out.maxlen))
    return share_listen_ports


def test_the_slices_of_three_processes_are_disjoint_and_cover_the_range(share):
    share(0, 1)
    whole = listen_ports()
    slices = []
    for index in range(3):
        share(index, 3)
        slices.append(listen_ports())
        picks = [free_port() for _ in range(100)]
        assert all(slices[-1][0] <= port < slices[-1][1] - 1 for port in picks)
    assert slices[0][0] == whole[0] and all(a[1] == b[0] for a, b in zip(slices, slices[1:]))
    assert whole[1] - 3 < slices[-1][1] <= whole[1]


def test_a_port_and_its_next_are_not_handed_out_again(share):
    share(0, 1)
    picks = [free_port() for _ in range(500)]
    taken = set(picks) | {port + 1 for port in picks}
    assert len(taken) == 2 * len(picks)  # no port picked twice, none the next of another


def test_a_slice_is_checked(share):
    for index, count in [(3, 3), (-1, 2), (0, 0), (0, 65)]:
        with pytest.raises(ValueError, match="slice"):
            share(index, count)

"""The SIGUSR1 stack dump (streams/stack_dump.py): a waiting task is shown down to where it waits."""
from __future__ import annotations

import asyncio
import logging

from streams.stack_dump import AWAIT_CHAIN_MAX, awaited_frames, dump_stacks


async def innermost(forever: asyncio.Event) -> None:
    await forever.wait()


async def outer(forever: asyncio.Event) -> None:
    await innermost(forever)


async def deep(depth: int, forever: asyncio.Event) -> None:
    if depth:
        await deep(depth - 1, forever)
    else:
        await forever.wait()


def test_a_waiting_task_is_shown_down_to_its_innermost_await(caplog):
    async def main():
        forever = asyncio.Event()
        stuck = asyncio.create_task(outer(forever), name="stuck-task")
        too_deep = asyncio.create_task(deep(AWAIT_CHAIN_MAX * 2, forever))
        await asyncio.sleep(0)  # both are waiting now
        frames, deep_frames = awaited_frames(stuck), awaited_frames(too_deep)
        with caplog.at_level(logging.WARNING, logger="streams.stack_dump"):
            dump_stacks()
        stuck.cancel()
        too_deep.cancel()
        return frames, deep_frames
    frames, deep_frames = asyncio.run(main())
    assert [frame.rsplit(" in ", 1)[1] for frame in frames] == ["outer", "innermost", "wait"]
    assert len(deep_frames) == AWAIT_CHAIN_MAX
    assert "task stuck-task waits at:" in caplog.text and "in innermost" in caplog.text

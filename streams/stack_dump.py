"""`kill -USR1 <worker pid>` writes the stack of every asyncio task and thread to the log: where a
worker that stopped folding is waiting (a broker-restart test saw one, 1 run in ~10)."""
from __future__ import annotations

import asyncio
import faulthandler
import logging
import signal
import sys

log = logging.getLogger(__name__)

AWAIT_CHAIN_MAX = 50  # frames shown of one task


def install(app, worker) -> None:
    """The SIGUSR1 handler, set from a task of the app (it needs the running loop)."""
    app.task(dump_stacks_on_sigusr1)


async def dump_stacks_on_sigusr1():
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_stacks)


def awaited_frames(task: asyncio.Task) -> list[str]:
    """"file:line in function" down the task's chain of awaits to the innermost, AWAIT_CHAIN_MAX at most
    (asyncio's own stack of a task stops at its outer frame)."""
    frames, awaited = [], task.get_coro()
    while awaited is not None and len(frames) < AWAIT_CHAIN_MAX:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            frames.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return frames


def dump_stacks() -> None:
    """Where every asyncio task waits, then every thread's stack (faulthandler), to the log."""
    for task in asyncio.all_tasks():
        log.warning("task %s waits at:\n%s", task.get_name(), "\n".join(awaited_frames(task)))
    faulthandler.dump_traceback(file=sys.__stderr__, all_threads=True)  # mode swaps sys.stderr for a logger

"""Cancellation that reaches the work it is meant to stop (the request time limit, shutdown).

A task is cancelled once: ``task.cancel()`` throws one ``CancelledError`` into it at its next
suspension, and counts the request (``task.cancelling()``) until whoever handles it calls
``uncancel()`` (``asyncio.timeout`` does, turning it into ``TimeoutError``). A library that
catches the ``CancelledError`` and carries on loses it for good, and the task then runs to its
end. PyMongo's async client does so on Python 3.11: it sends each command through
``asyncio.wait_for``, whose 3.11 version returns the result instead of raising when the
cancellation arrives just as the awaited write has finished (CPython gh-86296, fixed in 3.12).
A MongoDB transaction cut by the request time limit then went on to its COMMIT and answered
200 long after the limit.

:func:`raise_lost_cancellation` raises such a lost cancellation again; the MongoDB store calls
it after every store call and before a COMMIT, and the Bundle processor at :func:`checkpoint`
between entries (which also lets a due time limit fire inside a SQLite transaction, whose
synchronous work never suspends otherwise). Work that has been committed is never reported as
cancelled: stores return normally from a COMMIT that succeeded, whatever arrived meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


def cancellation_pending() -> bool:
    """The current task was asked to stop and nobody has handled the request yet."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def raise_lost_cancellation() -> None:
    """Raise ``CancelledError`` if the current task was cancelled but goes on: the cancellation
    was swallowed on its way (call it only where no ``CancelledError`` is being handled)."""
    if cancellation_pending():
        raise asyncio.CancelledError


async def checkpoint() -> None:
    """A point where cancelled work stops: lets the event loop run (a due deadline fires) and
    raises a cancellation lost before."""
    await asyncio.sleep(0)
    raise_lost_cancellation()


async def finish(awaitable: Awaitable[T]) -> tuple[asyncio.Future[T], bool]:
    """Run ``awaitable`` to its end even through cancellations (a COMMIT or an abort must not be
    left half done): the finished future, and whether the waiting task was cancelled meanwhile.
    The caller decides what the cancellation means once the outcome is known."""
    done = asyncio.ensure_future(awaitable)
    cancelled = False
    while not done.done():
        try:
            await asyncio.wait({done})  # unlike awaiting it, a cancellation here leaves it running
        except asyncio.CancelledError:
            cancelled = True
    return done, cancelled

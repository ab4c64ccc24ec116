"""Write conflicts between transactions of different processes (MongoDB with ``--workers N`` or
several hosts; SQLite's write lock never lets two transactions overlap).

A transaction that loses a conflict has written nothing, so the request is simply run again:
its new snapshot then holds what the winner committed (a conditional create finds the
resource the winner created and answers 200). Only a request that keeps losing gets 409, and a
request cancelled meanwhile (the request time limit) is not run again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fhir_server.errors import Conflict
from fhir_server.store.cancellation import raise_lost_cancellation

T = TypeVar("T")
ATTEMPTS = 6
FIRST_PAUSE_SECONDS = 0.02
"""Pause before the second attempt, doubled each time, ±50 % at random so racers spread out."""


class TransactionConflict(Conflict):
    """Another transaction wrote the same documents first; nothing of this one was written."""


async def retrying(work: Callable[[], Awaitable[T]]) -> T:
    """``work()`` (a whole request, opening its own transactions), again after a lost conflict."""
    for attempt in range(ATTEMPTS - 1):
        try:
            return await work()
        except TransactionConflict:
            await asyncio.sleep(FIRST_PAUSE_SECONDS * 2**attempt * random.uniform(0.5, 1.5))
            raise_lost_cancellation()
    return await work()

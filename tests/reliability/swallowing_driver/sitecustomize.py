"""Loaded at start by a server process whose PYTHONPATH names this folder (test_limits): PyMongo's
connections swallow every cancellation that reaches them while they send or receive, finishing
the operation instead. PyMongo does so by chance on Python 3.11, when a cancellation lands just
as a write has finished (``asyncio.wait_for``, CPython gh-86296); here it always does, so the
test sees what the store does with a driver that never lets a cancellation through. The real
client still talks to a real server: only the cancellation is lost.
"""

import asyncio

from pymongo.asynchronous.pool import AsyncConnection


def _swallowing(method):
    async def wrapper(self, *args, **kwargs):
        work = asyncio.ensure_future(method(self, *args, **kwargs))
        while not work.done():
            try:
                await asyncio.wait({work})
            except asyncio.CancelledError:
                pass  # lost, as in asyncio.wait_for on Python 3.11
        return work.result()

    return wrapper


for _name in ("send_message", "receive_message"):
    setattr(AsyncConnection, _name, _swallowing(getattr(AsyncConnection, _name)))

"""Issue 10.5: shutdown stops background tasks even when one absorbs a cancellation, as a task
committing to SQLite does (the COMMIT it started finishes and is reported done)."""

from __future__ import annotations

import asyncio

from fhir_server.background import cancel_and_wait


def test_a_task_that_absorbs_a_cancellation_is_cancelled_again() -> None:
    cancellations: list[int] = []

    async def like_a_keeper() -> None:
        while True:  # a loop that goes on after its write, as the MR status keeper does
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancellations.append(1)
                if len(cancellations) == 1:
                    continue  # the first cancellation came during a COMMIT: absorbed
                raise

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(like_a_keeper()), loop.create_task(asyncio.sleep(10))]
        await asyncio.sleep(0)
        started = loop.time()
        await cancel_and_wait(tasks)
        assert all(task.done() for task in tasks)
        return loop.time() - started

    assert asyncio.run(asyncio.wait_for(scenario(), timeout=5)) < 1
    assert len(cancellations) == 2

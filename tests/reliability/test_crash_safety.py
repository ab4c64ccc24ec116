"""Crash safety (issue 11.1): rounds of concurrent creates, If-Match updates and transactions
against the server process, ended by ``kill -9`` at a random moment. After each crash the
SQLite file passes ``PRAGMA integrity_check`` and the store's invariants as the crash left it
(no repair step), and the restarted server shows every acknowledged write at its acknowledged
version and content, each transaction entirely or not at all, each unanswered create at most
once. A last pass re-checks every round's writes, to catch damage done to older data.

Short version 3 rounds, long version (FHIR_RELIABILITY=long) 20; the seed of the kill moments
and of the writers is in the figures.
"""

from __future__ import annotations

import asyncio
import random

from crash_checks import ledger_problems, store_problems
from crash_workload import Ledger, write_until_killed

WRITERS = 8


async def _problems(server, ledgers: list[Ledger]) -> list[str]:
    async with server.async_client() as client:
        return [p for ledger in ledgers for p in await ledger_problems(ledger, client)]


def test_acknowledged_writes_survive_kill_9(servers, tmp_path, scale, figures):
    data = tmp_path / "data"
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    ledgers: list[Ledger] = []
    for round_ in range(scale.crash_rounds):
        server = servers(data)
        assert asyncio.run(_problems(server, ledgers[-1:])) == [], f"after round {round_ - 1} (seed {seed})"
        ledger = Ledger(round_)
        asyncio.run(write_until_killed(ledger, server, WRITERS, rng.uniform(0.3, 1.5), rng.randrange(2**32)))
        assert server.proc.returncode == -9
        assert store_problems(data / "fhir.sqlite3") == [], f"round {round_} (seed {seed})"
        assert ledger.acknowledged > 0
        ledgers.append(ledger)
    final = servers(data)
    assert asyncio.run(_problems(final, ledgers)) == [], f"seed {seed}"
    final.stop()
    assert store_problems(data / "fhir.sqlite3") == []
    acknowledged = sum(ledger.acknowledged for ledger in ledgers)
    in_doubt = sum(len(ledger.in_doubt) + len(ledger.lost_creates) for ledger in ledgers)
    unanswered_tx = sum(1 for ledger in ledgers for t in ledger.transactions.values() if t is None)
    figures.append(
        f"crash: {scale.crash_rounds} kill -9 rounds x {WRITERS} writers (seed {seed}): {acknowledged} acknowledged "
        f"writes all read back, {in_doubt} single writes and {unanswered_tx} transactions in flight at the kills"
    )

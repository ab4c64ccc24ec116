"""Keep MR CareTeam statuses true to their dates: ``inactive`` once ``period.end`` has passed.

Runs at start and then every few minutes; each change is a new version, as if the CNS
had closed the relationship on the first day after its last day (R5/R6).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from fhir_server.api.mr.facts import MrFacts
from fhir_server.fhir import lu_names as names

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 600


async def close_ended_relationships(facts: MrFacts) -> int:
    """Set to inactive every active MR CareTeam whose last day is before today; how many."""
    today = datetime.now(facts.tz).date()
    params = [
        ("status", "active"),
        ("category", f"{names.CARETEAM_CATEGORY}|{names.ROLE_MR}"),
        ("date", f"eb{today.isoformat()}"),
    ]
    closed = 0
    async with facts.repository.transaction() as tx:
        for team in await facts.all_matches(tx, "CareTeam", params):
            if (team.get("period") or {}).get("end"):
                await facts.repository.update("CareTeam", team["id"], {**team, "status": "inactive"}, tx=tx)
                closed += 1
    return closed


async def keep_statuses(facts: MrFacts) -> None:
    while True:
        try:
            closed = await close_ended_relationships(facts)
            if closed:
                log.info("MR relationships ended: %d care teams now inactive", closed)
        except Exception:  # keep the loop alive; the next round retries
            log.exception("closing ended MR relationships failed")
        await asyncio.sleep(INTERVAL_SECONDS)

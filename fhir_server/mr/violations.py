"""What a rule answers when it says no: :class:`RuleViolation`, naming its rule.

Part B turns each violation into one OperationOutcome issue (``severity`` error → 422 or a
refused ClaimResponse item; warning → an informational issue).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["RuleViolation"]


@dataclass(frozen=True, slots=True)
class RuleViolation:
    """One failed rule: ``rule`` is the rule-book number ("R1" … "R13"), ``message`` starts
    with it ("R1: no recognised ALD on 2024-11-10"), ``code`` is a stable machine-readable
    reason ("no-ald", "r11-24h", …) and ``severity`` is "error" (refused) or "warning"
    (flagged, not refused — R11's multi-doctor pattern)."""

    rule: str
    message: str
    code: str = ""
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return self.message


def violation(rule: str, code: str, text: str, *, severity: Literal["error", "warning"] = "error") -> RuleViolation:
    """Build a violation whose message is prefixed with its rule: ``"R4: text"``."""
    return RuleViolation(rule=rule, message=f"{rule}: {text}", code=code, severity=severity)

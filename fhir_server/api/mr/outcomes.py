"""Rule-book answers as FHIR: violations → OperationOutcome issues, values → Parameters."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir_server.errors import BadRequest, Issue, Unprocessable
from fhir_server.mr.violations import RuleViolation


def issues_of(violations: tuple[RuleViolation, ...] | list[RuleViolation]) -> list[Issue]:
    return [
        Issue("business-rule", v.message, severity="error" if v.severity == "error" else "warning") for v in violations
    ]


def refuse(violations: tuple[RuleViolation, ...] | list[RuleViolation]) -> None:
    """422 with one issue per failed rule, each naming its rule ("R1: …")."""
    errors = [v for v in violations if v.severity == "error"]
    if errors:
        raise Unprocessable(errors[0].message, issues=issues_of(violations))


def date_parameter(value: Any, name: str, *, required: bool = True) -> date | None:
    if value is None:
        if required:
            raise BadRequest(f"Parameter '{name}' (a date, YYYY-MM-DD) is required")
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise BadRequest(f"Parameter '{name}' must be a date (YYYY-MM-DD), not '{value}'") from None


def parameter(name: str, value: Any) -> dict[str, Any]:
    """One Parameters.parameter with the value[x] its Python type calls for."""
    if isinstance(value, bool):
        return {"name": name, "valueBoolean": value}
    if isinstance(value, date):
        return {"name": name, "valueDate": value.isoformat()}
    if isinstance(value, int):
        return {"name": name, "valueInteger": value}
    if isinstance(value, dict) and "reference" in value:
        return {"name": name, "valueReference": value}
    return {"name": name, "valueString": str(value)}

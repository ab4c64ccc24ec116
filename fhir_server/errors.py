"""One error vocabulary for the whole server.

Every layer raises :class:`FhirError` (or a subclass); the HTTP layer turns it into an
OperationOutcome with the status from the class (https://hl7.org/fhir/R4/operationoutcome.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Issue:
    code: str  # IssueType: invalid, structure, required, value, not-found, conflict, ...
    diagnostics: str
    severity: str = "error"
    expression: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


class FhirError(Exception):
    status = 500
    issue_code = "exception"
    headers: dict[str, str] = {}  # noqa: RUF012 - extra response headers (e.g. WWW-Authenticate), set per instance

    def __init__(self, diagnostics: str, *, issues: list[Issue] | None = None, expression: str | None = None):
        super().__init__(diagnostics)
        self.issues = issues or [Issue(self.issue_code, diagnostics, expression=(expression,) if expression else ())]

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


class BadRequest(FhirError):
    status = 400
    issue_code = "invalid"


class Unprocessable(FhirError):
    status = 422
    issue_code = "processing"


class Forbidden(FhirError):
    status = 403
    issue_code = "forbidden"


class NotFound(FhirError):
    status = 404
    issue_code = "not-found"


class Gone(FhirError):
    status = 410
    issue_code = "deleted"


class MethodNotAllowed(FhirError):
    status = 405
    issue_code = "not-supported"


class NotAcceptable(FhirError):
    status = 406
    issue_code = "not-supported"


class Conflict(FhirError):
    status = 409
    issue_code = "conflict"


class PreconditionFailed(FhirError):
    status = 412
    issue_code = "conflict"


class PayloadTooLarge(FhirError):
    status = 413
    issue_code = "too-costly"


class UnsupportedMediaType(FhirError):
    status = 415
    issue_code = "not-supported"


class ServiceUnavailable(FhirError):
    status = 503
    issue_code = "transient"

"""``$validate`` (https://hl7.org/fhir/R4/resource-operation-validate.html) over :class:`ProfileValidator`.

- type level: ``POST /Patient/$validate`` with the resource as body, or a Parameters body
  (``resource``, ``profile``, ``mode``); ``GET``/``POST`` with ``profile`` in the query;
- instance level: ``GET /Patient/123/$validate`` validates the stored resource,
  ``POST /Patient/123/$validate`` the one given (``mode=update`` by default).

The answer is always 200 with an OperationOutcome: the issues found, or one
``information`` issue "No issues detected" (invalid content is not an error of the call), except for
content that is not a resource at all — values the validator indexes having the wrong JSON type
(``check_json_shape``) — which gets 400.
``mode=delete`` has nothing to check (no referential integrity rules): no issues.
"""

from __future__ import annotations

from fhir_server.api.messages import FhirResponse
from fhir_server.api.operations import Operation, OperationCall, OperationRegistry
from fhir_server.errors import BadRequest, Issue, operation_outcome
from fhir_server.fhir.profiles import ProfileValidator
from fhir_server.fhir.repository import Repository, load_json
from fhir_server.fhir.validation import check_json_shape

VALIDATE = "http://hl7.org/fhir/OperationDefinition/Resource-validate"
MODES = ("create", "update", "delete", "profile")
NO_ISSUES = Issue("informational", "No issues detected", severity="information")


def register_validate_operation(
    registry: OperationRegistry, validator: ProfileValidator, repository: Repository, types: tuple[str, ...]
) -> None:
    async def validate(call: OperationCall) -> FhirResponse:
        params = call.parameters
        mode = params.text("mode")
        if mode is not None and mode not in MODES:
            raise BadRequest(f"mode must be one of {', '.join(MODES)}, not '{mode}'", expression="mode")
        profile = params.text("profile")
        resource = params.first("resource")
        if resource is None and call.resource_id is not None:
            stored = await repository.read(call.resource_type or "", call.resource_id, call.tx)
            resource = load_json(stored)
        if mode == "delete":
            return FhirResponse(200, operation_outcome([NO_ISSUES]))
        if resource is None:
            raise BadRequest("$validate needs a resource: the body, or a Parameters 'resource'")
        if not isinstance(resource, dict):
            raise BadRequest("Parameter 'resource' must be a resource")
        issues: list[Issue] = []
        actual = resource.get("resourceType")
        if call.resource_type is not None and actual != call.resource_type:
            issues.append(
                Issue(
                    "invalid",
                    f"resourceType '{actual}' does not match the endpoint's type '{call.resource_type}'",
                    expression=("resourceType",),
                )
            )
        elif (
            call.resource_id is not None
            and mode in (None, "update")
            and resource.get("id") not in (None, call.resource_id)
        ):
            issues.append(
                Issue(
                    "invalid",
                    f"id '{resource.get('id')}' does not match the URL's id '{call.resource_id}'",
                    expression=(f"{actual}.id",),
                )
            )
        if isinstance(actual, str):
            check_json_shape(resource, actual)  # 400: not walkable as a resource
        issues += validator.validate(resource, profile)
        return FhirResponse(200, operation_outcome(issues or [NO_ISSUES]))

    registry.register(
        Operation(
            "validate",
            VALIDATE,
            validate,
            types=types,
            type_level=True,
            instance=True,
            documentation="Validate a resource against its type, meta.profile, or the profile given",
        )
    )

"""The R4 terminology operations over :class:`TerminologyService`.

- CodeSystem $lookup      https://hl7.org/fhir/R4/codesystem-operation-lookup.html
- CodeSystem $validate-code https://hl7.org/fhir/R4/codesystem-operation-validate-code.html
- CodeSystem $subsumes    https://hl7.org/fhir/R4/codesystem-operation-subsumes.html
- ValueSet $expand        https://hl7.org/fhir/R4/valueset-operation-expand.html
- ValueSet $validate-code https://hl7.org/fhir/R4/valueset-operation-validate-code.html
- ConceptMap $translate   https://hl7.org/fhir/R4/conceptmap-operation-translate.html

Each runs at type level (GET or POST) and at instance level on the published resources
(``CodeSystem/icd-10/$lookup?code=G35``). Outputs are Parameters, or a ValueSet for $expand.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from fhir_server.api.messages import FhirResponse
from fhir_server.api.operations import Operation, OperationCall, OperationRegistry, Parameters
from fhir_server.errors import BadRequest
from fhir_server.fhir.repository import format_instant
from fhir_server.fhir.text import ascii_digits
from fhir_server.terminology.service import TerminologyService, Validation

OPDEF = "http://hl7.org/fhir/OperationDefinition/"


def _parameters(*entries: dict[str, Any] | None) -> FhirResponse:
    return FhirResponse(200, {"resourceType": "Parameters", "parameter": [e for e in entries if e]})


def _coding(params: Parameters, name: str) -> dict[str, Any] | None:
    value = params.first(name)
    if value is not None and not isinstance(value, dict):
        raise BadRequest(f"Parameter '{name}' must be a Coding")
    return value


def _codings(params: Parameters, system: str | None, code: str | None) -> list[dict[str, Any]]:
    """The codings to work on: code+system, a coding, or every coding of a codeableConcept."""
    if code is not None:
        return [{"system": system, "code": code}]
    coding = _coding(params, "coding")
    if coding is not None:
        return [coding]
    concept = params.first("codeableConcept")
    if isinstance(concept, dict) and concept.get("coding"):
        return list(concept["coding"])
    return [{"system": system, "code": None}]


def _int(params: Parameters, name: str) -> int | None:
    raw = params.text(name)
    if raw is None:
        return None
    if not ascii_digits(raw):
        raise BadRequest(f"Parameter '{name}' must be a non-negative integer, not '{raw}'", expression=name)
    return int(raw)


def _validation_output(v: Validation) -> FhirResponse:
    return _parameters(
        {"name": "result", "valueBoolean": v.result},
        {"name": "message", "valueString": v.message} if v.message else None,
        {"name": "display", "valueString": v.display} if v.display else None,
    )


class TerminologyOperations:
    def __init__(self, service: TerminologyService):
        self.service = service

    def _system(self, call: OperationCall, *names: str) -> str | None:
        if call.resource_id is not None:
            return self.service.url_of("CodeSystem", call.resource_id)
        for name in names:
            value = call.parameters.text(name)
            if value:
                return value
        return None

    async def lookup(self, call: OperationCall) -> FhirResponse:
        p = call.parameters
        coding = _coding(p, "coding") or {}
        system = self._system(call, "system") or coding.get("system")
        found = self.service.lookup(system, p.text("code") or coding.get("code"), p.text("version"))
        cs, concept = found.system, found.concept
        wanted = {str(v) for v in p.all("property")}
        out: list[dict[str, Any] | None] = [
            {"name": "name", "valueString": cs.name},
            {"name": "version", "valueString": cs.version} if cs.version else None,
            {"name": "display", "valueString": concept.display or concept.code},
        ]
        for d in concept.designations:
            parts = [{"name": "language", "valueCode": d["language"]}] if "language" in d else []
            if "use" in d:
                parts.append({"name": "use", "valueCoding": d["use"]})
            parts.append({"name": "value", "valueString": d["value"]})
            out.append({"name": "designation", "part": parts})
        props: list[tuple[str, dict[str, Any]]] = []
        if concept.definition:
            props.append(("definition", {"valueString": concept.definition}))
        for prop in concept.properties:
            props.append((prop["code"], {k: v for k, v in prop.items() if k.startswith("value")}))
        props += [("parent", {"valueCode": c}) for c in concept.parents]
        props += [("child", {"valueCode": c}) for c in concept.children]
        for code, value in props:
            if not wanted or code in wanted:
                out.append(
                    {"name": "property", "part": [{"name": "code", "valueCode": code}, {"name": "value", **value}]}
                )
        return _parameters(*out)

    async def codesystem_validate_code(self, call: OperationCall) -> FhirResponse:
        p = call.parameters
        system = self._system(call, "url", "system")
        results = []
        for coding in _codings(p, system, p.text("code")):
            results.append(
                self.service.validate_in_codesystem(
                    coding.get("system") or system,
                    coding.get("code"),
                    p.text("display") or coding.get("display"),
                    p.text("version"),
                )
            )
        return _validation_output(next((r for r in results if r.result), results[0]))

    async def valueset_validate_code(self, call: OperationCall) -> FhirResponse:
        p = call.parameters
        inline = p.first("valueSet") or p.first("resource")
        if call.resource_id is not None:
            url = self.service.url_of("ValueSet", call.resource_id)
        elif isinstance(inline, dict):
            url = None
        else:
            url = p.text("url")
            if not url:
                raise BadRequest("ValueSet $validate-code needs 'url', a 'valueSet' resource, or an instance")
        system = p.text("system")
        results = []
        for coding in _codings(p, system, p.text("code")):
            display = p.text("display") or coding.get("display")
            if url is None:
                members = {(i.system, i.code): i for i in self.service.expand_items(resource=inline)}
                item = members.get((coding.get("system") or "", coding.get("code") or ""))
                results.append(
                    Validation(
                        bool(item), None if item else "The code is not in the value set", item.display if item else None
                    )
                )
            else:
                results.append(
                    self.service.validate_in_valueset(url, coding.get("system") or system, coding.get("code"), display)
                )
        return _validation_output(next((r for r in results if r.result), results[0]))

    async def subsumes(self, call: OperationCall) -> FhirResponse:
        p = call.parameters
        coding_a, coding_b = _coding(p, "codingA") or {}, _coding(p, "codingB") or {}
        system = self._system(call, "system") or coding_a.get("system") or coding_b.get("system")
        for coding in (coding_a, coding_b):
            if coding.get("system") and system and coding["system"] != system:
                raise BadRequest("$subsumes compares codes of one code system only")
        outcome = self.service.subsumes(
            system, p.text("codeA") or coding_a.get("code"), p.text("codeB") or coding_b.get("code"), p.text("version")
        )
        return _parameters({"name": "outcome", "valueCode": outcome})

    async def expand(self, call: OperationCall) -> FhirResponse:
        p = call.parameters
        inline = p.first("valueSet") or p.first("resource")
        if call.resource_id is not None:
            url: str | None = self.service.url_of("ValueSet", call.resource_id)
            definition = self.service.valuesets[url]
            items = self.service.expand_items(url)
        elif isinstance(inline, dict):
            if inline.get("resourceType") != "ValueSet":
                raise BadRequest("Parameter 'valueSet' must be a ValueSet resource")
            url, definition = inline.get("url"), inline
            items = self.service.expand_items(resource=inline)
        else:
            url = p.text("url")
            items = self.service.expand_items(url)
            definition = self.service.valuesets[url.split("|", 1)[0]]  # type: ignore[union-attr]
        text, count, offset = p.text("filter"), _int(p, "count"), _int(p, "offset") or 0
        if text:
            terms = text.lower().split()
            items = [
                i for i in items if all(t in (i.display or "").lower() or i.code.lower().startswith(t) for t in terms)
            ]
        page = items[offset : offset + count if count is not None else None]
        used = [("filter", "valueString", text), ("count", "valueInteger", count), ("offset", "valueInteger", offset)]
        expansion: dict[str, Any] = {
            "identifier": f"urn:uuid:{uuid.uuid4()}",
            "timestamp": format_instant(time.time_ns() // 1000),
            "total": len(items),
            "offset": offset,
        }
        parameters = [{"name": n, kind: v} for n, kind, v in used if v is not None and (n != "offset" or v)]
        if parameters:
            expansion["parameter"] = parameters
        expansion["contains"] = [
            {
                "system": i.system,
                **({"version": i.version} if i.version else {}),
                "code": i.code,
                **({"display": i.display} if i.display else {}),
            }
            for i in page
        ]
        if not expansion["contains"]:
            del expansion["contains"]
        keep_definition = p.text("includeDefinition") == "true"
        result = {
            k: v
            for k, v in definition.items()
            if k not in ("meta", "expansion", "text") and (keep_definition or k != "compose")
        }
        result["resourceType"] = "ValueSet"
        if url and "url" not in result:
            result["url"] = url
        result["expansion"] = expansion
        return FhirResponse(200, result)

    async def translate(self, call: OperationCall) -> FhirResponse:
        p = call.parameters
        if p.first("conceptMap") is not None:
            raise BadRequest("$translate with an inline 'conceptMap' is not supported: use a stored map's url")
        url = self.service.url_of("ConceptMap", call.resource_id) if call.resource_id else p.text("url")
        reverse = p.text("reverse") == "true"
        target = p.text("targetsystem")
        matches = []
        for coding in _codings(p, p.text("system"), p.text("code")):
            matches += self.service.translate(
                coding.get("system"), coding.get("code"), url=url, target_system=target, reverse=reverse
            )
        positive = [m for m in matches if m.positive]
        out: list[dict[str, Any] | None] = [{"name": "result", "valueBoolean": bool(positive)}]
        if not positive:
            why = "; ".join(m.comment for m in matches if m.comment) or "no mapping"
            out.append({"name": "message", "valueString": f"No match: {why}"})
        for m in matches:
            parts: list[dict[str, Any]] = [{"name": "equivalence", "valueCode": m.equivalence}]
            if m.code is not None:
                concept = {"system": m.system, "code": m.code, **({"display": m.display} if m.display else {})}
                parts.append({"name": "concept", "valueCoding": concept})
            parts.append({"name": "source", "valueUri": m.source})
            out.append({"name": "match", "part": parts})
        return _parameters(*out)


def register_terminology_operations(registry: OperationRegistry, service: TerminologyService) -> None:
    ops = TerminologyOperations(service)
    both = {"type_level": True, "instance": True}
    registry.register(Operation("lookup", OPDEF + "CodeSystem-lookup", ops.lookup, ("CodeSystem",), **both))
    registry.register(Operation("subsumes", OPDEF + "CodeSystem-subsumes", ops.subsumes, ("CodeSystem",), **both))
    registry.register(
        Operation(
            "validate-code", OPDEF + "CodeSystem-validate-code", ops.codesystem_validate_code, ("CodeSystem",), **both
        )
    )
    registry.register(
        Operation("validate-code", OPDEF + "ValueSet-validate-code", ops.valueset_validate_code, ("ValueSet",), **both)
    )
    registry.register(Operation("expand", OPDEF + "ValueSet-expand", ops.expand, ("ValueSet",), **both))
    registry.register(Operation("translate", OPDEF + "ConceptMap-translate", ops.translate, ("ConceptMap",), **both))

"""OpenAPI 3.0 description of the FHIR endpoints (``/openapi.json``) and a page showing it (``/docs``).

The document is derived from the CapabilityStatement — types, interactions, search parameters —
and from the operation registry for the level (system, type, instance) and the methods of each
operation, so it describes what the server actually serves and changes when they change (a new
SearchParameter). The page is plain HTML rendered here: no script, no asset from elsewhere.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from fhir_server.api.operations import Operation, OperationRegistry

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
FORM = "application/x-www-form-urlencoded"
ID_PATTERN = r"^[A-Za-z0-9\-.]{1,64}$"
_PREFIX = "(eq|ne|gt|lt|ge|le|sa|eb|ap)?"
_NUMBER = r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?"
_DATE = r"[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?"
_VALUE_PATTERNS = {
    "date": _PREFIX + _DATE,
    "number": _PREFIX + _NUMBER,
    "quantity": _PREFIX + _NUMBER + r"(\|[^|,]*(\|[^|,]*)?)?",
}
"""Search value syntax by FHIR search type (https://hl7.org/fhir/R4/search.html#ptypes); other types take any text."""
ASYNC_DEFINITIONS = "http://hl7.org/fhir/uv/bulkdata/"
"""Operations of the Bulk Data IG run asynchronously: ``Prefer: respond-async``, then 202."""
_RESULT_SCHEMAS: dict[str, dict[str, Any]] = {
    "_count": {"type": "integer", "minimum": 0},
    "_summary": {"type": "string", "enum": ["true", "text", "data", "count", "false"]},
    "_total": {"type": "string", "enum": ["none", "estimate", "accurate"]},
}
_HEADERS = {
    "Prefer": "return=minimal | return=representation | return=OperationOutcome; handling=strict | lenient",
    "If-Match": 'Version ETag the update, patch or delete expects, e.g. W/"3" (412 otherwise)',
    "If-None-Exist": "Conditional create: search criteria, e.g. identifier=urn:oid:1.3.182.4.4|1980010112345",
    "If-None-Match": "Version ETag the client has: 304 when it is still current",
    "If-Modified-Since": "HTTP date: 304 when the resource has not changed since",
}


def _schema(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _param(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _json(schema: dict[str, Any], media: str = FHIR_JSON) -> dict[str, Any]:
    return {"content": {media: {"schema": schema}}}


def _responses(ok: dict[str, Any]) -> dict[str, Any]:
    """The success answers of an interaction, plus the errors any request may get."""
    errors = {
        "4XX": {"$ref": "#/components/responses/Error"},
        "429": {"$ref": "#/components/responses/TooManyRequests"},
        "503": {"$ref": "#/components/responses/Unavailable"},
    }
    return {**ok, **errors}


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, **(_json(schema) if schema else {})}


def _body(schema: dict[str, Any], media: str = FHIR_JSON, description: str = "") -> dict[str, Any]:
    return {"required": True, "description": description, **_json(schema, media)}


def _resource_schema(resource_type: str | None) -> dict[str, Any]:
    kind = {"type": "string", **({"enum": [resource_type]} if resource_type else {})}
    return {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": kind, "id": {"type": "string", "pattern": ID_PATTERN}},
        "description": f"A FHIR R4 {resource_type or 'resource'} in JSON (https://hl7.org/fhir/R4/)",
    }


def _search_schema(kind: str) -> dict[str, Any]:
    """One value of a search parameter; OR with commas, AND by repeating the parameter."""
    pattern = _VALUE_PATTERNS.get(kind)
    item: dict[str, Any] = {"type": "string", "minLength": 1}
    if pattern:
        item["pattern"] = f"^{pattern}(,{pattern})*$"
    return {"type": "array", "items": item}


def _components(resources: list[dict[str, Any]]) -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Resource": _resource_schema(None),
        "OperationOutcome": {
            "type": "object",
            "required": ["resourceType", "issue"],
            "properties": {
                "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
                "issue": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["severity", "code"],
                        "properties": {
                            "severity": {"type": "string", "enum": ["fatal", "error", "warning", "information"]},
                            "code": {"type": "string"},
                            "diagnostics": {"type": "string"},
                            "expression": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            },
        },
        "Bundle": {
            "type": "object",
            "required": ["resourceType", "type"],
            "properties": {
                "resourceType": {"type": "string", "enum": ["Bundle"]},
                "type": {"type": "string"},
                "total": {"type": "integer", "minimum": 0},
                "link": {"type": "array", "items": {"type": "object"}},
                "entry": {"type": "array", "items": {"type": "object"}},
            },
        },
        "BatchOrTransaction": {
            "type": "object",
            "required": ["resourceType", "type"],
            "properties": {
                "resourceType": {"type": "string", "enum": ["Bundle"]},
                "type": {"type": "string", "enum": ["batch", "transaction"]},
                "entry": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "fullUrl": {"type": "string"},
                            "resource": _schema("Resource"),
                            "request": {
                                "type": "object",
                                "required": ["method", "url"],
                                "properties": {
                                    "method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
                                    "url": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
        "Parameters": {
            "type": "object",
            "required": ["resourceType"],
            "properties": {
                "resourceType": {"type": "string", "enum": ["Parameters"]},
                "parameter": {
                    "type": "array",
                    "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
                },
            },
        },
        "JsonPatch": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["op", "path"],
                "properties": {
                    "op": {"type": "string", "enum": ["add", "remove", "replace", "move", "copy", "test"]},
                    "path": {"type": "string"},
                    "from": {"type": "string"},
                    "value": {},
                },
            },
        },
    }
    schemas.update((r["type"], _resource_schema(r["type"])) for r in resources)
    parameters: dict[str, Any] = {
        "id": {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": ID_PATTERN}},
        "vid": {"name": "vid", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}},
        "_format": {"name": "_format", "in": "query", "schema": {"type": "string", "enum": ["json", FHIR_JSON]}},
        "_pretty": {"name": "_pretty", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]}},
        "_since": {"name": "_since", "in": "query", "schema": {"type": "string", "pattern": f"^{_DATE}$"}},
        "history_count": {"name": "_count", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        "respond-async": {
            "name": "Prefer",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "enum": ["respond-async"]},
        },
        **{
            name: {"name": name, "in": "header", "description": doc, "schema": {"type": "string"}}
            for name, doc in _HEADERS.items()
        },
    }
    for resource in resources:
        for sp in resource.get("searchParam", []):
            schema = _RESULT_SCHEMAS.get(sp["name"]) or (
                {"type": "string"} if sp["name"].startswith("_") else _search_schema(sp["type"])
            )
            parameters[f"{resource['type']}.{sp['name']}"] = {
                "name": sp["name"],
                "in": "query",
                "description": f"{sp['type']}: {sp.get('documentation', '')}".strip(),
                "schema": schema,
                **({"style": "form", "explode": True} if schema.get("type") == "array" else {}),
            }
    error = _json(_schema("OperationOutcome"))
    return {
        "schemas": schemas,
        "parameters": parameters,
        "responses": {
            "Error": {
                "description": "Refused: an OperationOutcome says why. A request that is not valid HTTP (a control "
                "character in a header, a space in the path) is refused by the HTTP server itself, in plain text",
                "content": {**error["content"], "text/plain": {"schema": {"type": "string"}}},
            },
            "TooManyRequests": {
                "description": "More requests in flight than the server accepts: retry later",
                "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
                **error,
            },
            "Unavailable": {"description": "The store is unreachable, or the request took too long", **error},
        },
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "SMART on FHIR access token (RFC 9068); none when the server runs with --no-auth",
            }
        },
    }


def _answers(op: Operation) -> dict[str, Any]:
    """What an operation answers and the headers it needs: Bulk Data's run asynchronously."""
    if not op.definition.startswith(ASYNC_DEFINITIONS):
        return {"responses": _responses({"200": _ok("The operation's result", _schema("Resource"))})}
    started = {
        "description": "Started; poll the status URL in Content-Location",
        "headers": {"Content-Location": {"schema": {"type": "string"}}},
        **_json(_schema("OperationOutcome")),
    }
    return {"parameters": [_param("respond-async")], "responses": _responses({"202": started})}


def _operation_paths(prefix: str, operations: list[Operation], tag: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for op in operations:
        call = {
            "tags": [tag],
            "summary": f"${op.name}",
            "description": f"{op.documentation}\n\nDefinition: {op.definition}".strip(),
            **_answers(op),
        }
        item: dict[str, Any] = {
            "post": {
                **call,
                "operationId": f"{tag}-{prefix}-{op.name}-post",
                "requestBody": _body(_schema("Resource"), description="A Parameters resource (or the lone resource)"),
            }
        }
        if not op.affects_state:
            item["get"] = {**call, "operationId": f"{tag}-{prefix}-{op.name}-get"}
        if prefix.endswith("{id}"):
            item["parameters"] = [_param("id")]
        paths[f"{prefix}/${op.name}"] = item
    return paths


def _type_paths(resource: dict[str, Any], registry: OperationRegistry) -> dict[str, Any]:
    t = resource["type"]
    codes = {i["code"] for i in resource.get("interaction", [])}
    own, bundle = _schema(t), _schema("Bundle")
    search = [_param(f"{t}.{sp['name']}") for sp in resource.get("searchParam", [])]
    written = {"200": _ok("Written; the resource as stored", own), "201": _ok("Created", own)}

    def op(interaction: str, summary: str, **extra: Any) -> dict[str, Any]:
        return {"tags": [t], "operationId": f"{interaction}-{t}", "summary": summary, **extra}

    collection: dict[str, Any] = {}
    if "search-type" in codes:
        collection["get"] = op(
            "search", f"Search {t}", parameters=search, responses=_responses({"200": _ok("A searchset", bundle)})
        )
    if "create" in codes:
        collection["post"] = op(
            "create",
            f"Create a {t} (conditionally with If-None-Exist)",
            parameters=[_param("If-None-Exist"), _param("Prefer")],
            requestBody=_body(own),
            responses=_responses({**written, "200": _ok("If-None-Exist matched one: that resource", own)}),
        )
    if resource.get("conditionalUpdate"):
        collection["put"] = op(
            "conditional-update",
            f"Update the {t} the criteria match (create it when none does)",
            parameters=[*search, _param("If-Match"), _param("Prefer")],
            requestBody=_body(own),
            responses=_responses(written),
        )
    if "patch" in codes:
        collection["patch"] = op(
            "conditional-patch",
            f"JSON Patch the {t} the criteria match",
            parameters=[*search, _param("If-Match"), _param("Prefer")],
            requestBody=_body(_schema("JsonPatch"), JSON_PATCH),
            responses=_responses({"200": _ok("Patched", own)}),
        )
    if resource.get("conditionalDelete", "not-supported") != "not-supported":
        collection["delete"] = op(
            "conditional-delete",
            f"Delete the {t} the criteria match",
            parameters=search,
            responses=_responses({"204": {"description": "Deleted, or nothing matched"}}),
        )
    paths: dict[str, Any] = {f"/{t}": collection}
    if "search-type" in codes:
        form = {
            "type": "object",
            "properties": {sp["name"]: {"type": "string"} for sp in resource.get("searchParam", [])},
        }
        paths[f"/{t}/_search"] = {
            "post": op(
                "search-post",
                f"Search {t} with the parameters in a form body",
                requestBody={"required": False, **_json(form, FORM)},
                responses=_responses({"200": _ok("A searchset", bundle)}),
            )
        }
    if "history-type" in codes:
        paths[f"/{t}/_history"] = {
            "get": op(
                "history-type",
                f"History of every {t}",
                parameters=[_param("_since"), _param("history_count")],
                responses=_responses({"200": _ok("A history Bundle", bundle)}),
            )
        }
    instance: dict[str, Any] = {"parameters": [_param("id")]}
    if "read" in codes:
        instance["get"] = op(
            "read",
            f"Read a {t}",
            parameters=[_param("If-None-Match"), _param("If-Modified-Since"), _param("_format"), _param("_pretty")],
            responses=_responses({"200": _ok("The current version", own), "304": {"description": "Not modified"}}),
        )
    if "update" in codes:
        instance["put"] = op(
            "update",
            f"Update a {t} (or create it with this id)",
            parameters=[_param("If-Match"), _param("Prefer")],
            requestBody=_body(own, description="The resource, its id equal to the one in the URL"),
            responses=_responses(written),
        )
    if "patch" in codes:
        instance["patch"] = op(
            "patch",
            f"JSON Patch a {t}",
            parameters=[_param("If-Match"), _param("Prefer")],
            requestBody=_body(_schema("JsonPatch"), JSON_PATCH),
            responses=_responses({"200": _ok("Patched", own)}),
        )
    if "delete" in codes:
        instance["delete"] = op("delete", f"Delete a {t}", responses=_responses({"204": {"description": "Deleted"}}))
    paths[f"/{t}/{{id}}"] = instance
    if "history-instance" in codes:
        paths[f"/{t}/{{id}}/_history"] = {
            "parameters": [_param("id")],
            "get": op(
                "history-instance",
                f"Versions of a {t}",
                parameters=[_param("_since"), _param("history_count")],
                responses=_responses({"200": _ok("A history Bundle", bundle)}),
            ),
        }
    if "vread" in codes:
        paths[f"/{t}/{{id}}/_history/{{vid}}"] = {
            "parameters": [_param("id"), _param("vid")],
            "get": op("vread", f"Read a version of a {t}", responses=_responses({"200": _ok("That version", own)})),
        }
    ops = registry.for_type(t)
    paths.update(_operation_paths(f"/{t}", [o for o in ops if o.type_level], t))
    paths.update(_operation_paths(f"/{t}/{{id}}", [o for o in ops if o.instance], t))
    return paths


def _system_paths(rest: dict[str, Any], registry: OperationRegistry) -> dict[str, Any]:
    codes = {i["code"] for i in rest.get("interaction", [])}
    paths: dict[str, Any] = {
        "/metadata": {
            "get": {
                "tags": ["system"],
                "operationId": "capabilities",
                "summary": "The CapabilityStatement",
                "security": [],
                "responses": _responses({"200": _ok("What this server supports", _schema("Resource"))}),
            }
        }
    }
    if codes & {"batch", "transaction"}:
        paths["/"] = {
            "post": {
                "tags": ["system"],
                "operationId": "batch-or-transaction",
                "summary": "A batch, or an all-or-nothing transaction",
                "requestBody": _body(_schema("BatchOrTransaction")),
                "responses": _responses({"200": _ok("The batch-response or transaction-response", _schema("Bundle"))}),
            }
        }
    if "history-system" in codes:
        paths["/_history"] = {
            "get": {
                "tags": ["system"],
                "operationId": "history-system",
                "summary": "History of every resource",
                "parameters": [_param("_since"), _param("history_count")],
                "responses": _responses({"200": _ok("A history Bundle", _schema("Bundle"))}),
            }
        }
    paths.update(_operation_paths("", registry.system_level(), "system"))
    return paths


def openapi_document(capability: dict[str, Any], registry: OperationRegistry) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document of a CapabilityStatement's REST endpoints."""
    rest = capability["rest"][0]
    resources = rest.get("resource", [])
    paths = _system_paths(rest, registry)
    for resource in resources:
        paths.update(_type_paths(resource, registry))
    software = capability.get("software", {})
    return {
        "openapi": "3.0.3",
        "info": {
            "title": capability.get("implementation", {}).get("description", "FHIR server"),
            "version": software.get("version", "0"),
            "description": f"FHIR {capability.get('fhirVersion', '')} REST API (https://hl7.org/fhir/R4/http.html), "
            "generated from the server's CapabilityStatement at /metadata. Search parameters also take the "
            "modifiers, chains and _has forms of https://hl7.org/fhir/R4/search.html, which OpenAPI cannot list.",
        },
        "servers": [{"url": capability.get("implementation", {}).get("url", "/")}],
        "security": [{"bearer": []}],
        "tags": [{"name": "system"}, *({"name": r["type"]} for r in resources)],
        "paths": paths,
        "components": _components(resources),
    }


def _page(document: dict[str, Any]) -> str:
    """The document as one HTML page: each path with its methods, summaries and parameters."""
    parameters = document["components"]["parameters"]
    rows = []
    for path, item in document["paths"].items():
        for method, call in item.items():
            if method == "parameters":
                continue
            names = [
                parameters[p["$ref"].rsplit("/", 1)[1]]["name"]
                for p in item.get("parameters", []) + call.get("parameters", [])
            ]
            rows.append(
                f"<tr><td><b>{method.upper()}</b></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(call.get('summary', ''))}</td>"
                f"<td><small>{html.escape(', '.join(names))}</small></td></tr>"
            )
    info = document["info"]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(info['title'])}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{border-bottom:1px solid #ddd;padding:.3em;"
        "vertical-align:top}</style></head><body>"
        f"<h1>{html.escape(info['title'])} <small>{html.escape(info['version'])}</small></h1>"
        f"<p>{html.escape(info['description'])}</p>"
        "<p>Machine-readable: <a href='openapi.json'>openapi.json</a> (OpenAPI 3.0.3). "
        "Authentication: <code>Authorization: Bearer &lt;JWT&gt;</code> unless the server runs with --no-auth.</p>"
        "<table><tr><th>Method</th><th>Path</th><th>Summary</th><th>Parameters</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )


class OpenApiDocs:
    """The two endpoints; the document is rebuilt only when the CapabilityStatement is."""

    def __init__(self, capability: Callable[[], dict[str, Any]], registry: OperationRegistry):
        self._capability = capability
        self._registry = registry
        self._built: tuple[dict[str, Any], bytes, str] | None = None

    def _current(self) -> tuple[dict[str, Any], bytes, str]:
        statement = self._capability()
        if self._built is None or self._built[0] is not statement:
            document = openapi_document(statement, self._registry)
            self._built = (statement, orjson.dumps(document), _page(document))
        return self._built

    async def document(self, request: Request) -> Response:
        return Response(self._current()[1], media_type="application/json")

    async def page(self, request: Request) -> Response:
        return HTMLResponse(self._current()[2])

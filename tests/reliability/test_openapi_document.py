"""The OpenAPI document (``/openapi.json``) says what the CapabilityStatement says — types,
interactions, search parameters, operations — and follows it when a SearchParameter is added;
``/docs`` shows it as a page that needs nothing from another host."""

from __future__ import annotations

import re

import httpx
import pytest
from reliability_kit import JSON_HEADERS

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def client(demo_server) -> httpx.Client:
    with demo_server.client() as c:
        yield c


def parameter_names(document: dict, refs: list[dict]) -> set[str]:
    parameters = document["components"]["parameters"]
    return {parameters[p["$ref"].rsplit("/", 1)[1]]["name"] for p in refs}


def test_document_follows_the_capability_statement(client):
    capability = client.get("/metadata").json()["rest"][0]
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    assert document["openapi"] == "3.0.3"
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert paths["/metadata"]["get"]["security"] == []
    assert {"/", "/_history", "/$reindex"} <= set(paths)
    for resource in capability["resource"]:
        t = resource["type"]
        search = paths[f"/{t}"]["get"]
        assert parameter_names(document, search["parameters"]) == {p["name"] for p in resource["searchParam"]}
        assert set(paths[f"/{t}/{{id}}"]) - {"parameters"} == {"get", "put", "patch", "delete"}
        assert {"post", "put", "patch", "delete"} <= set(paths[f"/{t}"])
        for path in (f"/{t}/_search", f"/{t}/_history", f"/{t}/{{id}}/_history", f"/{t}/{{id}}/_history/{{vid}}"):
            assert path in paths
        operations = {p.rsplit("$", 1)[1] for p in paths if p.startswith(f"/{t}/") and "$" in p}
        assert operations == {o["name"] for o in resource.get("operation", [])}
        create = paths[f"/{t}"]["post"]
        assert create["requestBody"]["content"]["application/fhir+json"]["schema"] == {
            "$ref": f"#/components/schemas/{t}"
        }
        assert document["components"]["schemas"][t]["properties"]["resourceType"]["enum"] == [t]
        assert {"200", "201", "4XX", "429", "503"} <= set(create["responses"])
    assert paths["/CareTeam/{id}/$validate-declaration"].keys() == {"post", "parameters"}  # changes state: POST only
    assert {"get", "post"} <= paths["/Patient/{id}/$mr-status"].keys()
    assert "application/json-patch+json" in paths["/Patient/{id}"]["patch"]["requestBody"]["content"]
    export = paths["/$export"]["get"]  # Bulk Data: asynchronous
    assert "202" in export["responses"] and "200" not in export["responses"]
    assert parameter_names(document, export["parameters"]) == {"Prefer"}


def test_typed_search_parameters(client):
    document = client.get("/openapi.json").json()
    parameters = document["components"]["parameters"]
    birthdate = parameters["Patient.birthdate"]
    assert birthdate["in"] == "query" and birthdate["description"].startswith("date")
    assert re.fullmatch(birthdate["schema"]["items"]["pattern"], "ge1980-02-29,lt2024")
    assert not re.fullmatch(birthdate["schema"]["items"]["pattern"], "yesterday")
    assert parameters["Patient._count"]["schema"] == {"type": "integer", "minimum": 0}


def test_document_follows_new_search_parameters(client):
    parameter = {
        "resourceType": "SearchParameter",
        "id": "openapi-test",
        "url": "https://example.lu/SearchParameter/openapi-test",
        "name": "OpenApiTest",
        "status": "active",
        "description": "A parameter added at run time",
        "code": "openapi-test",
        "base": ["Practitioner"],
        "type": "token",
        "expression": "Practitioner.extension.where(url='urn:test:openapi').value",
    }
    assert client.put("/SearchParameter/openapi-test", json=parameter, headers=JSON_HEADERS).status_code == 201
    search = client.get("/openapi.json").json()["paths"]["/Practitioner"]["get"]
    assert {"$ref": "#/components/parameters/Practitioner.openapi-test"} in search["parameters"]


def test_docs_page_is_self_contained(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script" not in html and "<link" not in html
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", html)  # nothing loaded from another host
    assert "/Patient/{id}/_history/{vid}" in html and "openapi.json" in html

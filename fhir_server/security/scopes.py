"""SMART on FHIR scopes: parsing (v1 and v2 syntax) and the intersection the authorization server grants.

https://hl7.org/fhir/smart-app-launch/STU2/scopes-and-launch-context.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAMED_SCOPES = frozenset({"launch/patient", "openid", "fhirUser", "offline_access"})
"""Scopes accepted by name."""
GRANTABLE_NAMED_SCOPES = frozenset({"launch/patient"})
"""The built-in server issues neither an id_token (openid, fhirUser) nor refresh tokens (offline_access):
those are accepted in a request but dropped from the grant (RFC 6749 section 3.3 lets it narrow)."""

_V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
"""SMART v2 section 'Scopes for requesting FHIR Resources', v1 equivalence: read = rs, write = cud."""
_ORDER = "cruds"
_RESOURCE_SCOPE = re.compile(
    r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]{0,63})"
    r"\.(?P<permissions>read|write|\*|c?r?u?d?s?)(?:\?(?P<query>[^\s?#]+))?$"
)


@dataclass(frozen=True)
class ResourceScope:
    """A ``context/Type.permissions[?query]`` scope; ``text`` keeps the spelling it was requested with."""

    context: str
    resource_type: str
    permissions: frozenset[str]
    query: str
    text: str

    def intersect(self, allowed: ResourceScope) -> ResourceScope | None:
        """The part of this scope that ``allowed`` also covers, or None when nothing is shared."""
        if self.context != allowed.context:
            return None
        if allowed.resource_type == "*" or self.resource_type == allowed.resource_type:
            resource_type = self.resource_type
        elif self.resource_type == "*":
            resource_type = allowed.resource_type
        else:
            return None
        if allowed.query and self.query and self.query != allowed.query:
            return None
        permissions = self.permissions & allowed.permissions
        if not permissions:
            return None
        query = self.query or allowed.query
        if (resource_type, permissions, query) == (self.resource_type, self.permissions, self.query):
            return self
        letters = "".join(p for p in _ORDER if p in permissions)
        text = f"{self.context}/{resource_type}.{letters}" + (f"?{query}" if query else "")
        return ResourceScope(self.context, resource_type, permissions, query, text)


Scope = ResourceScope | str


def parse_scope(text: str) -> Scope:
    """A resource scope, or one of NAMED_SCOPES as a string; ValueError for anything else."""
    if text in NAMED_SCOPES:
        return text
    match = _RESOURCE_SCOPE.match(text)
    if match is None or not match["permissions"]:
        raise ValueError(f"unsupported scope {text!r}")
    permissions = _V1_PERMISSIONS.get(match["permissions"], match["permissions"])
    return ResourceScope(match["context"], match["type"], frozenset(permissions), match["query"] or "", text)


def parse_scopes(scope: str | None) -> list[Scope]:
    """Every space-separated scope of ``scope`` (RFC 6749 section 3.3); ValueError on an unsupported one."""
    return [parse_scope(text) for text in (scope or "").split()]


def granted_scope(requested: str | None, *allowed: str) -> str:
    """The requested scopes narrowed to what every ``allowed`` scope string permits, space-separated
    in request order (empty when nothing is left). ``patient/*.cruds`` requested against
    ``patient/*.rs`` allowed gives ``patient/*.rs``; a scope kept whole keeps its v1 or v2 spelling."""
    scopes = parse_scopes(requested)
    for permitted in allowed:
        scopes = _intersection(scopes, parse_scopes(permitted))
    texts = [scope if isinstance(scope, str) else scope.text for scope in scopes]
    return " ".join(dict.fromkeys(texts))


def _intersection(requested: list[Scope], allowed: list[Scope]) -> list[Scope]:
    kept: list[Scope] = []
    for scope in requested:
        if isinstance(scope, str):
            if scope in GRANTABLE_NAMED_SCOPES and scope in allowed:
                kept.append(scope)
            continue
        for permitted in allowed:
            if isinstance(permitted, ResourceScope) and (part := scope.intersect(permitted)) is not None:
                kept.append(part)
    return kept

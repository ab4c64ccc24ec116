"""What a token's scopes let the resource server do (SMART App Launch v2,
https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).

A scope with search parameters (``patient/Observation.rs?category=…``) grants nothing here:
narrowing by parameters is not enforced, and granting less is safe. Unknown scopes are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhir_server.security.scopes import ResourceScope, parse_scope


@dataclass(frozen=True, slots=True)
class ScopeSet:
    """Granted (context, resource type or "*", letter of cruds)."""

    grants: frozenset[tuple[str, str, str]]

    @classmethod
    def parse(cls, text: object) -> ScopeSet:
        words = text.split() if isinstance(text, str) else [w for w in text or [] if isinstance(w, str)]  # type: ignore[attr-defined]
        grants = set()
        for word in words:
            try:
                scope = parse_scope(word)
            except ValueError:
                continue
            if isinstance(scope, ResourceScope) and not scope.query:
                grants.update((scope.context, scope.resource_type, letter) for letter in scope.permissions)
        return cls(frozenset(grants))

    def allows(self, context: str, resource_type: str, letter: str) -> bool:
        return (context, resource_type, letter) in self.grants or (context, "*", letter) in self.grants

"""The generic StructureDefinition-driven validator.

``ProfileValidator.validate(resource, profile_url=None) -> list[Issue]`` walks the resource
once per profile it is checked against (the given one, else those of ``meta.profile`` the
validator knows, else the base definition of its type) and reports, each located by a
FHIRPath-like ``expression`` (``Patient.identifier[0].system``):

- unknown elements, JSON shape (arrays vs single values, objects vs primitives), the
  format of primitives (regex of their StructureDefinition) — severity error;
- cardinality (min/max) of elements and of slices;
- element types, choice types (``value[x]``: one type, one of the allowed), reference
  targets (``Reference(Patient|Group)`` against ``reference``/``type``);
- fixed[x] (equal) and pattern[x] (contains) values;
- slicing by value/pattern/type/profile/exists discriminators (closed slicing: items in
  no slice are errors; open: allowed); an item in a slice is checked against the slice's
  definition (which, in a snapshot, includes the element's), others against the element;
- required (error) and extensible (warning) bindings, see :mod:`.bindings`;
- invariants (FHIRPath), see :mod:`.invariants`, with their own severity; ``resolve()``
  finds contained resources and the entries of the enclosing Bundle (:meth:`Context.resolve`).

Work done once per profile: the element tree, per (element, type) a *plan* (JSON key →
element, required children, invariants), slice discriminators, compiled invariants.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fhir_server.errors import Issue, Unprocessable
from fhir_server.fhir.profiles.bindings import ValueSets, codings_of
from fhir_server.fhir.profiles.definitions import Definitions
from fhir_server.fhir.profiles.elements import (
    MISSING,
    ElementNode,
    TypeRef,
    apply_differential,
    build_snapshot_tree,
)
from fhir_server.fhir.profiles.invariants import SKIPPED, Invariant, compile_invariant
from fhir_server.fhir.profiles.primitives import load_primitives
from fhir_server.fhir.profiles.slicing import contains, discriminators, matches, settle_profiles
from fhir_server.terminology.service import TerminologyService

log = logging.getLogger(__name__)

SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
_RESTFUL = re.compile(r"/([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})$")  # .../Patient/123 -> Patient/123
ABSTRACT_RESOURCES = frozenset({"Resource", "DomainResource"})
STRUCTURAL = frozenset({"Element", "BackboneElement"})


class Plan:
    """How to check one element of one type: JSON key → (element, type, is the _twin)."""

    __slots__ = ("keymap", "required", "sliced_required", "invariants", "base_path", "resource_type")

    def __init__(self) -> None:
        self.keymap: dict[str, tuple[ElementNode, TypeRef | None, bool]] = {}
        self.required: list[ElementNode] = []
        self.sliced_required: list[ElementNode] = []
        self.invariants: list[Invariant] = []
        self.base_path = ""
        self.resource_type: str | None = None


class NotConformant(Exception):
    """Raised by a fail-fast :class:`Context` at its first error (conformance tests of slicing)."""


class Context:
    __slots__ = ("issues", "variables", "contained", "entries", "resource", "done", "fail_fast", "conformance")

    def __init__(
        self,
        issues: list[Issue],
        resource: dict[str, Any],
        root: dict[str, Any],
        entries: dict[str, dict[str, Any]],
        done: set[tuple[int, int, str]] | None = None,
        conformance: dict[tuple[int, tuple[str, ...]], bool] | None = None,
    ):
        self.issues = issues
        self.fail_fast = False
        # results of slicing conformance tests, shared by the whole walk: (id(resource), profiles) -> bool
        self.conformance: dict[tuple[int, tuple[str, ...]], bool] = {} if conformance is None else conformance
        # nested resources already checked against a profile at a path, shared by the whole walk
        # (an item in a slice whose definition is incomplete is checked with the element and again
        # with the slice: the same profile twice is not redone)
        self.done: set[tuple[int, int, str]] = set() if done is None else done
        self.resource = resource
        self.variables = {"resource": resource, "rootResource": root}
        self.contained = {
            c.get("id"): c.get("resourceType") for c in resource.get("contained") or () if isinstance(c, dict)
        }
        # resources of the enclosing Bundles by fullUrl, and by ``Type/id`` for RESTful fullUrls
        self.entries = entries

    def resolve(self, ref: str) -> dict[str, Any] | None:
        """The resource a reference names: contained (``#id``, in this resource or the one
        containing it), or an entry of the enclosing Bundle; None if not at hand."""
        if ref.startswith("#"):
            for holder in (self.resource, self.variables["rootResource"]):
                for c in holder.get("contained") or ():
                    if isinstance(c, dict) and c.get("id") == ref[1:]:
                        return c
            return None
        return self.entries.get(ref)

    def error(self, code: str, path: str, message: str, severity: str = "error") -> None:
        if self.fail_fast and severity == "error":
            raise NotConformant
        self.issues.append(Issue(code, f"{path}: {message}", severity=severity, expression=(path,)))


class ProfileValidator:
    def __init__(self, definitions: Definitions, terminology: TerminologyService | None = None):
        self.definitions = definitions
        self.valuesets = ValueSets(definitions.value_sets, terminology)
        self.primitives = load_primitives(definitions.structure_definitions)
        self._trees: dict[str, ElementNode | None] = {}
        self._invariants: dict[str, Invariant | None] = {}
        self._targets: dict[TypeRef, frozenset[str] | None] = {}
        sds = definitions.structure_definitions.values()
        self.kinds = {sd["type"]: sd["kind"] for sd in sds if sd.get("derivation") != "constraint"}
        for sd in sds:  # types known only through a profile's snapshot (the IPS Flag, Specimen...)
            self.kinds.setdefault(sd["type"], sd["kind"])
        self.extensions = {
            sd["url"] for sd in sds if sd["type"] == "Extension" and sd.get("derivation") == "constraint"
        }

    @classmethod
    def load(cls, profiles_dir: Path | None = None, terminology: TerminologyService | None = None) -> ProfileValidator:
        """The base R4 definitions plus the StructureDefinitions found under ``profiles_dir``."""
        return cls(Definitions.load(profiles_dir), terminology)

    # -- public API ----------------------------------------------------------------------------

    def knows(self, url: str) -> bool:
        return self.definitions.by_url(url) is not None

    def validate(self, resource: Any, profile_url: str | None = None) -> list[Issue]:
        """Every issue found, errors first kept in walk order; empty when the resource is valid."""
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            return [Issue("structure", "The content is not a FHIR resource (no resourceType)")]
        rtype = resource["resourceType"]
        issues: list[Issue] = []
        roots = self._roots_for(resource, (profile_url,) if profile_url else (), rtype, issues, rtype, explicit=True)
        if roots is None:
            return issues
        ctx = self._context(issues, resource, resource, {})
        for root in roots:
            self._resource_body(resource, root, rtype, ctx)
        return _dedupe(issues)

    def enforce(self, resource: dict[str, Any], profile_url: str | None = None) -> None:
        """For write hooks: raise :class:`Unprocessable` (422) with the issues if any is an error."""
        issues = self.validate(resource, profile_url)
        errors = [i for i in issues if i.severity in ("error", "fatal")]
        if errors:
            raise Unprocessable(errors[0].diagnostics, issues=issues)

    @staticmethod
    def skipped_invariants() -> dict[str, str]:
        """Invariants not evaluated, with the reason (besides ele-1/ext-1, evaluated natively)."""
        return dict(SKIPPED)

    # -- trees and plans -----------------------------------------------------------------------

    def tree(self, url: str) -> ElementNode | None:
        url = url.split("|", 1)[0]
        if url in self._trees:
            return self._trees[url]
        self._trees[url] = None  # guards against cycles
        sd = self.definitions.by_url(url)
        root: ElementNode | None = None
        if sd is not None:
            if "elements" in sd:
                root = build_snapshot_tree(sd["elements"], self._datatype_tree)
            else:
                base = self.tree(sd.get("baseDefinition", ""))
                if base is None:
                    log.warning("profile %s: base %s is unknown", url, sd.get("baseDefinition"))
                else:
                    root = apply_differential(base, sd["differential"], self._datatype_tree)
            if root is not None:
                _resolve_content_references(root)
        self._trees[url] = root
        return root

    def _datatype_tree(self, code: str) -> ElementNode | None:
        return self.tree(code if code.startswith("http") else SD_PREFIX + code)

    def _plan(self, node: ElementNode, code: str) -> Plan:
        plan = node.plans.get(code)
        if plan is not None:
            return plan
        plan = Plan()
        children = dict(node.children)
        keys = list(node.constraints)
        plan.base_path = node.path
        kind = self.kinds.get(code)
        if kind == "complex-type" and code not in STRUCTURAL or (code in STRUCTURAL and not children):
            tref = next((t for t in node.types if t.code == code), None)
            dt = None
            for profile in tref.profiles if tref else ():
                dt = self.tree(profile)
                if dt is not None:
                    break
            if dt is None:
                dt = self._datatype_tree(code)
            if dt is not None and dt is not node:
                children = {**dt.children, **children}
                keys = [*keys, *dt.constraints]
            plan.base_path = code
        elif kind == "resource" and node.path == code:
            plan.resource_type = code
        for name, child in children.items():
            if child.choice:
                for t in child.types:
                    key = name + t.code[0].upper() + t.code[1:]
                    plan.keymap[key] = (child, t, False)
                    if t.code in self.primitives:
                        plan.keymap["_" + key] = (child, t, True)
            else:
                t = child.types[0] if child.types else None
                plan.keymap[name] = (child, t, False)
                if t is not None and t.code in self.primitives:
                    plan.keymap["_" + name] = (child, t, True)
            if child.min > 0:
                plan.required.append(child)
            elif any(s.min > 0 for s in child.slices.values()):
                plan.sliced_required.append(child)
        plan.invariants = [inv for key in dict.fromkeys(keys) if (inv := self._invariant(key)) is not None]
        node.plans[code] = plan
        return plan

    def _invariant(self, key: str) -> Invariant | None:
        if key not in self._invariants:
            definition = self.definitions.constraints.get(key)
            self._invariants[key] = compile_invariant(key, definition) if definition else None
        return self._invariants[key]

    def _child_of(self, node: ElementNode, name: str) -> ElementNode | None:
        found = node.children.get(name)
        if found is None and len(node.types) == 1:
            entry = self._plan(node, node.types[0].code).keymap.get(name)
            found = entry[0] if entry else None
        return found

    def _profile_types(self, profiles: tuple[str, ...]) -> frozenset[str]:
        out = set()
        for p in profiles:
            sd = self.definitions.by_url(p)
            if sd is not None:
                out.add(sd["type"])
        return frozenset(out)

    # -- the walk ------------------------------------------------------------------------------

    def _context(
        self,
        issues: list[Issue],
        resource: dict[str, Any],
        root: dict[str, Any],
        entries: dict[str, dict[str, Any]],
        done: set[tuple[int, int, str]] | None = None,
        conformance: dict[tuple[int, tuple[str, ...]], bool] | None = None,
    ) -> Context:
        if resource.get("resourceType") == "Bundle":
            entries = dict(entries)
            for entry in resource.get("entry") or ():
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    full = entry.get("fullUrl")
                    if isinstance(full, str):
                        entries[full] = entry["resource"]
                        rest = _RESTFUL.search(full)
                        if rest and not full.startswith("urn:"):
                            entries.setdefault(rest.group(1), entry["resource"])
        return Context(issues, resource, root, entries, done, conformance)

    def _roots_for(
        self,
        resource: dict[str, Any],
        wanted: Iterable[str],
        rtype: str,
        issues: list[Issue],
        path: str,
        explicit: bool,
    ) -> list[ElementNode] | None:
        roots: list[ElementNode] = []
        for url in wanted:
            sd = self.definitions.by_url(url)
            if sd is None:
                if explicit:
                    issues.append(
                        Issue("not-found", f"Profile '{url}' is not known to this server", expression=(path,))
                    )
                    return None
                continue
            if sd["type"] != rtype:
                issues.append(
                    Issue("structure", f"{path}: profile '{url}' is for {sd['type']}, not {rtype}", expression=(path,))
                )
                continue
            root = self.tree(url)
            if root is not None:
                roots.append(root)
        meta = resource.get("meta")
        for url in (meta.get("profile") or ()) if isinstance(meta, dict) else ():
            if not isinstance(url, str):
                continue
            sd = self.definitions.by_url(url)
            if sd is None:
                issues.append(
                    Issue("not-supported", f"{path}: profile '{url}' is not known; not checked", "information", (path,))
                )
            elif sd["type"] == rtype and (root := self.tree(url)) is not None and root not in roots:
                roots.append(root)
        if not roots:
            base = self.tree(SD_PREFIX + rtype)
            if base is None:
                severity = "error" if explicit else "information"
                issues.append(
                    Issue(
                        "not-supported",
                        f"{path}: resource type '{rtype}' is not known to the validator",
                        severity,
                        (path,),
                    )
                )
                return None
            roots.append(base)
        return roots

    def _resource_body(self, resource: dict[str, Any], root: ElementNode, rtype: str, ctx: Context) -> None:
        plan = self._plan(root, rtype)
        self._children(resource, plan, rtype, ctx, rtype)
        self._invariants_on(resource, plan, rtype, ctx, rtype)

    def _nested_resource(self, value: Any, tref: TypeRef | None, path: str, ctx: Context) -> None:
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            ctx.error("structure", path, "must be a resource (a JSON object with a resourceType)")
            return
        rtype = value["resourceType"]
        wanted = tref.profiles if tref else ()
        if tref and tref.code not in ABSTRACT_RESOURCES and tref.code != rtype:
            ctx.error("structure", path, f"must be a {tref.code}, not a {rtype}")
            return
        roots = self._roots_for(value, wanted, rtype, ctx.issues, path, explicit=False)
        if roots is None:
            return
        inner = self._context(ctx.issues, value, ctx.variables["rootResource"], ctx.entries, ctx.done, ctx.conformance)
        inner.fail_fast = ctx.fail_fast
        for root in roots:
            key = (id(value), id(root), path)
            if key in ctx.done:
                continue  # the same resource, profile and path give the same issues
            ctx.done.add(key)
            plan = self._plan(root, rtype)
            self._children(value, plan, path, inner, rtype)
            self._invariants_on(value, plan, path, inner, rtype)

    def _children(
        self, obj: dict[str, Any], plan: Plan, path: str, ctx: Context, resource_type: str | None = None
    ) -> None:
        groups: dict[ElementNode, list[Any]] = {}
        keymap = plan.keymap
        for key, raw in obj.items():
            entry = keymap.get(key)
            if entry is None:
                if key == "resourceType" and resource_type or key == "fhir_comments":
                    continue
                ctx.error("structure", f"{path}.{key}", "unknown element")
                continue
            child, tref, twin = entry
            if raw is None:
                ctx.error("structure", f"{path}.{key}", "null is not allowed")
                continue
            group = groups.get(child)
            name = key[1:] if twin else key
            if group is None:
                group = groups[child] = [name, tref, MISSING, MISSING]
            elif group[0] != name:
                ctx.error(
                    "structure", f"{path}.{key}", f"only one type is allowed for {child.name}[x] (also {group[0]})"
                )
                continue
            group[3 if twin else 2] = raw
        for child in plan.required:
            if child not in groups:
                ctx.error("required", f"{path}.{child.name}", f"minimum required = {child.min}, but only found 0")
        for child in plan.sliced_required:
            if child not in groups:
                self._slice_counts(child, [], f"{path}.{child.name}", ctx)
        for child, (name, tref, raw, raw_twin) in groups.items():
            self._element(child, name, tref, raw, raw_twin, path, ctx)

    def _element(
        self, child: ElementNode, name: str, tref: TypeRef | None, raw: Any, raw_twin: Any, path: str, ctx: Context
    ) -> None:
        where = f"{path}.{name}"
        values = _as_list(raw, child, where, ctx)
        twins = _as_list(raw_twin, child, where, ctx)
        count = max(len(values), len(twins))
        if count < child.min:
            ctx.error("required", where, f"minimum required = {child.min}, but only found {count}")
        if child.max is not None and count > child.max:
            ctx.error("structure", where, f"maximum allowed = {child.max}, but found {count}")
        sliced = self._match_slices(child, values, ctx) if child.slices else None
        for i in range(count):
            value = values[i] if i < len(values) else None
            twin = twins[i] if i < len(twins) else None
            item_path = f"{where}[{i}]" if child.array else where
            name = sliced[i] if sliced is not None and i < len(sliced) else None
            if name is None:
                if sliced is not None and (child.slicing or {}).get("rules") == "closed" and value is not None:
                    ctx.error("structure", item_path, f"matches no slice of {child.id}, and the slicing is closed")
                self._item(value, twin, child, tref, item_path, ctx)
                continue
            s = child.slices[name]
            s_tref = next((t for t in s.types if tref is None or t.code == tref.code), tref)
            if not _complete(s):
                self._item(value, twin, child, tref, item_path, ctx)
            self._item(value, twin, s, s_tref, item_path, ctx)
        if sliced is not None:
            self._slice_counts(child, sliced, where, ctx)

    def _item(self, value: Any, twin: Any, node: ElementNode, tref: TypeRef | None, path: str, ctx: Context) -> None:
        code = tref.code if tref is not None else "BackboneElement"
        if code in ABSTRACT_RESOURCES or self.kinds.get(code) == "resource":
            self._nested_resource(value, tref, path, ctx)
            return
        primitive = self.primitives.get(code)
        if primitive is not None:
            if value is not None:
                problem = primitive.problem(value)
                if problem:
                    ctx.error("structure", path, problem)
                    return
            if twin is not None:
                self._twin(twin, node, path, ctx)
            elif value is None:
                ctx.error("structure", path, "ele-1: All FHIR elements must have a @value or children")
                return
            if value is not None:
                self._values(value, node, code, path, ctx)
                if len(node.constraints) > 1 or (node.constraints and node.constraints[0] != "ele-1"):
                    plan = self._plan(node, code)
                    self._invariants_on(value, plan, path, ctx, None)
            return
        if not isinstance(value, dict):
            ctx.error("structure", path, f"must be a JSON object ({code})")
            return
        plan = self._plan(node, code)
        self._values(value, node, code, path, ctx)
        if code == "Reference" and tref is not None and tref.target_profiles:
            self._reference(value, tref, path, ctx)
        self._children(value, plan, path, ctx)
        self._invariants_on(value, plan, path, ctx, None)
        if code == "Extension" and not (tref and tref.profiles):
            url = value.get("url")
            if url in self.extensions:
                ext_root = self.tree(url)
                if ext_root is not None and ext_root is not node:
                    self._item(value, None, ext_root, TypeRef("Extension", (url,)), path, ctx)

    def _twin(self, twin: Any, node: ElementNode, path: str, ctx: Context) -> None:
        if not isinstance(twin, dict):
            ctx.error("structure", path, "the _element of a primitive must be a JSON object")
            return
        plan = self._twin_plan(node)
        if plan is None:
            return
        self._children(twin, plan, path, ctx)
        if not any(k != "id" for k in twin):
            ctx.error("structure", path, "ele-1: All FHIR elements must have a @value or children")

    def _twin_plan(self, node: ElementNode) -> Plan | None:
        """How to check the ``_element`` of a primitive: Element's ``id`` and ``extension``, as the
        profile constrains them where its snapshot lists the primitive's children (the slices of
        ``Address.line.extension`` in HL7 Europe's Address-eu, a required extension...)."""
        plan = node.plans.get("_twin")
        if plan is not None:
            return plan
        element = self.tree(SD_PREFIX + "Element")
        if element is None:
            return None
        base = self._plan(element, "Element")
        own = {name: child for name, child in node.children.items() if name in base.keymap}
        if not own:
            plan = base
        else:
            plan = Plan()
            plan.base_path = base.base_path
            plan.invariants = base.invariants
            plan.keymap = dict(base.keymap)
            children = {entry[0].name: entry[0] for entry in base.keymap.values()}
            for name, child in own.items():
                plan.keymap[name] = (child, child.types[0] if child.types else None, False)
                children[name] = child
            for child in children.values():
                if child.min > 0:
                    plan.required.append(child)
                elif any(s.min > 0 for s in child.slices.values()):
                    plan.sliced_required.append(child)
        node.plans["_twin"] = plan
        return plan

    def _values(self, value: Any, node: ElementNode, code: str, path: str, ctx: Context) -> None:
        if node.fixed is not MISSING and value != node.fixed:
            ctx.error("value", path, f"value must be exactly {_show(node.fixed)}, not {_show(value)}")
        if node.pattern is not MISSING and not contains(value, node.pattern):
            ctx.error("value", path, f"value must match the pattern {_show(node.pattern)}")
        if node.binding is not None and node.binding[0] in ("required", "extensible"):
            self._binding(value, node.binding, code, path, ctx)

    def _binding(self, value: Any, binding: tuple[str, str], code: str, path: str, ctx: Context) -> None:
        strength, url = binding
        codings = codings_of(value, code)
        if codings is None:
            return
        members = self.valuesets.members(url)
        if members is None:
            return
        severity = "error" if strength == "required" else "warning"
        if not codings:
            if strength == "required" and code == "CodeableConcept":
                ctx.error("code-invalid", path, f"no code provided, and a code is required from the value set '{url}'")
            return
        if any(members.has(system, c) for system, c in codings):
            return
        shown = ", ".join(f"{s}#{c}" if s else f"'{c}'" for s, c in codings)
        ctx.error("code-invalid", path, f"{shown} is not in the {strength} value set '{url}'", severity)

    def _reference(self, value: dict[str, Any], tref: TypeRef, path: str, ctx: Context) -> None:
        targets = self._target_types(tref)
        if targets is None:
            return
        ref = value.get("reference")
        found = _reference_type(ref, ctx) if isinstance(ref, str) else None
        declared = value.get("type") if isinstance(value.get("type"), str) else None
        for rtype in {t for t in (found, declared) if t}:
            if rtype not in targets:
                allowed = "|".join(sorted(targets))
                ctx.error("structure", path, f"reference to a {rtype}, but only Reference({allowed}) is allowed")

    def _target_types(self, tref: TypeRef) -> frozenset[str] | None:
        if tref in self._targets:
            return self._targets[tref]
        out: set[str] | None = set()
        for url in tref.target_profiles:
            sd = self.definitions.by_url(url)
            if sd is None or sd["type"] in ABSTRACT_RESOURCES:
                out = None
                break
            out.add(sd["type"])
        result = frozenset(out) if out else None
        self._targets[tref] = result
        return result

    def _match_slices(self, child: ElementNode, values: list[Any], ctx: Context) -> list[str | None]:
        """The slice each item belongs to (the first it matches), None when in none."""
        if child.discriminators is None:
            found = {
                name: discriminators(child, s, self._child_of, self._profile_types) for name, s in child.slices.items()
            }
            settle_profiles(found)
            child.discriminators = found
        tests = child.discriminators

        def conforms(resource: Any, profiles: tuple[str, ...]) -> bool:
            return self._conforms(resource, profiles, ctx)

        out: list[str | None] = []
        for value in values:
            out.append(next((n for n, t in tests.items() if t is not None and matches(value, t, conforms)), None))
        return out

    def _slice_counts(self, child: ElementNode, sliced: list[str | None], where: str, ctx: Context) -> None:
        for name, s in child.slices.items():
            n = sliced.count(name)
            if n < s.min:
                ctx.error("required", where, f"slice '{name}': minimum required = {s.min}, but only found {n}")
            if s.max is not None and n > s.max:
                ctx.error("structure", where, f"slice '{name}': maximum allowed = {s.max}, but found {n}")

    def _conforms(self, resource: dict[str, Any], profiles: tuple[str, ...], ctx: Context) -> bool:
        """Whether a resource validates without error against the profiles (stops at the first)."""
        key = (id(resource), profiles)
        known = ctx.conformance.get(key)
        if known is not None:
            return known
        rtype = resource.get("resourceType")
        scratch: list[Issue] = []
        probe = self._context(scratch, resource, ctx.variables["rootResource"], ctx.entries, None, ctx.conformance)
        probe.fail_fast = True
        ok = isinstance(rtype, str)
        try:
            for url in profiles if ok else ():
                root = self.tree(url)
                if root is None:
                    ok = False
                    break
                plan = self._plan(root, rtype)
                self._children(resource, plan, rtype, probe, rtype)
                self._invariants_on(resource, plan, rtype, probe, rtype)
        except NotConformant:
            ok = False
        ok = ok and not any(i.severity in ("error", "fatal") for i in scratch)
        ctx.conformance[key] = ok
        return ok

    def _invariants_on(self, value: Any, plan: Plan, path: str, ctx: Context, resource_type: str | None) -> None:
        for inv in plan.invariants:
            try:
                ok = inv.holds(value, plan.base_path, ctx.variables, resource_type, ctx.resolve)
            except Exception as exc:  # fhirpathpy raises plain Exceptions on unsupported functions
                if inv.key not in SKIPPED:
                    SKIPPED[inv.key] = f"fhirpathpy failed evaluating it (at least once): {str(exc)[:200]}"
                    log.warning("invariant %s not evaluated at %s: %s", inv.key, path, str(exc)[:200])
                continue
            if not ok:
                ctx.error("invariant", path, f"{inv.key}: {inv.human}", inv.severity)


def _as_list(raw: Any, child: ElementNode, where: str, ctx: Context) -> list[Any]:
    if raw is MISSING:
        return []
    if isinstance(raw, list):
        if not child.array:
            ctx.error("structure", where, "must be a single value, not an array")
        if not raw:
            ctx.error("structure", where, "empty array is not allowed")
        return raw
    if child.array:
        ctx.error("structure", where, "must be an array")
    return [raw]


def _reference_type(ref: str, ctx: Context) -> str | None:
    if ref.startswith("#"):
        return ctx.contained.get(ref[1:])
    entry = ctx.entries.get(ref)
    known = entry.get("resourceType") if entry is not None else None
    if known or ref.startswith("urn:"):
        return known
    parts = ref.split("?", 1)[0].split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2][:1].isupper() and parts[-2].isalpha():
        return parts[-2]
    return None


def _complete(s: ElementNode) -> bool:
    """Whether a slice's definition covers its element's (then items in it are checked against
    the slice only): its children are listed, or its type brings them (a datatype, a resource,
    an extension profile). A snapshot lists the children of a slice it constrains."""
    return bool(s.children) or not all(t.code in STRUCTURAL for t in s.types)


def _resolve_content_references(root: ElementNode) -> None:
    by_path: dict[str, ElementNode] = {}
    pending: list[ElementNode] = []

    def walk(node: ElementNode) -> None:
        if node.slice_name is None:
            by_path.setdefault(node.path, node)
        if node.content_ref:
            pending.append(node)
        for c in node.children.values():
            walk(c)
        for s in node.slices.values():
            walk(s)

    walk(root)
    for node in pending:
        target = by_path.get(node.content_ref.split("#", 1)[-1])  # type: ignore[union-attr]
        if target is not None and not node.children:
            node.children = target.children
            node.constraints = tuple(dict.fromkeys((*node.constraints, *target.constraints)))


def _show(value: Any) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 200 else text[:199] + "…"


def _dedupe(issues: list[Issue]) -> list[Issue]:
    return list(dict.fromkeys(issues))

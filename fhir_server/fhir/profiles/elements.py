"""Element trees: a StructureDefinition as nested :class:`ElementNode`, built once per profile.

A snapshot gives every element; its id (``Patient.identifier:matricule.system``) places it
in the tree (``:name`` is a slice of the element before it). A profile without snapshot
is applied onto a copy of its base's tree: each differential element is found (or made:
a new slice copies the sliced element; a child of a datatype copies that datatype's
element) and its constraints are merged in. Children of a datatype that a profile does
not list come, at validation time, from the datatype's own tree (see validator.Plan).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class TypeRef:
    code: str
    profiles: tuple[str, ...] = ()
    target_profiles: tuple[str, ...] = ()


class ElementNode:
    __slots__ = (
        "id",
        "path",
        "name",
        "choice",
        "min",
        "max",
        "array",
        "types",
        "fixed",
        "pattern",
        "binding",
        "constraints",
        "slicing",
        "slices",
        "slice_name",
        "children",
        "content_ref",
        "plans",
        "discriminators",
    )

    def __init__(self, e: dict[str, Any]):
        self.id: str = e["id"]
        self.path: str = e["path"]
        last = self.path.rsplit(".", 1)[-1]
        self.choice = last.endswith("[x]")
        self.name = last.removesuffix("[x]")
        self.min: int = int(e.get("min", 0))
        self.max: int | None = _max(e.get("max", "*"))
        self.array = e.get("baseMax", e.get("max", "*")) != "1"
        self.types: tuple[TypeRef, ...] = _types(e)
        self.fixed: Any = MISSING
        self.pattern: Any = MISSING
        self.binding: tuple[str, str] | None = None
        self.constraints: tuple[str, ...] = ()
        self.slicing: dict[str, Any] | None = None
        self.slices: dict[str, ElementNode] = {}
        self.slice_name: str | None = e.get("sliceName")
        self.children: dict[str, ElementNode] = {}
        self.content_ref: str | None = e.get("contentReference")
        self.plans: dict[str, Any] = {}  # type code -> validator plan (filled lazily)
        self.discriminators: Any = None  # filled lazily by slicing
        self.merge(e, first=True)

    def merge(self, e: dict[str, Any], first: bool = False) -> None:
        """Apply the constraints of an ElementDefinition (a differential one onto its base)."""
        if not first:
            if "min" in e:
                self.min = int(e["min"])
            if "max" in e:
                self.max = _max(e["max"])
            if "type" in e:
                self.types = _types(e)
            if "contentReference" in e:
                self.content_ref = e["contentReference"]
            self.constraints = tuple(dict.fromkeys((*self.constraints, *e.get("constraint", ()))))
        else:
            self.constraints = tuple(e.get("constraint", ()))
        for key, value in e.items():
            if key.startswith("fixed"):
                self.fixed = value
            elif key.startswith("pattern"):
                self.pattern = value
        if "binding" in e:
            self.binding = (e["binding"]["strength"], e["binding"]["valueSet"].split("|", 1)[0])
        if "slicing" in e:
            self.slicing = e["slicing"]
        self.plans = {}

    def copy(self) -> ElementNode:
        clone = object.__new__(ElementNode)
        for slot in ElementNode.__slots__:
            setattr(clone, slot, getattr(self, slot))
        clone.children = {k: v.copy() for k, v in self.children.items()}
        clone.slices = {k: v.copy() for k, v in self.slices.items()}
        clone.plans = {}
        clone.discriminators = None
        return clone

    def type_codes(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.types)

    def __repr__(self) -> str:
        return f"ElementNode({self.id})"


def _max(value: str) -> int | None:
    return None if value == "*" else int(value)


def _types(e: dict[str, Any]) -> tuple[TypeRef, ...]:
    merged: dict[str, TypeRef] = {}
    for t in e.get("type", ()):
        code = t["code"]
        prev = merged.get(code)
        profiles = tuple(t.get("profile", ()))
        targets = tuple(t.get("targetProfile", ()))
        if prev is not None:
            profiles = prev.profiles + profiles
            targets = prev.target_profiles + targets
        merged[code] = TypeRef(code, profiles, targets)
    return tuple(merged.values())


def split_id(element_id: str) -> list[tuple[str, str | None]]:
    """``Patient.identifier:mat.system`` → [("Patient", None), ("identifier", "mat"), ("system", None)].
    Choice names lose their ``[x]``."""
    out: list[tuple[str, str | None]] = []
    for part in _split_dots(element_id):
        name, _, slice_name = part.partition(":")
        out.append((name.removesuffix("[x]"), slice_name or None))
    return out


def _split_dots(element_id: str) -> list[str]:
    # slice names may not contain dots in practice; keep it simple but safe for "a:b.c" forms
    return element_id.split(".")


DatatypeTree = Callable[[str], "ElementNode | None"]


def build_snapshot_tree(elements: list[dict[str, Any]], datatype_tree: DatatypeTree) -> ElementNode:
    root = ElementNode(elements[0])
    for e in elements[1:]:
        if _type_slice(e["id"]):
            continue  # value[x]:valueQuantity type slices are not supported (see README of the validator)
        _place(root, e, datatype_tree)
    return root


def apply_differential(base: ElementNode, elements: list[dict[str, Any]], datatype_tree: DatatypeTree) -> ElementNode:
    root = base.copy()
    for e in elements:
        if _type_slice(e["id"]):
            continue
        segments = split_id(e["id"])
        if len(segments) == 1:
            root.merge(e)
            continue
        node = _locate(root, segments, datatype_tree)
        if node is not None:
            node.merge(e)
    return root


def _type_slice(element_id: str) -> bool:
    return any(":" in p and p.split(":")[0].endswith("[x]") for p in element_id.split("."))


def _place(root: ElementNode, e: dict[str, Any], datatype_tree: DatatypeTree) -> None:
    segments = split_id(e["id"])
    parent = _locate(root, segments[:-1], datatype_tree)
    if parent is None:
        return
    name, slice_name = segments[-1]
    if slice_name is None:
        parent.children[name] = ElementNode(e)
    else:
        base = parent.children.get(name) or _derive(parent, name, datatype_tree)
        if base is None:
            return
        parent.children.setdefault(name, base)
        base.slices[slice_name] = ElementNode(e)


def _locate(
    root: ElementNode, segments: list[tuple[str, str | None]], datatype_tree: DatatypeTree
) -> ElementNode | None:
    node = root
    for name, slice_name in segments[1:]:
        child = node.children.get(name)
        if child is None:
            child = _derive(node, name, datatype_tree)
            if child is None:
                return None
            node.children[name] = child
        if slice_name is not None:
            sliced = child.slices.get(slice_name)
            if sliced is None:
                sliced = child.copy()
                sliced.slices = {}
                sliced.slicing = None
                sliced.slice_name = slice_name
                sliced.min = 0  # a new slice starts optional; the differential gives its own min
                sliced.id = f"{child.id}:{slice_name}"
                child.slices[slice_name] = sliced
            child = sliced
        node = child
    return node


def _derive(parent: ElementNode, name: str, datatype_tree: DatatypeTree) -> ElementNode | None:
    """A child the parent's tree does not list: a copy of the element of the parent's datatype."""
    if len(parent.types) != 1:
        return None
    dt = datatype_tree(parent.types[0].code)
    if dt is None or name not in dt.children:
        return None
    child = dt.children[name].copy()
    child.id = f"{parent.id}.{dt.children[name].id.split('.', 1)[-1]}"
    return child

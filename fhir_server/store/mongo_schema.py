"""MongoDB document model: current versions with their index entries embedded, and history.

``resources`` holds one document per (type, id), the current version::

    {_id: "Patient/123", type, id, version_id, last_updated, lu_us, method,
     body: <the stored JSON bytes, BinData> | null (deleted),
     seq: <unique, increasing, stable for the resource: the keyset paging key>,
     pc: <patient compartment: the Patient id the resource belongs to, or null>,
     idx: {token: [{p, s, c, t, sc}], string: [{p, v, r}], date: [{p, lo, hi}],
           reference: [{p, tt, ti, ver, u}], uri: [{p, v}], number: [{p, lo, hi}],
           quantity: [{p, s, c, lo, hi}]},
     sk: {<kind>: {<param>: {a: <ascending sort value>, d: <descending sort value>}}}}

``history`` holds every version (``seq`` increasing in write order, see
``mongo.SequenceClock``). Index entries exist only for current, not deleted resources.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel

from fhir_server.fhir.index_model import (
    DateEntry,
    NumberEntry,
    QuantityEntry,
    ReferenceEntry,
    ResourceIndex,
    StringEntry,
    TokenEntry,
    UriEntry,
)

RESOURCES, HISTORY, CLAIMS = "resources", "history", "claims"
CLAIM_LIFETIME_SECONDS = 3600
"""``claims`` holds ``{_id: "<type>?<sorted criteria>", at}``, written by every conditional
interaction's transaction (``mongo._MongoTransaction.claim``); they are removed an hour later."""

# ResourceIndex field → (embedded array name, entry class, (document key, entry attribute)…)
ENTRY_FIELDS: dict[str, tuple[str, type, tuple[tuple[str, str], ...]]] = {
    "tokens": ("token", TokenEntry, (("p", "param"), ("s", "system"), ("c", "code"), ("t", "text"))),
    "strings": ("string", StringEntry, (("p", "param"), ("v", "value"), ("r", "raw"))),
    "dates": ("date", DateEntry, (("p", "param"), ("lo", "low"), ("hi", "high"))),
    "references": (
        "reference",
        ReferenceEntry,
        (("p", "param"), ("tt", "target_type"), ("ti", "target_id"), ("ver", "version"), ("u", "url")),
    ),
    "uris": ("uri", UriEntry, (("p", "param"), ("v", "value"))),
    "numbers": ("number", NumberEntry, (("p", "param"), ("lo", "low"), ("hi", "high"))),
    "quantities": (
        "quantity",
        QuantityEntry,
        (("p", "param"), ("s", "system"), ("c", "code"), ("lo", "low"), ("hi", "high")),
    ),
}
ARRAY_FOR_KIND = {
    "token": "token",
    "composite": "token",
    "string": "string",
    "date": "date",
    "reference": "reference",
    "uri": "uri",
    "number": "number",
    "quantity": "quantity",
}
# The entry value a sort on a parameter of each kind uses: (ascending: min of…, descending: max of…)
_SORT_VALUE = {
    "token": ("c", "c"),
    "string": ("v", "v"),
    "date": ("lo", "hi"),
    "reference": ("ti", "ti"),
    "uri": ("v", "v"),
    "number": ("lo", "hi"),
    "quantity": ("lo", "hi"),
}
_COMPARTMENT_PARAMS = ("patient", "subject", "beneficiary")

RESOURCE_INDEXES = [
    IndexModel([("seq", ASCENDING)], name="seq", unique=True),
    IndexModel([("type", ASCENDING), ("seq", ASCENDING)], name="type_seq"),
    IndexModel([("type", ASCENDING), ("id", ASCENDING)], name="type_id"),
    IndexModel([("type", ASCENDING), ("lu_us", ASCENDING)], name="type_lu"),
    IndexModel([("pc", ASCENDING)], name="patient_compartment"),
    # multikey indexes over the embedded entries: one per kind, (param, value…)
    IndexModel([("idx.token.p", ASCENDING), ("idx.token.c", ASCENDING), ("idx.token.s", ASCENDING)], name="token"),
    IndexModel([("idx.string.p", ASCENDING), ("idx.string.v", ASCENDING)], name="string"),
    IndexModel([("idx.date.p", ASCENDING), ("idx.date.lo", ASCENDING), ("idx.date.hi", ASCENDING)], name="date"),
    IndexModel(
        [("idx.reference.p", ASCENDING), ("idx.reference.ti", ASCENDING), ("idx.reference.tt", ASCENDING)],
        name="reference",
    ),
    IndexModel([("idx.reference.p", ASCENDING), ("idx.reference.u", ASCENDING)], name="reference_url"),
    IndexModel([("idx.uri.p", ASCENDING), ("idx.uri.v", ASCENDING)], name="uri"),
    IndexModel([("idx.number.p", ASCENDING), ("idx.number.lo", ASCENDING)], name="number"),
    IndexModel([("idx.quantity.p", ASCENDING), ("idx.quantity.lo", ASCENDING)], name="quantity"),
]
CLAIM_INDEXES = [IndexModel([("at", ASCENDING)], name="expiry", expireAfterSeconds=CLAIM_LIFETIME_SECONDS)]
HISTORY_INDEXES = [
    IndexModel([("seq", DESCENDING)], name="seq", unique=True),
    IndexModel([("type", ASCENDING), ("id", ASCENDING), ("version_id", ASCENDING)], name="version", unique=True),
    IndexModel([("type", ASCENDING), ("seq", DESCENDING)], name="type_seq"),
    IndexModel([("lu_us", ASCENDING)], name="lu"),
]


def field_name(param: str) -> str:
    """A search parameter code as a document field name ('.' and a leading '$' are not allowed)."""
    return param.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def embed_index(index: ResourceIndex | None) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """The ``idx`` arrays and the ``sk`` sort values of a resource's index entries."""
    idx: dict[str, list[dict[str, Any]]] = {}
    sort_keys: dict[str, dict[str, dict[str, Any]]] = {}
    if index is None:
        return idx, sort_keys
    for field, (array, _, keys) in ENTRY_FIELDS.items():
        entries = getattr(index, field)
        if not entries:
            continue
        docs = [{key: getattr(e, attr) for key, attr in keys} for e in entries]
        if array == "token":
            for doc in docs:
                if doc["c"] is not None:
                    doc["sc"] = f"{doc['s'] or ''}|{doc['c']}"
        idx[array] = docs
        ascending, descending = _SORT_VALUE[array]
        per_param = sort_keys.setdefault(array, {})
        for doc in docs:
            a, d = doc[ascending], doc[descending]
            if a is None and d is None:
                continue
            key = per_param.setdefault(field_name(doc["p"]), {"a": a, "d": d})
            if a is not None and (key["a"] is None or a < key["a"]):
                key["a"] = a
            if d is not None and (key["d"] is None or d > key["d"]):
                key["d"] = d
    return idx, sort_keys


def patient_compartment(resource_type: str, resource_id: str, index: ResourceIndex | None) -> str | None:
    """The Patient a resource belongs to (the shard key candidate, see README "MongoDB")."""
    if resource_type == "Patient":
        return resource_id
    if index is None:
        return None
    for param in _COMPARTMENT_PARAMS:
        for ref in index.references:
            if ref.param == param and ref.target_type == "Patient" and ref.target_id:
                return ref.target_id
    return None


def read_index(doc: dict[str, Any]) -> ResourceIndex:
    """The ResourceIndex stored in a ``resources`` document (``idx``)."""
    index = ResourceIndex()
    embedded = doc.get("idx") or {}
    for field, (array, entry_class, keys) in ENTRY_FIELDS.items():
        for entry in embedded.get(array, []):
            getattr(index, field).append(entry_class(**{attr: entry.get(key) for key, attr in keys}))
    return index

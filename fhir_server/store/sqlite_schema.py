"""SQLite schema: current versions, full history, and one index table per parameter type."""

from fhir_server.fhir.index_model import (
    DateEntry,
    NumberEntry,
    QuantityEntry,
    ReferenceEntry,
    StringEntry,
    TokenEntry,
    UriEntry,
)

SCHEMA_VERSION = 1

_DAY_US = 86_400_000_000
SPAN_CLASS_LIMITS = (_DAY_US, 366 * _DAY_US, None)
"""Longest span (high - low, µs) of date index rows in each class: day precision or finer,
up to a year (month and year precision), longer (periods)."""
SPAN_CLASS = f"(CASE WHEN high - low < {_DAY_US} THEN 0 WHEN high - low < {366 * _DAY_US} THEN 1 ELSE 2 END)"

# Index names of earlier schemas; search indexes now also hold rid, so a search reads no table rows.
_RETIRED_INDEXES = (
    "idx_token_code",
    "idx_string_value",
    "idx_date_low",
    "idx_date_high",
    "idx_date_span",
    "idx_reference_target",
    "idx_reference_url",
    "idx_uri_value",
    "idx_number_low",
    "idx_quantity_low",
)

DDL = (
    "".join(f"DROP INDEX IF EXISTS {name};\n" for name in _RETIRED_INDEXES)
    + f"""
CREATE TABLE IF NOT EXISTS resources (
    rid          INTEGER PRIMARY KEY,
    type         TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    version_id   INTEGER NOT NULL,
    last_updated TEXT    NOT NULL,
    lu_us        INTEGER NOT NULL,
    method       TEXT    NOT NULL,
    body         BLOB,
    UNIQUE (type, id)
);
CREATE INDEX IF NOT EXISTS resources_type_lu ON resources (type, lu_us);

CREATE TABLE IF NOT EXISTS history (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    rid          INTEGER NOT NULL,
    type         TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    version_id   INTEGER NOT NULL,
    last_updated TEXT    NOT NULL,
    lu_us        INTEGER NOT NULL,
    method       TEXT    NOT NULL,
    body         BLOB,
    UNIQUE (type, id, version_id)
);
CREATE INDEX IF NOT EXISTS history_rid ON history (rid, seq);
CREATE INDEX IF NOT EXISTS history_type ON history (type, seq);
CREATE INDEX IF NOT EXISTS history_lu ON history (lu_us);

CREATE TABLE IF NOT EXISTS idx_token (
    rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL,
    system TEXT, code TEXT, text TEXT
);
CREATE INDEX IF NOT EXISTS idx_token_code_rid ON idx_token (type, param, code, system, rid);
CREATE INDEX IF NOT EXISTS idx_token_rid ON idx_token (rid, param, code);

CREATE TABLE IF NOT EXISTS idx_string (
    rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL,
    value TEXT NOT NULL, raw TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_string_value_rid ON idx_string (type, param, value, rid);
CREATE INDEX IF NOT EXISTS idx_string_rid ON idx_string (rid, param, value);

CREATE TABLE IF NOT EXISTS idx_date (
    rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL,
    low INTEGER NOT NULL, high INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_date_low_rid ON idx_date (type, param, low, high, rid);
CREATE INDEX IF NOT EXISTS idx_date_high_rid ON idx_date (type, param, high, low, rid);
CREATE INDEX IF NOT EXISTS idx_date_span_rid ON idx_date (type, param, {SPAN_CLASS}, low, high, rid);
CREATE INDEX IF NOT EXISTS idx_date_rid ON idx_date (rid, param, low, high);

CREATE TABLE IF NOT EXISTS idx_reference (
    rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL,
    target_type TEXT, target_id TEXT, version TEXT, url TEXT
);
CREATE INDEX IF NOT EXISTS idx_reference_target_rid ON idx_reference (type, param, target_id, target_type, rid);
CREATE INDEX IF NOT EXISTS idx_reference_url_rid ON idx_reference (type, param, url, rid);
CREATE INDEX IF NOT EXISTS idx_reference_rid ON idx_reference (rid, param, target_type, target_id);

CREATE TABLE IF NOT EXISTS idx_uri (
    rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL, value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_uri_value_rid ON idx_uri (type, param, value, rid);
CREATE INDEX IF NOT EXISTS idx_uri_rid ON idx_uri (rid, param, value);

CREATE TABLE IF NOT EXISTS idx_number (
    rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL, low REAL NOT NULL, high REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_number_low_rid ON idx_number (type, param, low, high, rid);
CREATE INDEX IF NOT EXISTS idx_number_rid ON idx_number (rid, param, low, high);

CREATE TABLE IF NOT EXISTS idx_quantity (
    rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL,
    system TEXT, code TEXT, low REAL NOT NULL, high REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_quantity_low_rid ON idx_quantity (type, param, low, high, rid);
CREATE INDEX IF NOT EXISTS idx_quantity_rid ON idx_quantity (rid, param, low, high);
"""
)

# ResourceIndex field → its table and the entry attributes stored after (rid, type), in column order
INDEX_ROWS = {
    "tokens": ("idx_token", ("param", "system", "code", "text")),
    "strings": ("idx_string", ("param", "value", "raw")),
    "dates": ("idx_date", ("param", "low", "high")),
    "references": ("idx_reference", ("param", "target_type", "target_id", "version", "url")),
    "uris": ("idx_uri", ("param", "value")),
    "numbers": ("idx_number", ("param", "low", "high")),
    "quantities": ("idx_quantity", ("param", "system", "code", "low", "high")),
}
INDEX_TABLES = tuple(table for table, _ in INDEX_ROWS.values())

# ResourceIndex field → the entry class its rows are read back into (same attribute order as INDEX_ROWS)
INDEX_ENTRY_CLASSES = {
    "tokens": TokenEntry,
    "strings": StringEntry,
    "dates": DateEntry,
    "references": ReferenceEntry,
    "uris": UriEntry,
    "numbers": NumberEntry,
    "quantities": QuantityEntry,
}

"""Find and read the terminology folder: every CodeSystem, ValueSet and ConceptMap JSON file in it.

The folder is the server's ``terminology_dir`` setting (``$FHIR_SERVER_TERMINOLOGY_DIR``), by
default the repository's ``terminology/`` folder next to the ``fhir_server`` package (a
source checkout or an editable install). A non-editable install does not ship that folder:
point ``FHIR_SERVER_TERMINOLOGY_DIR`` at a copy of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from fhir_server.config import REPOSITORY_ROOT

ENV_VAR = "FHIR_SERVER_TERMINOLOGY_DIR"
RESOURCE_TYPES = ("CodeSystem", "ValueSet", "ConceptMap")


def default_folder() -> Path:
    return REPOSITORY_ROOT / "terminology"


def read_folder(folder: Path | None = None) -> list[dict[str, Any]]:
    """The terminology resources of the folder, sorted by file name."""
    folder = folder or default_folder()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Terminology folder '{folder}' does not exist: set {ENV_VAR} to the repository's terminology/ folder"
        )
    resources = []
    for path in sorted(folder.glob("*.json")):
        data = orjson.loads(path.read_bytes())
        if isinstance(data, dict) and data.get("resourceType") in RESOURCE_TYPES:
            resources.append(data)
    return resources

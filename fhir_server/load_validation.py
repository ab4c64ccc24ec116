"""The validation of ``fhir-server load``, run in worker processes while the main one writes.

A resource is checked as :meth:`Repository.update` checks it before writing (structure: 400,
then the profiles of :class:`ProfileEnforcement`: 422), without the store, so it can run
anywhere: each worker builds its own validator once (:func:`start_worker`) and answers a batch
of raw JSON resources with one message per refused resource (:func:`check_in_worker`).

A resource that gets a profile (its LU profile, or a known claimed one) is walked against that
StructureDefinition, which reports unknown elements, JSON shapes, primitive formats and
cardinality itself; the second structural pass with the ``fhir.resources`` models then runs
only when the profile finds an error (so that the report names the structural issues first,
as over HTTP) or could not walk part of the resource (a nested resource of a type the
validator does not know: ``not-supported``). ``tests/test_load_validation.py`` shows that the
two ways refuse the same mutations (unknown elements, bad primitives, wrong shapes, missing
required elements) of the generated LU data and of the official examples.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import orjson

from fhir_server.errors import BadRequest, FhirError, Unprocessable
from fhir_server.fhir.profile_enforcement import ProfileEnforcement
from fhir_server.fhir.profiles import ProfileValidator
from fhir_server.fhir.validation import validate_basics, validate_structure
from fhir_server.terminology import TerminologyService


class LoadChecker:
    def __init__(self, enforcement: ProfileEnforcement):
        self.enforcement = enforcement

    @classmethod
    def load(cls, profiles_dir: Path, terminology_dir: Path) -> LoadChecker:
        """Built as the app builds its ProfileEnforcement hook (``fhir_server.app.create_app``)."""
        return cls(ProfileEnforcement(ProfileValidator.load(profiles_dir, TerminologyService.load(terminology_dir))))

    def check(self, resource: Any) -> None:
        """Raise the FhirError a write of this resource would raise before touching the store."""
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        if not isinstance(rtype, str):
            raise BadRequest("no resourceType")
        if not self.enforcement.profiles_for(resource):
            validate_structure(resource, rtype)
            return
        validate_basics(resource, rtype)
        try:
            issues = self.enforcement.issues(resource)
        except Exception:
            validate_structure(resource, rtype)  # a validator failing on odd input: name the issue
            raise
        errors = [i for i in issues if i.severity in ("error", "fatal")]
        # not-supported: a nested resource of a type the validator does not know was not walked
        if errors or any(i.code == "not-supported" for i in issues):
            validate_structure(resource, rtype)  # structural issues first, as over HTTP
        if errors:
            raise Unprocessable(errors[0].diagnostics, issues=errors + [i for i in issues if i not in errors])

    def messages(self, raws: list[bytes]) -> list[str | None]:
        """Per resource: None if it may be written, else why not (every issue, errors first)."""
        out: list[str | None] = []
        for raw in raws:
            try:
                self.check(orjson.loads(raw))
                out.append(None)
            except FhirError as exc:
                out.append("; ".join(i.diagnostics for i in exc.issues))
            except Exception as exc:  # a validator failing on odd input refuses it, as a write would
                out.append(f"{type(exc).__name__}: {exc}")
        return out


_checker: LoadChecker | None = None


def start_worker(profiles_dir: Path, terminology_dir: Path) -> None:
    """Process pool initializer: Ctrl-C is the main process's to handle (it stops the pool)."""
    global _checker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _checker = LoadChecker.load(profiles_dir, terminology_dir)


def check_in_worker(raws: list[bytes]) -> list[str | None]:
    assert _checker is not None, "start_worker was not run in this process"
    return _checker.messages(raws)

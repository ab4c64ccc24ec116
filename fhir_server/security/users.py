"""People who log in to the built-in authorization server: <auth_dir>/users.json.

Format: ``{"users": [{"username": "...", "fhirUser": "Patient/x" | "Practitioner/y" | "RelatedPerson/z",
"patient": "x" (RelatedPerson only: the patient they represent), "password": "scrypt$..."}]}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fhir_server.security.passwords import hash_password, unknown_user_hash, verify_password
from fhir_server.security.private_files import read_json, update_private_json

USERS_FILE = "users.json"
_FHIR_USER = re.compile(r"^(Patient|Practitioner|RelatedPerson)/[A-Za-z0-9\-.]{1,64}$")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
PATIENT_USER_SCOPE = "launch/patient patient/*.cruds"
PRACTITIONER_USER_SCOPE = "user/*.cruds"


@dataclass(frozen=True)
class User:
    username: str
    fhir_user: str
    """SMART ``fhirUser``: a relative reference to the Patient, Practitioner or RelatedPerson logged in."""
    patient: str | None
    """The Patient id in context: the user's own for a Patient, the represented one for a RelatedPerson."""
    password_hash: str

    def get_user_id(self) -> str:
        """Authlib's user interface; also the access token's ``sub``."""
        return self.username

    def allowed_scope(self) -> str:
        """Patients and their representatives get patient/ scopes, practitioners user/ scopes."""
        return PATIENT_USER_SCOPE if self.patient else PRACTITIONER_USER_SCOPE


@dataclass(frozen=True)
class NewUser:
    username: str
    fhir_user: str
    password: str
    patient: str | None = None


class UserDirectory:
    """The users file, read on each look-up so ``fhir-server user add`` applies to a running server."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / USERS_FILE

    def get(self, username: str) -> User | None:
        return next((user for user in self._users() if user.username == username), None)

    def with_fhir_user(self, fhir_user: str) -> User | None:
        return next((user for user in self._users() if user.fhir_user == fhir_user), None)

    def authenticate(self, username: str, password: str) -> User | None:
        """The user when the password matches; the same scrypt work either way."""
        user = self.get(username)
        matches = verify_password(password, user.password_hash if user else unknown_user_hash())
        return user if user and matches else None

    def add(self, new: NewUser) -> None:
        """Register one user; ValueError when the username is taken or the entry is inconsistent."""
        if self.get(new.username) is not None:
            raise ValueError(f"user {new.username!r} already exists")
        self.add_missing([new])

    def add_missing(self, users: Iterable[NewUser]) -> None:
        """Register the users whose username is not taken yet (hashing only theirs), in one write."""
        pending = [_record(new) for new in users if self.get(new.username) is None]
        if pending:

            def append(document: Any | None) -> dict:
                records = (document or {}).get("users", [])
                taken = {record["username"] for record in records}
                return {"users": records + [record for record in pending if record["username"] not in taken]}

            update_private_json(self.path, append)

    def _users(self) -> list[User]:
        document = read_json(self.path) or {}
        return [_user(record) for record in document.get("users", [])]


def _record(new: NewUser) -> dict[str, str]:
    if not _ID.match(new.username):
        raise ValueError(f"username {new.username!r}: letters, digits, '-' and '.' only, at most 64")
    if not _FHIR_USER.match(new.fhir_user):
        raise ValueError(f"fhirUser {new.fhir_user!r}: expected Patient/<id>, Practitioner/<id> or RelatedPerson/<id>")
    resource_type, resource_id = new.fhir_user.split("/")
    if resource_type == "RelatedPerson" and not (new.patient and _ID.match(new.patient)):
        raise ValueError("a RelatedPerson user needs the id of the patient they represent")
    own = resource_id if resource_type == "Patient" else None
    if resource_type != "RelatedPerson" and new.patient not in (None, own):
        raise ValueError(f"a {resource_type} user cannot represent another patient")
    record = {"username": new.username, "fhirUser": new.fhir_user, "password": hash_password(new.password)}
    if resource_type == "RelatedPerson":
        record["patient"] = new.patient
    return record


def _user(record: dict[str, str]) -> User:
    resource_type, resource_id = record["fhirUser"].split("/")
    patient = {"Patient": resource_id, "RelatedPerson": record.get("patient")}.get(resource_type)
    return User(record["username"], record["fhirUser"], patient, record["password"])

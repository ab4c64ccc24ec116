"""Profiles enforced on write (issue 5, point 4): a :class:`~fhir_server.fhir.repository.WriteHook`.

Before a resource is stored (``check``; a refusal raises 422 and the transaction stores nothing):

- a resource that claims profiles in ``meta.profile`` is validated against those the server
  knows (an unknown profile claimed is reported as information by the validator, not refused);
- the médecin référent resource types are *always* validated against their LU profile, claim
  or not, because the MR rules and the DSP rely on their shape. Which resources are "MR
  resources" is decided by what they carry, so that third-party data of the same FHIR types
  (an official example Claim, a hospital's CareTeam) is not refused:

  ============================  =================================================  =========================
  resource                      is an MR resource when                             profile
  ============================  =================================================  =========================
  CareTeam                      a category is careteam-category|medecin-referent   lu-mr-careteam
  Composition                   type is LOINC 60591-5 (patient summary)            lu-resume-patient
  Composition                   type is document-type|resume-prestations           lu-resume-prestations
  Bundle (document)             its first entry is such a 60591-5 Composition      lu-resume-patient-bundle
  Claim                         it has the insurance-branch extension, or an item  lu-prestation-claim
                                coded in the CNS nomenclature
  Consent                       a policy.uri under https://fhir.mr.lu/policy/      lu-consent
  ============================  =================================================  =========================

  Patient, Practitioner and PractitionerRole are checked only when they claim their profile.

- the matricule check digits (Luhn and Verhoeff over digits 1-11) of a Patient validated
  against ``lu-patient`` (also inside an LU résumé patient document Bundle). This is the only
  hand-written check: FHIRPath has no loop or digit arithmetic to compute a Verhoeff digit,
  so the profile's invariant ``lu-mat-1`` checks the 13 digits and
  :func:`fhir_server.mr.matricule.is_valid_matricule` the check digits (issue ``lu-mat-2``).
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import Issue, Unprocessable
from fhir_server.fhir.profiles import ProfileValidator
from fhir_server.mr.matricule import MATRICULE_SYSTEM, is_valid_matricule
from fhir_server.store.base import StoredVersion

SD = "https://fhir.mr.lu/StructureDefinition/"
LU_PATIENT = SD + "lu-patient"
LU_MR_CARETEAM = SD + "lu-mr-careteam"
LU_RESUME_PATIENT = SD + "lu-resume-patient"
LU_RESUME_PATIENT_BUNDLE = SD + "lu-resume-patient-bundle"
LU_RESUME_PRESTATIONS = SD + "lu-resume-prestations"
LU_PRESTATION_CLAIM = SD + "lu-prestation-claim"
LU_CONSENT = SD + "lu-consent"

MR_CATEGORY = ("https://fhir.mr.lu/CodeSystem/careteam-category", "medecin-referent")
PATIENT_SUMMARY = ("http://loinc.org", "60591-5")
RESUME_PRESTATIONS = ("https://fhir.mr.lu/CodeSystem/document-type", "resume-prestations")
CNS_NOMENCLATURE = "https://fhir.mr.lu/CodeSystem/cns-nomenclature"
INSURANCE_BRANCH_EXT = SD + "insurance-branch"
LU_POLICY_PREFIX = "https://fhir.mr.lu/policy/"


def _codings(concepts: Any) -> set[tuple[Any, Any]]:
    if isinstance(concepts, dict):
        concepts = [concepts]
    if not isinstance(concepts, list):
        return set()
    return {
        (c.get("system"), c.get("code"))
        for cc in concepts
        if isinstance(cc, dict)
        for c in cc.get("coding") or ()
        if isinstance(c, dict)
    }


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def lu_profile_for(resource: dict[str, Any]) -> str | None:
    """The LU profile an MR resource must conform to, whatever it claims; None for other data."""
    rtype = resource.get("resourceType")
    if rtype == "CareTeam":
        return LU_MR_CARETEAM if MR_CATEGORY in _codings(resource.get("category")) else None
    if rtype == "Composition":
        types = _codings(resource.get("type"))
        if PATIENT_SUMMARY in types:
            return LU_RESUME_PATIENT
        return LU_RESUME_PRESTATIONS if RESUME_PRESTATIONS in types else None
    if rtype == "Claim":
        if any(isinstance(e, dict) and e.get("url") == INSURANCE_BRANCH_EXT for e in _list(resource.get("extension"))):
            return LU_PRESTATION_CLAIM
        for item in _list(resource.get("item")):
            if isinstance(item, dict) and any(s == CNS_NOMENCLATURE for s, _ in _codings(item.get("productOrService"))):
                return LU_PRESTATION_CLAIM
        return None
    if rtype == "Consent":
        for policy in _list(resource.get("policy")):
            uri = policy.get("uri") if isinstance(policy, dict) else None
            if isinstance(uri, str) and uri.startswith(LU_POLICY_PREFIX):
                return LU_CONSENT
        return None
    if rtype == "Bundle" and resource.get("type") == "document":
        entries = _list(resource.get("entry"))
        first = entries[0].get("resource") if entries and isinstance(entries[0], dict) else None
        if isinstance(first, dict) and first.get("resourceType") == "Composition":
            if PATIENT_SUMMARY in _codings(first.get("type")):
                return LU_RESUME_PATIENT_BUNDLE
    return None


def claimed_profiles(resource: dict[str, Any]) -> list[str]:
    meta = resource.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    return [p.split("|", 1)[0] for p in _list(profiles) if isinstance(p, str)]


def matricule_issues(resource: dict[str, Any], path: str = "Patient") -> list[Issue]:
    """Check digits of the matricule identifiers (the 13-digit shape is the profile's lu-mat-1)."""
    issues = []
    for i, ident in enumerate(_list(resource.get("identifier"))):
        if not isinstance(ident, dict) or ident.get("system") != MATRICULE_SYSTEM:
            continue
        value = ident.get("value")
        if isinstance(value, str) and len(value) == 13 and value.isdigit() and not is_valid_matricule(value):
            where = f"{path}.identifier[{i}].value"
            issues.append(
                Issue(
                    "invariant",
                    f"{where}: lu-mat-2: the matricule '{value}' has wrong check digits "
                    "(digit 12: Luhn, digit 13: Verhoeff, both over digits 1-11)",
                    expression=(where,),
                )
            )
    return issues


class ProfileEnforcement:
    """WriteHook: claimed profiles and the LU profiles of MR resources, enforced before a write."""

    def __init__(self, validator: ProfileValidator):
        self.validator = validator

    def profiles_for(self, resource: dict[str, Any]) -> list[str]:
        """The profiles a write is validated against (known ones only; the LU one first)."""
        wanted = [p for p in (lu_profile_for(resource), *claimed_profiles(resource)) if p]
        return [p for p in dict.fromkeys(wanted) if self.validator.knows(p)]

    def check(self, resource: dict[str, Any]) -> None:
        issues = self.issues(resource)
        errors = [i for i in issues if i.severity in ("error", "fatal")]
        if errors:
            raise Unprocessable(errors[0].diagnostics, issues=errors + [i for i in issues if i not in errors])

    def issues(self, resource: dict[str, Any]) -> list[Issue]:
        """Every issue of the profiles a write is checked against (empty when none applies)."""
        profiles = self.profiles_for(resource)
        if not profiles:
            return []
        lu = lu_profile_for(resource)
        # validate() checks the given profile plus every known profile of meta.profile
        issues = self.validator.validate(resource, lu if lu in profiles else None)
        issues.extend(self._matricules(resource, profiles))
        return list(dict.fromkeys(issues))

    @staticmethod
    def _matricules(resource: dict[str, Any], profiles: list[str]) -> list[Issue]:
        rtype = resource.get("resourceType")
        if rtype == "Patient" and LU_PATIENT in profiles:
            return matricule_issues(resource)
        if rtype == "Bundle" and LU_RESUME_PATIENT_BUNDLE in profiles:
            out = []
            for i, entry in enumerate(_list(resource.get("entry"))):
                inner = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(inner, dict) and inner.get("resourceType") == "Patient":
                    out.extend(matricule_issues(inner, f"Bundle.entry[{i}].resource"))
            return out
        return []

    def committed(self, version: StoredVersion) -> None:
        return None

"""Profile validator speed: a 50-entry document Bundle and a Patient (p50/p95 ms).

    .venv/bin/python bench/validator_bench.py [--n 300]

The Bundle is a résumé-patient-like document: a Composition (3 sections), the Patient,
the MR (Practitioner), an Organization, and 46 clinical entries (Conditions,
AllergyIntolerances, MedicationStatements, Observations), each with narrative, codes,
references and periods — validated against the base R4 definitions (every invariant,
binding, reference target and primitive format of each entry). The validator is built
and warmed once (element trees and plans are precomputed per profile, as in the server);
each timed run validates the whole Bundle afresh. Target (issue 5): < 20 ms.

Also the same document made an **LU résumé patient document Bundle** (meta.profile
lu-resume-patient-bundle; the Composition, Patient and Practitioner conform to lu-resume-patient,
lu-patient, lu-practitioner), validated against the LU profiles of profiles/, which derive from the
International Patient Summary: the Bundle profile and its entry slices, so each Condition,
AllergyIntolerance, MedicationStatement, Practitioner and Organization against its IPS profile, each
heart-rate Observation tested for conformance against the IPS Observation profiles (it matches none),
plus every base check and the narratives (txt-1/txt-2); and as the write hook does it
(``ProfileEnforcement.issues``: the same plus the matricule check digits).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fhir_server.fhir.profile_enforcement import ProfileEnforcement  # noqa: E402
from fhir_server.fhir.profiles import ProfileValidator  # noqa: E402
from fhir_server.mr.matricule import make_matricule  # noqa: E402
from fhir_server.terminology import TerminologyService  # noqa: E402

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"


def text(s: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{s}</div>'}


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "marie",
        "text": text("Marie Schmit"),
        "identifier": [{"system": "urn:oid:1.3.182.4.4", "value": "1893120105732"}],
        "active": True,
        "name": [{"use": "official", "family": "Schmit", "given": ["Marie", "Anne"]}],
        "telecom": [{"system": "phone", "value": "+352 621 000 000", "use": "mobile"}],
        "gender": "female",
        "birthDate": "1989-12-01",
        "address": [{"line": ["1 rue de la Gare"], "city": "Luxembourg", "postalCode": "L-1611", "country": "LU"}],
        "contact": [{"relationship": [{"text": "daughter"}], "name": {"family": "Schmit", "given": ["Léa"]}}],
        "generalPractitioner": [{"reference": "Practitioner/mr"}],
    }


def entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:00000000-0000-0000-0000-{abs(hash(resource['id'])) % 10**12:012d}",
        "resource": resource,
    }


def clinical(i: int) -> dict[str, Any]:
    subject = {"reference": "Patient/marie"}
    coding = {"coding": [{"system": SNOMED, "code": str(38341003 + i), "display": f"Finding {i}"}]}
    kind = i % 4
    if kind == 0:
        return {
            "resourceType": "Condition",
            "id": f"c{i}",
            "text": text(f"Condition {i}"),
            "clinicalStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
            },
            "verificationStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}
                ]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "problem-list-item",
                        }
                    ]
                }
            ],
            "code": coding,
            "subject": subject,
            "onsetDateTime": "2015-03-01",
            "recorder": {"reference": "Practitioner/mr"},
        }
    if kind == 1:
        return {
            "resourceType": "AllergyIntolerance",
            "id": f"a{i}",
            "text": text(f"Allergy {i}"),
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}
                ]
            },
            "type": "allergy",
            "category": ["medication"],
            "criticality": "high",
            "code": coding,
            "patient": subject,
            "recordedDate": "2019-05-02",
            "reaction": [{"manifestation": [coding], "severity": "moderate"}],
        }
    if kind == 2:
        return {
            "resourceType": "MedicationStatement",
            "id": f"m{i}",
            "text": text(f"Medication {i}"),
            "status": "active",
            "medicationCodeableConcept": coding,
            "subject": subject,
            "effectivePeriod": {"start": "2020-01-01", "end": "2026-12-31"},
            "dosage": [
                {
                    "text": "1 tablet a day",
                    "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                    "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
                }
            ],
        }
    return {
        "resourceType": "Observation",
        "id": f"o{i}",
        "text": text(f"Observation {i}"),
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}]},
        "subject": subject,
        "effectiveDateTime": "2026-01-15T10:00:00+01:00",
        "valueQuantity": {
            "value": 60 + i,
            "unit": "beats/minute",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
    }


def document() -> dict[str, Any]:
    entries = [clinical(i) for i in range(46)]
    sections = {}
    for r in entries:
        sections.setdefault(r["resourceType"], []).append({"reference": f"{r['resourceType']}/{r['id']}"})
    composition = {
        "resourceType": "Composition",
        "id": "resume",
        "text": text("Résumé patient"),
        "status": "final",
        "type": {"coding": [{"system": LOINC, "code": "60591-5", "display": "Patient summary Document"}]},
        "subject": {"reference": "Patient/marie"},
        "date": "2026-02-01T09:00:00+01:00",
        "author": [{"reference": "Practitioner/mr"}],
        "title": "Résumé patient",
        "custodian": {"reference": "Organization/cabinet"},
        "section": [
            {
                "title": t,
                "code": {"coding": [{"system": LOINC, "code": c}]},
                "text": text(t),
                "entry": sections.get(rt, []),
            }
            for t, c, rt in (
                ("Problems", "11450-4", "Condition"),
                ("Allergies", "48765-2", "AllergyIntolerance"),
                ("Medications", "10160-0", "MedicationStatement"),
                ("Vital signs", "8716-3", "Observation"),
            )
        ],
    }
    practitioner = {
        "resourceType": "Practitioner",
        "id": "mr",
        "text": text("Dr Weber"),
        "identifier": [{"system": "https://cns.lu/provider-code", "value": "90812345"}],
        "name": [{"family": "Weber", "given": ["Jean"], "prefix": ["Dr"]}],
    }
    organization = {
        "resourceType": "Organization",
        "id": "cabinet",
        "text": text("Cabinet"),
        "active": True,
        "name": "Cabinet médical de la Gare",
    }
    resources = [composition, patient(), practitioner, organization, *entries]
    return {
        "resourceType": "Bundle",
        "id": "resume-doc",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"},
        "type": "document",
        "timestamp": "2026-02-01T09:00:00+01:00",
        "entry": [entry(r) for r in resources],
    }


LU = "https://fhir.mr.lu/StructureDefinition/"


def lu_document() -> dict[str, Any]:
    """The 50-entry document, conforming to (and claiming) the LU résumé patient profiles."""
    import copy
    from datetime import date

    bundle = copy.deepcopy(document())
    bundle["meta"] = {"profile": [LU + "lu-resume-patient-bundle"]}
    by_type = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"][:4]}
    by_type["Composition"]["meta"] = {"profile": [LU + "lu-resume-patient"]}
    pat = by_type["Patient"]
    pat["meta"] = {"profile": [LU + "lu-patient"]}
    pat["extension"] = [{"url": LU + "dsp-status", "valueCode": "activated"}]
    pat["identifier"] = [{"system": "urn:oid:1.3.182.4.4", "value": make_matricule(date(1989, 12, 1), 57)}]
    doc = by_type["Practitioner"]
    doc["meta"] = {"profile": [LU + "lu-practitioner"]}
    doc["identifier"] = [{"system": "https://fhir.mr.lu/sid/cns-provider-code", "value": "60218314"}]
    return bundle


def measure(
    validator: ProfileValidator, resource: dict[str, Any], n: int, profile: str | None = None, check: Any = None
) -> tuple[float, float, int]:
    run = check or (lambda r: validator.validate(r, profile))
    issues = run(resource)
    timings = []
    for _ in range(n):
        start = time.perf_counter()
        run(resource)
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    errors = sum(1 for i in issues if i.severity == "error")
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1], errors


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    start = time.perf_counter()
    validator = ProfileValidator.load(ROOT / "profiles", TerminologyService.load())
    load_ms = (time.perf_counter() - start) * 1000
    bundle = document()
    assert len(bundle["entry"]) == 50
    print(f"validator load: {load_ms:.0f} ms")
    lu_bundle = lu_document()
    assert len(lu_bundle["entry"]) == 50
    hook = ProfileEnforcement(validator)
    cases = (
        ("document Bundle, 50 entries", bundle, None, None),
        ("Patient", patient(), None, None),
        ("LU résumé Bundle, 50 entries", lu_bundle, LU + "lu-resume-patient-bundle", None),
        ("  same, as the write hook", lu_bundle, None, hook.issues),
    )
    for name, resource, profile, check in cases:
        p50, p95, errors = measure(validator, resource, args.n, profile, check)
        print(f"{name:<30} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   ({errors} errors, n={args.n})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

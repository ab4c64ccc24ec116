"""Synthetic but realistic Luxembourg MR data, deterministic by seed, streamed to disk.

    .venv/bin/python bench/generate.py --patients 1000 --seed 1 --format ndjson --out /tmp/lu-1k
    .venv/bin/python bench/generate.py --patients 100000 --format bundle --bundle-size 500 --out /tmp/lu-100k
    .venv/bin/fhir-server load /tmp/lu-1k/*.ndjson --data-dir /tmp/store

What (all written through the server must pass the LU profiles, so the shapes are those of
``profiles/examples/``):

- Organization: the CNS (same id and content as the demo) and group practices (cabinets);
- Practitioner (``lu-practitioner``, 8-digit CNS provider code) + PractitionerRole
  (``lu-practitionerrole``: SNOMED specialty — GPs, paediatricians, specialists; group
  practice code and Organization for those in a cabinet);
- Patient (``lu-patient``): Luxembourg age pyramid, valid matricule (birth date + serial +
  Luhn/Verhoeff, unique), names, communes, languages; some deceased;
- RelatedPerson: a parent as legal representative of each minor (< 18);
- Coverage: CNS public health insurance (minors: the parent is subscriber);
- Condition: ALD (affection de longue durée) coded in BOTH ``CodeSystem/ald`` and ICD-10, the
  pair taken from ``terminology/ConceptMap-ald-icd10.json``, prevalence by age and sex;
- CareTeam (``lu-mr-careteam``) in every lifecycle state: proposed (no number, no period),
  active (signature/validation dates, declaration number, start on the 1st of a month),
  inactive after a revocation (``mr-end-reason`` revoked-*, ``mr-revocation``, 2-month notice)
  often followed by a new active MR, inactive after the patient's death;
- Composition (``lu-resume-patient``) written by the current MR (R8 guard: only for active MRs);
- Claim (``lu-prestation-claim``): ``--years`` of GP consultations (C1), the MR coordination
  fee MR03 once a year on the MR's first consultation, insurance-branch extension.

Output: ``--format ndjson``: one file per type, prefixed by load order
(``01-Organization.ndjson`` … ``10-Claim.ndjson``: references point backwards, so
``fhir-server load DIR/*.ndjson`` loads them in order); ``--format bundle``: transaction
Bundles of ``--bundle-size`` PUT entries (``bundle-000001.json`` …) in the same order.
Memory is bounded: resources are written as generated; only per-doctor and per-birth-date
counters are kept. The reference day ``--today`` (default 2026-10-31) fixes every date, so the
output is byte-identical for a seed; it must not be after the real today (the résumé guard
checks the MR on the real day).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from fhir_server.mr.calendar import add_months, first_of_next_month  # noqa: E402
from fhir_server.mr.matricule import MATRICULE_SYSTEM, make_matricule  # noqa: E402

FAMILIES = (
    "Schmit Muller Weber Hoffmann Wagner Thill Schroeder Reuter Kieffer Klein Schmitz Becker Meyer Welter "
    "Kremer Schiltz Faber Hansen Lentz Majerus Goergen Steffen Kayser Wirtz Feller Bertemes Weis Kohn Theis "
    "Ries Zimmer Wagener Fischer Schaack Hilbert Origer Bettendorf Pereira Ferreira Rodrigues Santos Martins "
    "Lopes Dupont Nilles Engel Back Hengen Bausch Kirsch Wolff Marx Frisch Jacoby Gales Michels Mersch Fox "
    "Reding Hoffmann Conter Dostert Kinn Mangen Pütz Rausch Scholtes Thein Ungeheuer Wantz Zeimet"
).split() + ["Da Silva", "Gonçalves", "Dos Santos", "Da Costa"]
GIVEN_F = (
    "Marie Anne Nicole Laura Léa Josée Carine Sandra Mireille Sophie Claudine Martine Monique Paula Emma Mia "
    "Charlotte Zoé Lena Julie Ana Joëlle Tessy Josiane Lynn Elena Sara Inês Chloé Nathalie"
).split()
GIVEN_M = (
    "Jean Paul Luc Claude Tom Gilles Yves Romain Fernand Marc Michel Jos Pierre Guy Fränk Nico Ben Noah "
    "Gabriel Léon Liam Raoul João Luca Mathis Sven Patrick Carlos Max David"
).split()
COMMUNES = [
    ("Luxembourg", "1741"), ("Luxembourg", "2449"), ("Luxembourg", "1611"), ("Esch-sur-Alzette", "4170"),
    ("Differdange", "4601"), ("Dudelange", "3401"), ("Ettelbruck", "9051"), ("Diekirch", "9201"),
    ("Wiltz", "9501"), ("Echternach", "6401"), ("Rumelange", "3701"), ("Grevenmacher", "6701"),
    ("Remich", "5501"), ("Clervaux", "9701"), ("Mersch", "7501"), ("Strassen", "8001"),
    ("Bertrange", "8069"), ("Hesperange", "5801"), ("Mamer", "8211"), ("Sanem", "4401"),
    ("Pétange", "4701"), ("Bettembourg", "3201"), ("Schifflange", "3801"), ("Kayl", "3601"),
    ("Vianden", "9401"), ("Redange", "8501"), ("Steinfort", "8401"), ("Junglinster", "6101"),
]  # fmt: skip
STREETS = [
    "rue de Hollerich", "avenue de la Gare", "rue de l'Alzette", "Grand-Rue", "route d'Arlon", "rue du Fort",
    "boulevard Royal", "rue de Luxembourg", "rue de l'Église", "rue Principale", "rue des Jardins",
    "avenue de la Liberté", "rue du Moulin", "rue de la Montagne", "route de Thionville", "rue des Prés",
]  # fmt: skip
LANGS = [("lb", "Luxembourgish", 45), ("fr", "French", 25), ("pt", "Portuguese", 15), ("de", "German", 8),
         ("en", "English", 7)]  # fmt: skip
# Luxembourg population by age band (STATEC, rounded): (from, to exclusive, share)
AGE_PYRAMID = [(0, 5, 5.3), (5, 15, 10.7), (15, 25, 11.5), (25, 45, 30.5), (45, 65, 26.0), (65, 80, 11.5),
               (80, 100, 4.5)]  # fmt: skip
SNOMED = "http://snomed.info/sct"
GP = ("394814009", "General practice (specialty)", "Médecine générale")
PAEDIATRICS = ("394537008", "Pediatric specialty", "Pédiatrie")
SPECIALTIES = [
    ("394579002", "Cardiology", "Cardiologie"), ("394591006", "Neurology", "Neurologie"),
    ("394583002", "Endocrinology", "Endocrinologie"), ("394589003", "Nephrology", "Néphrologie"),
    ("394584008", "Gastroenterology", "Gastro-entérologie"), ("394582007", "Dermatology", "Dermatologie"),
    ("394587001", "Psychiatry", "Psychiatrie"), ("394585009", "Obstetrics and gynecology", "Gynécologie"),
    ("394810000", "Rheumatology", "Rhumatologie"), ("418112009", "Pulmonary medicine", "Pneumologie"),
]  # fmt: skip
# ALD: (code, prevalence per 1,000 at 70 years, youngest typical age, sex bias, preferred ICD-10 [weight])
ALD_PROFILE = [
    ("08", 140, 10, None, [("E11.9", 60), ("E11.6", 15), ("E11.4", 8), ("E10.9", 10), ("E10.6", 3)]),
    ("30", 70, 20, None, [("C50.9", 25), ("C61", 22), ("C34.9", 12), ("C18.9", 12), ("C43.9", 6), ("C67.9", 5),
                          ("C91.1", 4), ("C85.9", 4)]),
    ("05", 45, 40, None, [("I50.0", 45), ("I50.9", 20), ("I48.9", 25), ("I35.0", 10)]),
    ("13", 55, 40, "male", [("I25.1", 50), ("I21.9", 20), ("I20.9", 20), ("I25.9", 10)]),
    ("12", 25, 30, None, [("I10", 60), ("I11.9", 25), ("I15.9", 15)]),
    ("23", 18, 18, None, [("F20.0", 25), ("F31.9", 30), ("F33.2", 35), ("F10.2", 10)]),
    ("03", 20, 45, "male", [("I70.2", 70), ("I65.2", 30)]),
    ("14", 18, 45, None, [("J44.9", 60), ("J44.1", 25), ("J96.1", 15)]),
    ("15", 30, 65, "female", [("F00.1", 45), ("G30.1", 25), ("F01.9", 20), ("F03", 10)]),
    ("16", 12, 55, "male", [("G20", 100)]),
    ("01", 15, 45, None, [("I63.9", 60), ("I69.4", 25), ("I61.9", 15)]),
    ("19", 10, 30, None, [("N18.5", 40), ("N18.4", 45), ("N04.9", 15)]),
    ("22", 8, 30, "female", [("M05.9", 40), ("M06.0", 60)]),
    ("24", 4, 15, None, [("K50.9", 50), ("K51.9", 50)]),
    ("25", 2.5, 18, "female", [("G35", 100)]),
    ("09", 5, 0, None, [("G40.9", 60), ("G40.3", 25), ("G71.0", 15)]),
    ("18", 0.3, 0, None, [("E84.9", 70), ("E84.0", 30)]),
]  # fmt: skip
ALD_SYSTEM = "https://fhir.mr.lu/CodeSystem/ald"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
SD = "https://fhir.mr.lu/StructureDefinition/"
CNS_REF = {"reference": "Organization/lu-organization-cns", "display": "Caisse nationale de santé"}
CNS_ORG = {
    "resourceType": "Organization",
    "id": "lu-organization-cns",
    "active": True,
    "identifier": [{"system": "https://fhir.mr.lu/sid/organization", "value": "CNS"}],
    "type": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                    "code": "ins",
                    "display": "Insurance Company",
                }
            ]
        }
    ],
    "name": "Caisse nationale de santé",
    "alias": ["CNS"],
    "telecom": [{"system": "url", "value": "https://cns.public.lu"}],
    "address": [
        {
            "use": "work",
            "type": "both",
            "line": ["125, route d'Esch"],
            "city": "Luxembourg",
            "postalCode": "1471",
            "country": "LU",
        }
    ],
}
TYPES = [
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "Patient",
    "RelatedPerson",
    "Coverage",
    "Condition",
    "CareTeam",
    "Composition",
    "Claim",
]
MR_ROLE = {
    "coding": [
        {"system": "https://fhir.mr.lu/CodeSystem/careteam-role", "code": "medecin-referent", "display": "Médecin référent"}
    ]
}
PATIENT_ROLE = {
    "coding": [
        {"system": "https://fhir.mr.lu/CodeSystem/careteam-role", "code": "patient", "display": "Patient"},
        {"system": SNOMED, "code": "116154003", "display": "Patient (person)"},
    ]
}
LEGAL_ROLE = {
    "coding": [
        {"system": "https://fhir.mr.lu/CodeSystem/careteam-role", "code": "legal-representative", "display": "Legal representative"},
        {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "GUARD", "display": "guardian"},
    ],
    "text": "Représentant légal",
}  # fmt: skip
END_REASONS = {
    "revoked-mutual": ("Revoked by mutual agreement", "mutual"),
    "revoked-by-patient": ("Revoked by the patient", "patient"),
    "revoked-by-doctor": ("Revoked by the doctor", "doctor"),
    "deceased-patient": ("Death of the patient", None),
}


def load_ald_pairs() -> tuple[dict[str, str], dict[str, list[tuple[str, str, int]]]]:
    """ALD displays and, per ALD, the (icd, display, weight) pairs valid in the ConceptMap."""
    ald_cs = json.loads((REPO / "terminology/CodeSystem-ald.json").read_text(encoding="utf-8"))
    ald_display = {c["code"]: c["display"] for c in ald_cs["concept"]}
    icd_cs = json.loads((REPO / "terminology/CodeSystem-icd-10.json").read_text(encoding="utf-8"))
    icd_display = {c["code"]: c.get("display", c["code"]) for c in icd_cs["concept"]}
    cmap = json.loads((REPO / "terminology/ConceptMap-ald-icd10.json").read_text(encoding="utf-8"))
    targets = {
        e["code"]: [t["code"] for t in e.get("target", []) if t.get("code")]
        for g in cmap["group"]
        for e in g["element"]
        if "code" in e
    }
    pairs: dict[str, list[tuple[str, str, int]]] = {}
    for ald, _, _, _, preferred in ALD_PROFILE:
        valid = set(targets.get(ald, ()))
        chosen = [(icd, icd_display[icd], w) for icd, w in preferred if icd in valid and icd in icd_display]
        if not chosen:  # fall back on any mapped code the ICD-10 CodeSystem knows
            chosen = [(icd, icd_display[icd], 1) for icd in sorted(valid) if icd in icd_display][:10]
        if not chosen:
            raise SystemExit(f"no ICD-10 code for ALD {ald} in the ConceptMap")
        pairs[ald] = chosen
    return ald_display, pairs


class Sink:
    """NDJSON files per type, written as resources come (bounded memory)."""

    def __init__(self, out: Path):
        self.out = out
        self.files = {t: (out / f"{i + 1:02d}-{t}.ndjson").open("w", encoding="utf-8") for i, t in enumerate(TYPES)}
        self.counts = dict.fromkeys(TYPES, 0)

    def __call__(self, resource: dict) -> None:
        t = resource["resourceType"]
        self.files[t].write(json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.counts[t] += 1

    def close(self) -> list[Path]:
        for f in self.files.values():
            f.close()
        return [Path(f.name) for f in self.files.values()]


def to_bundles(files: list[Path], out: Path, size: int) -> int:
    """Stream the per-type NDJSON files into transaction Bundles of ``size`` PUT entries."""
    n, entries = 0, []

    def flush() -> None:
        nonlocal n
        n += 1
        with (out / f"bundle-{n:06d}.json").open("w", encoding="utf-8") as f:
            f.write('{"resourceType":"Bundle","type":"transaction","entry":[')
            f.write(",".join(entries))
            f.write("]}\n")
        entries.clear()

    for path in files:
        with path.open(encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                url = f"{r['resourceType']}/{r['id']}"
                entries.append(
                    '{"fullUrl":' + json.dumps(f"urn:uuid:{r['id']}" if False else url) + ',"resource":'
                    + line.rstrip("\n") + ',"request":{"method":"PUT","url":' + json.dumps(url) + "}}"
                )  # fmt: skip
                if len(entries) >= size:
                    flush()
    if entries:
        flush()
    return n


class Generator:
    def __init__(self, seed: int, today: date, years: int):
        self.rng = random.Random(seed)
        self.seed = seed
        self.today = today
        self.years = years
        self.prefix = f"g{seed}"
        self.ald_display, self.ald_pairs = load_ald_pairs()
        self.birth_serials: dict[int, int] = {}  # date ordinal -> next serial (≤ 36,500 keys)
        self.declarations = 0
        lang_total = sum(w for *_, w in LANGS)
        self.lang_weights = [w / lang_total for *_, w in LANGS]

    # -- helpers ------------------------------------------------------------------------------
    def pick(self, weighted: list[tuple]) -> tuple:
        return self.rng.choices(weighted, weights=[x[-1] for x in weighted])[0]

    def address(self, use: str) -> dict:
        city, postal = self.rng.choice(COMMUNES)
        line = f"{self.rng.randint(1, 180)}, {self.rng.choice(STREETS)}"
        return {"use": use, "type": "both", "line": [line], "city": city, "postalCode": postal, "country": "LU"}

    def phone(self, mobile: bool) -> str:
        r = self.rng
        if mobile:
            return f"+352 6{r.choice('2569')}1 {r.randint(100, 999)} {r.randint(100, 999)}"
        return f"+352 {r.randint(22, 99)} {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)}"

    def matricule(self, birth: date) -> str:
        serial = self.birth_serials.get(birth.toordinal(), self.rng.randint(0, 400))
        self.birth_serials[birth.toordinal()] = serial + 1 + self.rng.randint(0, 3)
        if serial > 999:
            raise OverflowError
        return make_matricule(birth, serial)

    def birth_and_matricule(self, min_age: int, max_age: int) -> tuple[date, str]:
        while True:
            days = self.rng.randint(min_age * 365, max_age * 365 + 364)
            birth = self.today - timedelta(days=days)
            try:
                return birth, self.matricule(birth)
            except OverflowError:
                continue

    def language(self) -> dict:
        code, name, _ = self.rng.choices(LANGS, weights=self.lang_weights)[0]
        return {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": code, "display": name}]}, "preferred": True}

    def day_between(self, start: date, end: date) -> date:
        return start + timedelta(days=self.rng.randint(0, max(0, (end - start).days)))

    # -- doctors ------------------------------------------------------------------------------
    def doctors(self, n_patients: int, emit) -> dict[str, list[dict]]:
        n_gp = max(4, math.ceil(n_patients / 600))
        n_paed = max(2, math.ceil(n_patients / 4000))
        n_spec = max(4, math.ceil(n_patients / 1200))
        emit(CNS_ORG)
        doctors: dict[str, list[dict]] = {"gp": [], "paed": [], "spec": []}
        kinds = [("gp", GP)] * n_gp + [("paed", PAEDIATRICS)] * n_paed
        kinds += [("spec", SPECIALTIES[i % len(SPECIALTIES)]) for i in range(n_spec)]
        practice: dict | None = None
        practice_left = 0
        n_practice = 0
        for n, (kind, specialty) in enumerate(kinds):
            r = self.rng
            if kind != "spec" and practice_left <= 0 and r.random() < 0.6:  # a new cabinet of 2–4
                n_practice += 1
                city, postal = r.choice(COMMUNES)
                practice = {
                    "resourceType": "Organization",
                    "id": f"{self.prefix}-org-{n_practice:05d}",
                    "active": True,
                    "identifier": [
                        {"system": "https://fhir.mr.lu/sid/cns-group-practice-code", "value": f"9{self.seed % 10}{n_practice:06d}"}
                    ],
                    "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov", "display": "Healthcare Provider"}]}],
                    "name": f"Cabinet médical {r.choice(['du Centre', 'de la Gare', 'du Parc', 'des Tilleuls', 'Belair', 'du Plateau', 'de la Vallée'])} {city}",
                    "telecom": [{"system": "phone", "value": self.phone(False), "use": "work"}],
                    "address": [self.address("work")],
                }  # fmt: skip
                practice_left = r.randint(2, 4)
                emit(practice)
            in_practice = kind != "spec" and practice is not None and practice_left > 0
            if in_practice:
                practice_left -= 1
            female = r.random() < 0.45
            family, given = r.choice(FAMILIES), r.choice(GIVEN_F if female else GIVEN_M)
            pid = f"{self.prefix}-prac-{n + 1:05d}"
            phone = self.phone(False)
            code = f"{60 + (0 if kind == 'gp' else 1 if kind == 'paed' else 2)}{self.seed % 10}{n + 1:05d}"
            practitioner = {
                "resourceType": "Practitioner",
                "id": pid,
                "meta": {"profile": [SD + "lu-practitioner"]},
                "active": True,
                "identifier": [{"system": "https://fhir.mr.lu/sid/cns-provider-code", "value": code}],
                "name": [{"use": "official", "family": family, "given": [given], "prefix": ["Dr"]}],
                "telecom": [{"system": "phone", "value": phone, "use": "work"}],
                "address": [self.address("work")],
                "gender": "female" if female else "male",
            }
            role = {
                "resourceType": "PractitionerRole",
                "id": f"{self.prefix}-role-{n + 1:05d}",
                "meta": {"profile": [SD + "lu-practitionerrole"]},
                "active": True,
                "practitioner": {"reference": f"Practitioner/{pid}", "display": f"Dr {given} {family}"},
                "code": [
                    {
                        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/practitioner-role", "code": "doctor", "display": "Doctor"}],
                        "text": "Médecin",
                    }
                ],
                "specialty": [{"coding": [{"system": SNOMED, "code": specialty[0], "display": specialty[1]}], "text": specialty[2]}],
                "telecom": [{"system": "phone", "value": phone, "use": "work"}],
            }  # fmt: skip
            if in_practice:
                assert practice is not None
                role["organization"] = {"reference": f"Organization/{practice['id']}", "display": practice["name"]}
                role["identifier"] = [practice["identifier"][0]]
            doctors[kind].append({"practitioner": practitioner, "role": role, "name": f"Dr {given} {family}"})
        for kind in ("gp", "paed", "spec"):
            for d in doctors[kind]:
                emit(d["practitioner"])
        for kind in ("gp", "paed", "spec"):
            for d in doctors[kind]:
                emit(d["role"])
        return doctors

    # -- one patient ----------------------------------------------------------------------------
    def patient(self, i: int, doctors: dict[str, list[dict]], emit) -> None:
        r = self.rng
        lo, hi, _ = self.pick(AGE_PYRAMID)
        age = r.randint(lo, hi - 1)
        birth, matricule = self.birth_and_matricule(age, age)
        female = r.random() < (0.56 if age >= 80 else 0.5)
        family, given = r.choice(FAMILIES), r.choice(GIVEN_F if female else GIVEN_M)
        pid = f"{self.prefix}-pat-{i:07d}"
        name = f"{given} {family}"
        # mortality over the last years: rises with age
        death: date | None = None
        if age >= 60 and r.random() < 0.004 * math.exp((age - 60) / 9):
            death = self.day_between(self.today - timedelta(days=365 * 3), self.today - timedelta(days=1))
        patient = {
            "resourceType": "Patient",
            "id": pid,
            "meta": {"profile": [SD + "lu-patient"]},
            "active": True,
            "identifier": [
                {
                    "use": "official",
                    "system": MATRICULE_SYSTEM,
                    "value": matricule,
                    "type": {
                        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NI", "display": "National unique individual identifier"}],
                        "text": "Numéro d'identification national (matricule)",
                    },
                }
            ],
            "name": [{"use": "official", "family": family, "given": [given]}],
            "telecom": [{"system": "phone", "value": self.phone(True), "use": "mobile"}],
            "gender": "female" if female else "male",
            "birthDate": birth.isoformat(),
            "address": [self.address("home")],
            "communication": [self.language()],
        }  # fmt: skip
        minor = age < 18
        usual = r.choice(doctors["paed"] if minor and r.random() < 0.6 else doctors["gp"])
        patient["generalPractitioner"] = [{"reference": f"Practitioner/{usual['practitioner']['id']}"}]
        if death is not None:
            patient["deceasedDateTime"] = death.isoformat()
        emit(patient)
        subject = {"reference": f"Patient/{pid}", "display": name}

        parent = None
        if minor:  # a parent as legal representative
            p_female = r.random() < 0.6
            p_age = age + r.randint(22, 40)
            p_birth, p_mat = self.birth_and_matricule(p_age, p_age)
            p_given = r.choice(GIVEN_F if p_female else GIVEN_M)
            parent = {
                "resourceType": "RelatedPerson",
                "id": f"{self.prefix}-rp-{i:07d}",
                "active": True,
                "identifier": [{"use": "official", "system": MATRICULE_SYSTEM, "value": p_mat}],
                "patient": subject,
                "relationship": [
                    {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH" if p_female else "FTH", "display": "mother" if p_female else "father"}]},
                    {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "GUARD", "display": "guardian"}], "text": "Représentante légale" if p_female else "Représentant légal"},
                ],
                "name": [{"use": "official", "family": family, "given": [p_given]}],
                "telecom": [{"system": "phone", "value": self.phone(True), "use": "mobile"}],
                "gender": "female" if p_female else "male",
                "birthDate": p_birth.isoformat(),
                "address": patient["address"],
            }  # fmt: skip
            emit(parent)

        coverage = {
            "resourceType": "Coverage",
            "id": f"{self.prefix}-cov-{i:07d}",
            "status": "active" if death is None else "cancelled",
            "type": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PUBLICPOL", "display": "public healthcare"}],
                "text": "Assurance maladie-maternité (CNS)",
            },
            "beneficiary": {"reference": f"Patient/{pid}"},
            "payor": [CNS_REF],
            "period": {"start": max(birth, date(2000, 1, 1)).isoformat(), **({"end": death.isoformat()} if death else {})},
        }  # fmt: skip
        if parent is not None:
            coverage["policyHolder"] = coverage["subscriber"] = {"reference": f"RelatedPerson/{parent['id']}"}
            coverage["subscriberId"] = parent["identifier"][0]["value"]
            rel = ("child", "Child")
        else:
            coverage["policyHolder"] = coverage["subscriber"] = {"reference": f"Patient/{pid}"}
            coverage["subscriberId"] = matricule
            rel = ("self", "Self")
        coverage["relationship"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship", "code": rel[0], "display": rel[1]}]}  # fmt: skip
        emit(coverage)

        # ALD conditions, prevalence by age (and sex)
        conditions = []
        for ald, per_mille, min_age, sex_bias, _ in ALD_PROFILE:
            if age < min_age:
                continue
            p = per_mille / 1000 * min(1.6, math.exp((age - 70) / 18))
            if sex_bias:
                p *= 1.4 if patient["gender"] == sex_bias else 0.6
            if r.random() >= p:
                continue
            icd, icd_display, _ = self.pick(self.ald_pairs[ald])
            onset = self.day_between(birth + timedelta(days=365 * max(min_age, age // 2)), self.today - timedelta(days=30))
            resolved = r.random() < 0.03
            cond = {
                "resourceType": "Condition",
                "id": f"{self.prefix}-cond-{i:07d}-{ald}",
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved" if resolved else "active", "display": "Resolved" if resolved else "Active"}]},
                "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed", "display": "Confirmed"}]},
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item", "display": "Problem List Item"}]}],
                "code": {
                    "coding": [
                        {"system": ICD10, "code": icd, "display": icd_display},
                        {"system": ALD_SYSTEM, "code": ald, "display": self.ald_display[ald]},
                    ],
                    "text": icd_display,
                },
                "subject": {"reference": f"Patient/{pid}"},
                "onsetDateTime": onset.isoformat(),
                "recorder": {"reference": f"Practitioner/{usual['practitioner']['id']}"},
                "note": [{"text": "Affection de longue durée (ALD) reconnue."}],
            }  # fmt: skip
            conditions.append(cond)
            emit(cond)

        # MR care teams: who has an MR, and the history
        end_of_history = death or self.today
        p_mr = 0.75 if conditions else (0.35 if minor else 0.3)
        teams: list[tuple[dict, dict]] = []  # (team, doctor)
        current: dict | None = None
        if r.random() < p_mr:
            doctor = usual
            earliest = max(birth + timedelta(days=1), date(2019, 1, 1), self.today - timedelta(days=365 * 6))
            start = first_of_next_month(self.day_between(earliest, end_of_history - timedelta(days=40)))
            if start <= end_of_history:
                if r.random() < 0.15 and start < end_of_history - timedelta(days=200):  # revoked, maybe followed
                    sign = self.day_between(start + timedelta(days=60), end_of_history - timedelta(days=100))
                    reason = r.choices(["revoked-by-patient", "revoked-mutual", "revoked-by-doctor"], [55, 30, 15])[0]
                    received = sign + timedelta(days=r.randint(1, 10))
                    end = add_months(received, 2) - timedelta(days=1)
                    if end < end_of_history:
                        team = self.care_team(i, 1, subject, doctor, parent, start, "inactive", end=end,
                                              reason=reason, revocation=(sign, received))  # fmt: skip
                        teams.append((team, doctor))
                        start = first_of_next_month(end)
                        pool = doctors["paed"] + doctors["gp"] if minor else doctors["gp"]
                        doctor = r.choice([d for d in pool if d is not usual] or pool)
                if start <= end_of_history and (death is None or r.random() < 0.9):
                    if death is not None:
                        team = self.care_team(i, len(teams) + 1, subject, doctor, parent, start, "inactive",
                                              end=death, reason="deceased-patient")  # fmt: skip
                    else:
                        team = self.care_team(i, len(teams) + 1, subject, doctor, parent, start, "active")
                        current = doctor
                    teams.append((team, doctor))
        if death is None and r.random() < 0.04:  # a declaration not yet validated
            pool = doctors["paed"] if minor else doctors["gp"]
            doc = current or r.choice(pool)
            if current is None:
                teams.append((self.care_team(i, len(teams) + 1, subject, doc, parent, None, "proposed"), doc))
        for team, _ in teams:
            emit(team)
        self.mr_by_patient = (current, teams)

        # résumé patient by the current MR (R8)
        if current is not None and r.random() < 0.7:
            active_team = teams[-1][0]
            start = date.fromisoformat(active_team["period"]["start"])
            written = self.day_between(start, min(self.today, start + timedelta(days=120)))
            emit(self.resume(i, subject, current, written, conditions))

        # years of claims: GP consultations (C1), MR03 once a year from the MR
        if death is None or death > self.today - timedelta(days=365 * self.years):
            self.claims(i, pid, name, birth, death, usual, teams, conditions, emit)

    def care_team(self, i, n, subject, doctor, parent, start, status, *, end=None, reason=None, revocation=None) -> dict:
        r = self.rng
        team: dict = {
            "resourceType": "CareTeam",
            "id": f"{self.prefix}-ct-{i:07d}-{n}",
            "meta": {"profile": [SD + "lu-mr-careteam"]},
            "extension": [],
            "status": status,
            "category": [{"coding": [{"system": "https://fhir.mr.lu/CodeSystem/careteam-category", "code": "medecin-referent", "display": "Médecin référent"}]}],
            "name": f"Médecin référent de {subject['display']}",
            "subject": subject,
            "participant": [
                {"role": [MR_ROLE], "member": {"reference": f"PractitionerRole/{doctor['role']['id']}", "display": doctor["name"]}},
                {"role": [PATIENT_ROLE], "member": {"reference": subject["reference"]}},
            ],
            "managingOrganization": [CNS_REF],
        }  # fmt: skip
        if parent is not None:
            team["participant"].append({"role": [LEGAL_ROLE], "member": {"reference": f"RelatedPerson/{parent['id']}"}})
        if start is None:  # proposed: signed, not yet validated
            sign = self.today - timedelta(days=r.randint(1, 25))
            team["extension"].append({"url": SD + "mr-signature-date", "valueDate": sign.isoformat()})
            return team
        sign = start - timedelta(days=r.randint(5, 45))
        validation = min(start - timedelta(days=1), sign + timedelta(days=r.randint(2, 14)))
        team["extension"].append({"url": SD + "mr-signature-date", "valueDate": sign.isoformat()})
        team["extension"].append({"url": SD + "mr-validation-date", "valueDate": validation.isoformat()})
        if reason is not None:
            display, initiator = END_REASONS[reason]
            team["extension"].append({"url": SD + "mr-end-reason", "valueCodeableConcept": {"coding": [{"system": "https://fhir.mr.lu/CodeSystem/mr-end-reason", "code": reason, "display": display}]}})  # fmt: skip
        if revocation is not None:
            signed, received = revocation
            team["extension"].append(
                {
                    "url": SD + "mr-revocation",
                    "extension": [
                        {"url": "initiator", "valueCode": END_REASONS[reason][1]},
                        {"url": "signatureDate", "valueDate": signed.isoformat()},
                        {"url": "receivedDate", "valueDate": received.isoformat()},
                    ],
                }
            )
        self.declarations += 1
        team["identifier"] = [{"system": "https://fhir.mr.lu/sid/mr-declaration", "value": f"MR-{start.year}-{self.seed % 100:02d}{self.declarations:06d}"}]  # fmt: skip
        team["period"] = {"start": start.isoformat(), **({"end": end.isoformat()} if end else {})}
        return team

    def resume(self, i, subject, doctor, written: date, conditions) -> dict:
        active = [c for c in conditions if c["clinicalStatus"]["coding"][0]["code"] == "active"]
        items = "".join(f"<li>{c['code']['text']} (CIM-10 {c['code']['coding'][0]['code']})</li>" for c in active)
        problems = {
            "title": "Problèmes actifs",
            "code": {"coding": [{"system": "http://loinc.org", "code": "11450-4", "display": "Problem list - Reported"}]},
            "text": {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><ul>{items}</ul></div>' if items else '<div xmlns="http://www.w3.org/1999/xhtml"><p>Aucun problème actif connu</p></div>'},
        }  # fmt: skip
        if active:
            problems["entry"] = [{"reference": f"Condition/{c['id']}"} for c in active]
        else:
            problems["emptyReason"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason", "code": "nilknown", "display": "Nil Known"}]}  # fmt: skip
        return {
            "resourceType": "Composition",
            "id": f"{self.prefix}-resume-{i:07d}",
            "meta": {"profile": [SD + "lu-resume-patient"]},
            "status": "final",
            "type": {"coding": [{"system": "http://loinc.org", "code": "60591-5", "display": "Patient summary Document"}]},
            "subject": subject,
            "date": f"{written.isoformat()}T{9 + self.rng.randint(0, 8):02d}:00:00+01:00",
            "author": [{"reference": f"PractitionerRole/{doctor['role']['id']}", "display": doctor["name"]}],
            "title": "Résumé patient",
            "section": [
                problems,
                {
                    "title": "Allergies et intolérances",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "48765-2", "display": "Allergies and adverse reactions Document"}]},
                    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Aucune allergie connue</p></div>'},
                    "emptyReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason", "code": "nilknown", "display": "Nil Known"}]},
                },
                {
                    "title": "Traitements en cours",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "10160-0", "display": "History of Medication use Narrative"}]},
                    "text": {"status": "additional", "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Voir le plan de traitement du médecin référent.</p></div>'},
                    "emptyReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason", "code": "unavailable", "display": "Unavailable"}]},
                },
            ],
        }  # fmt: skip

    def claims(self, i, pid, name, birth, death, usual, teams, conditions, emit) -> None:
        r = self.rng
        first = max(self.today - timedelta(days=365 * self.years), birth)
        last = min(self.today, death) if death else self.today
        age = (self.today - birth).days // 365
        rate = (4.5 if age < 6 else 2.5 if age < 45 else 3.5 if age < 70 else 5.5) + 2.5 * len(conditions)
        n = min(60, int(r.expovariate(1 / rate) * 0.6 + rate * 0.4) * self.years)
        days = sorted(self.day_between(first, last) for _ in range(n))
        mr03_years: set[int] = set()
        diagnoses = [c for c in conditions if c["clinicalStatus"]["coding"][0]["code"] == "active"][:3]
        for k, day in enumerate(days):
            doctor = usual
            mr = None
            for team, doc in teams:
                p = team.get("period")
                if p and date.fromisoformat(p["start"]) <= day <= date.fromisoformat(p.get("end", "9999-12-31")):
                    mr = doc
            if mr is not None and r.random() < 0.85:
                doctor = mr
            items = [self.claim_item(1, "C1", "Consultation du médecin généraliste", day, diagnoses)]
            if mr is not None and doctor is mr and day.year not in mr03_years:
                mr03_years.add(day.year)
                items.append(self.claim_item(2, "MR03", "Forfait pour la coordination des soins (médecin référent)", day, diagnoses))  # fmt: skip
            claim = {
                "resourceType": "Claim",
                "id": f"{self.prefix}-claim-{i:07d}-{k + 1:03d}",
                "meta": {"profile": [SD + "lu-prestation-claim"]},
                "extension": [{"url": SD + "insurance-branch", "valueCode": "sickness-maternity"}],
                "status": "active",
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional", "display": "Professional"}]},
                "use": "claim",
                "patient": {"reference": f"Patient/{pid}", "display": name},
                "billablePeriod": {"start": day.isoformat(), "end": day.isoformat()},
                "created": day.isoformat(),
                "insurer": CNS_REF,
                "provider": {"reference": f"Practitioner/{doctor['practitioner']['id']}", "display": doctor["name"]},
                "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal", "display": "Normal"}]},
                "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": f"Coverage/{self.prefix}-cov-{i:07d}"}}],
                "item": items,
            }  # fmt: skip
            if diagnoses:
                claim["diagnosis"] = [
                    {"sequence": s + 1, "diagnosisReference": {"reference": f"Condition/{c['id']}"}}
                    for s, c in enumerate(diagnoses)
                ]
            emit(claim)

    @staticmethod
    def claim_item(seq: int, code: str, display: str, day: date, diagnoses: list) -> dict:
        item = {
            "sequence": seq,
            "productOrService": {"coding": [{"system": "https://fhir.mr.lu/CodeSystem/cns-nomenclature", "code": code, "display": display}]},
            "servicedDate": day.isoformat(),
            "quantity": {"value": 1},
        }  # fmt: skip
        if diagnoses:
            item["diagnosisSequence"] = list(range(1, len(diagnoses) + 1))
        return item


def generate(patients: int, seed: int, out: Path, fmt: str = "ndjson", bundle_size: int = 500,
             today: date = date(2026, 10, 31), years: int = 3) -> dict:  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".ndjson-tmp" if fmt == "bundle" else out
    work.mkdir(exist_ok=True)
    sink = Sink(work)
    gen = Generator(seed, today, years)
    doctors = gen.doctors(patients, sink)
    for i in range(1, patients + 1):
        gen.patient(i, doctors, sink)
    files = sink.close()
    result = {"counts": sink.counts, "resources": sum(sink.counts.values()), "files": [str(f) for f in files]}
    if fmt == "bundle":
        n = to_bundles(files, out, bundle_size)
        shutil.rmtree(work)
        result["files"] = [str(out / f"bundle-{k:06d}.json") for k in range(1, n + 1)]
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", choices=["ndjson", "bundle"], default="ndjson")
    ap.add_argument("--bundle-size", type=int, default=500, help="entries per transaction Bundle")
    ap.add_argument("--years", type=int, default=3, help="years of Claims before --today")
    ap.add_argument("--today", type=date.fromisoformat, default=date(2026, 10, 31), help="reference day (fixed)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.today > date.today():
        ap.error("--today is after the real today: the résumé guard would refuse the résumés")
    started = time.perf_counter()
    result = generate(args.patients, args.seed, args.out, args.format, args.bundle_size, args.today, args.years)
    elapsed = time.perf_counter() - started
    print(
        f"{result['resources']} resources for {args.patients} patients in {elapsed:.1f} s "
        f"({len(result['files'])} files in {args.out})",
        file=sys.stderr,
    )
    print("  " + ", ".join(f"{k} {v}" for k, v in result["counts"].items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fill a data dir with many realistic Luxembourg resources, fast, through the server's own
Repository (validation, versioning and index extraction exactly as over HTTP), in-process.

    .venv/bin/python bench/load_store.py --data-dir /tmp/fhir-bench --resources 100000

Resources: Practitioner + PractitionerRole (médecins généralistes), Patient (Luxembourg
names, communes, matricule ``urn:oid:1.3.182.4.4`` built with
``fhir_server.mr.matricule.make_matricule``, generalPractitioner), Condition (ICD-10,
subject + recorder) and CareTeam (médecin référent: PractitionerRole + Patient).
Ids and contents are deterministic for a given ``--seed`` (only meta.lastUpdated varies).
Many creates share one store transaction (``--batch``), so the cost is the repository's,
not the per-commit fsync.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from fhir_server.app import create_app
from fhir_server.config import Settings
from fhir_server.mr.matricule import MATRICULE_SYSTEM, make_matricule

FAMILIES = [
    "Schmit",
    "Muller",
    "Weber",
    "Hoffmann",
    "Wagner",
    "Thill",
    "Schroeder",
    "Reuter",
    "Kieffer",
    "Klein",
    "Schmitz",
    "Becker",
    "Meyer",
    "Welter",
    "Kremer",
    "Schiltz",
    "Faber",
    "Hansen",
    "Lentz",
    "Majerus",
    "Goergen",
    "Steffen",
    "Kayser",
    "Wirtz",
    "Feller",
    "Bertemes",
    "Weis",
    "Kohn",
    "Theis",
    "Ries",
    "Zimmer",
    "Wagener",
    "Fischer",
    "Schaack",
    "Hilbert",
    "Origer",
    "Bettendorf",
    "Pereira",
    "Da Silva",
    "Ferreira",
    "Gonçalves",
    "Rodrigues",
    "Santos",
    "Martins",
    "Lopes",
    "Dupont",
    "Nilles",
    "Engel",
    "Back",
    "Hengen",
    "Bausch",
    "Kirsch",
    "Wolff",
    "Marx",
    "Frisch",
    "Jacoby",
    "Gales",
    "Michels",
    "Mersch",
    "Fox",
]
GIVEN_F = [
    "Marie",
    "Anne",
    "Nicole",
    "Laura",
    "Léa",
    "Josée",
    "Carine",
    "Sandra",
    "Mireille",
    "Sophie",
    "Claudine",
    "Martine",
    "Monique",
    "Paula",
    "Emma",
    "Mia",
    "Charlotte",
    "Zoé",
    "Lena",
    "Julie",
    "Ana",
    "Joëlle",
    "Tessy",
]
GIVEN_M = [
    "Jean",
    "Paul",
    "Luc",
    "Claude",
    "Tom",
    "Gilles",
    "Yves",
    "Romain",
    "Fernand",
    "Marc",
    "Michel",
    "Jos",
    "Pierre",
    "Guy",
    "Fränk",
    "Nico",
    "Ben",
    "Noah",
    "Gabriel",
    "Léon",
    "Liam",
    "Jang",
    "Raoul",
    "João",
]
COMMUNES = [  # (city, postal code)
    ("Luxembourg", "1741"),
    ("Luxembourg", "2449"),
    ("Luxembourg", "1611"),
    ("Esch-sur-Alzette", "4170"),
    ("Differdange", "4601"),
    ("Dudelange", "3401"),
    ("Ettelbruck", "9051"),
    ("Diekirch", "9201"),
    ("Wiltz", "9501"),
    ("Echternach", "6401"),
    ("Rumelange", "3701"),
    ("Grevenmacher", "6701"),
    ("Remich", "5501"),
    ("Clervaux", "9701"),
    ("Mersch", "7501"),
    ("Strassen", "8001"),
    ("Bertrange", "8069"),
    ("Hesperange", "5801"),
    ("Mamer", "8211"),
    ("Sanem", "4401"),
    ("Pétange", "4701"),
    ("Bettembourg", "3201"),
    ("Schifflange", "3801"),
    ("Kayl", "3601"),
    ("Vianden", "9401"),
    ("Redange", "8501"),
    ("Steinfort", "8401"),
    ("Junglinster", "6101"),
]
STREETS = [
    "rue de Hollerich",
    "avenue de la Gare",
    "rue de l'Alzette",
    "Grand-Rue",
    "route d'Arlon",
    "rue du Fort",
    "boulevard Royal",
    "rue de Luxembourg",
    "rue de l'Église",
    "rue Principale",
    "rue des Jardins",
    "avenue de la Liberté",
    "rue du Moulin",
    "rue de la Montagne",
    "route de Thionville",
    "rue des Prés",
]
CONDITIONS = [  # ICD-10
    ("I10", "Essential (primary) hypertension"),
    ("E11", "Type 2 diabetes mellitus"),
    ("J45", "Asthma"),
    ("E78", "Disorders of lipoprotein metabolism and other lipidaemias"),
    ("M54", "Dorsalgia"),
    ("F32", "Depressive episode"),
    ("J44", "Other chronic obstructive pulmonary disease"),
    ("I48", "Atrial fibrillation and flutter"),
    ("N18", "Chronic kidney disease"),
    ("G35", "Multiple sclerosis"),
    ("E03", "Other hypothyroidism"),
    ("M17", "Gonarthrosis [arthrosis of knee]"),
    ("G43", "Migraine"),
    ("K21", "Gastro-oesophageal reflux disease"),
    ("I25", "Chronic ischaemic heart disease"),
]
CNS = {"reference": "Organization/lu-organization-cns", "display": "Caisse nationale de santé"}
LANGS = [("lb", "Luxembourgish"), ("fr", "French"), ("de", "German"), ("pt", "Portuguese"), ("en", "English")]


class Generator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.matricules: set[str] = set()

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def address(self, use: str) -> dict:
        city, postal = self.rng.choice(COMMUNES)
        return {
            "use": use,
            "type": "both",
            "line": [f"{self.rng.randint(1, 180)}, {self.rng.choice(STREETS)}"],
            "city": city,
            "postalCode": postal,
            "country": "LU",
        }

    def phone(self, mobile: bool) -> str:
        r = self.rng
        if mobile:
            return f"+352 6{r.choice('2569')}1 {r.randint(100, 999)} {r.randint(100, 999)}"
        return f"+352 {r.randint(22, 99)} {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)}"

    def matricule(self, birth: date) -> str:
        while True:
            value = make_matricule(birth, self.rng.randint(0, 999))
            if value not in self.matricules:
                self.matricules.add(value)
                return value

    def practitioner(self, n: int) -> tuple[dict, dict]:
        r = self.rng
        female = r.random() < 0.5
        family, given = r.choice(FAMILIES), r.choice(GIVEN_F if female else GIVEN_M)
        pid, role_id = self.uid(), self.uid()
        phone = self.phone(False)
        practitioner = {
            "resourceType": "Practitioner",
            "id": pid,
            "active": True,
            "identifier": [{"system": "https://fhir.mr.lu/sid/cns-provider-code", "value": f"6{n:07d}"}],
            "name": [{"use": "official", "family": family, "given": [given], "prefix": ["Dr"]}],
            "telecom": [{"system": "phone", "value": phone, "use": "work"}],
            "address": [self.address("work")],
            "gender": "female" if female else "male",
        }
        role = {
            "resourceType": "PractitionerRole",
            "id": role_id,
            "active": True,
            "practitioner": {"reference": f"Practitioner/{pid}", "display": f"Dr {given} {family}"},
            "code": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/practitioner-role",
                            "code": "doctor",
                            "display": "Doctor",
                        }
                    ],
                    "text": "Médecin",
                }
            ],
            "specialty": [
                {
                    "coding": [
                        {
                            "system": "http://snomed.info/sct",
                            "code": "394814009",
                            "display": "General practice (specialty)",
                        }
                    ],
                    "text": "Médecine générale",
                }
            ],
            "telecom": [{"system": "phone", "value": phone, "use": "work"}],
        }
        return practitioner, role

    def patient(self, gp: dict) -> dict:
        r = self.rng
        female = r.random() < 0.51
        birth = date(1930, 1, 1) + timedelta(days=r.randint(0, 85 * 365))
        lang, lang_name = r.choice(LANGS)
        resource = {
            "resourceType": "Patient",
            "id": self.uid(),
            "active": True,
            "identifier": [
                {
                    "use": "official",
                    "system": MATRICULE_SYSTEM,
                    "value": self.matricule(birth),
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                "code": "NI",
                                "display": "National unique individual identifier",
                            }
                        ],
                        "text": "Numéro d'identification national (matricule)",
                    },
                }
            ],
            "name": [
                {"use": "official", "family": r.choice(FAMILIES), "given": [r.choice(GIVEN_F if female else GIVEN_M)]}
            ],
            "gender": "female" if female else "male",
            "birthDate": birth.isoformat(),
            "address": [self.address("home")],
            "telecom": [{"system": "phone", "value": self.phone(True), "use": "mobile"}],
            "communication": [
                {
                    "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": lang, "display": lang_name}]},
                    "preferred": True,
                }
            ],
            "generalPractitioner": [{"reference": f"Practitioner/{gp['id']}"}],
        }
        return resource

    def condition(self, patient: dict, gp: dict) -> dict:
        r = self.rng
        code, display = r.choice(CONDITIONS)
        onset = date(2000, 1, 1) + timedelta(days=r.randint(0, 24 * 365))
        return {
            "resourceType": "Condition",
            "id": self.uid(),
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": r.choice(["active", "active", "resolved"]),
                    }
                ]
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
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code, "display": display}]},
            "subject": {"reference": f"Patient/{patient['id']}"},
            "onsetDateTime": onset.isoformat(),
            "recorder": {"reference": f"Practitioner/{gp['id']}"},
        }

    def care_team(self, patient: dict, role: dict, serial: int) -> dict:
        name = f"{patient['name'][0]['given'][0]} {patient['name'][0]['family']}"
        start = date(2020, 1, 1) + timedelta(days=self.rng.randint(0, 5 * 365))
        return {
            "resourceType": "CareTeam",
            "id": self.uid(),
            "status": "active",
            "category": [
                {
                    "coding": [
                        {
                            "system": "https://fhir.mr.lu/CodeSystem/careteam-category",
                            "code": "medecin-referent",
                            "display": "Médecin référent",
                        }
                    ]
                }
            ],
            "name": f"Médecin référent de {name}",
            "subject": {"reference": f"Patient/{patient['id']}", "display": name},
            "participant": [
                {
                    "role": [
                        {
                            "coding": [
                                {
                                    "system": "https://fhir.mr.lu/CodeSystem/careteam-role",
                                    "code": "medecin-referent",
                                    "display": "Médecin référent",
                                }
                            ]
                        }
                    ],
                    "member": {"reference": f"PractitionerRole/{role['id']}"},
                },
                {
                    "role": [
                        {
                            "coding": [
                                {"system": "http://snomed.info/sct", "code": "116154003", "display": "Patient (person)"}
                            ]
                        }
                    ],
                    "member": {"reference": f"Patient/{patient['id']}"},
                },
            ],
            "managingOrganization": [CNS],
            "identifier": [
                {"system": "https://fhir.mr.lu/sid/mr-declaration", "value": f"MR-{start.year}-{serial:07d}"}
            ],
            "period": {"start": start.isoformat()},
        }

    def resources(self, total: int):
        """Yield (type, resource) in an order where every reference points backwards; >= total."""
        n_doctors = max(20, total // 100)
        # per patient: 1 Patient, 0.56 Condition, 0.40 CareTeam -> 1.96 resources
        n_patients = math.ceil((total - 2 * n_doctors) / 1.96)
        doctors = []
        for n in range(n_doctors):
            practitioner, role = self.practitioner(n)
            doctors.append((practitioner, role))
            yield "Practitioner", practitioner
            yield "PractitionerRole", role
        for i in range(n_patients):
            practitioner, role = self.rng.choice(doctors)
            patient = self.patient(practitioner)
            yield "Patient", patient
            if i % 25 < 14:
                yield "Condition", self.condition(patient, practitioner)
            if i % 5 < 2:
                yield "CareTeam", self.care_team(patient, role, i)


async def load(data_dir: Path, total: int, seed: int, batch: int) -> dict:
    settings = Settings(data_dir=data_dir, log_requests=False)
    app = create_app(settings)  # the same store, index extractor and validation as the server
    repository = app.state.repository
    counts: dict[str, int] = {}
    gen = Generator(seed)
    started = time.perf_counter()
    written = 0
    pending: list[tuple[str, dict]] = []

    async def flush() -> None:
        nonlocal written
        async with repository.store.transaction() as tx:
            for rtype, resource in pending:
                result = await repository.create(rtype, resource, resource_id=resource["id"], tx=tx)
                assert result.status == 201
        written += len(pending)
        pending.clear()

    # Run the app's lifespan around the load, as the server does: start-up work (seeded
    # SearchParameters, terminology, any reindex they trigger) happens on the still-empty
    # store, not later on the first server start against 100k resources; the lifespan's
    # end waits for background work and closes the store.
    async with app.router.lifespan_context(app):
        started = time.perf_counter()
        for rtype, resource in gen.resources(total):
            pending.append((rtype, resource))
            counts[rtype] = counts.get(rtype, 0) + 1
            if len(pending) >= batch:
                await flush()
                if written % (batch * 20) == 0:
                    rate = written / (time.perf_counter() - started)
                    print(f"  {written:>8} resources  {rate:8.0f}/s", file=sys.stderr, flush=True)
        if pending:
            await flush()
        elapsed = time.perf_counter() - started
    return {"written": written, "seconds": elapsed, "per_second": written / elapsed, "counts": counts}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True, help="folder of fhir.sqlite3 (created)")
    ap.add_argument("--resources", type=int, default=100_000, help="at least this many resources (default 100000)")
    ap.add_argument("--seed", type=int, default=20240501)
    ap.add_argument("--batch", type=int, default=1000, help="creates per store transaction")
    ap.add_argument("--force", action="store_true", help="delete an existing fhir.sqlite3 in --data-dir first")
    args = ap.parse_args(argv)

    db = args.data_dir / "fhir.sqlite3"
    if db.exists():
        if not args.force:
            ap.error(f"{db} exists; use --force to replace it (ids are deterministic and would collide)")
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    args.data_dir.mkdir(parents=True, exist_ok=True)

    result = asyncio.run(load(args.data_dir, args.resources, args.seed, args.batch))
    size_mb = sum(Path(str(db) + s).stat().st_size for s in ("", "-wal") if Path(str(db) + s).exists()) / 1e6
    print(
        f"loaded {result['written']} resources in {result['seconds']:.1f} s "
        f"= {result['per_second']:.0f} resources/s  ({size_mb:.0f} MB) into {db}"
    )
    print("  " + ", ".join(f"{k}: {v}" for k, v in sorted(result["counts"].items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())

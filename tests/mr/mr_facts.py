"""Builders shared by the tests of fhir_server.mr (not a test module)."""

from datetime import date

from fhir_server.mr.calendar import Span
from fhir_server.mr.eligibility import AldRecognition, DoctorFacts, PatientFacts
from fhir_server.mr.settings import DISCIPLINE_GENERAL_PRACTICE


def patient(
    pid: str = "p1",
    *,
    ald: tuple[str, ...] = ("25",),
    dsp: bool = True,
    affiliated: bool = True,
    since: date = date(2010, 1, 1),
) -> PatientFacts:
    return PatientFacts(
        patient_id=pid,
        ald=tuple(AldRecognition(code, Span(since, None)) for code in ald),
        dsp=(Span(since, None),) if dsp else (),
        affiliations=(Span(since, None),) if affiliated else (),
    )


def gp(
    did: str = "dr-a",
    *,
    disciplines=frozenset({DISCIPLINE_GENERAL_PRACTICE}),
    primary_care: bool = True,
    code: str | None = "90123456",
) -> DoctorFacts:
    return DoctorFacts(did, frozenset(disciplines), primary_care, code)

"""R1 who may have an MR, R2 who may be an MR — on the validation day."""

from datetime import date

import pytest
from mr_facts import gp, patient

from fhir_server.mr.calendar import Span
from fhir_server.mr.eligibility import AldRecognition, DoctorFacts, PatientFacts, ald_codes_on, may_be_mr, may_have_mr

DAY = date(2024, 11, 10)


@pytest.mark.parametrize(
    "facts, failed",
    [
        (patient(), []),
        (patient(ald=()), ["no recognised ALD"]),
        (patient(dsp=False), ["DSP not activated"]),
        (patient(affiliated=False), ["no active affiliation"]),
        (
            patient(ald=(), dsp=False, affiliated=False),
            ["no recognised ALD", "DSP not activated", "no active affiliation"],
        ),
        (patient(ald=("31",)), []),  # ALD 31 "hors liste": no ICD-10 code, still an ALD
        (patient(ald=("32",)), []),
    ],
)
def test_r1_all_three_conditions(facts, failed):
    found = may_have_mr(facts, DAY)
    if not failed:
        assert found == []
    else:
        assert len(found) == 1  # one violation per failed rule
        assert found[0].rule == "R1" and found[0].message.startswith("R1: ")
        for text in failed:
            assert text in found[0].message


@pytest.mark.parametrize(
    "ald_span, dsp_span, aff_span, ok",
    [
        (Span(DAY, None), Span(DAY, None), Span(DAY, None), True),  # all start on the validation day
        (Span(date(2024, 11, 11), None), Span(DAY, None), Span(DAY, None), False),  # ALD recognised the day after
        (Span(None, date(2024, 11, 9)), Span(DAY, None), Span(DAY, None), False),  # ALD ended the day before
        (Span(None, None), Span(None, DAY), Span(None, DAY), True),  # DSP and affiliation end on that day
        (Span(None, None), Span(None, None), Span(None, date(2024, 11, 9)), False),
    ],
)
def test_r1_is_judged_on_the_validation_day(ald_span, dsp_span, aff_span, ok):
    facts = PatientFacts("p", (AldRecognition("08", ald_span),), (dsp_span,), (aff_span,))
    assert (may_have_mr(facts, DAY) == []) is ok


def test_ald_codes_on_lists_each_recognised_code_once():
    facts = PatientFacts(
        "p", (AldRecognition("25"), AldRecognition("08", Span(date(2025, 1, 1))), AldRecognition("25"))
    )
    assert ald_codes_on(facts, DAY) == ["25"]
    assert ald_codes_on(facts, date(2025, 1, 1)) == ["08", "25"]


@pytest.mark.parametrize(
    "doctor, failed",
    [
        (gp(), []),
        (gp(disciplines={"paediatrics"}), []),
        (gp(disciplines={"general-practice", "geriatrics"}), []),
        (gp(disciplines={"cardiology"}), ["discipline"]),
        (gp(disciplines=set()), ["discipline"]),
        (gp(primary_care=False), ["primary care"]),
        (gp(code=None), ["no CNS provider code"]),
        (
            gp(disciplines={"cardiology"}, primary_care=False, code=None),
            ["discipline", "primary care", "provider code"],
        ),
    ],
)
def test_r2_who_may_be_an_mr(doctor, failed):
    found = may_be_mr(doctor, DAY)
    assert (found == []) is (not failed)
    if failed:
        assert len(found) == 1 and found[0].rule == "R2"
        for text in failed:
            assert text in found[0].message


def test_r2_provider_code_must_be_valid_on_the_day():
    doctor = DoctorFacts("d", frozenset({"general-practice"}), True, "90123456", Span(None, date(2024, 11, 9)))
    [v] = may_be_mr(doctor, DAY)
    assert "not valid" in v.message
    assert may_be_mr(doctor, date(2024, 11, 9)) == []

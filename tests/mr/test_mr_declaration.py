"""R3 declaration, R4 effective date, R7 a new MR (worked examples of the rule book first)."""

from datetime import date

import pytest
from mr_facts import gp, patient

from fhir_server.mr.declaration import effective_date, effective_date_after, validate_declaration
from fhir_server.mr.relationship import MrRelationship, mr_on

D = date


@pytest.mark.parametrize(
    "validated, effective",
    [
        # rule book R4
        (D(2024, 11, 10), D(2024, 12, 1)),
        (D(2024, 12, 31), D(2025, 1, 1)),
        (D(2025, 3, 1), D(2025, 4, 1)),
        # R6 example: received 10 Mar 2024, validated in March → 1 Apr 2024
        (D(2024, 3, 10), D(2024, 4, 1)),
        (D(2024, 3, 31), D(2024, 4, 1)),
        # edges: on the 1st, on the 31st, 29 February, 28 February of a non-leap year
        (D(2025, 1, 1), D(2025, 2, 1)),
        (D(2025, 1, 31), D(2025, 2, 1)),
        (D(2024, 2, 29), D(2024, 3, 1)),
        (D(2028, 2, 29), D(2028, 3, 1)),
        (D(2025, 2, 28), D(2025, 3, 1)),
        (D(2024, 2, 28), D(2024, 3, 1)),
    ],
)
def test_r4_effective_date(validated, effective):
    assert effective_date(validated) == effective


@pytest.mark.parametrize(
    "validated, previous_last_day, effective",
    [
        (D(2024, 5, 10), D(2024, 7, 2), D(2024, 8, 1)),  # rule book R7
        (D(2024, 5, 10), None, D(2024, 6, 1)),  # no previous relationship → R4
        (D(2024, 8, 15), D(2024, 7, 2), D(2024, 9, 1)),  # validated after the old one ended
        (D(2024, 5, 10), D(2024, 7, 31), D(2024, 8, 1)),  # old one ends on a month end
        (D(2024, 5, 10), D(2024, 6, 30), D(2024, 7, 1)),
        (D(2024, 7, 2), D(2024, 7, 2), D(2024, 8, 1)),  # same day
        (D(2024, 12, 31), D(2024, 12, 31), D(2025, 1, 1)),
        (D(2024, 1, 10), D(2024, 2, 29), D(2024, 3, 1)),
    ],
)
def test_r7_effective_date_after_a_revocation(validated, previous_last_day, effective):
    assert effective_date_after(validated, previous_last_day) == effective


def test_accepted_declaration_gets_the_r4_date():
    decision = validate_declaration(patient(), gp(), D(2024, 11, 10))
    assert decision.accepted and decision.effective == D(2024, 12, 1) and decision.violations == ()


def test_refused_declaration_lists_one_violation_per_failed_rule():
    decision = validate_declaration(
        patient(ald=(), dsp=False),
        gp(disciplines={"cardiology"}),
        D(2024, 11, 10),
        [MrRelationship("p1", "dr-b", D(2023, 1, 1))],
    )
    assert not decision.accepted and decision.effective is None
    assert [v.rule for v in decision.violations] == ["R1", "R2", "R3"]
    assert all(v.message.startswith(v.rule + ": ") for v in decision.violations)


@pytest.mark.parametrize("doctor_id", ["dr-b", "dr-a"])
def test_r3_at_most_one_mr_refuses_while_the_old_one_is_not_revoked(doctor_id):
    old = MrRelationship("p1", doctor_id, D(2023, 1, 1))
    decision = validate_declaration(patient(), gp("dr-a"), D(2024, 5, 10), [old])
    [v] = decision.violations
    assert v.rule == "R3" and v.code == "r3-already-has-mr" and "R7" in v.message


def test_r3_refuses_when_the_old_one_is_validated_but_not_yet_effective():
    old = MrRelationship("p1", "dr-b", D(2024, 6, 1))  # validated in May, starts 1 June
    assert not validate_declaration(patient(), gp(), D(2024, 5, 20), [old]).accepted


def test_r7_new_declaration_during_the_notice_period_waits_for_its_end():
    # R6 example: effective 1 Apr 2024, mutual revocation signed 3 May → last day 2 Jul 2024
    old = MrRelationship("p1", "dr-b", D(2024, 4, 1), D(2024, 7, 2))
    decision = validate_declaration(patient(), gp("dr-a"), D(2024, 5, 10), [old])
    assert decision.accepted
    assert decision.effective == D(2024, 8, 1)
    assert decision.replaces == old
    # no overlap: on 2 Jul the old MR, on 1 Aug the new one, nobody in between
    new = MrRelationship("p1", "dr-a", decision.effective)
    assert mr_on([old, new], "p1", D(2024, 7, 2)).doctor_id == "dr-b"
    assert mr_on([old, new], "p1", D(2024, 7, 15)) is None
    assert mr_on([old, new], "p1", D(2024, 8, 1)).doctor_id == "dr-a"


def test_r7_an_old_relationship_long_ended_does_not_delay_the_new_one():
    old = MrRelationship("p1", "dr-b", D(2020, 4, 1), D(2022, 7, 2))
    decision = validate_declaration(patient(), gp(), D(2024, 11, 10), [old])
    assert decision.effective == D(2024, 12, 1) and decision.replaces is None


def test_other_patients_relationships_are_ignored():
    other = MrRelationship("p2", "dr-b", D(2023, 1, 1))
    assert validate_declaration(patient("p1"), gp(), D(2024, 11, 10), [other]).accepted


def test_mr_on_refuses_overlapping_relationships():
    rels = [MrRelationship("p1", "a", D(2024, 1, 1)), MrRelationship("p1", "b", D(2024, 6, 1))]
    with pytest.raises(ValueError, match="R3"):
        mr_on(rels, "p1", D(2024, 7, 1))

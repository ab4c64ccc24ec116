"""R5 end, R6 revocation: mutual only in the first twelve months, two months' notice from signature."""

from datetime import date

import pytest

from fhir_server.mr.relationship import MrRelationship
from fhir_server.mr.revocation import end_by_death, first_year_last_day, in_first_year, revoke
from fhir_server.mr.settings import MrRuleSettings

D = date
APRIL = MrRelationship("p1", "dr-a", D(2024, 4, 1))  # R6 example: effective 1 Apr 2024


def test_r6_worked_example():
    decision = revoke(APRIL, "mutual", signed_on=D(2024, 5, 3), received_on=D(2024, 5, 5))
    assert decision.accepted
    assert decision.takes_effect == D(2024, 7, 3)
    assert decision.last_day == D(2024, 7, 2)


@pytest.mark.parametrize(
    "signed, takes_effect, last_day",
    [
        (D(2024, 12, 31), D(2025, 2, 28), D(2025, 2, 27)),  # 31 Dec + 2 months clamps to 28 Feb
        (D(2023, 12, 31), D(2024, 2, 29), D(2024, 2, 28)),  # leap year
        (D(2027, 12, 29), D(2028, 2, 29), D(2028, 2, 28)),
        (D(2024, 12, 29), D(2025, 2, 28), D(2025, 2, 27)),  # non-leap
        (D(2024, 11, 1), D(2025, 1, 1), D(2024, 12, 31)),
        (D(2024, 4, 1), D(2024, 6, 1), D(2024, 5, 31)),  # signed on the effective date
    ],
)
def test_r6_two_months_notice_and_inclusive_last_day(signed, takes_effect, last_day):
    rel = MrRelationship("p1", "dr-a", D(2023, 12, 1))
    decision = revoke(rel, "mutual", signed)
    assert (decision.takes_effect, decision.last_day) == (takes_effect, last_day)


@pytest.mark.parametrize(
    "effective, last_day_of_first_year",
    [
        (D(2024, 4, 1), D(2025, 3, 31)),
        (D(2024, 3, 1), D(2025, 2, 28)),
        (D(2023, 3, 1), D(2024, 2, 29)),  # first year ends on 29 Feb
        (D(2025, 1, 1), D(2025, 12, 31)),
    ],
)
def test_first_twelve_months(effective, last_day_of_first_year):
    assert first_year_last_day(effective) == last_day_of_first_year


@pytest.mark.parametrize(
    "initiator, signed, accepted",
    [
        ("mutual", D(2024, 5, 3), True),
        ("patient", D(2024, 5, 3), False),  # unilateral in the first year: refused
        ("doctor", D(2024, 5, 3), False),
        ("patient", D(2025, 3, 31), False),  # last day of the first twelve months
        ("patient", D(2025, 4, 1), True),  # exactly the first anniversary: second year (interpretation)
        ("doctor", D(2025, 4, 1), True),
        ("mutual", D(2025, 4, 1), True),
        ("doctor", D(2026, 8, 15), True),
        ("patient", D(2024, 3, 20), False),  # signed before the effective date
    ],
)
def test_r6_unilateral_only_from_the_second_year(initiator, signed, accepted):
    decision = revoke(APRIL, initiator, signed)
    assert decision.accepted is accepted
    if not accepted:
        [v] = decision.violations
        assert v.rule == "R6" and v.code == "r6-unilateral-first-year"


def test_the_anniversary_can_be_counted_in_the_first_year_by_setting():
    settings = MrRuleSettings(first_year_includes_anniversary=True)
    assert in_first_year(APRIL.effective, D(2025, 4, 1), settings=settings)
    assert not revoke(APRIL, "patient", D(2025, 4, 1), settings=settings).accepted
    assert revoke(APRIL, "patient", D(2025, 4, 2), settings=settings).accepted


def test_notice_from_receipt_by_setting():
    settings = MrRuleSettings(revocation_notice_from="receipt")
    decision = revoke(APRIL, "mutual", D(2024, 5, 3), D(2024, 5, 5), settings=settings)
    assert (decision.takes_effect, decision.last_day) == (D(2024, 7, 5), D(2024, 7, 4))
    # signed in the first year, received on the anniversary: the receipt decides
    assert revoke(APRIL, "patient", D(2025, 3, 30), D(2025, 4, 1), settings=settings).accepted


@pytest.mark.parametrize(
    "rel, initiator, signed, received, code",
    [
        (APRIL, "mutual", D(2024, 5, 3), D(2024, 5, 2), "r6-received-before-signed"),
        (
            MrRelationship("p1", "dr-a", D(2024, 4, 1), D(2024, 7, 2)),
            "mutual",
            D(2024, 5, 10),
            None,
            "r6-already-ended",
        ),
        (APRIL, "cns", D(2025, 5, 3), None, "r6-initiator"),
    ],
)
def test_r6_other_refusals(rel, initiator, signed, received, code):
    decision = revoke(rel, initiator, signed, received)
    assert not decision.accepted
    assert code in [v.code for v in decision.violations]
    assert decision.takes_effect is None and decision.last_day is None


@pytest.mark.parametrize(
    "died, last_day",
    [
        (D(2024, 9, 14), D(2024, 9, 14)),  # last day = date of death, no notice
        (D(2024, 4, 1), D(2024, 4, 1)),
        (D(2024, 3, 20), D(2024, 3, 31)),  # before the effective date: never took effect (empty period)
    ],
)
def test_r5_end_by_death(died, last_day):
    decision = end_by_death(APRIL, died)
    assert decision.accepted and decision.last_day == last_day


def test_r5_death_after_a_revocation_took_effect_is_refused():
    ended = MrRelationship("p1", "dr-a", D(2024, 4, 1), D(2024, 7, 2))
    assert end_by_death(ended, D(2024, 7, 1)).last_day == D(2024, 7, 1)  # during the notice: earlier end
    [v] = end_by_death(ended, D(2024, 8, 1)).violations
    assert v.rule == "R5"

"""R8 the résumé patient: due effective + 3 months − 1 day; written only by the current MR."""

from datetime import date

import pytest

from fhir_server.mr.relationship import MrRelationship
from fhir_server.mr.resume import may_write_resume, resume_due_date, resume_status

D = date


@pytest.mark.parametrize(
    "effective, due",
    [
        (D(2024, 12, 1), D(2025, 2, 28)),  # rule book R8
        (D(2023, 12, 1), D(2024, 2, 29)),  # leap year
        (D(2027, 12, 1), D(2028, 2, 29)),
        (D(2025, 1, 1), D(2025, 3, 31)),
        (D(2024, 11, 1), D(2025, 1, 31)),
        (D(2024, 4, 1), D(2024, 6, 30)),
    ],
)
def test_r8_due_date(effective, due):
    assert resume_due_date(effective) == due


@pytest.mark.parametrize(
    "day, written, overdue, late",
    [
        (D(2025, 2, 28), [], False, False),  # due date itself: not yet overdue
        (D(2025, 3, 1), [], True, False),  # rule book: overdue from 1 Mar 2025
        (D(2025, 3, 1), [D(2025, 2, 28)], False, False),
        (D(2025, 3, 1), [D(2025, 3, 2)], True, False),  # written after the day asked about
        (D(2025, 4, 1), [D(2025, 3, 2)], False, True),  # written late
        (D(2025, 3, 1), [D(2024, 11, 20)], True, False),  # before the effective date: not this relationship's
    ],
)
def test_r8_overdue(day, written, overdue, late):
    status = resume_status(D(2024, 12, 1), day, written)
    assert status.due == D(2025, 2, 28)
    assert (status.overdue, status.late) == (overdue, late)


def test_r8_first_and_last_update():
    status = resume_status(D(2024, 12, 1), D(2025, 6, 1), [D(2025, 5, 2), D(2025, 1, 10), D(2025, 7, 1)])
    assert (status.first_written, status.last_updated) == (D(2025, 1, 10), D(2025, 5, 2))


RELS = [MrRelationship("p1", "dr-a", D(2024, 4, 1), D(2024, 7, 2)), MrRelationship("p1", "dr-b", D(2024, 8, 1))]


@pytest.mark.parametrize(
    "author, day, code",
    [
        ("dr-a", D(2024, 7, 2), None),  # last day of dr-a
        ("dr-a", D(2024, 8, 1), "r8-not-the-mr"),
        ("dr-b", D(2024, 8, 1), None),
        ("dr-b", D(2024, 7, 31), "r8-no-mr"),  # between the two relationships
        ("dr-c", D(2025, 1, 1), "r8-not-the-mr"),
    ],
)
def test_r8_only_the_current_mr_writes(author, day, code):
    found = may_write_resume(author, "p1", day, RELS)
    assert [v.code for v in found] == ([code] if code else [])
    assert all(v.rule == "R8" for v in found)

"""Table-driven tests of the Luxembourg matricule (national identification number)."""

from datetime import date

import pytest

from fhir_server.mr.matricule import (
    MATRICULE_SYSTEM,
    is_valid_matricule,
    luhn_check_digit,
    make_matricule,
    verhoeff_check_digit,
)

VALID = "1893120105732"


def test_system_oid():
    assert MATRICULE_SYSTEM == "urn:oid:1.3.182.4.4"


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("18931201057", "3"),  # the reference matricule
        ("7992739871", "3"),  # textbook Luhn example 79927398713
        ("0", "0"),
        ("1", "8"),
        ("00000000000", "0"),
    ],
)
def test_luhn_check_digit(digits, expected):
    assert luhn_check_digit(digits) == expected


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("18931201057", "2"),  # the reference matricule
        ("236", "3"),  # textbook Verhoeff example 2363
        ("12345", "1"),  # 123451
        ("142857", "0"),  # 1428570
    ],
)
def test_verhoeff_check_digit(digits, expected):
    assert verhoeff_check_digit(digits) == expected


@pytest.mark.parametrize("func", [luhn_check_digit, verhoeff_check_digit])
@pytest.mark.parametrize("bad", ["", "12a4", " 123", "12-3", "１２３"])
def test_check_digit_rejects_non_digits(func, bad):
    with pytest.raises(ValueError):
        func(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (VALID, True),
        ("1893120105733", False),  # wrong Verhoeff digit
        ("1893120105722", False),  # wrong Luhn digit
        ("1893120105723", False),  # both check digits swapped
        ("189312010573", False),  # 12 digits
        ("18931201057321", False),  # 14 digits
        ("", False),
        ("189312010573a", False),
        ("1893 120105732", False),
        ("1893-12-01-057-32", False),
        (" 1893120105732", False),
        ("1893120105732\n", False),
        ("１８９３１２０１０５７３２", False),  # full-width digits are not ASCII
        (1893120105732, False),  # not a str
        (None, False),
    ],
)
def test_is_valid_matricule(value, expected):
    assert is_valid_matricule(value) is expected


@pytest.mark.parametrize("position", range(13))
def test_every_single_digit_corruption_is_detected(position):
    for replacement in "0123456789":
        if replacement == VALID[position]:
            continue
        corrupted = VALID[:position] + replacement + VALID[position + 1 :]
        assert not is_valid_matricule(corrupted), corrupted


@pytest.mark.parametrize("position", range(10))
def test_adjacent_transpositions_in_payload_are_detected(position):
    if VALID[position] == VALID[position + 1]:
        pytest.skip("identical neighbours")
    swapped = VALID[:position] + VALID[position + 1] + VALID[position] + VALID[position + 2 :]
    assert not is_valid_matricule(swapped), swapped


@pytest.mark.parametrize(
    ("birth_date", "serial", "expected"),
    [
        (date(1893, 12, 1), 57, VALID),
        (date(1893, 12, 1), 57, "18931201057" + "32"),
    ],
)
def test_make_matricule_known(birth_date, serial, expected):
    assert make_matricule(birth_date, serial) == expected


@pytest.mark.parametrize(
    ("birth_date", "serial"),
    [
        (date(2016, 5, 9), 0),
        (date(2016, 5, 9), 7),
        (date(1936, 11, 2), 999),
        (date(2000, 2, 29), 123),
        (date(1958, 3, 14), 127),
    ],
)
def test_make_matricule_round_trip(birth_date, serial):
    value = make_matricule(birth_date, serial)
    assert len(value) == 13
    assert value[:8] == birth_date.strftime("%Y%m%d")
    assert value[8:11] == f"{serial:03d}"
    assert value[11] == luhn_check_digit(value[:11])
    assert value[12] == verhoeff_check_digit(value[:11])
    assert is_valid_matricule(value)


@pytest.mark.parametrize("serial", [-1, 1000, True, 1.0, "057"])
def test_make_matricule_rejects_bad_serial(serial):
    with pytest.raises(ValueError):
        make_matricule(date(1990, 1, 1), serial)


def test_make_matricule_rejects_non_date():
    with pytest.raises(TypeError):
        make_matricule("1990-01-01", 1)

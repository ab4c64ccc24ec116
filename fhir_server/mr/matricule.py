"""Luxembourg national identification number (the "matricule").

The matricule printed on the social security card has 13 digits::

    Y Y Y Y M M D D S S S L V
    '--- date ---' '-+-' | '-- digit 13: Verhoeff check digit of digits 1-11
                     |   '----- digit 12: Luhn check digit of digits 1-11
                     '--------- digits 9-11: serial number

* digits 1-8: the date of birth as ``YYYYMMDD``;
* digits 9-11: a serial number (``000``-``999``) distinguishing people born
  on the same day;
* digit 12: the Luhn (mod 10) check digit computed over digits 1-11;
* digit 13: the Verhoeff check digit computed over the *same* digits 1-11
  (not over digits 1-12).

Example: ``1893120105732`` -> born 1893-12-01, serial ``057``, Luhn digit
``3``, Verhoeff digit ``2``.  ``1893120105733`` is invalid.

:func:`is_valid_matricule` checks the format and both check digits.  It does
not reject a date that does not exist (e.g. ``00`` for an unknown day or
month): such numbers have been issued to people whose exact birth date is
unknown, so only the check digits are authoritative.
"""

from __future__ import annotations

from datetime import date

__all__ = [
    "MATRICULE_SYSTEM",
    "luhn_check_digit",
    "verhoeff_check_digit",
    "is_valid_matricule",
    "make_matricule",
]

#: FHIR ``Identifier.system`` for the Luxembourg national identification number.
MATRICULE_SYSTEM = "urn:oid:1.3.182.4.4"

MATRICULE_LENGTH = 13
_PAYLOAD_LENGTH = 11

# Verhoeff tables: multiplication in the dihedral group D5, the permutation
# applied at each position, and the group inverse.
_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_VERHOEFF_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def _require_digits(digits: str) -> None:
    if not isinstance(digits, str) or not digits or not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"expected a non-empty string of ASCII digits, got {digits!r}")


def luhn_check_digit(digits: str) -> str:
    """Return the Luhn (mod 10) check digit to append to ``digits``.

    Rule: starting from the rightmost digit of ``digits`` (the one that will
    stand just left of the check digit), double every second digit; when a
    doubled value exceeds 9 subtract 9; add everything up.  The check digit is
    the amount needed to reach the next multiple of 10:
    ``(10 - total % 10) % 10``.

    >>> luhn_check_digit("18931201057")
    '3'
    """
    _require_digits(digits)
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # these are doubled once the check digit is appended
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def verhoeff_check_digit(digits: str) -> str:
    """Return the Verhoeff check digit to append to ``digits``.

    Rule (Verhoeff, 1969): process the digits from right to left with an
    accumulator ``c = 0``; the digit at position ``i`` (``i = 0`` for the
    rightmost digit of ``digits``) gives ``c = d[c][p[(i + 1) % 8][digit]]``,
    where ``d`` is the multiplication table of the dihedral group D5 and ``p``
    a fixed permutation applied ``i + 1`` times.  The check digit is the group
    inverse ``inv[c]``.  Unlike Luhn it detects every single-digit error and
    every transposition of adjacent digits.

    >>> verhoeff_check_digit("18931201057")
    '2'
    """
    _require_digits(digits)
    c = 0
    for position, char in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[(position + 1) % 8][int(char)]]
    return str(_VERHOEFF_INV[c])


def is_valid_matricule(value: str) -> bool:
    """Tell whether ``value`` is a well-formed Luxembourg matricule.

    True when ``value`` is exactly 13 ASCII digits, digit 12 equals
    :func:`luhn_check_digit` of digits 1-11 and digit 13 equals
    :func:`verhoeff_check_digit` of digits 1-11.  Anything else (wrong length,
    spaces, separators, non-digits, non-``str``) gives False; the function
    never raises.

    >>> is_valid_matricule("1893120105732")
    True
    >>> is_valid_matricule("1893120105733")
    False
    """
    if not isinstance(value, str) or len(value) != MATRICULE_LENGTH:
        return False
    if not (value.isascii() and value.isdigit()):
        return False
    payload = value[:_PAYLOAD_LENGTH]
    return value[11] == luhn_check_digit(payload) and value[12] == verhoeff_check_digit(payload)


def make_matricule(birth_date: date, serial: int) -> str:
    """Build the matricule for ``birth_date`` and ``serial`` (0-999).

    Returns ``YYYYMMDD`` + the serial on three digits + the Luhn and the
    Verhoeff check digits of those 11 digits.  Meant for test and demo data:
    real numbers are assigned by the Centre commun de la sécurité sociale.

    >>> make_matricule(date(1893, 12, 1), 57)
    '1893120105732'
    """
    if not isinstance(birth_date, date):
        raise TypeError("birth_date must be a datetime.date")
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 <= serial <= 999:
        raise ValueError(f"serial must be an int between 0 and 999, got {serial!r}")
    if not 1000 <= birth_date.year <= 9999:
        raise ValueError("birth year must have four digits")
    payload = f"{birth_date:%Y%m%d}{serial:03d}"
    return payload + luhn_check_digit(payload) + verhoeff_check_digit(payload)

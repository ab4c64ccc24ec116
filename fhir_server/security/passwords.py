"""Password hashes for the built-in login: scrypt (RFC 7914) with a per-user salt, compared in constant time."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os

_N, _R, _P = 2**14, 8, 1
"""RFC 7914 section 2's interactive-login cost (16 MiB, ~30 ms); stored in each hash so it can be raised."""


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$key`` with a fresh 16-byte salt (salt and key base64url)."""
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    scheme, n, r, p, salt, key = encoded.split("$")
    if scheme != "scrypt":
        raise ValueError(f"unknown password hash scheme {scheme!r}")
    expected = base64.urlsafe_b64decode(key)
    actual = hashlib.scrypt(
        password.encode(),
        salt=base64.urlsafe_b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        maxmem=256 * 1024 * 1024,
        dklen=len(expected),
    )
    return hmac.compare_digest(actual, expected)


@functools.cache
def unknown_user_hash() -> str:
    """Checked against when the username is unknown, so the answer takes as long as for a known one."""
    return hash_password(os.urandom(16).hex())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")

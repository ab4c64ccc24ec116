"""Brute-force protection of the built-in authorization server, after Keycloak's brute-force detection:
failed logins (login form) and failed client authentications (token and introspection endpoints) are
counted per account (username, or client id) and per client address; after too many failures within
a window, that account or address is locked out for a while and every attempt from it is refused
with 429 and ``Retry-After`` before any password or assertion is checked, so a good password during a
lockout is refused too and tells an attacker nothing.

- An account's counter is reset by a successful login; an address's is not (else one valid account
  would let an attacker reset it between guesses).
- Attempts still being checked count as failures until they end, so concurrent requests cannot run
  more guesses than the limit allows.
- Unknown usernames and client ids are counted like known ones: a lockout does not tell which exist.
- IPv6 addresses are counted per /64, the block one host usually holds.
- State lives in memory, per process: with ``--workers N`` each process counts on its own (up to N
  times the limits in all). At most ``max_entries`` accounts and addresses are remembered; beyond,
  the least recently seen are forgotten.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MAX_ENTRIES = 10_000
"""Accounts and addresses remembered at once, per process (a few hundred bytes each)."""
MAX_KEY_LENGTH = 128
"""Longer usernames or client ids (none can be registered) are counted under their first characters."""


class LockedOut(Exception):
    """The account or address is locked out; ``retry_after`` in whole seconds (at least 1)."""

    def __init__(self, retry_after: int, subject: str) -> None:
        super().__init__(f"too many failed attempts ({subject}); retry after {retry_after} s")
        self.retry_after = retry_after
        self.subject = subject


@dataclass(slots=True)
class _Record:
    limit: int
    failures: deque[float] = field(default_factory=deque)
    """Times of the failures within the window, oldest first."""
    pending: int = 0
    locked_until: float = 0.0


class LoginThrottle:
    def __init__(
        self,
        *,
        max_failures: int,
        address_max_failures: int,
        window_seconds: float,
        lockout_seconds: float,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``max_failures`` per account and ``address_max_failures`` per address within
        ``window_seconds`` lock that account or address for ``lockout_seconds``; 0 turns a limit off."""
        self.max_failures = max_failures
        self.address_max_failures = address_max_failures
        self.window = window_seconds
        self.lockout = lockout_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def begin(self, account: str | None, address: str | None) -> Attempt:
        """Start one attempt for ``account`` (e.g. ``"user:marie"``, ``"client:cns"``) from ``address``;
        LockedOut when either is locked out, or has as many failures and attempts in progress as its limit."""
        keys = []
        if account and self.max_failures:
            keys.append((account[:MAX_KEY_LENGTH], self.max_failures))
        if address and self.address_max_failures:
            keys.append((f"address:{address_key(address)}", self.address_max_failures))
        with self._lock:
            now = self.clock()
            records = [(key, self._record(key, limit)) for key, limit in keys]
            for key, record in records:
                self._expire(record, now)
                if record.locked_until > now:
                    raise LockedOut(max(1, math.ceil(record.locked_until - now)), key)
                if len(record.failures) + record.pending >= record.limit:
                    raise LockedOut(1, key)  # the attempts in progress may lock it out: ask to wait
            for _, record in records:
                record.pending += 1
        return Attempt(self, records)

    def _record(self, key: str, limit: int) -> _Record:
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = _Record(limit)
            while len(self._records) > self.max_entries:
                self._records.popitem(last=False)
        else:
            self._records.move_to_end(key)
        return record

    def _expire(self, record: _Record, now: float) -> None:
        while record.failures and record.failures[0] <= now - self.window:
            record.failures.popleft()

    def _end(self, records: list[tuple[str, _Record]], succeeded: bool | None) -> None:
        """``succeeded`` None: the attempt ended without an answer (an error); nothing is counted."""
        with self._lock:
            now = self.clock()
            for key, record in records:
                record.pending -= 1
                if succeeded is None or (succeeded and key.startswith("address:")):
                    continue
                if succeeded:
                    record.failures.clear()
                    continue
                self._expire(record, now)
                record.failures.append(now)
                if len(record.failures) >= record.limit and record.locked_until <= now:
                    record.failures.clear()
                    record.locked_until = now + self.lockout
                    log.warning(
                        "%s locked out for %g s after %d failed attempts within %g s",
                        key,
                        self.lockout,
                        record.limit,
                        self.window,
                    )

    def __len__(self) -> int:
        return len(self._records)


class Attempt:
    """One login or client authentication in progress; end it with ``succeeded()`` or ``failed()``
    (as a context manager, an attempt left unfinished by an exception counts as neither)."""

    def __init__(self, throttle: LoginThrottle, records: list[tuple[str, _Record]]) -> None:
        self._throttle = throttle
        self._records = records
        self._open = True

    def succeeded(self) -> None:
        self._finish(True)

    def failed(self) -> None:
        self._finish(False)

    def _finish(self, succeeded: bool | None) -> None:
        if self._open:
            self._open = False
            self._throttle._end(self._records, succeeded)

    def __enter__(self) -> Attempt:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._finish(None)


def address_key(host: str) -> str:
    """The address as counted: an IPv4 address as is, an IPv6 one as its /64 (an IPv4-mapped one as
    the IPv4 address), anything else (a Unix socket, a test client) as given."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)

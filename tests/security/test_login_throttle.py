"""Brute-force protection of the built-in authorization server (fhir_server/security/login_throttle.py):
failed logins and failed client authentications lock the account and the client address out for a
while, with 429 and Retry-After, through the real routes and an HTTP client as a browser and an app
would call them. Time is a fake clock the tests move; one test runs the whole app on real time.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from support import make_client
from test_authorization_server import (
    ANA,
    BASE,
    MARIE,
    REDIRECT,
    assertion,
    authorization_request,
    client_credentials,
    cns_key,
    data_dir,  # noqa: F401 - fixture
    demo_settings,
    exchange,
    introspect,
    log_in,
    pkce,
    read_form,
    redirect_params,
    seeded_data_dir,  # noqa: F401 - fixture
)

from fhir_server.security.auth_routes import auth_routes
from fhir_server.security.login_throttle import LockedOut, LoginThrottle, address_key

MAX_FAILURES = 3
ADDRESS_MAX_FAILURES = 10
LOCKOUT = 60
WINDOW = 300


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(data_dir: Path, clock: Clock) -> Starlette:  # noqa: F811
    settings = demo_settings(
        data_dir,
        auth_login_max_failures=MAX_FAILURES,
        auth_login_address_max_failures=ADDRESS_MAX_FAILURES,
        auth_login_failure_window_seconds=WINDOW,
        auth_login_lockout_seconds=LOCKOUT,
    )
    return Starlette(routes=auth_routes(settings, clock=clock))


def browser(app: Starlette, address: str = "192.0.2.1") -> TestClient:
    """A caller from ``address`` (the throttle counts per client address)."""
    return TestClient(app, base_url=BASE, follow_redirects=False, client=(address, 50000))


def login(client: TestClient, username: str, password: str):
    _, challenge = pkce()
    return log_in(client, authorization_request(challenge), username, password)


def assert_locked_out(response, max_wait: int = LOCKOUT) -> int:
    assert response.status_code == 429, response.text
    assert "location" not in response.headers
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= max_wait
    return retry_after


# --- the login form --------------------------------------------------------------------------------


def test_an_account_is_locked_out_after_too_many_failures_then_released(app: Starlette, clock: Clock) -> None:
    with browser(app) as client:
        for _ in range(MAX_FAILURES):
            failed = login(client, MARIE, "wrong")
            assert failed.status_code == 200 and "Wrong username or password." in failed.text
        locked = login(client, MARIE, "wrong")
        assert assert_locked_out(locked) == LOCKOUT
        assert "Too many failed sign-in attempts" in locked.text
        assert read_form(locked.text).fields["state"] == "af0ifjsldkj"  # the form, to try again later
        assert locked.headers["cache-control"] == "no-store"

        clock.advance(LOCKOUT - 10)
        right_password = login(client, MARIE, "demo")
        assert assert_locked_out(right_password) == 10  # the right password is refused during a lockout

        clock.advance(10)
        assert redirect_params(login(client, MARIE, "demo"))["code"]


def test_other_accounts_are_unaffected(app: Starlette) -> None:
    with browser(app) as client:
        for _ in range(MAX_FAILURES):
            login(client, MARIE, "wrong")
        assert_locked_out(login(client, MARIE, "demo"))
        assert redirect_params(login(client, ANA, "demo"))["code"]


def test_unknown_usernames_are_locked_out_like_known_ones(app: Starlette) -> None:
    with browser(app) as client:
        for _ in range(MAX_FAILURES):
            assert login(client, "nobody", "demo").status_code == 200
        assert_locked_out(login(client, "nobody", "demo"))


def test_a_success_resets_the_account_counter(app: Starlette) -> None:
    with browser(app) as client:
        for _ in range(MAX_FAILURES - 1):
            login(client, MARIE, "wrong")
        assert redirect_params(login(client, MARIE, "demo"))["code"]
        for _ in range(MAX_FAILURES - 1):
            assert login(client, MARIE, "wrong").status_code == 200
        assert redirect_params(login(client, MARIE, "demo"))["code"]


def test_failures_older_than_the_window_no_longer_count(app: Starlette, clock: Clock) -> None:
    with browser(app) as client:
        for _ in range(MAX_FAILURES - 1):
            login(client, MARIE, "wrong")
        clock.advance(WINDOW + 1)
        for _ in range(MAX_FAILURES - 1):
            assert login(client, MARIE, "wrong").status_code == 200
        assert redirect_params(login(client, MARIE, "demo"))["code"]


def test_an_address_is_locked_out_after_failures_over_many_accounts(app: Starlette, clock: Clock) -> None:
    with browser(app, "192.0.2.7") as attacker, browser(app, "198.51.100.3") as other:
        for number in range(ADDRESS_MAX_FAILURES):
            assert login(attacker, f"guess-{number}", "demo").status_code == 200
        assert_locked_out(login(attacker, ANA, "demo"))  # even a good login, from that address
        assert redirect_params(login(other, ANA, "demo"))["code"]  # other addresses are not
        clock.advance(LOCKOUT)
        assert redirect_params(login(attacker, ANA, "demo"))["code"]


def test_cancel_is_not_throttled(app: Starlette) -> None:
    with browser(app) as client:
        for _ in range(MAX_FAILURES):
            login(client, MARIE, "wrong")
        _, challenge = pkce()
        cancelled = log_in(client, authorization_request(challenge), MARIE, "", action="deny")
        assert redirect_params(cancelled)["error"] == "access_denied"


# --- client authentication at the token and introspection endpoints ---------------------------------


def test_a_client_is_locked_out_after_too_many_bad_assertions(app: Starlette, clock: Clock, data_dir: Path) -> None:  # noqa: F811
    key = cns_key(data_dir)
    with browser(app) as client:
        for _ in range(MAX_FAILURES):
            refused = client_credentials(client, assertion(key, aud=BASE))
            assert refused.status_code == 400 and refused.json()["error"] == "invalid_client"
        locked = client_credentials(client, assertion(key))
        assert_locked_out(locked)
        body = locked.json()
        assert body["error"] == "temporarily_unavailable" and "access_token" not in body
        assert locked.headers["cache-control"] == "no-store"
        assert locked.headers["access-control-allow-origin"] == "*"
        assert_locked_out(introspect(client, data_dir, "x"))  # the same client, another endpoint

        clock.advance(LOCKOUT)
        assert client_credentials(client, assertion(key)).status_code == 200


def test_a_good_assertion_resets_the_client_counter_and_other_clients_are_unaffected(
    app: Starlette,
    data_dir: Path,  # noqa: F811
) -> None:
    key = cns_key(data_dir)
    with browser(app) as client:
        for _ in range(MAX_FAILURES - 1):
            client_credentials(client, assertion(key, aud=BASE))
        assert client_credentials(client, assertion(key)).status_code == 200
        for _ in range(MAX_FAILURES - 1):
            assert client_credentials(client, assertion(key, aud=BASE)).json()["error"] == "invalid_client"
        client_credentials(client, assertion(key, aud=BASE))
        assert_locked_out(client_credentials(client, assertion(key)))
        verifier, challenge = pkce()  # the public demo app still logs its users in and gets tokens
        code = redirect_params(log_in(client, authorization_request(challenge), MARIE, "demo"))["code"]
        assert exchange(client, code, verifier).status_code == 200


def test_bad_client_authentications_count_against_the_address(app: Starlette, data_dir: Path) -> None:  # noqa: F811
    with browser(app, "192.0.2.9") as attacker, browser(app, "192.0.2.10") as other:
        for number in range(ADDRESS_MAX_FAILURES):
            response = attacker.post(
                "/auth/token", data={"grant_type": "client_credentials", "client_id": f"c{number}"}
            )
            assert response.json()["error"] == "invalid_client"
        assert_locked_out(client_credentials(attacker, assertion(cns_key(data_dir))))
        assert client_credentials(other, assertion(cns_key(data_dir))).status_code == 200


# --- the whole app, real time ---------------------------------------------------------------------


def test_the_settings_apply_to_the_served_app(tmp_path: Path) -> None:
    # a lockout long enough that a loaded machine still answers within it, then polled until it ends
    settings = {"base_url": BASE, "auth_login_max_failures": 2, "auth_login_lockout_seconds": 2}
    client = make_client(tmp_path, auth=True, demo=True, **settings)
    client.follow_redirects = False
    with client:
        for _ in range(2):
            assert login(client, MARIE, "wrong").status_code == 200
        assert_locked_out(login(client, MARIE, "demo"), max_wait=2)
        deadline = time.monotonic() + 15
        while (response := login(client, MARIE, "demo")).status_code == 429 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert response.headers["location"].startswith(REDIRECT + "?code=")


# --- the counter itself -------------------------------------------------------------------------------


def test_attempts_in_progress_count_so_concurrent_guesses_stay_within_the_limit() -> None:
    throttle = LoginThrottle(max_failures=3, address_max_failures=0, window_seconds=60, lockout_seconds=60)
    in_progress = [throttle.begin("user:marie", None) for _ in range(3)]
    with pytest.raises(LockedOut) as refused:
        throttle.begin("user:marie", None)
    assert refused.value.retry_after == 1
    for attempt in in_progress:
        attempt.failed()
    with pytest.raises(LockedOut) as locked:
        throttle.begin("user:marie", None)
    assert locked.value.retry_after == 60


def test_an_attempt_ended_by_an_error_counts_as_nothing() -> None:
    throttle = LoginThrottle(max_failures=1, address_max_failures=0, window_seconds=60, lockout_seconds=60)
    with pytest.raises(RuntimeError), throttle.begin("user:marie", None):
        raise RuntimeError("the users file cannot be read")
    with throttle.begin("user:marie", None) as attempt:
        attempt.succeeded()


def test_zero_turns_a_limit_off() -> None:
    throttle = LoginThrottle(max_failures=0, address_max_failures=0, window_seconds=60, lockout_seconds=60)
    for _ in range(100):
        throttle.begin("user:marie", "192.0.2.1").failed()
    assert len(throttle) == 0


def test_the_memory_is_bounded() -> None:
    throttle = LoginThrottle(
        max_failures=5, address_max_failures=5, window_seconds=60, lockout_seconds=60, max_entries=100
    )
    for number in range(1000):
        throttle.begin(f"user:{number}", f"10.0.{number // 256}.{number % 256}").failed()
    assert len(throttle) == 100


def test_the_counter_is_thread_safe() -> None:
    throttle = LoginThrottle(max_failures=50, address_max_failures=0, window_seconds=60, lockout_seconds=60)
    refused = []

    def guess() -> None:
        for _ in range(20):
            try:
                throttle.begin("user:marie", None).failed()
            except LockedOut:
                refused.append(1)

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(refused) == 8 * 20 - 50  # exactly the limit got through


@pytest.mark.parametrize(
    ("host", "counted_as"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("testclient", "testclient"),
    ],
)
def test_addresses_are_counted_per_host_or_ipv6_64(host: str, counted_as: str) -> None:
    assert address_key(host) == counted_as

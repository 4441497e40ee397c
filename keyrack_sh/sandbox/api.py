"""`Sandbox`: the local IAM Identity Center as tests and `keyrack demo` drive it.

    with Sandbox() as sb:                      # 127.0.0.1, a free port
        env = sb.env()                         # AWS_ENDPOINT_URL_SSO_OIDC / _SSO / _STS
        sb.behaviour = "deny"                  # the user at the browser denies
        sb.fail("CreateToken", "InternalServerException", times=2)
        sb.use_organisation(500, 4)            # a large organisation for the user
        sb.configure(throttle_every=3, latency=0.02)
        sb.answer("GetRoleCredentials", "<html>captive portal</html>", content_type="text/html")
        ...
        assert sb.count("CreateToken", grant_type="authorization_code") == 1
"""
from __future__ import annotations

import datetime
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from keyrack_sh.sandbox.state import (
    BEHAVIOURS,
    ERROR_STATUS,
    GRANT_AUTH_CODE,
    GRANT_DEVICE,
    GRANT_REFRESH,
    Account,
    Call,
    Fault,
    Lifetimes,
    SandboxConfig,
    State,
    organisation,
)

OPERATIONS = (
    # sso-oidc
    "RegisterClient", "StartDeviceAuthorization", "CreateToken",
    # the user's browser
    "Authorize", "VerifyDevice",
    # the SSO portal
    "GetRoleCredentials", "ListAccounts", "ListAccountRoles", "Logout",
    # the sandbox's own STS
    "GetCallerIdentity",
    # the sign-in federation endpoint and the console page
    "GetSigninToken", "Login", "Console",
)

_GRANT_ALIASES = {
    "device_code": GRANT_DEVICE,
    GRANT_DEVICE: GRANT_DEVICE,
    "authorization_code": GRANT_AUTH_CODE,
    "refresh_token": GRANT_REFRESH,
}


def _grant(grant_type: str | None) -> str | None:
    if grant_type is None:
        return None
    if grant_type not in _GRANT_ALIASES:
        raise ValueError(f"unknown grant type {grant_type!r}: one of device_code, authorization_code, refresh_token")
    return _GRANT_ALIASES[grant_type]


def _check_operation(operation: str) -> None:
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}: one of {', '.join(OPERATIONS)}")


def iso(epoch: float) -> str:
    """AWS CLI v2 / botocore token cache time format."""
    return datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Sandbox:
    """A local IAM Identity Center (sso-oidc + portal, and STS when no moto) on 127.0.0.1."""

    def __init__(self, config: SandboxConfig | None = None, **overrides: object) -> None:
        config = replace(config or SandboxConfig(), **overrides)  # type: ignore[arg-type]
        minter = None
        if config.sts_endpoint:
            from keyrack_sh.sandbox.sts import MotoMinter

            minter = MotoMinter(config.sts_endpoint, config.region)
        self.state = State(config, minter=minter)
        self._http = None

    # -- life -----------------------------------------------------------------
    def start(self) -> Sandbox:
        from keyrack_sh.sandbox.server import Dispatcher, HttpServer

        if self._http is None:
            cfg = self.state.config
            self._http = HttpServer(cfg.host, cfg.port, Dispatcher(self.state, serve_sts=self.state.minter is None))
            self._http.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- where it is ------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        if self._http is None:
            raise RuntimeError("the sandbox is not started")
        return self._http.base_url

    @property
    def sts_endpoint(self) -> str:
        """Where STS is: the moto server when given one, else this sandbox."""
        return self.state.config.sts_endpoint or self.endpoint

    @property
    def start_url(self) -> str:
        return self.state.config.start_url

    @property
    def region(self) -> str:
        return self.state.config.region

    def env(self) -> dict[str, str]:
        """The endpoint overrides that point every botocore client (and keyrack console) here."""
        return {
            "AWS_ENDPOINT_URL_SSO_OIDC": self.endpoint,
            "AWS_ENDPOINT_URL_SSO": self.endpoint,
            "AWS_ENDPOINT_URL_STS": self.sts_endpoint,
            "AWS_ENDPOINT_URL_SIGNIN": self.endpoint,
        }

    # -- the user and the directory ----------------------------------------------
    @property
    def behaviour(self) -> str:
        return self.state.config.behaviour

    @behaviour.setter
    def behaviour(self, value: str) -> None:
        if value not in BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {', '.join(BEHAVIOURS)}")
        with self.state.lock:
            self.state.config.behaviour = value

    @property
    def user(self) -> str:
        return self.state.config.user

    @user.setter
    def user(self, name: str) -> None:
        with self.state.lock:
            self.state.config.user = name

    def set_accounts(self, accounts: tuple[Account, ...] | list[Account], user: str | None = None) -> None:
        """Replace the accounts (and roles) assigned to `user` (default: the current user)."""
        with self.state.lock:
            self.state.config.users[user or self.state.config.user] = tuple(accounts)

    def use_organisation(self, accounts: int, roles: int, user: str | None = None) -> tuple[Account, ...]:
        """Give `user` (default: the current one) state.organisation(accounts, roles); returns it."""
        org = organisation(accounts, roles)
        self.set_accounts(org, user)
        return org

    def accounts(self, user: str | None = None) -> tuple[Account, ...]:
        return self.state.accounts_of(user or self.user)

    def set_lifetimes(self, **seconds: float) -> None:
        """access=, refresh=, registration=, role_credentials=, device_code=, auth_code= (seconds).

        Applies to what is issued from now on.
        """
        with self.state.lock:
            self.state.config.lifetimes = replace(self.state.config.lifetimes, **seconds)

    @property
    def lifetimes(self) -> Lifetimes:
        return self.state.config.lifetimes

    def configure(self, **settings: object) -> None:
        """Change other SandboxConfig fields (device_interval, page_size, throttle_every, latency, ...)."""
        with self.state.lock:
            for name, value in settings.items():
                if name in ("host", "port", "sts_endpoint") or not hasattr(self.state.config, name):
                    raise ValueError(f"cannot configure {name!r} on a running sandbox")
                setattr(self.state.config, name, value)

    # -- faults ---------------------------------------------------------------
    def fail(self, operation: str, error_code: str, times: int = 1, status: int | None = None,
             message: str = "", grant_type: str | None = None, after: int = 0) -> None:
        """The next `times` calls of `operation` answer `error_code` (HTTP status from the model).

        after=N: the N calls before those answer normally (a second page that fails).
        """
        _check_operation(operation)
        if status is None and error_code not in ERROR_STATUS:
            raise ValueError(f"unknown error code {error_code!r}: give status= too")
        if after > 0:
            self.state.add_fault(operation, Fault("pass", after), _grant(grant_type))
        self.state.add_fault(operation, Fault("error", times, error_code=error_code, status=status,
                                              message=message), _grant(grant_type))

    def delay(self, operation: str, seconds: float, times: int = 1, grant_type: str | None = None) -> None:
        """The next `times` calls of `operation` answer normally after `seconds`."""
        _check_operation(operation)
        self.state.add_fault(operation, Fault("delay", times, seconds=seconds), _grant(grant_type))

    def hang(self, operation: str, times: int = 1, grant_type: str | None = None) -> None:
        """The next `times` calls of `operation` wait until release_hangs(), reset() or stop().

        Released by release_hangs() or reset() they then answer normally; at stop()
        the connection is dropped unanswered.
        """
        _check_operation(operation)
        self.state.add_fault(operation, Fault("hang", times), _grant(grant_type))

    def before(self, operation: str, action: Callable[[], None], times: int = 1,
               grant_type: str | None = None) -> None:
        """The next `times` calls of `operation` first run `action()`, then are answered as usual.

        The call is already counted and not yet handled: another tool acting at that very
        moment (e.g. the AWS CLI spending the refresh token a refresh carries). Other
        requests are served while it runs.
        """
        _check_operation(operation)
        self.state.add_fault(operation, Fault("call", times, action=action), _grant(grant_type))

    def answer(self, operation: str, body: bytes | str, *, status: int = 200,
               content_type: str = "application/json", times: int = 1, grant_type: str | None = None) -> None:
        """The next `times` calls of `operation` get this raw answer instead of the real one.

        A broken server or what stands in its way: a captive portal's HTML page
        (content_type="text/html"), an empty 200 (content_type=""), JSON missing a field, a huge body.
        """
        _check_operation(operation)
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        self.state.add_fault(operation, Fault("answer", times, status=status, body=data, content_type=content_type),
                             _grant(grant_type))

    def skew_clock(self, seconds: float) -> None:
        """The sandbox's clock runs `seconds` off the machine's (negative: behind, so what it
        issues looks expired to a client whose clock is ahead); reset() puts it back."""
        self.state.clock = (lambda: time.time() + seconds) if seconds else time.time

    def release_hangs(self) -> None:
        self.state.release_hangs()

    def clear_faults(self) -> None:
        with self.state.lock:
            self.state.faults.clear()

    # -- what happened ---------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        with self.state.lock:
            return list(self.state.calls)

    @property
    def max_in_flight(self) -> int:
        """The most calls the sandbox was handling at one moment (since the last reset)."""
        with self.state.lock:
            return self.state.max_in_flight

    @property
    def in_flight(self) -> int:
        """Calls being handled right now (a hang or latency keeps one in flight)."""
        with self.state.lock:
            return self.state.in_flight

    def count(self, operation: str, client_name: str | None = None, grant_type: str | None = None) -> int:
        """Calls of `operation` received (failed ones too), optionally only by one client or grant."""
        _check_operation(operation)
        grant = _grant(grant_type)
        return sum(1 for c in self.calls if c.operation == operation
                   and (client_name is None or c.client_name == client_name)
                   and (grant is None or c.grant_type == grant))

    def wait_for_count(self, operation: str, n: int = 1, timeout: float = 10, client_name: str | None = None,
                       grant_type: str | None = None) -> bool:
        """Wait until `operation` has been called `n` times (e.g. a subprocess is polling); False on timeout."""
        deadline = time.monotonic() + timeout
        while self.count(operation, client_name, grant_type) < n:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def counts(self) -> dict[str, dict]:
        """{"by_operation": {op: n}, "by_client": {client_name: {op: n}}}."""
        by_op: Counter[str] = Counter()
        by_client: dict[str, Counter[str]] = {}
        for c in self.calls:
            by_op[c.operation] += 1
            by_client.setdefault(c.client_name or "", Counter())[c.operation] += 1
        return {"by_operation": dict(by_op), "by_client": {k: dict(v) for k, v in by_client.items()}}

    @property
    def consents(self) -> Counter[str]:
        """client name -> how often the one-time "Allow access to <name>?" screen was shown."""
        with self.state.lock:
            return Counter(self.state.consents)

    def consent_count(self, client_name: str | None = None) -> int:
        c = self.consents
        return c[client_name] if client_name is not None else sum(c.values())

    @property
    def approvals(self) -> list[tuple[str, str, str]]:
        """Every sign-in the user approved in the browser: (flow "pkce"|"device", user, client name)."""
        with self.state.lock:
            return list(self.state.approvals)

    def sign_ins(self, client_name: str | None = None) -> int:
        """How many times a person had to approve a sign-in in the browser."""
        return sum(1 for _, _, name in self.approvals if client_name is None or name == client_name)

    def console_sessions(self) -> list[dict]:
        """Every console sign-in through a login URL: account_id, role_name, user, destination, region."""
        with self.state.lock:
            return [{"account_id": c.account_id, "role_name": c.role_name, "user": c.user,
                     "destination": c.destination, "region": c.region} for c in self.state.console_sessions]

    def minted_secrets(self) -> set[str]:
        """Every secret handed out: access/refresh tokens, client secrets, role secret keys, session tokens."""
        with self.state.lock:
            return set(self.state.secrets)

    def clients(self) -> list[dict]:
        """The registered clients (secretless view), in registration order."""
        with self.state.lock:
            return [{"clientId": c.client_id, "clientName": c.name, "clientType": c.client_type,
                     "scopes": list(c.scopes), "grantTypes": list(c.grant_types),
                     "redirectUris": list(c.redirect_uris), "issuerUrl": c.issuer_url,
                     "expiresAt": c.expires_at} for c in self.state.clients.values()]

    # -- changing the world under the client --------------------------------------
    def approve_device(self, user_code: str | None = None) -> int:
        """The user approves pending device codes now (one, or all), e.g. after behaviour "ignore".

        Counts as browser approvals (sign_ins, consents). Returns how many were approved.
        """
        approved = 0
        with self.state.lock:
            for device in self.state.devices.values():
                if device.status != "pending" or device.expires_at <= self.state.now():
                    continue
                if user_code is not None and device.user_code != user_code.upper():
                    continue
                device.status = "approved"
                device.user = self.state.config.user
                self.state.approve("device", device.user, self.state.client_name_of(device.client_id) or "")
                approved += 1
        return approved

    def reset(self) -> None:
        """Back to the configuration it started with: no clients, tokens, counts, faults, hangs or skew."""
        self.state.clock = time.time
        self.state.reset()

    def revoke_all(self) -> None:
        """Every sign-in ends (as after an admin revokes sessions): all tokens stop working."""
        with self.state.lock:
            for sign_in in self.state.sign_ins:
                self.state.revoke_sign_in(sign_in)

    def expire_access_tokens(self) -> None:
        with self.state.lock:
            past = self.state.now() - 1
            for t in self.state.access_tokens.values():
                t.expires_at = min(t.expires_at, past)

    def expire_refresh_tokens(self) -> None:
        with self.state.lock:
            past = self.state.now() - 1
            for r in self.state.refresh_tokens.values():
                r.expires_at = min(r.expires_at, past)

    def expire_registrations(self) -> None:
        with self.state.lock:
            past = self.state.now() - 1
            for c in self.state.clients.values():
                c.expires_at = min(c.expires_at, past)

    def revoke_clients(self, client_name: str | None = None) -> int:
        """The server forgets client registrations (all, or those named `client_name`), as when an
        administrator revokes them: they are InvalidClientException from then on, and the browser's
        authorize page shows an error instead of redirecting. Returns how many were revoked."""
        with self.state.lock:
            gone = [cid for cid, c in self.state.clients.items() if client_name is None or c.name == client_name]
            for cid in gone:
                del self.state.clients[cid]
            return len(gone)

    def expire_role_credentials(self) -> None:
        with self.state.lock:
            past = self.state.now() - 1
            for r in self.state.role_creds.values():
                r.expires_at = min(r.expires_at, past)

    def issue_session(self, client_name: str = "keyrack-test", refresh: bool = True,
                      scopes: tuple[str, ...] = ("sso:account:access",), user: str | None = None) -> dict:
        """Sign in without any browser or HTTP call (counted nowhere).

        Returns the token as the AWS CLI v2 caches it (startUrl, region, accessToken,
        expiresAt, clientId, clientSecret, registrationExpiresAt, refreshToken), e.g.
        for harness.write_cli_v2_token.
        """
        grants = (GRANT_AUTH_CODE, GRANT_REFRESH) if refresh else (GRANT_AUTH_CODE,)
        with self.state.lock:
            client = self.state.new_client(name=client_name, client_type="public", scopes=scopes,
                                           grant_types=grants, redirect_uris=("http://127.0.0.1/oauth/callback",),
                                           issuer_url=self.start_url)
            sign_in = self.state.start_sign_in(client, user or self.user, scopes)
            access, refresh_token = self.state.issue_tokens(sign_in, with_refresh=refresh)
        token = {
            "startUrl": self.start_url,
            "region": self.region,
            "accessToken": access.token,
            "expiresAt": iso(access.expires_at),
            "clientId": client.client_id,
            "clientSecret": client.client_secret,
            "registrationExpiresAt": iso(client.expires_at),
        }
        if refresh_token:
            token["refreshToken"] = refresh_token.token
        return token

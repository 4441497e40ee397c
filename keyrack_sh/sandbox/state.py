"""The sandbox's world: configuration, issued secrets, counters and faults.

Everything mutable lives in one `State` behind one lock, so the HTTP handlers
(one thread per connection) and the test thread see a consistent picture.
Protocol modules (oidc, browser, portal, sts) read and change it only through
the methods here.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import string
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

DEFAULT_START_URL = "https://keyrack-sandbox.awsapps.com/start"
DEFAULT_REGION = "us-east-1"
DEFAULT_USER = "alice"

GRANT_DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_AUTH_CODE = "authorization_code"
GRANT_REFRESH = "refresh_token"
GRANT_TYPES = (GRANT_DEVICE, GRANT_AUTH_CODE, GRANT_REFRESH)

BEHAVIOURS = ("approve", "deny", "ignore")


class ApiError(Exception):
    """An AWS-modelled error: the server renders it with the right status and header."""

    def __init__(self, code: str, message: str = "", status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message or code
        self.status = status if status is not None else ERROR_STATUS.get(code, 400)


# HTTP statuses from botocore's sso-oidc and sso service models (plus the
# unmodelled ones AWS really sends: ForbiddenException "No access" is what
# GetRoleCredentials answers for a role the user is not assigned).
ERROR_STATUS: dict[str, int] = {
    # sso-oidc
    "AccessDeniedException": 400,
    "AuthorizationPendingException": 400,
    "ExpiredTokenException": 400,
    "InternalServerException": 500,
    "InvalidClientException": 401,
    "InvalidClientMetadataException": 400,
    "InvalidGrantException": 400,
    "InvalidRedirectUriException": 400,
    "InvalidRequestException": 400,
    "InvalidScopeException": 400,
    "SlowDownException": 400,
    "UnauthorizedClientException": 400,
    "UnsupportedGrantTypeException": 400,
    # sso portal
    "ResourceNotFoundException": 404,
    "TooManyRequestsException": 429,
    "UnauthorizedException": 401,
    "ForbiddenException": 403,
    # sts
    "InvalidClientTokenId": 403,
    "ExpiredToken": 400,
    "AccessDenied": 403,
    "Throttling": 400,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
}


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    roles: tuple[str, ...]
    email: str = ""

    @property
    def email_address(self) -> str:
        return self.email or f"aws+{self.name.lower().replace(' ', '-')}@example.com"


DEFAULT_ACCOUNTS: tuple[Account, ...] = (
    Account("111111111111", "Production", ("AdminRole", "ReadOnly")),
    Account("222222222222", "Staging", ("AdminRole", "Developer")),
)


def many_accounts(n: int, roles_per_account: int = 3, first_id: int = 300000000000) -> tuple[Account, ...]:
    """`n` accounts with `roles_per_account` roles each, for paging tests."""
    return tuple(
        Account(f"{first_id + i:012d}", f"Account {i:03d}",
                tuple(f"Role{j:02d}" for j in range(roles_per_account)))
        for i in range(n)
    )


# Names a real organisation has and a profile-name template must survive: equal after
# lower-casing, spaces (doubled too), accents, other scripts, punctuation, exact duplicates.
AWKWARD_NAMES = ("Prod", "prod", "Données Équipe", "team  a", "Team A", "Shared Services", "Shared Services",
                 "日本チーム", "Staging (EU)", "ops/legacy: old", " padded ", "ÆØÅ sandbox")
ROLE_NAMES = ("AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess", "ViewOnlyAccess", "Billing",
              "SecurityAudit", "DatabaseAdministrator", "DataScientist", "NetworkAdministrator",
              "SupportUser", "SystemAdministrator", "Developer")


_ID_SPREAD = 1000003  # a prime


def organisation(accounts: int, roles: int, first_id: int = 400000000000) -> tuple[Account, ...]:
    """A large organisation: `accounts` accounts with `accounts * roles` roles in all.

    The roles per account vary (roles+1, roles-1, roles, ... when roles >= 2) and
    keep that total; the first accounts have AWKWARD_NAMES, the rest "workload-NNNN";
    account ids do not come in sorted order, and each account's roles come in a
    different order, as a real portal gives no order.
    """
    if not 0 <= accounts <= _ID_SPREAD or roles < 1:
        raise ValueError(f"an organisation needs 0 to {_ID_SPREAD} accounts and roles >= 1")
    out = []
    for i in range(accounts):
        # +1 on one account is paid back by -1 on the next, so the total is exact.
        swing = 0 if roles < 2 else (1 if i % 3 == 1 and i + 1 < accounts else -1 if i % 3 == 2 else 0)
        count = roles + swing
        names = [ROLE_NAMES[j] if j < len(ROLE_NAMES) else f"Role{j:03d}" for j in range(count)]
        shift = i % count
        account_id = f"{first_id + (i * 524287) % _ID_SPREAD:012d}"  # distinct: 524287 and the prime are coprime
        name = AWKWARD_NAMES[i] if i < len(AWKWARD_NAMES) else f"workload-{i:04d}"
        out.append(Account(account_id, name, tuple(names[shift:] + names[:shift]),
                           email=f"aws+{account_id}@example.com"))
    return tuple(out)


def parse_organisation(text: str) -> tuple[int, int]:
    """"500x4" -> (500, 4): the --org setting."""
    left, sep, right = text.lower().partition("x")
    try:
        accounts, roles = int(left), int(right)
    except ValueError:
        raise ValueError(f"expected ACCOUNTSxROLES such as 500x4, not {text!r}") from None
    if not sep or accounts < 1 or roles < 1:
        raise ValueError(f"expected ACCOUNTSxROLES such as 500x4, not {text!r}")
    return accounts, roles


# The calls a `throttle_every` setting throttles (counted together).
THROTTLED_OPERATIONS = ("ListAccounts", "ListAccountRoles")


@dataclass(frozen=True)
class Lifetimes:
    """Seconds each issued thing stays valid."""

    access: float = 3600
    refresh: float = 8 * 3600  # the session: sign-in time + this, kept across rotation
    registration: float = 90 * 86400
    role_credentials: float = 3600
    device_code: float = 600
    auth_code: float = 600


@dataclass
class SandboxConfig:
    start_url: str = DEFAULT_START_URL
    region: str = DEFAULT_REGION
    user: str = DEFAULT_USER  # who sits at the browser and signs in
    # assignments: user -> accounts (with their roles); users not listed get DEFAULT_ACCOUNTS
    users: dict[str, tuple[Account, ...]] = field(default_factory=lambda: {DEFAULT_USER: DEFAULT_ACCOUNTS})
    lifetimes: Lifetimes = field(default_factory=Lifetimes)
    behaviour: str = "approve"  # what the user does in the browser: approve | deny | ignore
    device_interval: int = 1
    slow_down_fast_polls: bool = True  # a device-code poll sooner than interval/2 gets SlowDown
    page_size: int = 20  # ListAccounts/ListAccountRoles page size when maxResults is absent
    throttle_every: int = 0  # every Nth ListAccounts/ListAccountRoles call is TooManyRequestsException 429; 0 never
    latency: float = 0.0  # seconds every call waits before it is handled (a network's round trip)
    sts_endpoint: str | None = None  # a moto server: mint role credentials with its AssumeRole
    verify_signatures: bool = True  # own STS: check SigV4 signatures against the minted secret
    host: str = "127.0.0.1"
    port: int = 0

    def copy(self) -> SandboxConfig:
        return replace(self, users=dict(self.users))


# -- issued things -------------------------------------------------------------

@dataclass
class Client:
    client_id: str
    client_secret: str
    name: str
    client_type: str
    scopes: tuple[str, ...]
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    issuer_url: str | None
    issued_at: float
    expires_at: float


@dataclass
class DeviceAuth:
    device_code: str
    user_code: str
    client_id: str
    start_url: str
    expires_at: float
    status: str = "pending"  # pending | approved | denied | redeemed
    user: str | None = None
    last_poll: float | None = None


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    code_challenge: str
    scopes: tuple[str, ...]
    user: str
    expires_at: float
    used: bool = False


@dataclass
class SignIn:
    """One sign-in: every access and refresh token issued from it, until logout."""

    sign_in_id: int
    client_id: str
    user: str
    scopes: tuple[str, ...]
    started_at: float
    ends_at: float
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    sign_in: SignIn
    expires_at: float
    revoked: bool = False


@dataclass
class RefreshToken:
    token: str
    sign_in: SignIn
    expires_at: float
    used: bool = False
    revoked: bool = False


@dataclass
class RoleCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: float
    account_id: str
    role_name: str
    user: str


@dataclass
class SigninToken:
    """A federation sign-in token, for the role credentials it was asked with."""

    token: str
    creds: RoleCredentials
    expires_at: float


@dataclass
class ConsoleSession:
    """A browser signed in to the console through a login URL."""

    id: str
    account_id: str
    role_name: str
    user: str
    destination: str
    region: str | None
    issuer: str | None


@dataclass
class Fault:
    kind: str  # error | delay | hang | pass (answered normally: the calls before a later fault) | call
    # | answer (a raw answer instead of the operation's: a broken server or a captive portal)
    remaining: int
    error_code: str = ""
    status: int | None = None
    message: str = ""
    seconds: float = 0.0
    action: Callable[[], None] | None = None  # call: run first (another tool acting just then)
    body: bytes = b""
    content_type: str = ""


@dataclass(frozen=True)
class Call:
    operation: str
    client_name: str | None
    grant_type: str | None
    at: float


def _token(prefix: str, nbytes: int = 96) -> str:
    return prefix + secrets.token_urlsafe(nbytes)


def _upper(n: int) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class State:
    """Thread-safe state of one sandbox. `clock` is injectable for tests."""

    def __init__(self, config: SandboxConfig, clock=time.time, minter=None) -> None:
        self.initial_config = config.copy()
        # minter(account_id, role_name, user, lifetime) -> (key id, secret, session token),
        # e.g. sts.MotoMinter; None: the sandbox mints (and its own STS answers for) them.
        self.minter = minter
        self.clock = clock
        self.lock = threading.RLock()
        self._release = threading.Event()  # set to end every current hang
        self._clear()

    def _clear(self) -> None:
        self.config = self.initial_config.copy()
        self.clients: dict[str, Client] = {}
        self.devices: dict[str, DeviceAuth] = {}
        self.user_codes: dict[str, str] = {}
        self.auth_codes: dict[str, AuthCode] = {}
        self.sign_ins: list[SignIn] = []
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.role_creds: dict[str, RoleCredentials] = {}
        self.signin_tokens: dict[str, SigninToken] = {}
        self.console_sessions: list[ConsoleSession] = []
        self.calls: list[Call] = []
        self.faults: dict[tuple[str, str | None], deque[Fault]] = {}
        self.consents: Counter[str] = Counter()  # clientName -> consent screens shown (0 or 1 per user)
        self._consented: set[tuple[str, str]] = set()  # (user, clientName)
        self.approvals: list[tuple[str, str, str]] = []  # (flow, user, clientName) per browser approval
        self.secrets: set[str] = set()
        self.throttle_count = 0  # THROTTLED_OPERATIONS calls seen, for throttle_every
        self.in_flight = 0  # calls being handled right now
        self.max_in_flight = 0

    def reset(self) -> None:
        with self.lock:
            self.release_hangs()
            self._clear()

    # -- hangs ----------------------------------------------------------------
    def release_hangs(self) -> None:
        """End every hang in progress; later hangs wait again."""
        with self.lock:
            self._release.set()
            self._release = threading.Event()

    def hang_event(self) -> threading.Event:
        with self.lock:
            return self._release

    # -- calls and faults -------------------------------------------------------
    def record(self, operation: str, client_name: str | None = None, grant_type: str | None = None) -> None:
        with self.lock:
            self.calls.append(Call(operation, client_name, grant_type, self.clock()))

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def throttles(self, operation: str) -> bool:
        """Whether this call of `operation` is the Nth of throttle_every (then it is throttled)."""
        if operation not in THROTTLED_OPERATIONS:
            return False
        with self.lock:
            every = self.config.throttle_every
            if every <= 0:
                return False
            self.throttle_count += 1
            return self.throttle_count % every == 0

    def add_fault(self, operation: str, fault: Fault, grant_type: str | None = None) -> None:
        with self.lock:
            self.faults.setdefault((operation, grant_type), deque()).append(fault)

    def take_fault(self, operation: str, grant_type: str | None = None) -> Fault | None:
        """The fault the next call of `operation` suffers, consuming one of its `times`.

        A fault set for a grant type (CreateToken only) comes before one set for every call.
        """
        with self.lock:
            for key in ((operation, grant_type), (operation, None)) if grant_type else ((operation, None),):
                queue = self.faults.get(key)
                if queue:
                    fault = queue[0]
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        queue.popleft()
                    return replace(fault)
            return None

    # -- helpers for the protocol modules -------------------------------------
    def now(self) -> float:
        return self.clock()

    def remember(self, *values: str) -> None:
        with self.lock:
            self.secrets.update(v for v in values if v)

    def accounts_of(self, user: str) -> tuple[Account, ...]:
        with self.lock:
            # A user with no assignments configured has the default ones.
            return tuple(self.config.users.get(user, DEFAULT_ACCOUNTS))

    def client_name_of(self, client_id: str | None) -> str | None:
        with self.lock:
            client = self.clients.get(client_id or "")
            return client.name if client else None

    def client_name_of_token(self, token: str | None) -> str | None:
        with self.lock:
            access = self.access_tokens.get(token or "")
            if not access:
                return None
            client = self.clients.get(access.sign_in.client_id)
            return client.name if client else None

    def new_client(self, **kwargs) -> Client:
        with self.lock:
            now = self.now()
            client = Client(
                client_id=_token("", 24),
                client_secret="eyJraWQiOiJrZXktc2FuZGJveCIsImFsZyI6IkhTMzg0In0." + secrets.token_urlsafe(300),
                issued_at=now,
                expires_at=now + self.config.lifetimes.registration,
                **kwargs,
            )
            self.clients[client.client_id] = client
            self.remember(client.client_secret)
            return client

    def new_device(self, client_id: str, start_url: str) -> DeviceAuth:
        with self.lock:
            user_code = f"{_upper(4)}-{_upper(4)}"
            device = DeviceAuth(
                device_code=_token("", 64), user_code=user_code, client_id=client_id,
                start_url=start_url, expires_at=self.now() + self.config.lifetimes.device_code,
            )
            self.devices[device.device_code] = device
            self.user_codes[user_code] = device.device_code
            return device

    def new_auth_code(self, client_id: str, redirect_uri: str, code_challenge: str,
                      scopes: tuple[str, ...], user: str) -> AuthCode:
        with self.lock:
            code = AuthCode(_token("", 48), client_id, redirect_uri, code_challenge, scopes, user,
                            self.now() + self.config.lifetimes.auth_code)
            self.auth_codes[code.code] = code
            return code

    def approve(self, flow: str, user: str, client_name: str) -> None:
        """The user approved a sign-in in the browser; the first time per client name is a consent."""
        with self.lock:
            self.approvals.append((flow, user, client_name))
            if (user, client_name) not in self._consented:
                self._consented.add((user, client_name))
                self.consents[client_name] += 1

    def start_sign_in(self, client: Client, user: str, scopes: tuple[str, ...]) -> SignIn:
        with self.lock:
            now = self.now()
            sign_in = SignIn(len(self.sign_ins) + 1, client.client_id, user, scopes, now,
                             now + self.config.lifetimes.refresh)
            self.sign_ins.append(sign_in)
            return sign_in

    def issue_tokens(self, sign_in: SignIn, with_refresh: bool) -> tuple[AccessToken, RefreshToken | None]:
        with self.lock:
            now = self.now()
            access = AccessToken(_token("aoa"), sign_in, now + self.config.lifetimes.access)
            self.access_tokens[access.token] = access
            refresh = None
            if with_refresh:
                refresh = RefreshToken(_token("aor", 160), sign_in, sign_in.ends_at)
                self.refresh_tokens[refresh.token] = refresh
            self.remember(access.token, refresh.token if refresh else "")
            return access, refresh

    def valid_access(self, token: str | None) -> AccessToken | None:
        with self.lock:
            access = self.access_tokens.get(token or "")
            if (access is None or access.revoked or access.sign_in.revoked
                    or access.expires_at <= self.now()):
                return None
            return access

    def revoke_sign_in(self, sign_in: SignIn) -> None:
        with self.lock:
            sign_in.revoked = True
            for t in self.access_tokens.values():
                if t.sign_in is sign_in:
                    t.revoked = True
            for r in self.refresh_tokens.values():
                if r.sign_in is sign_in:
                    r.revoked = True

    def mint_role_credentials(self, account_id: str, role_name: str, user: str) -> RoleCredentials:
        """Role credentials: from the minter (moto's AssumeRole) when there is one, else our own."""
        with self.lock:
            lifetime = self.config.lifetimes.role_credentials
        expires = self.now() + lifetime
        if self.minter is not None:
            key, secret, token = self.minter(account_id, role_name, user, lifetime)
        else:
            key = "ASIA" + _upper(16)
            secret = secrets.token_urlsafe(30)[:40]
            token = "IQoJb3JpZ2luX2VjE" + secrets.token_urlsafe(300)
        creds = RoleCredentials(key, secret, token, expires, account_id, role_name, user)
        with self.lock:
            self.role_creds[key] = creds
            self.remember(secret, token)
        return creds

"""Everything one sign-in can reach: every account and each of its roles (for `keyrack sync`).

ListAccounts is one chain of pages (each needs the last one's nextToken), so it
runs on the calling thread; each account's ListAccountRoles starts as soon as
the page that named it arrives, on a pool of `concurrency` threads sharing one
botocore client (clients are thread-safe). One semaphore bounds the calls in
flight, the ListAccounts page included, to `concurrency`.

Throttling (TooManyRequestsException, HTTP 429), server faults (5xx) and
broken connections are retried here, page by page, with full-jitter
exponential backoff: at most `Backoff.attempts` calls a page, and no call or
wait starts once the listing has run `Backoff.deadline` seconds (so a portal
that pages forever, or crawls, ends too). botocore's own retries are off for
this client: its standard mode shares one retry quota among the client's
threads, which a large organisation under throttling drains, after which
retries stop at a point nobody can name; this bound is the only one.

A page that still fails fails the whole listing, and the other threads stop at
their next call: a caller gets every assignment or an exception, never a part
that looks whole.
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from keyrack_sh import aws
from keyrack_sh.errors import KeyrackError, ServiceError
from keyrack_sh.flows import portal
from keyrack_sh.profiles import SsoSession

MAX_CONCURRENCY = aws.LISTING_POOL
NOTHING_WRITTEN = "nothing was written"

# Answers worth another try: the portal's throttling, and server faults.
_THROTTLING = ("TooManyRequestsException", "ThrottlingException", "Throttling", "SlowDown")


@dataclass(frozen=True, order=True)
class Assignment:
    """One role in one account that the sign-in can use (account_name as the portal names it)."""

    account_id: str
    account_name: str
    role_name: str


@dataclass(frozen=True)
class Backoff:
    """How long a listing keeps trying. Waits are full jitter: uniform(0, min(cap, base * 2**retry))."""

    # 15: where one call in three is throttled, a page fails 14 times running with odds of
    # 3**-14 (2e-7), so 500 accounts do not lose one listing in thousands; a page that never
    # recovers gives up after at most ~11.5 s of waits (about half that on average).
    attempts: int = 15  # calls of one page at most, the first one included
    base: float = 0.1  # seconds: the longest wait before the first retry
    cap: float = 1.0  # seconds: the longest single wait
    deadline: float = 300.0  # seconds from the listing's start: no call or wait starts after it

    def delay(self, retry: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * 2 ** retry))


BACKOFF = Backoff()


class _Stopped(Exception):
    """Another thread's page failed: this one stops at its next call."""


def list_assignments(session: SsoSession, access_token: str, *, concurrency: int = 8,
                     backoff: Backoff = BACKOFF) -> list[Assignment]:
    """Every (account, role) the token can reach, every page followed, sorted by (account_id, role_name).

    Raises portal.Unauthorized for a rejected token, portal.NoAccess when the portal
    refuses a list, and ServiceError (one line, "nothing was written") when a page
    still fails after the backoff. Never returns a partial listing.
    """
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be between 1 and {MAX_CONCURRENCY}, not {concurrency}")
    return _Listing(session, access_token, concurrency, backoff).run()


class _Listing:
    def __init__(self, session: SsoSession, access_token: str, concurrency: int, backoff: Backoff) -> None:
        self.session = session
        self.token = access_token
        self.concurrency = concurrency
        self.backoff = backoff
        self.slots = threading.BoundedSemaphore(concurrency)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.failure: BaseException | None = None
        self.rng = random.Random()
        self.started = time.monotonic()
        self.sso: Any = None

    def run(self) -> list[Assignment]:
        self.sso = aws.listing_client(self.session.region)  # a bad region: UserError, before any thread
        names: dict[str, str] = {}
        jobs: list[Future[list[str]]] = []
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="keyrack-list")
        try:
            for page in portal.pages(self._caller("list_accounts", "to list the accounts"), "accountList",
                                     "to list the accounts", accessToken=self.token):
                for account_id, name in (_account(item) for item in page):
                    if account_id not in names:  # an account a shifting listing repeats: once
                        names[account_id] = name
                        jobs.append(pool.submit(self._roles, account_id))
        except _Stopped:
            pass
        except BaseException as exc:  # ^C too: the threads stop at their next call
            self._fail(exc)
        finally:
            pool.shutdown(wait=True, cancel_futures=self.stop.is_set())
        if self.failure is not None:
            raise self.failure
        found = {Assignment(account_id, names[account_id], role)
                 for account_id, job in zip(names, jobs) for role in job.result()}
        return sorted(found, key=lambda a: (a.account_id, a.role_name, a.account_name))

    def _roles(self, account_id: str) -> list[str]:
        what = f"to list the roles of account {account_id}"
        try:
            return [_role(item, account_id)
                    for page in portal.pages(self._caller("list_account_roles", what), "roleList", what,
                                             accessToken=self.token, accountId=account_id)
                    for item in page]
        except _Stopped:
            return []
        except BaseException as exc:
            self._fail(exc)
            return []

    def _fail(self, exc: BaseException) -> None:
        with self.lock:
            if self.failure is None:
                self.failure = exc
        self.stop.set()

    def _caller(self, operation: str, what: str) -> Callable[[dict[str, str]], dict[str, Any]]:
        method = getattr(self.sso, operation)
        return lambda params: self._call(method, params, what)

    def _call(self, method: Callable[..., dict[str, Any]], params: dict[str, str], what: str) -> dict[str, Any]:
        """One page: retried on throttling and faults within the backoff, every other failure mapped."""
        attempt = 0
        while True:
            attempt += 1
            try:
                with self.slots:
                    if self.stop.is_set():  # checked with the slot held: a waiter may have waited long
                        raise _Stopped
                    if time.monotonic() - self.started > self.backoff.deadline:
                        raise ServiceError(f"IAM Identity Center was too slow {what}: the listing's "
                                           f"{self.backoff.deadline:g} s ran out; {NOTHING_WRITTEN}",
                                           hint="try again in a moment")
                    return method(**params)
            except (_Stopped, KeyrackError):
                raise
            except Exception as exc:
                if not _worth_retrying(exc):
                    raise _refusal(exc, what) from None
                if attempt >= self.backoff.attempts:
                    raise _gave_up(exc, what, f"after {attempt} attempts") from None
                delay = self.backoff.delay(attempt - 1, self.rng)
                if time.monotonic() + delay - self.started > self.backoff.deadline:
                    raise _gave_up(exc, what, f"and the listing's {self.backoff.deadline:g} s ran out") from None
                if self.stop.wait(delay):
                    raise _Stopped from None


def _worth_retrying(exc: BaseException) -> bool:
    from botocore.exceptions import ConnectionError, HTTPClientError, SSLError

    if isinstance(exc, SSLError):
        return False
    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return True
    status = aws.http_status(exc)
    return aws.error_code(exc) in _THROTTLING or status == 429 or status >= 500


def _refusal(exc: BaseException, what: str) -> Exception:
    if isinstance(exc, KeyrackError):
        return exc
    code = aws.error_code(exc)
    if code == "UnauthorizedException":
        return portal.Unauthorized("token rejected")
    if code in portal.REFUSALS:
        return portal.NoAccess(f"IAM Identity Center refused {what} ({code}); {NOTHING_WRITTEN}")
    return _gave_up(exc, what, "")


def _gave_up(exc: BaseException, what: str, why: str) -> ServiceError:
    code = aws.error_code(exc) or type(exc).__name__
    status = aws.http_status(exc)
    detail = f"{code}, HTTP {status}" if status else code
    return ServiceError(f"IAM Identity Center failed {what} ({detail}){' ' + why if why else ''}; {NOTHING_WRITTEN}",
                        hint="try again in a moment")


def _account(item: Any) -> tuple[str, str]:
    account_id = item.get("accountId") if isinstance(item, dict) else None
    if not isinstance(account_id, str) or not account_id:
        raise ServiceError(f"IAM Identity Center listed an account without an id; {NOTHING_WRITTEN}",
                           hint="try again in a moment")
    name = item.get("accountName")
    return account_id, name if isinstance(name, str) else ""


def _role(item: Any, account_id: str) -> str:
    role = item.get("roleName") if isinstance(item, dict) else None
    if not isinstance(role, str) or not role:
        raise ServiceError(f"IAM Identity Center listed a role without a name in account {account_id}; "
                           f"{NOTHING_WRITTEN}", hint="try again in a moment")
    return role

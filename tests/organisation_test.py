"""Listing what one sign-in can reach (flows/organisation.py), in-process against the sandbox.

The autouse firewall points keyrack's botocore clients at the sandbox; each test
gives the sandbox's user a large organisation (Sandbox.use_organisation) and
signs in without a browser (Sandbox.issue_session).
"""
from __future__ import annotations

import math
import threading
from typing import Any

import pytest

from harness import large_organisation
from keyrack_sh.errors import EXIT_SERVICE, EXIT_USER, ServiceError, UserError
from keyrack_sh.flows import organisation, portal
from keyrack_sh.flows.organisation import Assignment, Backoff, list_assignments
from keyrack_sh.profiles import SsoSession

# Quick waits, so a test of giving up does not sleep for seconds; the bound is the same code.
FAST = Backoff(attempts=4, base=0.01, cap=0.02, deadline=60)


@pytest.fixture()
def session(sandbox: Any) -> SsoSession:
    return SsoSession(name="org", start_url=sandbox.start_url, region=sandbox.region)


@pytest.fixture()
def token(sandbox: Any) -> str:
    return sandbox.issue_session()["accessToken"]


def served(sandbox: Any) -> set[tuple[str, str, str]]:
    """What the sandbox assigns the user: (account id, account name, role)."""
    return {(a.account_id, a.name, r) for a in sandbox.accounts() for r in a.roles}


def listing_calls(sandbox: Any) -> int:
    return sandbox.count("ListAccounts") + sandbox.count("ListAccountRoles")


# -- every page -----------------------------------------------------------------------

def test_every_page_of_accounts_and_of_roles_is_followed(sandbox, session, token):
    sandbox.use_organisation(45, 4)
    sandbox.configure(page_size=3)  # roles page too: an account has 3 to 5 roles
    found = list_assignments(session, token)
    assert len(found) == 45 * 4
    assert {(a.account_id, a.account_name, a.role_name) for a in found} == served(sandbox)
    assert sandbox.count("ListAccounts") == 15
    assert sandbox.count("ListAccountRoles") == sum(math.ceil(len(a.roles) / 3) for a in sandbox.accounts())
    assert any(len(a.roles) > 3 for a in sandbox.accounts())  # so some role lists had two pages


def test_with_the_default_page_size_of_20(sandbox, session, token):
    sandbox.use_organisation(61, 2)
    found = list_assignments(session, token)
    assert len(found) == 61 * 2 and len(set(found)) == len(found)
    assert sandbox.count("ListAccounts") == 4  # 20 + 20 + 20 + 1
    assert sandbox.count("ListAccountRoles") == 61


def test_awkward_account_names_arrive_exactly_as_the_portal_gives_them(sandbox, session, token):
    sandbox.use_organisation(14, 2)
    names = {a.account_name for a in list_assignments(session, token)}
    assert {"Prod", "prod", "Données Équipe", "team  a", "Team A", "日本チーム", " padded "} <= names
    shared = {a.account_id for a in list_assignments(session, token) if a.account_name == "Shared Services"}
    assert len(shared) == 2  # two accounts of the same name stay two


# -- order ----------------------------------------------------------------------------

def test_the_order_is_by_account_id_then_role_whatever_the_portal_order_and_concurrency(sandbox, session, token):
    org = sandbox.use_organisation(50, 3)
    assert [a.account_id for a in org] != sorted(a.account_id for a in org)  # the portal's order is not sorted
    assert any(list(a.roles) != sorted(a.roles) for a in org)
    runs = [list_assignments(session, token, concurrency=n) for n in (1, 4, 8)]
    assert runs[0] == sorted(runs[0], key=lambda a: (a.account_id, a.role_name))
    assert all(run == runs[0] for run in runs)
    assert runs[0][0] == Assignment(min(a.account_id for a in org), *_first_role(org))


def _first_role(org) -> tuple[str, str]:
    account = min(org, key=lambda a: a.account_id)
    return account.name, min(account.roles)


# -- throttling and faults ----------------------------------------------------------------

def test_throttled_on_every_third_call_the_listing_still_completes(sandbox, session, token):
    large_organisation(sandbox, "60x3", throttle_every=3)
    found = list_assignments(session, token)
    assert {(a.account_id, a.account_name, a.role_name) for a in found} == served(sandbox)
    minimal = 3 + 60  # pages of 20 accounts, one role page per account
    calls = listing_calls(sandbox)
    # every third call was refused and asked again; each page was answered once
    assert calls - calls // 3 == minimal


def test_server_faults_and_429s_of_any_code_are_retried(sandbox, session, token):
    sandbox.use_organisation(10, 2)
    sandbox.fail("ListAccounts", "InternalServerException", times=2)
    sandbox.fail("ListAccountRoles", "ServiceUnavailable", times=2)
    sandbox.fail("ListAccountRoles", "SomethingNew", status=429, times=1)
    assert len(list_assignments(session, token, backoff=FAST)) == 20
    assert sandbox.count("ListAccounts") == 3
    assert sandbox.count("ListAccountRoles") == 10 + 3


def test_throttling_that_never_ends_is_one_line_and_no_listing(sandbox, session, token):
    sandbox.use_organisation(40, 2)
    sandbox.fail("ListAccountRoles", "TooManyRequestsException", times=10**6)
    with pytest.raises(ServiceError) as caught:
        list_assignments(session, token, concurrency=4, backoff=FAST)
    err = caught.value
    assert err.exit_code == EXIT_SERVICE
    line = err.render()
    assert "\n" not in line
    assert line.startswith("keyrack: IAM Identity Center failed to list the roles of account ")
    assert "(TooManyRequestsException, HTTP 429) after 4 attempts; nothing was written" in line
    # The first page that gave up stopped the rest: 40 accounts would be 160 calls, and nothing still runs.
    calls = sandbox.count("ListAccountRoles")
    assert 4 <= calls <= 4 * 4
    assert sandbox.in_flight == 0 and sandbox.count("ListAccountRoles") == calls


def test_throttling_of_the_account_list_gives_up_after_exactly_the_attempts(sandbox, session, token):
    sandbox.use_organisation(40, 2)
    sandbox.fail("ListAccounts", "TooManyRequestsException", times=10**6)
    with pytest.raises(ServiceError, match=r"failed to list the accounts \(TooManyRequestsException, HTTP 429\) "
                                           r"after 4 attempts; nothing was written"):
        list_assignments(session, token, backoff=FAST)
    assert sandbox.count("ListAccounts") == 4 and sandbox.count("ListAccountRoles") == 0


def test_a_later_page_that_keeps_failing_throws_the_earlier_ones_away(sandbox, session, token):
    sandbox.use_organisation(45, 2)
    sandbox.fail("ListAccounts", "InternalServerException", times=10**6, after=1)  # page 1 answers, page 2 never
    with pytest.raises(ServiceError, match=r"failed to list the accounts \(InternalServerException, HTTP 500\) "
                                           r"after 4 attempts; nothing was written"):
        list_assignments(session, token, backoff=FAST)
    assert sandbox.count("ListAccounts") == 1 + 4


def test_the_deadline_bounds_the_time_even_when_attempts_remain(sandbox, session, token):
    sandbox.use_organisation(3, 1)
    sandbox.fail("ListAccounts", "TooManyRequestsException", times=10**6)
    with pytest.raises(ServiceError, match=r"the listing's 0.2 s ran out; nothing was written$"):
        list_assignments(session, token, backoff=Backoff(attempts=10**6, base=0.05, cap=0.05, deadline=0.2))
    assert sandbox.count("ListAccounts") < 100


def test_the_deadline_ends_a_listing_that_answers_but_never_finishes(sandbox, session, token):
    sandbox.use_organisation(40, 1)
    sandbox.configure(latency=0.05)  # 41 calls one at a time: 2 s at least, past the 0.3 s deadline
    with pytest.raises(ServiceError, match=r"^IAM Identity Center was too slow to list the roles of account \d+: "
                                           r"the listing's 0.3 s ran out; nothing was written$"):
        list_assignments(session, token, concurrency=1, backoff=Backoff(deadline=0.3))
    assert listing_calls(sandbox) < 41


def test_the_default_backoff_is_bounded():
    b = organisation.BACKOFF
    assert 3 <= b.attempts <= 20 and b.cap <= 5 and b.deadline <= 300
    worst = sum(min(b.cap, b.base * 2 ** i) for i in range(b.attempts - 1))
    assert worst < b.deadline  # attempts, not the deadline, end a page that never recovers


# -- the sign-in and refusals ----------------------------------------------------------------

def test_a_rejected_token_is_unauthorized(sandbox, session, token):
    sandbox.use_organisation(5, 2)
    sandbox.revoke_all()
    with pytest.raises(portal.Unauthorized):
        list_assignments(session, token)
    assert sandbox.count("ListAccounts") == 1  # not retried


def test_a_token_rejected_half_way_is_unauthorized_not_a_shorter_listing(sandbox, session, token):
    sandbox.use_organisation(30, 2)
    sandbox.fail("ListAccountRoles", "UnauthorizedException", times=1)
    with pytest.raises(portal.Unauthorized) as caught:
        list_assignments(session, token)
    assert caught.value.exit_code == EXIT_USER


def test_a_refused_role_list_names_the_account_and_writes_nothing(sandbox, session, token):
    sandbox.use_organisation(1, 2)
    sandbox.fail("ListAccountRoles", "ForbiddenException", times=1)
    with pytest.raises(portal.NoAccess) as caught:
        list_assignments(session, token)
    account = sandbox.accounts()[0].account_id
    assert str(caught.value) == (f"IAM Identity Center refused to list the roles of account {account} "
                                 "(ForbiddenException); nothing was written")
    assert sandbox.count("ListAccountRoles") == 1


def test_a_bad_region_or_concurrency_is_refused_before_any_call(sandbox, session, token):
    with pytest.raises(UserError, match="sso_region"):
        list_assignments(SsoSession(name="x", start_url=session.start_url, region=""), token)
    for bad in (0, organisation.MAX_CONCURRENCY + 1):
        with pytest.raises(ValueError):
            list_assignments(session, token, concurrency=bad)
    assert listing_calls(sandbox) == 0


def test_an_empty_organisation_is_an_empty_listing(sandbox, session, token):
    sandbox.use_organisation(0, 1)
    assert list_assignments(session, token) == []


# -- bounded concurrency -----------------------------------------------------------------------

def test_no_more_calls_are_in_flight_than_the_concurrency(sandbox, session, token):
    """Five role lists hang at the sandbox: a bounded listing cannot start a sixth call until one returns."""
    sandbox.use_organisation(40, 2)
    sandbox.hang("ListAccountRoles", times=5)
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(list_assignments(session, token, concurrency=5)))
    worker.start()
    try:
        assert sandbox.wait_for_count("ListAccountRoles", 5, timeout=30)
        for _ in range(50):  # the five calls are held: nothing else may arrive meanwhile
            assert sandbox.in_flight == 5
            assert sandbox.count("ListAccountRoles") == 5 and sandbox.count("ListAccounts") == 1
            sandbox.wait_for_count("ListAccountRoles", 6, timeout=0.01)
    finally:
        sandbox.release_hangs()
        worker.join(timeout=60)
    assert len(result[0]) == 80
    assert sandbox.max_in_flight == 5


def test_concurrency_one_makes_one_call_at_a_time(sandbox, session, token):
    sandbox.use_organisation(30, 2)
    sandbox.configure(latency=0.005)
    assert len(list_assignments(session, token, concurrency=1)) == 60
    assert sandbox.max_in_flight == 1

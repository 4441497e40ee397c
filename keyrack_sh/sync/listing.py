"""The organisation's assignments, for sync: every account and each of its roles.

Stand-in until flows/organisation.py (issue #14's listing: paging, bounded
concurrency, backoff on throttling) lands with the same signature; then this
module only re-exports it.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from keyrack_sh.profiles import SsoSession


@dataclass(frozen=True, order=True)
class Assignment:
    account_id: str
    account_name: str
    role_name: str


def list_assignments(session: SsoSession, access_token: str, *, concurrency: int = 8) -> list[Assignment]:
    """Every (account, role) the token reaches; raises portal.Unauthorized on a rejected token."""
    from keyrack_sh.flows import portal

    accounts = portal.list_accounts(session, access_token)

    def roles(account: dict) -> list[Assignment]:
        return [Assignment(str(account["accountId"]), str(account.get("accountName") or ""), str(r["roleName"]))
                for r in portal.list_account_roles(session, access_token, str(account["accountId"]))]

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return sorted(a for found in pool.map(roles, accounts) for a in found)

"""The vault interface: where a profile's credentials come from.

A vault can set a profile up (write what the SDKs read), unlock its session
(sign in), relock it (sign out, forget the secrets) and say how it stands,
from local files only. The setup roundtrip and the status/list commands speak
only this interface; IAM Identity Center (identity_center.py) is the first
implementation.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from keyrack_sh.config_writer import Plan, SetRequest
from keyrack_sh.profiles import SsoSession


@dataclass(frozen=True)
class UnlockResult:
    session: str
    signed_in: bool  # a sign-in happened (False: an existing token was still good)
    access_expires: int | None


@dataclass(frozen=True)
class RelockResult:
    session: str
    logged_out: bool  # the server ended the session (the browser's sign-in too)
    error: str | None  # why the server logout failed; local secrets are gone regardless


@dataclass(frozen=True)
class VaultStatus:
    session: str
    locked: bool
    access_expires: int | None  # epoch seconds
    session_end: int | None  # when it stops working without a browser
    refreshable: bool  # a refresh token extends the session past access_expires
    user: str | None = None  # who signed in (the IAM Identity Center user), once keyrack learned it

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Vault(Protocol):
    kind: str

    def set(self, request: SetRequest, approve: Callable[[Plan], None] | None = None) -> Plan:
        """Write the profile (and its session) where the SDKs read it."""

    def unlock(self, session: SsoSession, *, flow: str = "pkce", no_browser: bool = False,
               force: bool = False) -> UnlockResult:
        """Sign in; with force, even when a usable token exists."""

    def relock(self, session: SsoSession) -> RelockResult:
        """Sign out at the server and delete the session's local secrets."""

    def status(self, session_name: str) -> VaultStatus:
        """The session's state, from local files only."""

    def accounts(self, session: SsoSession) -> list[dict[str, Any]]:
        """The accounts the signed-in user can reach ({"accountId", "accountName"}), never signing in."""

    def roles(self, session: SsoSession, account_id: str) -> list[str] | None:
        """The user's role names in `account_id`; None when the account is not one of theirs."""

    def proof_key(self, session: SsoSession) -> str | None:
        """A secretless fingerprint of what a passed roundtrip proved (the client registration
        and where it signs in); None when there is nothing to prove yet. A new one means a new roundtrip."""

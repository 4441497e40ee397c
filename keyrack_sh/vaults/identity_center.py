"""AWS IAM Identity Center as a vault: the AWS config file plus the unlock engine."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from keyrack_sh import cache, config_writer, engine
from keyrack_sh.config_writer import Plan, SetRequest
from keyrack_sh.profiles import SsoSession
from keyrack_sh.vaults.base import RelockResult, UnlockResult, VaultStatus


class IdentityCenterVault:
    kind = "iam-identity-center"

    def set(self, request: SetRequest, approve: Callable[[Plan], None] | None = None) -> Plan:
        return config_writer.apply(request, approve)

    def unlock(self, session: SsoSession, *, flow: str = "pkce", no_browser: bool = False,
               force: bool = False) -> UnlockResult:
        info = engine.unlock(session, flow=flow, no_browser=no_browser, force=force)
        return UnlockResult(session=session.name, signed_in=info.signed_in, access_expires=info.access_expires)

    def relock(self, session: SsoSession) -> RelockResult:
        result = engine.relock(session.name, region=session.region)
        return RelockResult(session=session.name, logged_out=result.logged_out, error=result.logout_error)

    def status(self, session_name: str) -> VaultStatus:
        info = engine.session_info(session_name)
        return VaultStatus(session=session_name, locked=info.locked, access_expires=info.access_expires,
                           session_end=info.session_end, refreshable=info.has_refresh_token,
                           user=None if info.locked else info.user)

    def accounts(self, session: SsoSession) -> list[dict[str, Any]]:
        from keyrack_sh.flows import portal

        return portal.list_accounts(session, engine.access_token(session, policy="never"))

    def roles(self, session: SsoSession, account_id: str) -> list[str] | None:
        from keyrack_sh.flows import portal

        try:
            roles = portal.list_account_roles(session, engine.access_token(session, policy="never"), account_id)
        except portal.NoAccess:
            return None
        return sorted(str(r["roleName"]) for r in roles) or None

    def proof_key(self, session: SsoSession) -> str | None:
        client = cache.read_client(session.name)
        if client is None:
            return None
        # The registration's id and expiry: a re-registration, even one AWS gave the same id, is new.
        what = "\n".join([client["clientId"], str(int(client["expiresAt"])), session.start_url, session.region,
                          " ".join(session.scopes)])
        return hashlib.sha256(what.encode("utf-8")).hexdigest()[:32]

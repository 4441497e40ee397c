"""A local AWS IAM Identity Center for tests and `keyrack demo` (127.0.0.1 only).

It serves what botocore's real `sso-oidc` and `sso` clients call (and STS
GetCallerIdentity when no moto endpoint is given), so that pointing
AWS_ENDPOINT_URL_SSO_OIDC / _SSO / _STS at it makes unmodified boto3 code work.

Rooms: state (the world, thread-safe), oidc, browser (the user), portal, sts,
server (HTTP, routing, faults, errors), api (`Sandbox`), __main__ (standalone).
Standard library only, except sts.MotoMinter, which imports botocore when used.
"""
from __future__ import annotations

from keyrack_sh.sandbox.api import OPERATIONS, Sandbox
from keyrack_sh.sandbox.state import (
    DEFAULT_ACCOUNTS,
    DEFAULT_REGION,
    DEFAULT_START_URL,
    DEFAULT_USER,
    Account,
    Lifetimes,
    SandboxConfig,
    many_accounts,
    organisation,
)

__all__ = [
    "DEFAULT_ACCOUNTS",
    "DEFAULT_REGION",
    "DEFAULT_START_URL",
    "DEFAULT_USER",
    "OPERATIONS",
    "Account",
    "Lifetimes",
    "Sandbox",
    "SandboxConfig",
    "many_accounts",
    "organisation",
]

"""Which profile a command acts on: the one named, else AWS_PROFILE (as the AWS CLI does).

Every command that takes an optional PROFILE (unlock, relock, status, export,
exec, console, serve...) resolves it here, so they all agree on the rule and
on the one line printed when there is neither.
"""
from __future__ import annotations

import os

from keyrack_sh import validate
from keyrack_sh.errors import UserError

ENV = "AWS_PROFILE"


def from_env() -> str | None:
    """AWS_PROFILE, or None when it is unset or empty."""
    return os.environ.get(ENV) or None


def resolve(named: str | None, command: str) -> str:
    """The profile `command` acts on: `named`, else AWS_PROFILE, else a UserError (exit 2).

    `command` is the rest of the command line for the hint, e.g. "unlock" or
    "exec -- aws sts get-caller-identity". A name from AWS_PROFILE must be one
    of keyrack's profiles; the error says it came from AWS_PROFILE.
    """
    if named:
        validate.profile_name(named)
        return named
    name = from_env()
    if name is None:
        head, _, tail = command.partition(" ")
        hint = f"keyrack {head} PROFILE" + (f" {tail}" if tail else "")
        raise UserError(f"no profile named and {ENV} is not set", hint=f"{hint}, or export {ENV}=PROFILE")
    validate.profile_name(name)
    check_managed(name)
    return name


def check_managed(name: str) -> None:
    """Raise the one-line UserError when AWS_PROFILE's `name` is not one of keyrack's profiles."""
    from keyrack_sh import profiles

    config = profiles.load()
    if not config.has_profile(name):
        raise UserError(f"profile {name!r} (from {ENV}) is not in {config.path}",
                        hint="keyrack list, then export AWS_PROFILE=PROFILE")
    if not config.is_managed(name):
        raise UserError(f"profile {name!r} (from {ENV}) is not managed by keyrack",
                        hint="keyrack list, then export AWS_PROFILE=PROFILE")

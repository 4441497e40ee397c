"""`keyrack use PROFILE`: the CLI half of the shell function.

Only the shell hook's `keyrack` function can change the shell's AWS_PROFILE;
it calls `keyrack use --check PROFILE` first, and exports the name only when
that exits 0 (one of keyrack's profiles). Without the hook, `keyrack use`
explains how to install it.
"""
from __future__ import annotations

import argparse
import os
import sys

from keyrack_sh.errors import UserError


def check(profile: str | None) -> None:
    from keyrack_sh import profiles, validate

    if not profile:
        raise UserError("name the profile to use", hint="keyrack list")
    validate.profile_name(profile)
    config = profiles.load()
    if not config.has_profile(profile):
        raise UserError(f"profile {profile!r} is not in {config.path}", hint="keyrack list")
    if not config.is_managed(profile):
        raise UserError(f"profile {profile!r} is not managed by keyrack",
                        hint=f"keyrack set {profile} ... (or export AWS_PROFILE={profile})")


def run(args: argparse.Namespace) -> int:
    if args.clear and args.profile:
        raise UserError("--clear takes no profile", hint="keyrack use --clear")
    if getattr(args, "check", False):
        if not args.clear:
            check(args.profile)
            if os.environ.get("AWS_ACCESS_KEY_ID"):
                # botocore's chain: keys in the environment beat every profile.
                print("keyrack: note: AWS_ACCESS_KEY_ID in this shell wins over AWS_PROFILE (hint: unset "
                      "AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN)", file=sys.stderr)
        return 0
    from keyrack_sh import shells

    try:
        shell = shells.detect_shell()
    except UserError:
        shell = "bash"
    setup = "keyrack init fish | source" if shell == "fish" else f'eval "$(keyrack init {shell})"'
    what = "unset AWS_PROFILE" if args.clear else "set AWS_PROFILE"
    raise UserError(f"'keyrack use' needs the shell hook to {what} in your shell", hint=setup)

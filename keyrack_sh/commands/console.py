"""`keyrack console [PROFILE]`: the AWS console as the profile's role, in the browser of its choice.

The login URL is a bearer credential (a console session for as long as the
role credentials last): it goes to the browser, detached, or with --url to
stdout and nowhere else; never to the terminal, a log or an error message.
"""
from __future__ import annotations

import argparse

from keyrack_sh import engine, profiles, validate
from keyrack_sh.commands import _profile
from keyrack_sh.errors import UserError
from keyrack_sh.flows import federation


def run(args: argparse.Namespace) -> int:
    name = _profile.resolve(args.profile, "console")
    config = profiles.load()
    profile = config.profile(name)
    session = config.session_of(profile)
    region = validate.region(args.region) if args.region else profile.region
    # The accounts are in the partition of their IAM Identity Center, whatever the page's region says.
    partition = federation.partition_of(session.region)
    destination = federation.destination(partition, region, service=args.service, url=args.destination,
                                         keep_url_region=not args.region)
    base = federation.signin_base(partition)
    command = args.browser or session.browser
    if not args.url:
        # Only when a browser opens (subprocess and shlex cost --url a few ms at every call).
        from keyrack_sh.flows import browser

        if command:  # a broken template fails before any sign-in or network call
            browser.template_argv(command, "--browser" if args.browser else browser.SETTING)
    creds, _ = engine.profile_credentials(name)
    token = federation.signin_token(base, creds, hint=f"keyrack console {name}")
    url = federation.login_url(base, token, destination)
    if args.url:
        print(url)
        return 0
    try:
        # The default opener gets a moment to say it found no browser; a template's command is the browser.
        browser.launch(url, command, wait=0 if command else 5.0)
    except OSError as exc:
        program = browser.template_argv(command)[0] if command else "python"
        raise UserError(f"cannot start the browser {program!r}: {exc.strerror or type(exc).__name__}",
                        hint=f"keyrack console {name} --url") from None
    except UserError:
        raise UserError("no browser could be opened here",
                        hint=f"keyrack console {name} --browser 'CMD {{url}}' (or --url)") from None
    print(f"opened the AWS console as {profile.role_name} in account {profile.account_id} (profile {name})")
    return 0

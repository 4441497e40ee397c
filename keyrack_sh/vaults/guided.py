"""Guided `keyrack set` on a terminal: ask for what the flags did not say.

Start URL and SSO region (offering the sso-sessions already in the config),
then a sign-in, then the accounts (ListAccounts, every page, sorted, names
and ids aligned) and that account's roles to choose from, then a suggested
profile name. Only runs when stdin is a terminal; every answer goes through
the same validation as the flags.
"""
from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any

from keyrack_sh import config_writer, paths, validate
from keyrack_sh.errors import UserError
from keyrack_sh.profiles import SsoSession


def _ask(prompt: str, default: str | None = None) -> str:
    suffix = f" [{default}]" if default else ""
    try:
        answer = input(f"{prompt}{suffix}: ").strip()
    except EOFError:
        raise UserError("cancelled; nothing changed") from None
    return answer or (default or "")


def _ask_valid(prompt: str, check: Callable[[str], str], default: str | None = None) -> str:
    while True:
        answer = _ask(prompt, default)
        try:
            return check(answer)
        except UserError as exc:
            print(f"  {exc.message}")


def _menu_terminal() -> bool:
    """A terminal that can run an arrow-key menu (else: the numbered list, typed answers)."""
    import os
    import sys

    return (sys.stdin.isatty() and sys.stdout.isatty() and os.environ.get("TERM", "dumb") != "dumb"
            and not os.environ.get("KEYRACK_NO_TTY"))


def _choose(title: str, rows: list[str], what: str) -> int:
    """Let the user pick one row; return its index.

    On a capable terminal an arrow-key menu where typing filters the rows (an
    organisation has hundreds of accounts); else numbered rows and a number.
    """
    if len(rows) > 1 and _menu_terminal():
        return _menu(title, rows, what)
    print(title)
    width = len(str(len(rows)))
    for i, row in enumerate(rows, 1):
        print(f"  {i:>{width}}) {row}")

    def check(answer: str) -> str:
        if answer.isdigit() and 1 <= int(answer) <= len(rows):
            return answer
        raise UserError(f"type a number from 1 to {len(rows)} to choose {what}")

    return int(_ask_valid(f"Choose {what}", check, "1" if len(rows) == 1 else None)) - 1


def _menu(title: str, rows: list[str], what: str) -> int:
    import questionary  # only here: it loads prompt_toolkit (~0.2 s), never on a hot path

    choices = [questionary.Choice(title=row, value=i) for i, row in enumerate(rows)]
    try:
        picked = questionary.select(f"{title.rstrip(':')}: choose {what}", choices=choices,
                                    use_search_filter=True, use_jk_keys=False, use_shortcuts=False,
                                    instruction="(arrow keys, type to filter, Enter)").unsafe_ask()
    except EOFError:
        raise UserError("cancelled; nothing changed") from None
    if picked is None:
        raise UserError("cancelled; nothing changed")
    return int(picked)


def _start_url(args: argparse.Namespace) -> None:
    text = config_writer.read_config() or ""
    known: list[tuple[str, str, str]] = []
    if text:
        config = config_writer.load_text(text)
        for name in config.session_names():
            try:
                s = config.session(name)
            except UserError:
                continue
            known.append((name, s.start_url, s.region))
    if not args.start_url and known:
        width = max(len(n) for n, _, _ in known)
        rows = [f"{n:<{width}}  {url}  ({region})" for n, url, region in known] + ["another start URL"]
        pick = _choose("IAM Identity Center instances in your AWS config:", rows, "one")
        if pick < len(known):
            name, url, region = known[pick]
            # What the file says is input too: checked before any sign-in.
            args.start_url, args.sso_region = validate.start_url(url), validate.region(region, "SSO region")
            args.sso_session = args.sso_session or validate.session_name(name)
            return
    if not args.start_url:
        args.start_url = _ask_valid("Start URL (https://<your-org>.awsapps.com/start)", validate.start_url)
    if not getattr(args, "start_url_from", None):
        from keyrack_sh.flows import vanity

        # A portal host that names its region answers the next question; a vanity URL is followed once.
        args.start_url, args.sso_region, args.start_url_from = vanity.settle(args.start_url, args.sso_region)
    if not args.sso_region:
        args.sso_region = _ask_valid("SSO region (where IAM Identity Center lives)",
                                     lambda v: validate.region(v, "SSO region"), "us-east-1")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def suggest_profile_name(account_name: str, role_name: str) -> str:
    """`production.adminrole`: readable, and valid for validate.profile_name."""
    name = ".".join(p for p in (_slug(account_name)[:40], _slug(role_name)[:23]) if p)
    return name if re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", name) else "aws"


def fill(args: argparse.Namespace) -> str | None:
    """Complete `args` by asking; signs in to list the accounts and roles.

    Returns why it signed in (the roundtrip's step 1 says so), None when it did
    not; `args.signed_in_before` says whether the session had a token already.
    """
    from keyrack_sh import engine
    from keyrack_sh.flows import portal

    _start_url(args)
    plan_request = config_writer.SetRequest(
        profile=args.profile or "keyrack-guided", start_url=args.start_url, sso_region=args.sso_region,
        account_id="000000000000", role_name="x", session=args.sso_session)
    session_name = config_writer.session_name_for(config_writer.read_config(), plan_request)
    session = SsoSession(name=session_name, start_url=args.start_url, region=args.sso_region)

    if not (args.account_id and args.role_name):
        flow = engine.login_flow(None, None, device_code=args.device_code)
        args.signed_in_before = paths.token_file(session.name).exists()
        print(f"Signing in to {args.start_url} to list your accounts...")
        engine.unlock(session, flow=flow, no_browser=args.no_browser)
        signed_in_for: str | None = "to list your accounts"
        token = engine.access_token(session, policy="never")
        account: dict[str, Any] | None = None
        if not args.account_id:
            accounts = sorted(portal.list_accounts(session, token),
                              key=lambda a: (str(a.get("accountName", "")).lower(), a["accountId"]))
            if not accounts:
                raise UserError(f"your user has no AWS accounts at {args.start_url}",
                                hint="ask your administrator for an assignment")
            width = max(len(str(a.get("accountName", ""))) for a in accounts)
            rows = [f"{str(a.get('accountName', '')):<{width}}  {a['accountId']}" for a in accounts]
            account = accounts[_choose(f"{len(accounts)} AWS accounts:", rows, "an account")]
            args.account_id = account["accountId"]
        if not args.role_name:
            roles = sorted(r["roleName"] for r in portal.list_account_roles(session, token, args.account_id))
            if not roles:
                raise UserError(f"no roles for you in account {args.account_id}",
                                hint="ask your administrator for an assignment")
            args.role_name = roles[_choose(f"Roles in {args.account_id}:", roles, "a role")]
        account_name = str(account.get("accountName", "")) if account else args.account_id
    else:
        account_name = args.account_id
        signed_in_for = None
    if not args.profile:
        args.profile = _ask_valid("Profile name", validate.profile_name,
                                  suggest_profile_name(account_name, args.role_name))
    if not args.region:
        args.region = _ask_valid("Default region for the profile's AWS calls", validate.region, args.sso_region)
    return signed_in_for

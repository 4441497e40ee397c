"""The command line: argparse in, one error edge out.

Each subcommand is keyrack_sh/commands/<name>.py with `run(args) -> int`,
imported only when chosen, so `keyrack --help` stays light. Every expected
failure is a KeyrackError and leaves here as one line on stderr plus its exit
code; anything unexpected is logged (0600, no secrets) and named in one line.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from keyrack_sh import __version__
from keyrack_sh.errors import EXIT_INTERRUPTED, EXIT_SERVICE, EXIT_USER, KeyrackError

SHELLS = ("bash", "zsh", "fish")
EXPORT_FORMATS = ("env", "env-no-export", "dotenv", "json", "fish", "powershell")


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (plus the help pointer) and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse quotes the offending argument: keep a newline in it from breaking the one line.
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        self.exit(EXIT_USER, f"keyrack: {message} (see '{self.prog} --help')\n")


def _profile_arg(p: argparse.ArgumentParser, required: bool = True, help: str = "a keyrack profile") -> None:
    p.add_argument("profile", metavar="PROFILE", nargs=None if required else "?", help=help)


# The help of a PROFILE that defaults as the AWS CLI's does (commands/_profile.resolve).
PROFILE_OR_ENV = "a keyrack profile (default: $AWS_PROFILE)"


def _login_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device-code", action="store_true",
                   help="sign in with a device code instead of a browser redirect (remote hosts)")
    p.add_argument("--no-browser", action="store_true",
                   help="print the sign-in URL instead of opening a browser")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="keyrack",
        description="AWS IAM Identity Center credentials for every shell and SDK.",
        epilog="Start with 'keyrack demo', then 'keyrack set PROFILE ...'.",
    )
    parser.add_argument("--version", action="version", version=f"keyrack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("set", help="add or update a profile, then prove it works (the roundtrip)",
                       description="Write PROFILE and its sso-session into the AWS config, keeping every "
                                   "other byte, then unlock, relock, unlock and call STS through it.")
    _profile_arg(p, required=False, help="profile name (asked for on a terminal when omitted)")
    p.add_argument("--start-url", help="IAM Identity Center start URL (https://...awsapps.com/start)")
    p.add_argument("--sso-region", help="region of the IAM Identity Center instance")
    p.add_argument("--account-id", help="12-digit AWS account id")
    p.add_argument("--role-name", help="permission set (role) name")
    p.add_argument("--region", help="default region for the profile's AWS calls")
    p.add_argument("--sso-session", help="sso-session name (default: shared by start URL and SSO region)")
    _login_args(p)
    p.add_argument("--auto-unlock", choices=("tty", "always", "never"),
                   help="when credential_process may sign in by itself (default: tty)")
    p.add_argument("--no-verify", action="store_true", help="write the config but skip the roundtrip")
    p.add_argument("--roundtrip", action="store_true",
                   help="sign the sso-session out and in again even if it passed the roundtrip before")
    p.add_argument("--adopt", action="store_true",
                   help="convert PROFILE, made by 'aws configure sso', to keyrack in place (its values, "
                        "its name; keyrack remove gives its keys back)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before changing existing sections")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("unlock", help="sign in to a profile's sso-session now",
                       description="Sign in to the sso-session of PROFILE (even when auto-unlock is 'never').")
    _profile_arg(p, required=False, help=PROFILE_OR_ENV)
    _login_args(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("relock", help="sign out: end the session at AWS and delete its tokens",
                       description="Log out of an sso-session at AWS (ends the browser's sign-in) and delete "
                                   "its token and keyrack's role credentials, leaving other sessions alone.")
    target = p.add_mutually_exclusive_group()
    target.add_argument("profile", metavar="PROFILE", nargs="?",
                        help="relock this profile's sso-session (default: $AWS_PROFILE's)")
    target.add_argument("--session", metavar="NAME", help="relock this sso-session")
    target.add_argument("--all", action="store_true", help="relock every sso-session keyrack manages")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("status", help="lock state and time left, from local files only")
    target = p.add_mutually_exclusive_group()
    target.add_argument("profile", metavar="PROFILE", nargs="?",
                        help="one profile (default: $AWS_PROFILE, else all of keyrack's)")
    target.add_argument("--all", action="store_true", help="every keyrack profile, whatever AWS_PROFILE says")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("list", help="the profiles keyrack manages")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("credential-process", help="print credentials for an AWS SDK (credential_process)",
                       description="Print PROFILE's credentials as the JSON an AWS SDK's credential_process "
                                   "expects, signing in first when the unlock policy allows it.")
    _profile_arg(p)

    p = sub.add_parser("init", help="print the shell hook: eval \"$(keyrack init bash)\"",
                       description="Print the hook that defines the keyrack shell function, prompt segment "
                                   "and completions. Setup: eval \"$(keyrack init bash)\", "
                                   "eval \"$(keyrack init zsh)\", or keyrack init fish | source.")
    p.add_argument("shell", nargs="?", choices=SHELLS, help="the shell (default: detected)")
    p.add_argument("--write", action="store_true",
                   help="write the rendered hook to a file and print the line that sources it")
    p.add_argument("--no-prompt", action="store_true", help="leave out the prompt hook")

    p = sub.add_parser("use", help="set AWS_PROFILE in this shell (needs the shell hook)")
    p.add_argument("profile", metavar="PROFILE", nargs="?", help="a keyrack profile")
    p.add_argument("--clear", action="store_true", help="unset AWS_PROFILE")
    # Used by the shell hook's `keyrack` function: exit 0 only for one of keyrack's profiles.
    p.add_argument("--check", action="store_true", help=argparse.SUPPRESS)

    p = sub.add_parser("export", help="print credentials as shell exports or JSON")
    _profile_arg(p, required=False, help=PROFILE_OR_ENV)
    p.add_argument("--format", choices=EXPORT_FORMATS, default="env", help="output format (default: env)")

    p = sub.add_parser("exec", help="run a command with a profile's credentials, renewed while it runs",
                       description="Run CMD with a credential server of its own on 127.0.0.1 (the container "
                                   "credentials URL and token in its environment), so its SDKs renew for as "
                                   "long as it runs; the server stops when CMD exits. With '--' first "
                                   "(keyrack exec -- CMD), the profile is $AWS_PROFILE.")
    _profile_arg(p, required=False, help=PROFILE_OR_ENV)
    p.add_argument("--static", action="store_true",
                   help="put the keys themselves in CMD's environment instead (not renewed)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ARGS...", help="the command to run")

    p = sub.add_parser("console", help="open the AWS console as a profile's role",
                       description="Sign the browser in to the AWS console as PROFILE's role (the "
                                   "federation endpoint's sign-in token from the profile's credentials), "
                                   "at the console home, a service or any console URL, in the profile's region.")
    _profile_arg(p, required=False, help="a keyrack profile (default: AWS_PROFILE)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--service", metavar="NAME", help="open this console service (s3, ec2, iam, ...)")
    where.add_argument("--destination", metavar="URL", help="open this console URL")
    p.add_argument("--region", metavar="R", help="the console's region (default: the profile's)")
    p.add_argument("--url", action="store_true",
                   help="print the sign-in URL (a credential) to stdout instead of opening a browser")
    p.add_argument("--browser", metavar="CMD",
                   help="browser command, {url} where the URL goes (default: the keyrack_browser setting)")
    p = sub.add_parser("serve", help="serve profiles' credentials to local programs until ^C or relock",
                       description="Run a container-credentials server on 127.0.0.1 in the foreground for "
                                   "other local programs (an IDE, a container on the host network): prints the "
                                   "variables to set, one URL per profile, and serves until ^C or until every "
                                   "served profile's sso-session is relocked.")
    p.add_argument("profiles", metavar="PROFILE", nargs="*", help="keyrack profiles (default: $AWS_PROFILE)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="env", help="how to print the variables")

    p = sub.add_parser("sync", help="a profile for every account and role of an sso-session, kept in step",
                       description="Sign in once, list every account and role the user has, and write one "
                                   "keyrack profile for each (names from --template), keeping every other byte "
                                   "of the config. Shows the plan first; --prune removes the profiles sync "
                                   "made that the server no longer has.")
    p.add_argument("--start-url",
                   help="IAM Identity Center start URL (a custom domain is followed once to its AWS portal)")
    p.add_argument("--sso-region",
                   help="region of the IAM Identity Center instance (optional when the start URL's host names it)")
    p.add_argument("--sso-session",
                   help="the sso-session to sync (default: the config's only one, or the only one sync wrote for)")
    p.add_argument("--template", metavar="T",
                   help="jinja2 template of the profile names, over account_id, account_name, role_name, "
                        "sso_session, region (default: '{{ account_name }}.{{ role_name }}')")
    p.add_argument("--prefix", metavar="P", help="put P before every generated name")
    p.add_argument("--region", help="default region for every generated profile")
    p.add_argument("--prune", action="store_true",
                   help="remove the profiles sync made from this sso-session that the server no longer has")
    p.add_argument("--dry-run", action="store_true", help="show the plan, write nothing")
    _login_args(p)
    p.add_argument("--yes", "-y", action="store_true", help="do not ask (edited profiles are still kept)")
    p.add_argument("--overwrite-edited", action="store_true",
                   help="also overwrite, or with --prune remove, profiles edited since sync wrote them")
    p.add_argument("--json", action="store_true", help="print the plan and result as JSON")
    p.add_argument("--adopt", action="store_true",
                   help="instead: convert the config's 'aws configure sso' profiles to keyrack in place, names "
                        "kept (with --sso-session: only that session's; --region: for those without one); "
                        "undo with 'keyrack remove --adopted'")

    p = sub.add_parser("remove", help="remove a profile keyrack wrote (relocking first)",
                       description="Take out what keyrack wrote for PROFILE. A profile keyrack took over "
                                   "(set --yes, set --adopt, sync --adopt) gets its own lines back, byte for byte.")
    _profile_arg(p, required=False, help="a keyrack profile")
    p.add_argument("--adopted", action="store_true",
                   help="every profile keyrack took over gets its own keys back (the undo of sync --adopt)")
    p.add_argument("--sso-session", help="with --adopted: only the profiles on this sso-session")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("demo", help="the whole flow, offline, against a bundled local IAM Identity Center",
                       description="Run keyrack end to end against the bundled sandbox on 127.0.0.1, in a "
                                   "temporary folder: your ~/.aws is never read or written.")
    p.add_argument("--shell", action="store_true", help="afterwards, open your shell inside the demo")
    return parser


def _split_exec(argv: list[str]) -> list[str] | None:
    """The CMD of `keyrack exec [OPTIONS] [PROFILE] -- CMD...`, or None to leave it to argparse.

    argparse alone would take `env` in `keyrack exec -- env` as the profile.
    Only a `--` after at most one word (the profile) splits: a later one
    belongs to the command (`keyrack exec p sh -c 'x -- y'`).
    """
    if argv[:1] != ["exec"] or "--" not in argv:
        return None
    at = argv.index("--")
    words = [a for a in argv[1:at] if not a.startswith("-")]
    return argv[at + 1:] if len(words) <= 1 else None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["credential-process"] and len(argv) == 2 and not argv[1].startswith("-"):
        # The hot path: no argparse, no keyrack imports beyond fast.py.
        from keyrack_sh import fast

        return fast.main(argv[1:])
    parser = build_parser()
    if not argv:
        # `keyrack` alone: the short help, as a request for it (git, gh, docker do the same).
        parser.print_help()
        return 0
    exec_cmd = _split_exec(argv)
    args = parser.parse_args(argv if exec_cmd is None else argv[:len(argv) - len(exec_cmd) - 1])
    if exec_cmd is not None:
        # What argparse's REMAINDER took before the `--` (an option after PROFILE: `p --static`) stays in front.
        args.cmd = [*getattr(args, "cmd", []), *exec_cmd]
    try:
        module = importlib.import_module(f"keyrack_sh.commands.{args.command.replace('-', '_')}")
        return int(module.run(args))
    except KeyrackError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("keyrack: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_SERVICE
    except Exception as exc:  # the one place an unexpected error is caught
        from keyrack_sh import crashlog

        log = crashlog.write()
        where = f"; details in {log}" if log else ""
        print(f"keyrack: unexpected error ({type(exc).__name__}){where}", file=sys.stderr)
        return EXIT_SERVICE


def main_entry() -> None:
    raise SystemExit(main())

"""The profile model: what a keyrack profile and its sso-session say.

Read with the standard library's RawConfigParser, as botocore reads the same
file, so keyrack and the SDKs can never disagree about what the config says.
Writing is config_writer's job (configupdater keeps every other byte).

A keyrack profile carries no sso_* key (SSO keys beat credential_process in
botocore and the Go SDK); its SSO settings live in keyrack_* keys:

    [profile acme.prod]
    credential_process = /venv/bin/python3 -I -S /venv/.../keyrack_sh/fast.py acme.prod
    keyrack_sso_session = acme
    keyrack_account_id = 111122223333
    keyrack_role_name = AdminRole
    region = eu-west-1
    # optional: keyrack_auto_unlock = tty|always|never, keyrack_login = pkce|device (default: pkce,
    # or device over SSH/WSL with no browser configured; KEYRACK_LOGIN beats it),
    # keyrack_browser = <command with {url}> (also in [sso-session]; the profile's wins)

    [sso-session acme]
    sso_start_url = https://acme.awsapps.com/start
    sso_region = us-east-1
    sso_registration_scopes = sso:account:access
"""
from __future__ import annotations

import configparser
import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from keyrack_sh import paths, safe_io, validate
from keyrack_sh.errors import UserError

KEY_SESSION = "keyrack_sso_session"
KEY_ACCOUNT = "keyrack_account_id"
KEY_ROLE = "keyrack_role_name"
KEY_AUTO_UNLOCK = "keyrack_auto_unlock"
KEY_LOGIN = "keyrack_login"
KEY_BROWSER = "keyrack_browser"  # a browser command template with {url} (flows/browser.py)

AUTO_UNLOCK_POLICIES = ("tty", "always", "never")
LOGIN_FLOWS = ("pkce", "device")
DEFAULT_SCOPES = "sso:account:access"


@dataclass(frozen=True)
class SsoSession:
    name: str
    start_url: str
    region: str
    scopes: tuple[str, ...] = (DEFAULT_SCOPES,)
    browser: str | None = None


@dataclass(frozen=True)
class Profile:
    name: str
    session: str
    account_id: str
    role_name: str
    region: str | None = None
    auto_unlock: str | None = None
    login: str | None = None
    browser: str | None = None


def section_key(section: str) -> tuple[str, str] | None:
    """What botocore reads the header `[section]` as: ("profile", name), ("sso-session", name) or None.

    Exactly botocore's configloader.build_profile_map: `default` is a profile; a header that
    starts with "profile" (or "sso-session") names what shlex.split makes its second word, so
    `[profile "x"]`, `[profile   x]` and `[profile x]` are all profile x. Every keyrack reader
    and writer names sections through this, so none of them mistakes a hand-written section.
    """
    if section == "default":
        return "profile", "default"
    for kind in ("profile", "sso-session"):
        if section.startswith(kind):
            parts = _words(section)
            return (kind, parts[1]) if parts is not None and len(parts) == 2 else None
    return None


_PLAIN = re.compile(r"[^'\"\\\x0b\x0c\x1c-\x1f]*")


def _words(section: str) -> list[str] | None:
    # shlex.split costs ~90 µs a header (2,000 profiles: 0.2 s of every status); on ASCII without a
    # quote, a backslash or whitespace shlex does not split at, str.split is exactly it.
    if section.isascii() and _PLAIN.fullmatch(section):
        return section.split()
    try:
        return shlex.split(section)
    except ValueError:
        return None


def profile_of_section(section: str) -> str | None:
    """The profile botocore reads `[section]` as, or None."""
    key = section_key(section)
    return key[1] if key is not None and key[0] == "profile" else None


class AwsConfig:
    """A parsed config file: keyrack's profiles and every sso-session."""

    def __init__(self, parser: configparser.RawConfigParser, path: Path) -> None:
        self._parser = parser
        self.path = path
        self._loose: dict[str, str] | None = None

    # -- sections -----------------------------------------------------------
    def section_names(self) -> list[str]:
        return self._parser.sections()

    def has_profile(self, name: str) -> bool:
        return self._section_of_profile(name) is not None

    def _section_of_profile(self, name: str) -> str | None:
        return self._section_of(("profile", name))

    def _section_of(self, key: tuple[str, str]) -> str | None:
        # botocore's reading of the headers ([profile "x"] is profile x); the later of two wins, as there.
        if self._loose is None:
            self._loose = {}
            for section in self._parser.sections():
                read_as = section_key(section)
                if read_as is not None:
                    self._loose[read_as] = section
        return self._loose.get(key)

    def raw_profile(self, name: str) -> dict[str, str]:
        section = self._section_of_profile(name)
        return dict(self._parser.items(section)) if section else {}

    # -- keyrack's view ------------------------------------------------------
    def is_managed(self, name: str) -> bool:
        return KEY_SESSION in self.raw_profile(name)

    def profile_names(self) -> list[str]:
        """Names of the profiles keyrack manages, in file order (`[default]` included)."""
        names = []
        seen: set[str] = set()
        for section in self._parser.sections():
            name = profile_of_section(section)
            if name is not None and name not in seen and self._parser.has_option(section, KEY_SESSION):
                names.append(name)
                seen.add(name)
        return names

    def profiles(self) -> list[Profile]:
        return [self.profile(n) for n in self.profile_names()]

    def profile(self, name: str) -> Profile:
        raw = self.raw_profile(name)
        if not raw:
            raise UserError(f"profile {name!r} is not in {self.path}",
                            hint=f"keyrack set {name} --start-url ... (or keyrack list)")
        if KEY_SESSION not in raw:
            raise UserError(f"profile {name!r} is not managed by keyrack",
                            hint=f"keyrack set {name} --yes ... to take it over")
        missing = [k for k in (KEY_ACCOUNT, KEY_ROLE) if not raw.get(k)]
        if missing:
            raise UserError(f"profile {name!r} lacks {', '.join(missing)} in {self.path}",
                            hint=f"keyrack set {name} ...")
        auto = raw.get(KEY_AUTO_UNLOCK)
        if auto is not None and auto not in AUTO_UNLOCK_POLICIES:
            raise UserError(f"profile {name!r}: {KEY_AUTO_UNLOCK} must be one of {', '.join(AUTO_UNLOCK_POLICIES)}")
        login = raw.get(KEY_LOGIN)
        if login is not None and login not in LOGIN_FLOWS:
            raise UserError(f"profile {name!r}: {KEY_LOGIN} must be one of {', '.join(LOGIN_FLOWS)}")
        # Every name read from the file is checked before it can reach a file
        # path (locks, caches, prompt state): a hand edit must not escape them.
        with _in(f"profile {name!r} of {self.path}"):
            validate.session_name(raw[KEY_SESSION])
            validate.account_id(raw[KEY_ACCOUNT])
            validate.role_name(raw[KEY_ROLE])
            if raw.get("region"):
                validate.region(raw["region"])
        return Profile(
            name=name,
            session=raw[KEY_SESSION],
            account_id=raw[KEY_ACCOUNT],
            role_name=raw[KEY_ROLE],
            region=raw.get("region"),
            auto_unlock=auto,
            login=login,
            browser=raw.get(KEY_BROWSER) or None,
        )

    def session_names(self) -> list[str]:
        """The sso-sessions keyrack could use: a name that is not a safe file name is never keyrack's."""
        names = []
        for section in self._parser.sections():
            key = section_key(section)
            if key is not None and key[0] == "sso-session" and validate.is_name(key[1]) and key[1] not in names:
                names.append(key[1])
        return names

    def session(self, name: str) -> SsoSession:
        validate.session_name(name)
        section = self._section_of(("sso-session", name))
        if section is None:
            raise UserError(f"sso-session {name!r} is not in {self.path}",
                            hint="keyrack set PROFILE --start-url URL --sso-region REGION ...")
        raw = dict(self._parser.items(section))
        missing = [k for k in ("sso_start_url", "sso_region") if not raw.get(k)]
        if missing:
            raise UserError(f"sso-session {name!r} lacks {', '.join(missing)} in {self.path}")
        with _in(f"sso-session {name!r} of {self.path}"):
            validate.region(raw["sso_region"], "sso_region")
            _region_agrees(raw["sso_start_url"], raw["sso_region"])
        scopes = tuple(s.strip() for s in raw.get("sso_registration_scopes", DEFAULT_SCOPES).split(",") if s.strip())
        return SsoSession(name=name, start_url=raw["sso_start_url"], region=raw["sso_region"],
                          scopes=scopes or (DEFAULT_SCOPES,), browser=raw.get(KEY_BROWSER) or None)

    def session_of(self, profile: Profile) -> SsoSession:
        """The profile's sso-session, with the profile's keyrack_browser (if any) in place of the session's."""
        session = self.session(profile.session)
        return replace(session, browser=profile.browser) if profile.browser else session

    def profiles_of_session(self, session: str) -> list[str]:
        return [n for n in self.profile_names() if self.raw_profile(n).get(KEY_SESSION) == session]


def _region_agrees(start_url: str, sso_region: str) -> None:
    """A portal host that names its region (or partition) must agree with sso_region, or every
    sign-in fails at AWS with "Couldn't find Identity Center Instance"; say so here instead."""
    from keyrack_sh import portal_url

    try:
        portal = portal_url.parse(start_url)
    except UserError:
        return  # a start URL of the user's own making: IAM Identity Center judges it
    try:
        portal_url.sso_region(portal, sso_region)
    except UserError:
        where = portal.region or portal.partition
        raise UserError(f"sso_region = {sso_region} contradicts sso_start_url {start_url} (its portal is in {where})",
                        hint=f"set sso_region = {portal.region}" if portal.region else
                        f"set sso_region to a region of {portal.partition}") from None


@contextmanager
def _in(where: str) -> Iterator[None]:
    """Say where a value that fails validation came from."""
    try:
        yield
    except UserError as exc:
        raise UserError(f"{where}: {exc.message}", hint=exc.hint or "fix it with keyrack set, or by hand") from None


def load(path: Path | None = None) -> AwsConfig:
    """Parse the config (missing file = empty config). A broken file is a UserError naming the line."""
    path = path or paths.config_file()
    parser = configparser.RawConfigParser(interpolation=None)
    data = read_config_bytes(path)
    try:
        if data is not None:
            parser.read_string(data.decode("utf-8"), source=str(path))
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None
    except configparser.Error as exc:
        raise UserError(_parse_error_line(exc, path), hint=f"fix {path} by hand, then try again") from None
    return AwsConfig(parser, path)


def read_config_bytes(path: Path) -> bytes | None:
    """The config's bytes, None when there is none; a FIFO, device, folder or huge file is one
    UserError naming it (never a hang or a MemoryError). The user's file: links are followed."""
    data = safe_io.read(path, safe_io.CONFIG_LIMIT, follow=True, mine=False)
    if data is None:
        why = safe_io.problem(path, safe_io.CONFIG_LIMIT, follow=True, mine=False)
        if why is not None:
            raise UserError(f"config file {path} {why}",
                            hint="point AWS_CONFIG_FILE at your config file, or move this one away")
    return data


def _parse_error_line(exc: configparser.Error, path: Path) -> str:
    lineno = getattr(exc, "lineno", None)
    if lineno is None and getattr(exc, "errors", None):
        lineno = exc.errors[0][0]  # ParsingError
    what = type(exc).__name__.replace("Error", " error").replace("Section", "section").lower()
    where = f"{path}, line {lineno}" if lineno else str(path)
    return f"cannot parse {where}: {what}"

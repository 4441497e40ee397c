"""Adoption: profiles `aws configure sso` made become keyrack profiles in place.

An SSO profile (botocore's rule: it has sso_account_id or sso_role_name) in
either form, legacy (sso_start_url + sso_region in the profile) or
sso_session (the two in an [sso-session NAME] section), is planned through
config_writer.plan_set as a take-over: the name stays, every other key and
comment of the section stays, its sso_* lines are kept in the section as
`#keyrack kept:` lines, so `keyrack remove` gives them back byte for byte.
An sso_session profile keeps its own session (the AWS CLI's token cache is
then keyrack's too); a legacy one gets the session `set` would choose for its
start URL and region. Profiles that are not SSO profiles are never touched.

Pure: text in, plan out. commands/adopt.py asks, writes and proves.
"""
from __future__ import annotations

import configparser
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from keyrack_sh import config_writer, paths, profiles, validate
from keyrack_sh.config_writer import Plan, SetRequest
from keyrack_sh.errors import KeyrackError, UserError

LEGACY = "legacy"
SSO_SESSION = "sso_session"


@dataclass(frozen=True)
class Candidate:
    """One SSO profile of the config and what adopting it asks `set` for."""

    profile: str
    form: str  # LEGACY | SSO_SESSION
    request: SetRequest
    region: str | None = None  # the profile's own


@dataclass(frozen=True)
class Skipped:
    profile: str
    reason: str


@dataclass(frozen=True)
class AdoptPlan:
    path: Path
    before: str | None
    after: str
    adopted: tuple[tuple[Candidate, Plan], ...]  # in file order, each planned on the one before
    skipped: tuple[Skipped, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return (self.before or "") != self.after

    def sessions(self) -> dict[str, list[tuple[Candidate, Plan]]]:
        """sso-session name -> the profiles adopted onto it (the roundtrip runs once per session)."""
        out: dict[str, list[tuple[Candidate, Plan]]] = {}
        for candidate, plan in self.adopted:
            out.setdefault(plan.session.name, []).append((candidate, plan))
        return out

    def as_one(self) -> Plan:
        """One config_writer.Plan for the whole file (config_writer.restore puts it back)."""
        last = self.adopted[-1][1]
        names = tuple(dict.fromkeys(n for _, p in self.adopted for n in p.sections))
        return replace(last, before=self.before, after=self.after, sections=names)

    def diff(self) -> str:
        import difflib

        lines = difflib.unified_diff((self.before or "").splitlines(keepends=True), self.after.splitlines(keepends=True),
                                     f"{self.path} (now)", f"{self.path} (after adopt)", n=1)
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def fix_hint(err: KeyrackError, profile: str, path: Path) -> str | None:
    """A wrong account or role is fixed in the user's own profile, not with set's flags (adopt takes none)."""
    if err.hint and ("--account-id" in err.hint or "--role-name" in err.hint):
        return f"fix sso_account_id / sso_role_name of [profile {profile}] in {path}, then adopt it again"
    return err.hint


def _parser(text: str, path: Path) -> configparser.RawConfigParser:
    return config_writer._check_parses(text, path)




def is_sso_profile(raw: dict[str, str]) -> bool:
    """botocore's test: such a profile gets SSO credentials, whatever else it says."""
    return "sso_account_id" in raw or "sso_role_name" in raw


def candidate(parser: configparser.RawConfigParser, name: str, path: Path) -> Candidate:
    """What adopting profile `name` asks `set` for; UserError saying why it cannot be adopted."""
    config = profiles.AwsConfig(parser, path)
    raw = config.raw_profile(name)
    if not config.has_profile(name):
        raise UserError(f"profile {name!r} is not in {path}; nothing written", hint="aws configure list-profiles")
    if config.is_managed(name):
        raise UserError(f"profile {name!r} in {path} is keyrack's already; nothing to adopt",
                        hint=f"keyrack set {name} ... changes it")
    if not is_sso_profile(raw):
        raise UserError(f"profile {name!r} in {path} is not an SSO profile (no sso_account_id or sso_role_name); "
                        f"keyrack adopts only profiles 'aws configure sso' made; nothing written",
                        hint=f"keyrack set {name} --start-url URL --sso-region REGION --account-id ID --role-name ROLE")
    missing = [k for k in ("sso_account_id", "sso_role_name") if not raw.get(k)]
    session_name = raw.get("sso_session")
    if session_name:
        form = SSO_SESSION
        section = f"sso-session {session_name}"
        if not parser.has_section(section):
            raise UserError(f"profile {name!r} names sso-session {session_name!r}, which is not in {path}; "
                            f"nothing written", hint=f"add [sso-session {session_name}] (aws configure sso-session)")
        session = dict(parser.items(section))
        start_url, sso_region = session.get("sso_start_url"), session.get("sso_region")
        missing += [f"sso_start_url (in [sso-session {session_name}])"] * (not start_url)
        missing += [f"sso_region (in [sso-session {session_name}])"] * (not sso_region)
    else:
        form = LEGACY
        start_url, sso_region = raw.get("sso_start_url"), raw.get("sso_region")
        missing += [k for k in ("sso_start_url", "sso_region") if not raw.get(k)]
    if missing:
        raise UserError(f"profile {name!r} in {path} lacks {', '.join(missing)}; nothing written",
                        hint=f"aws configure sso --profile {name}, then try again")
    where = f"profile {name!r} of {path}"
    try:
        validate.start_url(start_url or "")
        validate.region(sso_region or "", "SSO region")
        validate.account_id(raw["sso_account_id"])
        validate.role_name(raw["sso_role_name"])
    except UserError as exc:
        raise UserError(f"{where}: {exc.message}; nothing written", hint=f"fix {path} by hand, then try again") \
            from None
    # The user's own session, when keyrack can use its name in file names; else the one set would choose.
    keep = session_name if session_name and validate.is_name(session_name) else None
    return Candidate(profile=name, form=form, request=SetRequest(
        profile=name, start_url=start_url or "", sso_region=sso_region or "", account_id=raw["sso_account_id"],
        role_name=raw["sso_role_name"], session=keep), region=raw.get("region") or None)


def _uses_session(text: str, c: Candidate, session: str, path: Path) -> bool:
    """Does the profile go onto sso-session `session` (its own, or for a legacy one the one set would choose)?"""
    if c.request.session is not None:
        return c.request.session == session
    return config_writer.session_name_for(text, c.request, path) == session


def plan(text: str | None, names: list[str] | None = None, *, session: str | None = None,
         region: str | None = None, auto_unlock: str | None = None, login: str | None = None,
         path: Path | None = None) -> AdoptPlan:
    """The config after adopting `names` (None: every SSO profile, of `session` if given).

    `region` is for the profiles that have none; a profile's own region stays.
    """
    path = path or paths.config_file()
    text_now = text or ""
    parser = _parser(text_now, path)
    config_writer._updater(text_now, path)  # what configupdater cannot parse is refused before anything
    skipped: list[Skipped] = []
    chosen: list[Candidate] = []
    if names is not None:
        chosen = [candidate(parser, n, path) for n in names]
    else:
        if session is not None:
            validate.session_name(session)
        for section in parser.sections():
            name = profiles.profile_of_section(section)
            if name is None or not validate.is_name(name):
                continue
            raw = dict(parser.items(section))
            if profiles.KEY_SESSION in raw or not is_sso_profile(raw):
                continue  # keyrack's, or not an SSO profile: never touched
            try:
                c = candidate(parser, name, path)
            except UserError as exc:
                skipped.append(Skipped(name, exc.message))
                continue
            if session is None or _uses_session(text_now, c, session, path):
                chosen.append(c)
        if session is not None and not chosen:
            raise UserError(f"no SSO profile in {path} uses sso-session {session!r}; nothing written",
                            hint="keyrack sync --adopt --dry-run lists what can be adopted")
    adopted: list[tuple[Candidate, Plan]] = []
    current = text
    for c in chosen:
        request = replace(c.request, region=None if c.region else region, auto_unlock=auto_unlock, login=login)
        step = config_writer.plan_set(current, request, path)
        adopted.append((c, step))
        current = step.after
    return AdoptPlan(path=path, before=text, after=current if adopted else text_now,
                     adopted=tuple(adopted), skipped=tuple(skipped))


def apply(make: Callable[[str | None], AdoptPlan], approve: Callable[[AdoptPlan], None] | None = None) -> AdoptPlan:
    """Plan, let `approve` see it (it raises to refuse), then write once under the config lock.

    The pre-adoption original is also kept as `<config>.keyrack.bak.<UTC time>` (as a take-over by set).
    """
    path = paths.config_file()
    first = make(config_writer.read_config(path))
    if approve is not None:
        approve(first)  # outside the lock: a person may take a while to answer
    with config_writer.config_lock():
        text = config_writer.read_config(path)
        result = first if text == first.before else make(text)
        if [c.profile for c, _ in result.adopted] != [c.profile for c, _ in first.adopted]:
            raise UserError(f"another writer changed {path} while keyrack was asking, and the profiles to adopt "
                            f"are not the ones shown now; nothing written", hint="run the command again")
        if result.changed:
            if result.before is not None:
                config_writer.keep_original(path, result.before)
            config_writer.write(path, result.before, result.after)
    return result

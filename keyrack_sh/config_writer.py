"""Write keyrack's sections into the AWS config, keeping every other byte.

Sections come from the jinja2 templates in keyrack_sh/templates/; edits to
existing sections go through configupdater, which round-trips comments,
blank lines and nested blocks. Planning is a pure function of the file's
text (plan_set / plan_remove); writing (apply) happens under the config lock,
atomically, with the previous version kept as `<config>.keyrack.bak` (and,
for a take-over of a profile the user wrote, the original also kept as
`<config>.keyrack.bak.<UTC time>`, which no later write replaces).

A profile keyrack took over carries TAKEN_OVER in its marker line. Every line
of the user's that the take-over had to take out of the way (the sso_* keys an
SDK would prefer to credential_process, assume-role keys, their own
credential_process, a region `set --region` replaced) stays in the section as
a KEPT comment line at its own place, byte for byte; a key keyrack added that
`remove` would otherwise leave (region) is noted as ADDED. `remove` takes out
keyrack's keys and gives those lines back, so the section is again exactly
what the user had. A comment of the user's that reads like a record or a marker is put aside
as KEPT + itself at the take-over, so it comes back as the same comment and nobody reads it as
keyrack's meanwhile; records are given back only in a taken-over section. In the file rather than in keyrack's home so the give-back
travels with the config (dotfile repositories, a wiped KEYRACK_HOME).
"""
from __future__ import annotations

import configparser
import contextlib
import dataclasses
import functools
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from keyrack_sh import atomic, paths, portal_url, profiles, resources, safe_io
from keyrack_sh.errors import ServiceError, UserError
from keyrack_sh.profiles import KEY_AUTO_UNLOCK, KEY_LOGIN, KEY_SESSION, Profile, SsoSession

if TYPE_CHECKING:
    from configupdater import ConfigUpdater
    from configupdater.section import Section

MARKER = "managed by keyrack"
TAKEN_OVER = "taken over"  # in the marker line of a profile the user wrote first
KEPT = "#keyrack kept: "  # + one of the user's lines, exactly as it was (a take-over put it aside)
ADDED = "#keyrack added: "  # + a key the take-over added to the user's section (remove takes it out)
BACKUP_SUFFIX = ".keyrack.bak"
LOCK_TIMEOUT = 10.0

# Keys that make an SDK pick another provider before credential_process
# (sso_* for botocore and the Go SDK; assume-role and web identity come first
# in botocore's chain). Taking over a profile drops them.
# What `_append` put before a section it appended, noted at the end of that section's marker line, so
# taking the section out again strips exactly those bytes and no blank line of the user's.
ADDED_BREAKS = {1: " (keyrack added the blank line above)",
                2: " (keyrack added the blank line above and the line end before it)"}
NO_FINAL_NEWLINE = " (the file ended here without a line end)"  # a take-over of the file's last line

_SHADOWING = ("role_arn", "source_profile", "credential_source", "web_identity_token_file")


@dataclass(frozen=True)
class SetRequest:
    """What `keyrack set` was asked to write (already validated)."""

    profile: str
    start_url: str
    sso_region: str
    account_id: str
    role_name: str
    region: str | None = None
    session: str | None = None  # None: shared by start URL + SSO region
    auto_unlock: str | None = None
    login: str | None = None


@dataclass(frozen=True)
class Plan:
    """The config before and after a change, and what the change means."""

    path: Path
    before: str | None  # None: the file does not exist yet
    after: str
    profile: Profile
    session: SsoSession
    profile_action: str  # add | update | take over | unchanged
    session_action: str  # add | update | reuse
    sections: tuple[str, ...] = field(default=())  # section names this plan touches
    backup: Path | None = None  # the pre-take-over original, kept under its own name

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def needs_confirmation(self) -> bool:
        """Changing what the user (or an earlier `set`) wrote needs a yes."""
        return self.profile_action in ("update", "take over") or self.session_action == "update"

    def diff(self) -> str:
        import difflib

        before = (self.before or "").splitlines(keepends=True)
        after = self.after.splitlines(keepends=True)
        lines = difflib.unified_diff(before, after, f"{self.path} (now)", f"{self.path} (after set)", n=1)
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass(frozen=True)
class RemovePlan:
    path: Path
    before: str
    after: str
    profile: str
    session: str
    session_removed: bool
    last_of_session: bool  # no other profile (keyrack's or the AWS CLI's sso_session) uses the session
    profile_removed: bool = True  # False: a taken-over section kept with the user's own keys
    given_back: bool = False  # the take-over's KEPT lines are the user's lines again


# -- reading ------------------------------------------------------------------
def read_config(path: Path | None = None) -> str | None:
    """The config's text, or None when there is no file yet."""
    path = path or paths.config_file()
    data = profiles.read_config_bytes(path)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text", hint=f"fix {path} by hand, then try again") from None


def _check_parses(text: str, path: Path) -> configparser.RawConfigParser:
    """Parse as botocore does; a broken file is a UserError naming the line."""
    parser = configparser.RawConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise UserError(profiles._parse_error_line(exc, path), hint=f"fix {path} by hand, then try again") from None
    return parser


def load_text(text: str, path: Path | None = None) -> profiles.AwsConfig:
    """The profile model of `text` (as profiles.load reads a file)."""
    path = path or paths.config_file()
    return profiles.AwsConfig(_check_parses(text, path), path)


def _updater(text: str, path: Path) -> ConfigUpdater:
    from configupdater import ConfigUpdater

    updater = ConfigUpdater()
    try:
        updater.read_string(text, source=str(path))
    except (configparser.Error, ValueError) as exc:
        _check_parses(text, path)  # botocore's own words for it, when it fails too
        lineno = getattr(exc, "lineno", None)
        where = f"{path}, line {lineno}" if lineno else str(path)
        raise UserError(f"cannot parse {where}: {type(exc).__name__}",
                        hint=f"fix {path} by hand, then try again") from None
    return updater


def _line_numbers(updater: ConfigUpdater) -> dict[int, int]:
    """id(section) -> the line number of its header."""
    numbers, line = {}, 1
    for block in updater.iter_blocks():
        numbers[id(block)] = line
        line += str(block).count("\n")
    return numbers


def _find(updater: ConfigUpdater, kind: str, name: str) -> Section | None:
    """The section botocore would read as `[kind name]` (profiles.section_key: `[profile "x"]` too).

    Two sections that both read as it (`[profile x]` and `[profile  x]`):
    botocore takes the later one silently, so keyrack refuses to guess.
    """
    found = [section for section in updater.iter_sections() if profiles.section_key(section.name) == (kind, name)]
    if len(found) > 1:
        numbers = _line_numbers(updater)
        lines = " and ".join(str(numbers[id(s)]) for s in found)
        raise UserError(f"{len(found)} sections read as [{kind} {name}] (lines {lines}); "
                        f"botocore uses only the last; nothing written",
                        hint="merge them into one section by hand, then try again")
    return found[0] if found else None


def _value(section: Section, key: str) -> str | None:
    option = section.get(key)
    return None if option is None else (option.value or "").strip()


def _is_record(line: str) -> bool:
    """A KEPT/ADDED line (a take-over's record; one of the user's own is put aside as KEPT + it)."""
    return line.startswith((KEPT, ADDED))


def _is_marker(line: str) -> bool:
    return line.lstrip().startswith(("#", ";")) and MARKER in line and not _is_record(line)


def _marker_lines(section: Section) -> list[str]:
    return [line for line in str(section).splitlines() if _is_marker(line)]


def _is_keyrack_section(section: Section) -> bool:
    return bool(_marker_lines(section))


def _is_taken_over(section: Section) -> bool:
    return any(TAKEN_OVER in line for line in _marker_lines(section))


# -- rendering ----------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _templates() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.templates_dir())),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_profile(profile: Profile, generated: str | None = None) -> str:
    """The profile's section; `generated` is sync's mark (keyrack_generated) for a profile it wrote."""
    return _templates().get_template("profile.ini.j2").render(
        profile=profile, marker=MARKER, generated=generated,
        credential_process=resources.credential_process_command(profile.name))


def render_session(session: SsoSession) -> str:
    return _templates().get_template("sso-session.ini.j2").render(session=session, marker=MARKER)


def _profile_values(profile: Profile) -> dict[str, str]:
    """The key = value lines of the profile template, in template order."""
    values: dict[str, str] = {}
    for line in render_profile(profile).splitlines()[1:]:
        if line and not line.startswith("#"):
            key, _, value = line.partition(" = ")
            values[key] = value
    return values


# -- sessions -----------------------------------------------------------------
def derive_session_name(start_url: str) -> str:
    """`acme` from https://acme.awsapps.com/start (a name valid for validate.session_name)."""
    host = re.sub(r"^https://", "", start_url).split("/")[0].split(":")[0]
    word = host.split(".")[0] if host.endswith((".awsapps.com", ".awsapps.cn")) else host
    word = re.sub(r"[^A-Za-z0-9._-]", "-", word).strip("-._")[:48]
    return word or "sso"


def _safe_name(name: str) -> bool:
    from keyrack_sh import validate

    try:
        validate.session_name(name)
    except UserError:
        return False
    return True


def _choose_session(updater: ConfigUpdater, request: SetRequest, current: str | None,
                    path: Path | None = None) -> tuple[str, str]:
    """(name, action): an explicit name, else one already pointing at this URL + region."""
    def matches(name: str) -> bool:
        section = _find(updater, "sso-session", name)
        return section is not None and portal_url.same(_value(section, "sso_start_url"), request.start_url) \
            and _value(section, "sso_region") == request.sso_region

    if request.session:
        section = _find(updater, "sso-session", request.session)
        if section is None:
            return request.session, "add"
        if matches(request.session):
            return request.session, "reuse"
        if not _is_keyrack_section(section):
            # The user's own session: AWS CLI profiles with `sso_session = NAME` rely on what it says.
            raise UserError(
                f"sso-session {request.session!r} in {path or paths.config_file()} was not written by keyrack "
                f"and names {_value(section, 'sso_start_url')} ({_value(section, 'sso_region')}), not "
                f"{request.start_url} ({request.sso_region}); not changing it",
                hint="choose another --sso-session name (or leave it out and keyrack picks one)")
        return request.session, "update"
    if current and _safe_name(current) and matches(current):
        return current, "reuse"
    for section in updater.iter_sections():
        key = profiles.section_key(section.name)
        # A name keyrack could not use in its file names is left to the AWS CLI.
        if key is not None and key[0] == "sso-session" and _safe_name(key[1]) and matches(key[1]):
            return key[1], "reuse"
    base = derive_session_name(request.start_url)
    name, n = base, 1
    while _find(updater, "sso-session", name) is not None:
        n += 1
        name = f"{base}-{n}"
    return name, "add"


def session_name_for(text: str | None, request: SetRequest, path: Path | None = None) -> str:
    """The sso-session `set` would use for the request (to sign in before the profile exists)."""
    updater = _updater(text or "", path or paths.config_file())
    section = _find(updater, "profile", request.profile)
    current = _value(section, KEY_SESSION) if section is not None else None
    return _choose_session(updater, request, current, path)[0]


# -- planning -----------------------------------------------------------------
def _append(text: str, block: str) -> str:
    """Add a rendered section at the end, one blank line after what was there (noted in its marker)."""
    added = 0
    if text and not text.endswith("\n"):
        text, added = text + "\n", added + 1
    if text.strip() and not text.endswith(("\n\n", "\r\n\r\n")):
        text, added = text + "\n", added + 1
    if added:
        lines = block.split("\n")
        at = next((i for i, line in enumerate(lines) if _is_marker(line)), None)
        if at is not None:
            lines[at] += ADDED_BREAKS[added]
            block = "\n".join(lines)
    return text + block


def _added_breaks(section: Section) -> int:
    """How many line ends `_append` put before the section (0: none, or not noted)."""
    for line in _marker_lines(section):
        for count, note in ADDED_BREAKS.items():
            if line.rstrip("\r\n").endswith(note):
                return count
    return 0


def _note_added_breaks(section: Section, count: int) -> None:
    """Move the note of what was added before a section onto the keyrack section that now follows it."""
    from configupdater.block import Comment

    for block in section.iter_blocks():
        if isinstance(block, Comment):
            for i, line in enumerate(block.lines):
                if _is_marker(line):
                    end = line[len(line.rstrip("\r\n")):]
                    body = line.rstrip("\r\n")
                    for note in ADDED_BREAKS.values():
                        body = body.removesuffix(note)
                    block.lines[i] = body + (ADDED_BREAKS[count] if count else "") + end
                    return


def _set_option(section: Section, key: str, value: str) -> None:
    from configupdater.option import Option

    if key in section:
        section[key] = value
        return
    options = [b for b in section.iter_blocks() if isinstance(b, Option) or _kept_lines(b)]
    if options:
        options[-1].add_after.option(key, value)  # before the section's trailing blank lines
    else:
        section.set(key, value)


# -- what a take-over puts aside, and gives back ------------------------------------
def _kept_lines(block: Any) -> list[str]:
    """The KEPT/ADDED lines of a comment block (none for anything else)."""
    from configupdater.block import Comment

    if not isinstance(block, Comment):
        return []
    return [line for line in block.lines if _is_record(line)]


def _put_aside_lookalikes(section: Section) -> None:
    """At a take-over, the user's own comment lines that read as keyrack's (a KEPT/ADDED record, a
    marker line) are put aside as KEPT + the line: remove gives them back as the same comment, and
    neither they nor keyrack read them as a record or a marker meanwhile."""
    from configupdater.block import Comment

    for block in section.iter_blocks():
        if isinstance(block, Comment) and any(_is_record(line) or _is_marker(line) for line in block.lines):
            block.lines[:] = [KEPT + line if _is_record(line) or _is_marker(line) else line for line in block.lines]


def _record_key(line: str) -> str | None:
    """The key a KEPT/ADDED line is about (None: a kept continuation line of a longer value)."""
    rest = line[len(KEPT):] if line.startswith(KEPT) else line[len(ADDED):]
    if line.startswith(KEPT) and rest[:1] in (" ", "\t", "#", ";"):
        return None  # a continuation line, or a comment of the user's that looked like a record
    return re.split(r"[=:]", rest, maxsplit=1)[0].strip().lower() or None


def _recorded_keys(section: Section) -> set[str]:
    return {key for block in section.iter_blocks() for line in _kept_lines(block)
            if (key := _record_key(line)) is not None}


def _put_aside(section: Section, key: str) -> None:
    """Turn the user's option `key` into KEPT lines at its place (its bytes, every line of it)."""
    option = section[key]
    if key not in _recorded_keys(section):
        builder = option.add_before
        for line in str(option).splitlines(keepends=True):
            builder = builder.comment(KEPT + line)
    option.detach()


def _keep_before_change(section: Section, key: str) -> None:
    """Before keyrack changes or adds a key of the user's section, note what it was."""
    if key in _recorded_keys(section):
        return  # the first record is the user's own; a later `set` must not replace it
    if key in section:
        builder = section[key].add_before
        for line in str(section[key]).splitlines(keepends=True):
            builder = builder.comment(KEPT + line)
    elif section.first_block is not None:
        from configupdater.option import Option

        anchor = [b for b in section.iter_blocks() if _kept_lines(b) or isinstance(b, Option)]
        (anchor[-1].add_after if anchor else section.first_block.add_before).comment(ADDED + key)


def _give_back(section: Section) -> bool:
    """Undo a take-over in `section`: its KEPT lines become the user's lines again. True if any."""
    records = [(block, line) for block in section.iter_blocks() for line in _kept_lines(block)]
    if not records:
        return False
    for key in {k for _, line in records if (k := _record_key(line)) is not None}:
        if key in section:
            del section[key]  # keyrack's value goes; the user's comes back from its KEPT line(s)
    for block in {id(b): b for b, _ in records}.values():
        lines = [line[len(KEPT):] if line.startswith(KEPT) else line
                 for line in block.lines if not line.startswith(ADDED)]
        if lines:
            block.lines[:] = lines
        else:
            block.detach()
    return True


def plan_set(text: str | None, request: SetRequest, path: Path | None = None) -> Plan:
    """The config after `set` (pure: text in, text out). Raises UserError on a broken file."""
    path = path or paths.config_file()
    updater = _updater(text or "", path)
    section = _find(updater, "profile", request.profile)
    current_session = _value(section, KEY_SESSION) if section is not None else None
    ends_file = section is not None and current_session is None and bool(text) and not (text or "").endswith("\n") \
        and section.next_block is None
    if ends_file:  # the take-over adds the file's last line end (noted in the marker: remove takes it out)
        updater = _updater((text or "") + "\n", path)
        section = _find(updater, "profile", request.profile)
    session_name, session_action = _choose_session(updater, request, current_session, path)

    old = {k: _value(section, k) for k in (KEY_AUTO_UNLOCK, KEY_LOGIN, "region")} if section is not None else {}
    managed = section is not None and current_session is not None
    profile = Profile(
        name=request.profile, session=session_name, account_id=request.account_id,
        role_name=request.role_name,
        # Flags not given keep what the profile already says.
        region=request.region or old.get("region") or None,
        auto_unlock=request.auto_unlock or old.get(KEY_AUTO_UNLOCK) or None,
        login=request.login or old.get(KEY_LOGIN) or None,
    )
    session = SsoSession(name=session_name, start_url=request.start_url, region=request.sso_region)

    if section is None:
        profile_action = "add"
    else:
        profile_action = "update" if managed else "take over"
        # The user's section (taken over now or before): what keyrack moves out of the way is kept.
        users = not managed or _is_taken_over(section)
        if not managed:
            _put_aside_lookalikes(section)
        for key in list(section.keys()):
            if key.startswith("sso_") or key in _SHADOWING:
                if users:
                    _put_aside(section, key)
                else:
                    del section[key]
        for key, value in _profile_values(profile).items():
            if _value(section, key) != value:
                if users and (key == "region" or (not managed and key in section)):
                    _keep_before_change(section, key)  # region, or the user's own credential_process
                _set_option(section, key, value)
        if not managed and section.first_block is not None:
            section.first_block.add_before.comment(
                f"# {MARKER} ({TAKEN_OVER}): change with 'keyrack set {profile.name}'; "
                f"'keyrack remove {profile.name}' gives back the lines kept below"
                + (NO_FINAL_NEWLINE if ends_file else ""))

    if session_action == "update":
        existing = _find(updater, "sso-session", session_name)
        assert existing is not None
        for key, value in (("sso_start_url", session.start_url), ("sso_region", session.region)):
            if _value(existing, key) != value:
                _set_option(existing, key, value)

    # A session keyrack created that this profile was the last to use goes with the move
    # (the comment lines above the next section stay: they are that section's).
    orphaned = None
    gone: list[Section] = []
    if managed and current_session and current_session != session_name:
        old_section = _find(updater, "sso-session", current_session)
        if (old_section is not None and _is_keyrack_section(old_section)
                and not _session_users(updater, current_session)):
            gone.append(old_section)
            orphaned = f"sso-session {current_session}"

    after = _text_without(updater, gone)
    if section is None:
        after = _append(after, render_profile(profile))
    if session_action == "add":
        after = _append(after, render_session(session))
    if text and "\r\n" in text and "\n" not in text.replace("\r\n", ""):
        after = re.sub(r"(?<!\r)\n", "\r\n", after)  # a CRLF file gets CRLF lines from us too
    if section is not None and after == (text or ""):
        profile_action = "unchanged"

    _check_result(text, after, path, profile, session)
    touched = ((f"profile {profile.name}",) if profile_action != "unchanged" else ()) + \
        ((f"sso-session {session.name}",) if session_action != "reuse" else ()) + ((orphaned,) if orphaned else ())
    return Plan(path=path, before=text, after=after, profile=profile, session=session,
                profile_action=profile_action, session_action=session_action, sections=touched)


def _check_reads(before: str | None, after: str, path: Path) -> configparser.RawConfigParser:
    """botocore must be able to read what keyrack writes; if it could not before either, say where."""
    try:
        return _check_parses(after, path)
    except UserError as exc:
        _check_parses(before or "", path)
        raise ServiceError(f"keyrack would write a config that botocore cannot read ({exc.message}); "
                           f"nothing was written") from None


def _check_result(before: str | None, after: str, path: Path, profile: Profile, session: SsoSession) -> None:
    """Read the result back as botocore would: it must say exactly what was asked."""
    config = profiles.AwsConfig(_check_reads(before, after, path), path)
    got = config.profile(profile.name)
    raw = config.raw_profile(profile.name)
    got_session = config.session(profile.session)
    if (got != profile or not portal_url.same(got_session.start_url, session.start_url) or got_session.region != session.region
            or any(k.startswith("sso_") for k in raw)
            or raw.get("credential_process") != resources.credential_process_command(profile.name)):
        raise ServiceError(f"keyrack would write a config that does not read back as asked ({profile.name})")


def _session_users(updater: ConfigUpdater, session: str) -> list[Section]:
    """Profiles naming the session: keyrack's, or the AWS CLI's (sso_session)."""
    return [s for s in updater.iter_sections() if profiles.profile_of_section(s.name) is not None
            and session in (_value(s, KEY_SESSION), _value(s, "sso_session"))]


def _is_keyrack_key(key: str) -> bool:
    return key == "credential_process" or key.startswith("keyrack_")


def _strip_keyrack(section: Section) -> None:
    """Take keyrack's keys and marker line out of a section, keeping the user's own."""
    from configupdater.block import Comment

    for key in [k for k in section.keys() if _is_keyrack_key(k)]:
        del section[key]
    for block in list(section.iter_blocks()):
        if isinstance(block, Comment):
            keep = [line for line in block.lines if not _is_marker(line)]
            if not keep:
                block.detach()
            elif len(keep) != len(block.lines):
                block.lines[:] = keep


def _kept_tail(section: Section) -> str:
    """The comment lines at a section's end that precede the next header (they belong to the next section)."""
    from configupdater.block import Comment, Space

    blocks = list(section.iter_blocks())
    tail: list[Any] = []
    for block in reversed(blocks):
        if not isinstance(block, (Comment, Space)):
            break
        tail.insert(0, block)
    while tail and not isinstance(tail[0], Comment):
        tail.pop(0)  # the blank lines between the section's keys and the comment go with the section
    return "".join(str(b) for b in tail)


def _text_without(updater: ConfigUpdater, gone: list[Section]) -> str:
    """The updater's text with whole sections taken out, the comment lines after their keys kept.

    Those lines are the user's (keyrack's sections carry their marker under the header): the next
    section's leading comments, or the file's closing ones. The line ends `_append` put before a
    section go with it when nothing of the user's follows; before a keyrack section that follows,
    the note of them moves onto it.
    """
    from configupdater.section import Section as SectionBlock

    blocks = list(updater.iter_blocks())
    removed = [any(b is s for s in gone) for b in blocks]
    parts: list[str] = []
    for i, block in enumerate(blocks):
        if not removed[i]:
            parts.append(str(block))
            continue
        tail = _kept_tail(block)
        if not (i and removed[i - 1]) and _is_keyrack_section(block):
            added = _added_breaks(block)
            rest = next((j for j in range(i, len(blocks)) if not removed[j] or _kept_tail(blocks[j])), None)
            if rest is None:  # only keyrack's appended sections follow: the bytes before them go too
                text = "".join(parts)
                for _ in range(added):
                    text = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
                parts = [text]
            elif not removed[rest] and isinstance(blocks[rest], SectionBlock) and \
                    _is_keyrack_section(blocks[rest]) and not tail:
                _note_added_breaks(blocks[rest], added)
        parts.append(tail)
    return "".join(parts)


def plan_remove(text: str | None, name: str, path: Path | None = None) -> RemovePlan:
    """The config after `remove`: a section keyrack created goes whole; a taken-over one keeps the user's keys."""
    path = path or paths.config_file()
    updater = _updater(text or "", path)
    section = _find(updater, "profile", name)
    if section is None:
        raise UserError(f"profile {name!r} is not in {path}", hint="keyrack list")
    session = _value(section, KEY_SESSION)
    if not session:
        raise UserError(f"profile {name!r} is not managed by keyrack; not removing it",
                        hint=f"edit {path} by hand")
    # Keys keyrack's template writes; anything else in the section is the user's.
    own = {k for k in section.keys() if not (_is_keyrack_key(k) or k == "region")}
    whole = (_is_keyrack_section(section) and not _is_taken_over(section) and not own
             and section.name != "default" and name != "default")
    gone = []
    given_back = no_final_newline = False
    section_name = section.name
    if whole:
        gone.append(section)
    else:
        # Only a take-over has records to give back; elsewhere a KEPT-looking line is the user's comment.
        taken_over = _is_taken_over(section)
        no_final_newline = taken_over and any(NO_FINAL_NEWLINE in line for line in _marker_lines(section))
        _strip_keyrack(section)
        given_back = taken_over and _give_back(section)
    # Read what is left afresh: a profile given back with `sso_session = NAME` uses the session again.
    updater = _updater(_text_without(updater, gone), path)
    gone = []
    users = _session_users(updater, session)
    session_section = _find(updater, "sso-session", session)
    session_removed = not users and session_section is not None and _is_keyrack_section(session_section)
    if session_removed:
        assert session_section is not None
        gone.append(session_section)
    after = _text_without(updater, gone)
    if no_final_newline and after.endswith("\n"):
        last = [s for s in _updater(after, path).iter_sections()][-1:]
        if last and profiles.section_key(last[0].name) == profiles.section_key(section_name):
            after = after[:-2] if after.endswith("\r\n") else after[:-1]  # the take-over's line end
    _check_reads(text, after, path)
    return RemovePlan(path=path, before=text or "", after=after, profile=name, session=session,
                      session_removed=session_removed, last_of_session=not users, profile_removed=whole,
                      given_back=given_back)


# -- writing ------------------------------------------------------------------
def lock_timeout() -> float:
    """Seconds to wait for another config writer: KEYRACK_CONFIG_LOCK_TIMEOUT, else 10."""
    from keyrack_sh import validate

    return validate.seconds_setting("KEYRACK_CONFIG_LOCK_TIMEOUT", LOCK_TIMEOUT)


@contextlib.contextmanager
def config_lock(timeout: float | None = None) -> Iterator[None]:
    """One config writer at a time, waiting at most `timeout` seconds."""
    import filelock

    timeout = lock_timeout() if timeout is None else timeout
    for folder in (_target(paths.config_file()).parent, paths.keyrack_home()):
        if not folder.exists():
            atomic.ensure_private_dir(folder)  # new folders are private; existing ones are the user's
    atomic.ensure_private_dir(paths.locks_dir())
    safe_io.require_own_file(paths.config_lock())
    lock = filelock.FileLock(str(paths.config_lock()), timeout=timeout, mode=0o600)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise ServiceError(f"another keyrack kept {paths.config_file()} locked for {timeout:g} s; nothing changed",
                           hint="try again in a moment") from None
    try:
        yield
    finally:
        lock.release()


def _target(path: Path) -> Path:
    # Write through a symlinked config (dotfile repos) instead of replacing the link.
    return Path(os.path.realpath(path))


def _check_writable(target: Path, mode: int) -> None:
    """A config the user made read-only is not replaced behind their back (os.replace would)."""
    if not os.access(target, os.W_OK) or not mode & 0o222:
        raise UserError(f"{target} is read-only; nothing written",
                        hint=f"chmod u+w {target} if keyrack may change it, then try again")


def keep_original(path: Path, before: str) -> Path:
    """`<config>.keyrack.bak.<UTC time>`: a copy no later write replaces."""
    import time

    target = _target(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    copy, n = target.with_name(f"{target.name}{BACKUP_SUFFIX}.{stamp}"), 1
    while copy.exists():
        n += 1
        copy = target.with_name(f"{target.name}{BACKUP_SUFFIX}.{stamp}-{n}")
    atomic.write_bytes(copy, before.encode("utf-8"), mode=target.stat().st_mode & 0o7777, private_dir=False)
    return copy


def write(path: Path, before: str | None, after: str, backup: bool = True) -> None:
    """Atomically replace the config (keeping its mode), the old version kept as a backup."""
    target = _target(path)
    try:
        if before is None:
            if not target.parent.exists():
                atomic.ensure_private_dir(target.parent)
            mode = 0o600
        else:
            mode = target.stat().st_mode & 0o7777
            _check_writable(target, mode)
            if backup:
                atomic.write_bytes(target.with_name(target.name + BACKUP_SUFFIX), before.encode("utf-8"),
                                   mode=mode, private_dir=False)
        atomic.write_bytes(target, after.encode("utf-8"), mode=mode, private_dir=False)
    except PermissionError:
        # Most often the folder (a read-only ~/.aws, one left by `sudo -E`): name it and the fix.
        what, fix = safe_io.writable_folder_problem(target.parent)
        raise UserError(f"cannot write {target}: {what}", hint=fix) from None


def apply(request: SetRequest, approve: Callable[[Plan], None] | None = None) -> Plan:
    """Plan, let `approve` see it (it raises to refuse), then write under the lock."""
    path = paths.config_file()
    plan = plan_set(read_config(path), request, path)
    if approve is not None:
        approve(plan)  # outside the lock: a person may take a while to answer
    asked = plan
    with config_lock():
        text = read_config(path)
        if text != plan.before:
            plan = plan_set(text, request, path)  # another writer was first: plan again on its result
            if approve is not None and plan.needs_confirmation and not (
                    asked.needs_confirmation and (asked.profile_action, asked.session_action)
                    == (plan.profile_action, plan.session_action)):
                raise UserError(f"another writer changed {path} while keyrack was asking; profile "
                                f"{plan.profile.name!r} would now be {_said(plan.profile_action)} "
                                f"(sso-session {plan.session.name} {_said(plan.session_action)}), which was not "
                                f"approved; nothing written", hint="run keyrack set again to see the new changes")
        if plan.changed:
            if plan.profile_action == "take over" and plan.before is not None:
                plan = dataclasses.replace(plan, backup=keep_original(path, plan.before))
            write(path, plan.before, plan.after)
    return plan


class Planned(Protocol):
    """What any planner hands the writer: the file's text before and after."""

    path: Path
    before: str | None
    after: str


P = TypeVar("P", bound=Planned)


def apply_planned(plan_for: Callable[[str | None], P], approve: Callable[[P], None] | None = None,
                  same: Callable[[P, P], bool] | None = None) -> P:
    """One write for a plan of any size (sync's 2,000 profiles as `set`'s one): plan on the file
    as it is, let `approve` see it (outside the lock: a person may take a while), then under the
    config lock plan again if another writer was first; a plan that is not `same` as the one
    approved is refused. One backup, one atomic replace, nothing when nothing changes."""
    path = paths.config_file()
    plan = plan_for(read_config(path))
    if approve is not None:
        approve(plan)
    asked = plan
    with config_lock():
        text = read_config(path)
        if text != plan.before:
            plan = plan_for(text)
            if approve is not None and same is not None and not same(asked, plan):
                raise UserError(f"another writer changed {path} while keyrack was asking, and the plan is "
                                f"now different; nothing written", hint="run the command again to see the new plan")
        if plan.before != plan.after:
            write(path, plan.before, plan.after)
    return plan


# Editing primitives for planners in other rooms (sync/plan.py): the same rules as set's.
editor = _updater
find_section = _find
value_of = _value
set_option = _set_option
append_block = _append
text_without = _text_without
check_reads = _check_reads
is_keyrack_section = _is_keyrack_section
choose_session = _choose_session


def _said(action: str) -> str:
    return {"add": "added", "update": "updated", "take over": "taken over", "unchanged": "unchanged",
            "reuse": "reused"}.get(action, action)


def apply_remove(name: str) -> RemovePlan:
    path = paths.config_file()
    with config_lock():
        plan = plan_remove(read_config(path), name, path)
        write(path, plan.before, plan.after)
    return plan


def _revert_sections(current: str, before: str | None, names: tuple[str, ...], path: Path) -> str:
    """Put `names` back as they were in `before`, keeping everyone else's later edits."""
    now = _updater(current, path)
    old = _updater(before or "", path)
    for name in names:
        kind, _, word = name.partition(" ")
        cur = _find(now, kind, word)
        was = _find(old, kind, word)
        if cur is None:
            if was is not None:  # a section the plan removed comes back (at the end)
                was.detach()
                now.add_section(was)
            continue
        if was is None:
            if kind == "sso-session" and _session_users(now, word):
                continue  # a profile written since relies on it
            cur.detach()
            continue
        prev, nxt = cur.previous_block, cur.next_block
        cur.detach()
        was.detach()
        if prev is not None:
            prev.add_after.section(was)
        elif nxt is not None:
            nxt.add_before.section(was)
        else:
            now.add_section(was)
    return str(now)


RESTORED = "restored"  # the exact bytes from before
MERGED = "merged"  # someone wrote since: only keyrack's sections were put back
GONE = "gone"  # the file was deleted meanwhile: nothing to put back


def restore(plan: Plan) -> str:
    """Undo a plan: the exact bytes from before, or only our sections if someone wrote since.

    Returns RESTORED, MERGED or GONE, so the caller says what really happened.
    """
    with config_lock():
        current = read_config(plan.path)
        if current == plan.after:
            target, outcome = plan.before, RESTORED
        elif current is None:
            return GONE
        else:
            target, outcome = _revert_sections(current, plan.before, plan.sections, plan.path), MERGED
        if target is None:
            atomic.remove(_target(plan.path))
        elif target != current:
            write(plan.path, current, target, backup=False)
    return outcome

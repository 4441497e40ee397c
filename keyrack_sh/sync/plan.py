"""The sync plan: the config before and after, and what happens to each profile (pure: text in, text out).

A profile sync writes is keyrack's usual profile (credential_process, the
keyrack_* keys, no sso_* key) plus its mark, one key botocore ignores:

    keyrack_generated = sync:<sso-session> <digest>

`<digest>` is a sha256 (16 hex) of the section's keys and values as sync wrote
them (the mark itself aside), so a later hand edit is seen: such a profile is
"edited" and sync neither changes nor prunes it unless told to (`force`).
A profile is sync's only when its mark names this very sso-session: one that
`set` wrote, the user wrote or another session's sync wrote is never touched,
and a name it holds is not used (the new profile gets a suffix).

Where `--adopt` plugs in: `foreign` lists the profiles sync found under the
names it wanted; an adopter turns them into sync's own before naming.
"""
from __future__ import annotations

import configparser
import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keyrack_sh import config_writer, paths, profiles, resources
from keyrack_sh.errors import ServiceError, UserError
from keyrack_sh.profiles import Profile, SsoSession
from keyrack_sh.sync.naming import Named, Template, assign

if TYPE_CHECKING:
    from configupdater.section import Section

GENERATED_KEY = "keyrack_generated"
ACTIONS = ("add", "change", "unchanged", "remove", "edited", "stale")
# add/change/remove: written; unchanged: as it is; edited: a hand edit sync keeps (force: overwrites or
# prunes it); stale: sync's, gone from the server, kept because --prune was not given.
DIFF_LINES = 400  # a terminal shows at most this much of the diff


@dataclass(frozen=True)
class Entry:
    name: str
    action: str
    account_id: str
    role_name: str
    account_name: str = ""
    note: str = ""  # why a name has a suffix, or what the user edited

    def to_json(self) -> dict[str, str]:
        out = {"profile": self.name, "action": self.action, "account_id": self.account_id,
               "account_name": self.account_name, "role_name": self.role_name}
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class SyncPlan:
    path: Path
    before: str | None
    after: str
    session: SsoSession
    session_action: str  # add | reuse
    entries: tuple[Entry, ...] = field(default=())
    foreign: tuple[str, ...] = field(default=())  # names wanted but held by profiles sync does not own

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def sections(self) -> tuple[str, ...]:
        """The sections this plan writes (config_writer.restore puts exactly these back)."""
        names = tuple(f"profile {e.name}" for e in self.entries if e.action in ("add", "change", "remove"))
        return names + ((f"sso-session {self.session.name}",) if self.session_action == "add" else ())

    def of(self, *actions: str) -> list[Entry]:
        return [e for e in self.entries if e.action in actions]

    def counts(self) -> dict[str, int]:
        return {a: sum(1 for e in self.entries if e.action == a) for a in ACTIONS}

    def shape(self) -> tuple[Any, ...]:
        """What a person approved: every entry's name and action, and the session's."""
        return (self.session_action, tuple((e.name, e.action) for e in self.entries))

    def suffixed(self) -> list[Entry]:
        return [e for e in self.entries if e.note.startswith("suffixed")]

    def diff(self, limit: int | None = DIFF_LINES) -> str:
        import difflib

        before = (self.before or "").splitlines(keepends=True)
        after = self.after.splitlines(keepends=True)
        lines = [line if line.endswith("\n") else line + "\n" for line in
                 difflib.unified_diff(before, after, f"{self.path} (now)", f"{self.path} (after sync)", n=1)]
        if limit is not None and len(lines) > limit:
            lines = lines[:limit] + [f"... {len(lines) - limit} more lines of diff (keyrack sync ... --dry-run "
                                     f"--json lists every profile)\n"]
        return "".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"config": str(self.path), "session": self.session.name, "session_action": self.session_action,
                "counts": self.counts(), "changed": self.changed,
                "profiles": [e.to_json() for e in self.entries]}


# -- the mark ------------------------------------------------------------------
def mark_of(session: str, values: Mapping[str, str]) -> str:
    """`sync:<session> <digest>`: who generated the section and a digest of what was written."""
    return f"sync:{session} {digest(values)}"


def digest(values: Mapping[str, str]) -> str:
    """Order-free: reordering keys is no edit; any changed, added or removed key or value is."""
    text = "\n".join(f"{k}={v}" for k, v in sorted(values.items()) if k != GENERATED_KEY)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _parse_mark(value: str | None) -> tuple[str, str] | None:
    """(session, digest) of a keyrack_generated value, None when it is not sync's."""
    words = (value or "").split()
    if len(words) != 2 or not words[0].startswith("sync:"):
        return None
    return words[0][len("sync:"):], words[1]


def _section_values(section: Section) -> dict[str, str]:
    return {key: config_writer.value_of(section, key) or "" for key in section.keys()}


def desired_values(profile: Profile, session: str) -> dict[str, str]:
    """The key = value lines sync writes for `profile` (the mark last)."""
    values = {"credential_process": resources.credential_process_command(profile.name),
              profiles.KEY_SESSION: profile.session, profiles.KEY_ACCOUNT: profile.account_id,
              profiles.KEY_ROLE: profile.role_name}
    if profile.region:
        values["region"] = profile.region
    values[GENERATED_KEY] = mark_of(session, values)
    return values


# -- the file's sections, indexed once -------------------------------------------
@dataclass
class _Index:
    """Section names by the name botocore reads (it splits on whitespace): one pass, not one per profile.

    Read with the standard library's parser, as botocore reads the file; configupdater (which
    keeps every byte, and costs ~5x more to parse) opens the file only when a section must change.
    """

    parser: Any
    profiles: dict[str, list[str]] = field(default_factory=dict)
    sessions: dict[str, list[str]] = field(default_factory=dict)
    own: Any = None  # a parser without a DEFAULT section, when the file has one (see own_values)

    def own_values(self, section: str) -> dict[str, str]:
        """The section's own keys and values: not the [DEFAULT] ones configparser merges into every section.

        Sync's digest is of what sync wrote in the section; a [DEFAULT] key is not that (and
        must never be written into it).
        """
        parser = self.own if self.own is not None else self.parser
        if not parser.has_section(section):
            return {}
        return {k: v.strip() for k, v in parser.items(section)}


@functools.lru_cache(maxsize=4)
def parsed(text: str, path: Path) -> profiles.AwsConfig:
    """The config as botocore reads it; one parse per text for the whole sync (2,000 profiles: ~0.2 s each)."""
    return config_writer.load_text(text, path)


def synced_sessions(config: profiles.AwsConfig) -> set[str]:
    """The sso-sessions named in any profile's sync mark."""
    parser = config._parser
    found = set()
    for section in parser.sections():
        mark = _parse_mark(parser.get(section, GENERATED_KEY, fallback=None))
        if mark is not None:
            found.add(mark[0])
    return found


def _index(text: str, path: Path) -> _Index:
    index = _Index(parsed(text, path)._parser)
    if index.parser.defaults():
        index.own = _without_default(text, path)
    for name in index.parser.sections():
        key = profiles.section_key(name)  # as botocore reads the header: [profile "x"] is x too
        if key is not None:
            (index.profiles if key[0] == "profile" else index.sessions).setdefault(key[1], []).append(name)
    return index


@functools.lru_cache(maxsize=2)
def _without_default(text: str, path: Path) -> configparser.RawConfigParser:
    """`text` parsed with no section merged into the others: [DEFAULT] is one more section, read as none.

    Only for a file that has a [DEFAULT] (a second parse); `parsed` is botocore's reading.
    """
    parser = configparser.RawConfigParser(interpolation=None, default_section="\0 no default section")
    parser.read_string(text, source=str(path))  # it parsed once already as botocore reads it
    return parser


@dataclass(frozen=True)
class Owned:
    """A profile this session's sync generated, as the file has it now."""

    name: str
    values: dict[str, str]
    edited: bool

    @property
    def account_id(self) -> str:
        return self.values.get(profiles.KEY_ACCOUNT, "")

    @property
    def role_name(self) -> str:
        return self.values.get(profiles.KEY_ROLE, "")

    @property
    def region(self) -> str | None:
        return self.values.get("region") or None


def _owned(index: _Index, session: str) -> dict[str, Owned]:
    found = {}
    for name, names in index.profiles.items():
        if len(names) > 1 or not index.parser.has_option(names[0], GENERATED_KEY):
            continue  # two sections botocore reads as one name: never sync's to touch
        values = index.own_values(names[0])
        mark = _parse_mark(values.get(GENERATED_KEY))
        if mark is None or mark[0] != session:
            continue
        found[name] = Owned(name, values, edited=digest(values) != mark[1])
    return found


def _what_changed(have: Mapping[str, str], want: Mapping[str, str]) -> str:
    keys = sorted(k for k in set(have) | set(want) if k != GENERATED_KEY and have.get(k) != want.get(k))
    return "edited after sync: " + ", ".join(keys) if keys else "edited after sync"


# -- planning ----------------------------------------------------------------------
def plan(text: str | None, session: SsoSession, session_action: str, assignments: Iterable[Any],
         template: Template, *, region: str | None = None, prune: bool = False, force: bool = False,
         path: Path | None = None) -> SyncPlan:
    """The config after syncing `assignments` (account_id, account_name, role_name) into `session`.

    `region`: every profile's region (None: an existing profile keeps its own, a new one has none).
    `prune`: remove sync's profiles whose account and role the listing no longer has.
    `force`: also overwrite (or prune) profiles edited since sync wrote them.
    """
    path = path or paths.config_file()
    index = _index(text or "", path)
    if session_action == "add" and session.name in index.sessions:
        raise UserError(f"sso-session {session.name!r} appeared in {path} meanwhile; nothing written",
                        hint="run keyrack sync again")
    owned = _owned(index, session.name)
    held = {(o.account_id, o.role_name): o.name for o in owned.values()}
    taken = [n for n in index.profiles if n not in owned]
    named = assign(template, assignments, session.name, region or session.region, held, taken)

    entries: list[Entry] = []
    blocks: list[str] = []
    rewrite: dict[str, dict[str, str]] = {}  # profile -> the values its section gets
    gone: list[str] = []
    wanted_names = set()
    live = {(n.account_id, n.role_name) for n in named}
    for n in named:
        wanted_names.add(n.name)
        note = f"suffixed: {n.base} is {n.why}" if n.why else ""
        existing = owned.get(n.name)
        keep_region = existing.region if existing is not None and region is None else region
        profile = Profile(name=n.name, session=session.name, account_id=n.account_id, role_name=n.role_name,
                          region=keep_region)
        want = desired_values(profile, session.name)
        if existing is None:
            blocks.append(config_writer.render_profile(profile, generated=want[GENERATED_KEY]))
            entries.append(_entry(n, "add", note))
        elif existing.edited and not force:
            entries.append(_entry(n, "edited", _what_changed(existing.values, want)))
        elif existing.values == want:
            entries.append(_entry(n, "unchanged", note))
        else:
            if existing.edited:
                note = _what_changed(existing.values, want).replace("edited after sync", "overwriting the edit of", 1)
            rewrite[n.name] = want
            entries.append(_entry(n, "change", note))
    for o in sorted(owned.values(), key=lambda o: o.name):
        if o.name in wanted_names:
            continue
        if (o.account_id, o.role_name) in live:
            # The same account and role under another name now (a new template): kept, never pruned.
            entries.append(Entry(o.name, "stale", o.account_id, o.role_name,
                                 note="its account and role now have another profile name"))
        elif not prune:
            entries.append(Entry(o.name, "stale", o.account_id, o.role_name, note="gone from the server"))
        elif o.edited and not force:
            entries.append(Entry(o.name, "edited", o.account_id, o.role_name,
                                 note="gone from the server, but edited after sync: kept"))
        else:
            gone.append(o.name)
            entries.append(Entry(o.name, "remove", o.account_id, o.role_name, note="gone from the server"))

    after = _edited_text(text or "", path, rewrite, gone) if rewrite or gone else (text or "")
    if session_action == "add":
        blocks.append(config_writer.render_session(session))
    if blocks:
        after = config_writer.append_block(after, "\n".join(blocks))
    if text and "\r\n" in text and "\n" not in text.replace("\r\n", ""):
        after = re.sub(r"(?<!\r)\n", "\r\n", after)  # a CRLF file gets CRLF lines from us too
    foreign = tuple(sorted({n.base for n in named if n.why and n.base in taken}))
    result = SyncPlan(path=path, before=text, after=after if text is None or after != text else text,
                      session=session, session_action=session_action,
                      entries=tuple(sorted(entries, key=lambda e: e.name)), foreign=foreign)
    if result.changed:
        _check_result(result)
    return result


def _edited_text(text: str, path: Path, rewrite: Mapping[str, Mapping[str, str]], gone: list[str]) -> str:
    """The file with sync's sections in `rewrite` brought up to date in place and those in `gone` taken out."""
    updater = config_writer.editor(text, path)
    removed = []
    for section in updater.iter_sections():
        name = profiles.profile_of_section(section.name)
        if name in rewrite:
            _rewrite(section, rewrite[name])
        elif name in gone:
            removed.append(section)
    # text_without also takes out the line ends sync put before the sections it appended (their marker says).
    return config_writer.text_without(updater, removed) if removed else str(updater)


def _entry(n: Named, action: str, note: str) -> Entry:
    return Entry(n.name, action, n.account_id, n.role_name, n.account_name, note)


def _rewrite(section: Section, want: Mapping[str, str]) -> None:
    """Bring one of sync's sections to `want`, in place (comments the user added inside stay)."""
    for key in [k for k in section.keys() if k not in want]:
        del section[key]
    for key, value in want.items():
        if config_writer.value_of(section, key) != value:
            config_writer.set_option(section, key, value)


def _check_result(result: SyncPlan) -> None:
    """Read the result as botocore would: every profile written says what was planned, with no sso_* key."""
    try:
        config = parsed(result.after, result.path)
    except UserError:
        config_writer.check_reads(result.before, result.after, result.path)  # says what, as a ServiceError
        raise
    got_session = config.session(result.session.name)
    if (got_session.start_url.rstrip("/") != result.session.start_url.rstrip("/")
            or got_session.region != result.session.region):
        raise ServiceError(f"keyrack would write an sso-session {result.session.name!r} that does not read back "
                           f"as asked; nothing written")
    for e in result.of("add", "change"):
        raw = config.raw_profile(e.name)
        if (raw.get(profiles.KEY_SESSION) != result.session.name or raw.get(profiles.KEY_ACCOUNT) != e.account_id
                or raw.get(profiles.KEY_ROLE) != e.role_name or any(k.startswith("sso_") for k in raw)
                or raw.get("credential_process") != resources.credential_process_command(e.name)):
            raise ServiceError(f"keyrack would write a profile {e.name!r} that does not read back as asked; "
                               f"nothing written")
    for e in result.of("remove"):
        if config.has_profile(e.name):
            raise ServiceError(f"keyrack would leave profile {e.name!r} in place while removing it; nothing written")

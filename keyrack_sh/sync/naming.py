"""Profile names for `keyrack sync`: a jinja2 template over each assignment.

The template runs in jinja2's sandbox (no attribute tricks reach Python),
with StrictUndefined (a misspelt variable is an error, never an empty
string). The values it sees are made valid first (`slug`): lower-cased,
accents dropped, spaces and anything outside A-Z a-z 0-9 . _ - turned into
`-`, and text with no ASCII spelling written as punycode (`xn--...`), so the
same account always gets the same name on every machine. What the template
itself adds is the user's: the rendered name must pass validate.profile_name
or the sync is refused, naming the account.

Names that collide get a deterministic suffix (`-<account id>`, then a short
digest of the role name), and the profile that already holds the name in the
config keeps it, so a new account never renames an old one.
"""
from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keyrack_sh import validate
from keyrack_sh.errors import UserError

DEFAULT_TEMPLATE = "{{ account_name }}.{{ role_name }}"
VARIABLES = ("account_id", "account_name", "role_name", "sso_session", "region")
MAX_NAME = 64

_INVALID = re.compile(r"[^a-z0-9._-]+", re.ASCII)


@dataclass(frozen=True, order=True)
class Named:
    """One assignment and the profile name it gets."""

    name: str
    account_id: str
    account_name: str
    role_name: str
    base: str = ""  # the template's name before any suffix
    why: str = ""  # "" or why the name has a suffix (another assignment or profile had `base`)


@functools.lru_cache(maxsize=4096)
def slug(value: str) -> str:
    """`value` as a name part: deterministic, lower-case ASCII from A-Z a-z 0-9 . _ -."""
    text = unicodedata.normalize("NFKD", value.strip())
    text = "".join(c for c in text if not unicodedata.combining(c))
    prefix = ""
    if not text.isascii():
        # No ASCII spelling (生产, Прод): punycode is one, the same everywhere.
        prefix = "xn--"
        text = unicodedata.normalize("NFC", value.strip()).lower().encode("punycode").decode("ascii")
    text = re.sub(r"-{2,}", "-", _INVALID.sub("-", text.lower())).lstrip("-._").rstrip("-.")
    return prefix + text if text else ""


def _environment() -> Any:
    import jinja2.sandbox

    return jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


_SAMPLE = {"account_id": "123456789012", "account_name": "production", "role_name": "administratoraccess",
           "sso_session": "acme", "region": "us-east-1"}


class Template:
    """A compiled name template; a broken one is a UserError before anything is listed or written."""

    def __init__(self, source: str | None = None, prefix: str = "") -> None:
        self.source = DEFAULT_TEMPLATE if source is None else source
        self.prefix = prefix
        if prefix:
            validate.profile_name(prefix)
        try:
            self._template = _environment().from_string(self.source)
            # Unknown variables and unsafe access are found now, on a sample, not after the listing;
            # what depends on the values (an index past a short name) waits for the real ones.
            self._template.render(**_SAMPLE)
        except Exception as exc:  # noqa: BLE001 (_refusal sorts the template's faults from the values')
            refusal = self._refusal(exc, None)
            if refusal is not None:
                raise refusal from None

    def _render(self, values: Mapping[str, str], who: str) -> str:
        try:
            return str(self._template.render(**values))
        except Exception as exc:  # noqa: BLE001 (_refusal re-raises what is not the template's)
            raise (self._refusal(exc, who) or exc) from None

    def _refusal(self, exc: Exception, who: str | None) -> UserError | None:
        """The one-line error for a template that failed; `who` None: on the sample, where a
        failure that depends on the values (None) waits for the real ones."""
        import jinja2
        import jinja2.sandbox

        hint = f"--template '{DEFAULT_TEMPLATE}'"
        failed = f"--template {self.source!r} failed for {who}"
        if isinstance(exc, jinja2.UndefinedError):
            if str(exc.message).endswith("is undefined"):
                return UserError(f"--template {self.source!r}: {exc.message}; it may use {', '.join(VARIABLES)}",
                                 hint=hint)
            return None if who is None else UserError(f"{failed}: {exc.message}", hint=hint)
        if isinstance(exc, jinja2.sandbox.SecurityError):
            return UserError(f"--template {self.source!r} is unsafe ({exc}); refused"
                             + (f" for {who}" if who else ""), hint=hint)
        if isinstance(exc, jinja2.TemplateSyntaxError):
            return UserError(f"--template {self.source!r} does not parse: {exc.message} (line {exc.lineno})",
                             hint=hint)
        if who is None:
            return None
        if isinstance(exc, jinja2.TemplateError):
            return UserError(f"{failed}: {exc}", hint=hint)
        if isinstance(exc, (TypeError, ValueError, ArithmeticError, LookupError)):
            return UserError(f"{failed}: {type(exc).__name__}", hint=hint)
        raise exc

    def name(self, account_id: str, account_name: str, role_name: str, session: str, region: str) -> str:
        """The name for one assignment; one that is not a valid profile name is refused, naming it."""
        who = f"account {account_name!r} ({account_id}), role {role_name!r}"
        values = {"account_id": slug(account_id), "account_name": slug(account_name) or slug(account_id),
                  "role_name": slug(role_name), "sso_session": slug(session), "region": slug(region)}
        name = self.prefix + self._render(values, who)
        if not name:
            raise UserError(f"--template {self.source!r} gives an empty profile name for {who}",
                            hint=f"--template '{DEFAULT_TEMPLATE}'")
        if not validate.is_name(name):
            try:
                validate.profile_name(name)
            except UserError as exc:
                raise UserError(f"--template {self.source!r} gives an unsafe name for {who}: {exc.message}",
                                hint=f"--template '{DEFAULT_TEMPLATE}'") from None
        return name


def _suffixed(base: str, *parts: str) -> str:
    tail = "".join(f"-{p}" for p in parts)
    return base[:MAX_NAME - len(tail)].rstrip("-.") + tail


def assign(template: Template, assignments: Iterable[Any], session: str, region: str,
           held: Mapping[tuple[str, str], str], taken: Sequence[str] = ()) -> list[Named]:
    """A unique name for each assignment (objects with account_id, account_name, role_name).

    `held`: (account_id, role_name) -> the name sync gave it before (it keeps that name
    when the template still gives it); `taken`: names of profiles sync must not use.
    """
    wanted: dict[str, list[Any]] = {}
    for a in sorted(assignments, key=lambda a: (a.account_id, a.role_name)):
        base = template.name(a.account_id, a.account_name, a.role_name, session, region)
        wanted.setdefault(base, []).append(a)
    used = set(taken)
    out: list[Named] = []
    later: list[tuple[str, Any]] = []
    for base, group in wanted.items():
        holders = [a for a in group if held.get((a.account_id, a.role_name)) == base]
        keeper = None if base in used else (holders or group)[0]
        for a in group:
            if a is keeper:
                used.add(base)
                out.append(Named(base, a.account_id, a.account_name, a.role_name, base))
            else:
                later.append((base, a))
    for base, a in later:
        why = "taken by a profile sync does not manage" if base in taken else "taken by another assignment"
        name = _suffixed(base, a.account_id)
        if name in used:
            name = _suffixed(base, a.account_id, hashlib.sha256(a.role_name.encode()).hexdigest()[:6])
        n = 2
        while name in used:  # only a template that ignores the account could get here
            name = _suffixed(base, a.account_id, str(n))
            n += 1
        used.add(name)
        out.append(Named(name, a.account_id, a.account_name, a.role_name, base, why))
    return sorted(out, key=lambda n: (n.account_id, n.role_name))

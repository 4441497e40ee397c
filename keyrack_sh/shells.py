"""Shell hooks: one jinja2 template per shell in shell/, rendered from one context.

The templates never read the environment at render time; everything they need
is in a frozen InitContext, and every value that reaches shell code goes
through the quoting filter of that shell (`sh_quote` for bash and zsh,
`fish_quote` for fish). A rendered hook only defines `__keyrack_*` functions,
the `keyrack` function and hooks: it runs no process while being sourced.

Start-up cost: `keyrack init SHELL --write` renders the hook once into
`${XDG_CACHE_HOME:-~/.cache}/keyrack/init.<shell>`; the rc line (`rc_line`)
sources that file without starting Python, and falls back to
`eval "$(keyrack init SHELL)"` when it is missing. The written file checks, with
shell builtins only, whether keyrack's package or the template is newer than
itself, and then rewrites itself once (an upgrade or a template edit).
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from keyrack_sh import __version__, resources
from keyrack_sh.errors import UserError

SHELLS = ("bash", "zsh", "fish")
TEMPLATE_FILES = {"bash": "keyrack.bash", "zsh": "keyrack.zsh", "fish": "keyrack.fish"}
COMPLETION_FILES = {"bash": "keyrack.bash", "zsh": "_keyrack", "fish": "keyrack.fish"}

_SH_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


# -- quoting ----------------------------------------------------------------
def sh_quote(value: str) -> str:
    """One bash/zsh word that is exactly `value`: bare when safe, else single-quoted.

    Inside single quotes nothing is special in bash or zsh (not even a
    backslash or a newline); a single quote itself is closed, escaped, reopened.
    """
    value = str(value)
    if value and _SH_SAFE.fullmatch(value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def fish_quote(value: str) -> str:
    """One fish word that is exactly `value`.

    fish single quotes treat `\\'` and `\\\\` as escapes, so both are escaped
    (shlex.quote breaks fish on a trailing backslash).
    """
    value = str(value)
    if value and _SH_SAFE.fullmatch(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


QUOTERS = {"bash": sh_quote, "zsh": sh_quote, "fish": fish_quote}


# -- what the templates get ---------------------------------------------------
@dataclass(frozen=True)
class InitContext:
    shell: str
    cli: tuple[str, ...]            # argv that runs keyrack's CLI, absolute
    version: str
    template_id: str                # sha256 of the template text, short
    prompt: bool                    # install the prompt hook
    completions: str | None         # absolute path of this shell's completion file
    completions_dir: str
    cache_file: str | None = None   # set when rendering for `init --write`
    stamp_files: tuple[str, ...] = ()  # files that, when newer than cache_file, make it stale


def cli_argv() -> tuple[str, ...]:
    """How a hook runs this keyrack: absolute, independent of PATH, shims and cwd.

    The console script beside the interpreter when there is one (the usual
    install); else `python -m keyrack_sh`, with -P on 3.11+ so a `keyrack_sh`
    folder in the current directory is never imported instead.
    """
    exe = Path(sys.executable)
    script = exe.with_name("keyrack")
    if script.is_file() and os.access(script, os.X_OK):
        return (str(script),)
    flags = ("-P",) if sys.version_info >= (3, 11) else ()
    return (str(exe), *flags, "-m", "keyrack_sh")


def template_path(shell: str) -> Path:
    return resources.shell_dir() / TEMPLATE_FILES[shell]


def completion_path(shell: str) -> Path:
    return resources.completions_dir() / COMPLETION_FILES[shell]


def build_context(shell: str, *, prompt: bool = True, cache_file: Path | None = None) -> InitContext:
    shell = check_shell(shell)
    text = template_path(shell).read_bytes()
    comp = completion_path(shell)
    stamps: tuple[str, ...] = ()
    if cache_file is not None:
        import keyrack_sh

        stamps = (str(template_path(shell)), str(Path(keyrack_sh.__file__).resolve()), str(comp))
    return InitContext(
        shell=shell,
        cli=cli_argv(),
        version=__version__,
        template_id=hashlib.sha256(text).hexdigest()[:16],
        prompt=prompt,
        completions=str(comp) if comp.is_file() else None,
        completions_dir=str(resources.completions_dir()),
        cache_file=str(cache_file) if cache_file is not None else None,
        stamp_files=stamps,
    )


def _environment(shell: str):  # -> jinja2.Environment (jinja2 is imported only here)
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.shell_dir())),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # `${#var}` is shell, not a jinja comment.
        comment_start_string="{##",
        comment_end_string="##}",
    )
    quote = QUOTERS[shell]
    env.filters["q"] = quote
    env.filters["sh_quote"] = sh_quote
    env.filters["fish_quote"] = fish_quote
    env.filters["words"] = lambda argv: " ".join(quote(a) for a in argv)
    return env


def render(ctx: InitContext) -> str:
    return _environment(ctx.shell).get_template(TEMPLATE_FILES[ctx.shell]).render(ctx=ctx)


# -- which shell ----------------------------------------------------------------
def check_shell(name: str) -> str:
    if name not in SHELLS:
        raise UserError(f"unsupported shell {name!r}: keyrack supports {', '.join(SHELLS)}",
                        hint="keyrack init bash|zsh|fish")
    return name


def _shell_name(path_or_name: str) -> str:
    name = os.path.basename(path_or_name.strip()).lstrip("-")
    return re.sub(r"(\.exe)?$", "", name).lower()


def detect_shell() -> str:
    """The shell that ran us (shellingham), else the login shell ($SHELL)."""
    name = ""
    try:
        import shellingham

        name = shellingham.detect_shell()[0]
    except Exception:  # ShellDetectionFailure, or a /proc we cannot read
        name = ""
    name = _shell_name(name) if name else ""
    if name not in SHELLS:
        fallback = _shell_name(os.environ.get("SHELL", ""))
        if fallback in SHELLS:
            name = fallback
    if name not in SHELLS:
        shown = name or "unknown"
        raise UserError(f"cannot tell which shell to set up (found {shown!r}); keyrack supports "
                        f"{', '.join(SHELLS)}", hint="keyrack init bash|zsh|fish")
    return name


# -- the start-up cache -------------------------------------------------------------
def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path(os.path.expanduser("~/.cache"))
    return root / "keyrack"


def cache_file(shell: str) -> Path:
    return cache_dir() / f"init.{check_shell(shell)}"


def write_init(shell: str, *, prompt: bool = True) -> Path:
    """Render the hook into its cache file (atomically) and return the path."""
    from keyrack_sh import atomic

    path = cache_file(shell)
    text = render(build_context(shell, prompt=prompt, cache_file=path))
    # Not secret, but keyrack's folders are private anyway; 0644 lets a
    # `sudo -E` shell read it.
    atomic.ensure_private_dir(path.parent)
    atomic.write_text(path, text, mode=0o644)
    return path


def rc_line(shell: str, path: Path | None = None) -> str:
    """The one line for the rc file: source the pre-rendered hook, or render it now.

    install.sh prints or appends exactly this line (after `keyrack init SHELL --write`).
    """
    shell = check_shell(shell)
    path = path or cache_file(shell)
    if shell == "fish":
        p = fish_quote(str(path))
        cli = " ".join(fish_quote(a) for a in cli_argv())
        return f"if test -r {p}; source {p}; else; {cli} init fish | source; end"
    p = sh_quote(str(path))
    cli = " ".join(sh_quote(a) for a in cli_argv())
    return f'if [ -r {p} ]; then . {p}; else eval "$({cli} init {shell})"; fi'

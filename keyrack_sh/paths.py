"""Every file keyrack reads or writes, resolved at call time (never at import).

hotpath.py repeats the few of these the hot path needs (it may import no keyrack
module); tests/fast_test.py keeps the two in step.

Layout (all folders 0700, all files 0600):
  ~/.aws/config                         AWS_CONFIG_FILE; profiles and sso-sessions
  ~/.aws/sso/cache/<sha1(session)>.json SSO token, shared with the AWS CLI v2/botocore
  ~/.aws/keyrack/                       KEYRACK_HOME; keyrack's own state
      creds/<profile>                   role credentials, the hot path's answer
      clients/<session>.json            OAuth client registration
      proven/<session>.json             secretless: the sso-session passed set's roundtrip
      users/<session>.json              secretless: who signed in to the sso-session (who.py)
      locks/<session>.lock              one sign-in at a time per sso-session
      locks/config.lock                 one config writer at a time
      locks/gates/<profile>             gate.py's herd gate: holder id, or its last failure
      prompt/profiles/<profile>         secretless: the profile's sso-session name
      prompt/sessions/<session>         secretless: lock state and times, for prompts
      prompt/generation                 secretless: changes whenever the two above do (prompt_state)
      prompt/links/generation@<id>      a hard link of it, named after its content
      logs/                             secret-free crash logs
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def home() -> Path:
    return Path(os.path.expanduser("~"))


def _absolute(name: str, default: str) -> Path:
    """The setting `name` as an absolute path: a relative one would mean another file in
    every folder an SDK runs in, so it is refused with one line naming it."""
    path = Path(os.path.expanduser(os.environ.get(name) or default))
    if not path.is_absolute() or "\0" in str(path):
        from keyrack_sh.errors import UserError

        raise UserError(f"{name}={os.environ.get(name)!r} is not an absolute path",
                        hint=f'export {name}="$PWD/{os.environ.get(name)}", or unset {name}')
    return path


def config_file() -> Path:
    return _absolute("AWS_CONFIG_FILE", "~/.aws/config")


def credentials_file() -> Path:
    return Path(
        os.path.expanduser(os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials")
    )


def keyrack_home() -> Path:
    return _absolute("KEYRACK_HOME", "~/.aws/keyrack")


def sso_cache_dir() -> Path:
    return home() / ".aws" / "sso" / "cache"


def token_file(session: str) -> Path:
    """The AWS CLI v2 / botocore token cache file of an sso-session."""
    return sso_cache_dir() / (hashlib.sha1(session.encode("utf-8")).hexdigest() + ".json")


def cli_creds_cache_dir() -> Path:
    """The AWS CLI's role-credential cache (botocore JSONFileCache; not configurable in the CLI)."""
    return home() / ".aws" / "cli" / "cache"


def boto_creds_cache_dir() -> Path:
    """botocore's default JSONFileCache folder, used by tools that give the SSO provider a file cache."""
    return home() / ".aws" / "boto" / "cache"


def creds_dir() -> Path:
    return keyrack_home() / "creds"


def creds_file(profile: str) -> Path:
    return creds_dir() / profile


def client_file(session: str) -> Path:
    return keyrack_home() / "clients" / f"{session}.json"


def proof_file(session: str) -> Path:
    return keyrack_home() / "proven" / f"{session}.json"


def user_file(session: str) -> Path:
    return keyrack_home() / "users" / f"{session}.json"


def locks_dir() -> Path:
    return keyrack_home() / "locks"


def session_lock(session: str) -> Path:
    return locks_dir() / f"{session}.lock"


def gate_file(profile: str) -> Path:
    """gate.py's herd gate of a profile (gate.gate_file, which tests keep in step)."""
    return locks_dir() / "gates" / profile


def config_lock() -> Path:
    return locks_dir() / "config.lock"


def prompt_dir() -> Path:
    return keyrack_home() / "prompt"


def prompt_profile_file(profile: str) -> Path:
    return prompt_dir() / "profiles" / profile


def prompt_session_file(session: str) -> Path:
    return prompt_dir() / "sessions" / session


def prompt_generation_file() -> Path:
    return prompt_dir() / "generation"


def prompt_generation_link(generation: str) -> Path:
    return prompt_dir() / "links" / f"generation@{generation}"


def logs_dir() -> Path:
    return keyrack_home() / "logs"


def config_stamp(path: Path | None = None) -> str:
    """Identity of the config file's current version: changes on every write.

    The hot path compares it with the stamp stored beside cached credentials,
    so a hand-edited profile never gets another role's credentials.
    """
    try:
        st = os.stat(path or config_file())
    except OSError:
        return "0:0:0:0"
    # ctime too: `cp -p` or `touch -r` can restore the mtime of a same-size edit, never the ctime.
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"

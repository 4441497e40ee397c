"""One safe way to read a file, and one place where folders are trusted.

The lowest room of all: builtin `os` only (the hit imports it, through hotpath).
Everything keyrack reads (creds, tokens, client registrations, prompt state,
lock pid files, the config) goes through `read`: a regular file only, opened
without blocking (a FIFO never hangs a prompt or an SDK), without following a
link where keyrack owns the name, at most `limit` bytes (a link to /dev/zero
or a 20 MB file is no MemoryError and no slow prompt), and, for keyrack's own
files, owned by this user and writable by nobody else (like ssh: a file
another user could have planted is never served). Anything else reads as
absent; `problem` says why, for the slow paths that must tell the user.

`folder_problem` is the one judgement of a folder: a real folder, ours, that
no other user can write. `make_private_dirs` creates folders 0700 whatever the
umask, and refuses (one line naming the folder and the fix) the ones that fail
that judgement.
"""
from __future__ import annotations

import os

LIMIT = 1 << 20  # 1 MiB: tokens, creds and prompt lines are a few kB
CONFIG_LIMIT = 16 << 20  # an AWS config of thousands of profiles is a few MB
_IFMT, _IFREG, _IFDIR = 0o170000, 0o100000, 0o040000
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def read(path: str | os.PathLike[str], limit: int = LIMIT, *, follow: bool = False,
         mine: bool = True) -> bytes | None:
    """The bytes of `path` if it is a safe regular file of at most `limit` bytes, else None.

    `follow`: the name is the user's (a config may be a dotfile link); keyrack's own names
    never are links. `mine`: the file must be this user's and writable by nobody else.
    """
    return _read(path, limit, follow, mine)[0]


def problem(path: str | os.PathLike[str], limit: int = LIMIT, *, follow: bool = False,
            mine: bool = True) -> str | None:
    """Why `read` would refuse `path` (a phrase to follow its name), or None: fine or missing."""
    return _read(path, limit, follow, mine)[1]


def _read(path: str | os.PathLike[str], limit: int, follow: bool, mine: bool) -> tuple[bytes | None, str | None]:
    try:
        fd = os.open(path, _FLAGS | (0 if follow else _NOFOLLOW))
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        if not follow and exc.errno == 40:  # ELOOP: O_NOFOLLOW met a symbolic link
            return None, "is a symbolic link, which keyrack never follows for a file it owns"
        if exc.errno == 13:
            # Shut out by the folder it is in (`sudo -E` leftovers)? Then name that one.
            why = _blocking_folder(os.path.dirname(os.path.abspath(os.fspath(path))))
            if why is None:
                return None, "cannot be read (permission denied)"
            return None, "cannot be read (permission denied: %s; fix: %s)" % why
        if exc.errno == 21:
            return None, "is a folder, not a file"
        return None, None if exc.errno == 20 else "cannot be opened (%s)" % (exc.strerror or exc.errno)
    try:
        st = os.fstat(fd)
        kind = st.st_mode & _IFMT
        if kind != _IFREG:
            return None, "is a folder, not a file" if kind == _IFDIR else "is not a regular file"
        if st.st_size > limit:
            return None, "is larger than %d bytes" % limit
        if mine:
            why = _foreign(st)
            if why:
                return None, why
        chunks = []
        size = 0
        while True:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return None, "is larger than %d bytes" % limit
        return b"".join(chunks), None
    except OSError as exc:
        return None, "cannot be read (%s)" % (exc.strerror or exc.errno)
    finally:
        os.close(fd)


def _foreign(st: os.stat_result) -> str | None:
    """Why another user could have written what `st` describes, or None."""
    if st.st_uid != os.getuid():
        return "is owned by uid %d, not by you (uid %d)" % (st.st_uid, os.getuid())
    if st.st_mode & 0o002 or (st.st_mode & 0o020 and st.st_gid != os.getgid()):
        return "is writable by other users"
    return None


def folder_problem(path: str | os.PathLike[str], *, follow: bool = False) -> tuple[str, str] | None:
    """(what is wrong, the fix) if `path` is not a folder only this user can write; None if it is, or is missing.

    `follow`: the name may be a link the user made (~/.aws, KEYRACK_HOME); keyrack's own
    folders inside its home never are.
    """
    name = os.fspath(path)
    try:
        st = os.stat(name) if follow else os.lstat(name)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return "%s cannot be examined (%s)" % (name, exc.strerror or exc.errno), "ls -ld %s" % _quote(name)
    kind = st.st_mode & _IFMT
    if kind == 0o120000:
        return ("%s is a symbolic link, which keyrack never follows for a folder it owns" % name,
                "rm %s" % _quote(name))
    if kind != _IFDIR:
        return "%s is not a folder" % name, "mv %s %s.old" % (_quote(name), _quote(name))
    if st.st_uid != os.getuid():
        return ("%s is owned by uid %d, not by you (uid %d)" % (name, st.st_uid, os.getuid()),
                "sudo chown -R %d %s" % (os.getuid(), _quote(name)))
    if st.st_mode & 0o002 or (st.st_mode & 0o020 and st.st_gid != os.getgid()):
        return "%s is writable by other users" % name, "chmod go-w %s" % _quote(name)
    if st.st_mode & 0o300 != 0o300:
        # Ours, yet keyrack could write nothing in it (a `chmod a-w`, a read-only HOME): say so
        # here rather than fail later at whichever write or delete comes first.
        return ("%s is not writable by you (mode %04o)" % (name, st.st_mode & 0o7777),
                "chmod u+rwx %s" % _quote(name))
    return None


def writable_folder_problem(folder: str | os.PathLike[str]) -> tuple[str, str]:
    """(what is wrong, the fix) for a folder in which creating or removing a name was refused
    (EACCES/EPERM): the folder judgement's answer for it or, when it cannot even be looked at,
    for the nearest folder above it that can (the one that shuts keyrack out)."""
    name = os.path.abspath(os.fspath(folder))
    why = _blocking_folder(name)
    if why is not None:
        return why
    return ("%s is not writable by you" % name,
            "ls -ld %s, then chown or chmod it (or set KEYRACK_HOME to a folder of yours)" % _quote(name))


def _blocking_folder(folder: str) -> tuple[str, str] | None:
    """The folder judgement of `folder` or, when it cannot even be looked at, of the nearest
    folder above it that can (the one that shuts keyrack out); None when that one looks fine."""
    current = folder
    while os.path.dirname(current) != current:
        try:
            os.stat(current)
            break
        except PermissionError:
            current = os.path.dirname(current)
        except OSError:
            break
    return folder_problem(current, follow=True)


def require_own_file(path: str | os.PathLike[str]) -> None:
    """Refuse (one line naming it) a name keyrack owns that is a link, not a regular file, or
    another user's: for the files opened by others' code (filelock), which would follow a link."""
    name = os.fspath(path)
    try:
        st = os.lstat(name)
    except FileNotFoundError:
        return
    except OSError as exc:
        refuse("%s cannot be examined (%s)" % (name, exc.strerror or exc.errno), "ls -l %s" % _quote(name))
        return
    kind = st.st_mode & _IFMT
    if kind == 0o120000:
        refuse("%s is a symbolic link, which keyrack never follows for a file it owns" % name, "rm %s" % _quote(name))
    if kind != _IFREG:
        refuse("%s is not a regular file" % name, "ls -l %s, then move it away" % _quote(name))
    why = _foreign(st)
    if why:
        fix = ("chmod go-w %s" % _quote(name) if why.startswith("is writable")
               else "sudo chown %d %s" % (os.getuid(), _quote(name)))
        refuse("%s %s" % (name, why), fix)


def make_private_dirs(path: str | os.PathLike[str], *, trusted_root: str | os.PathLike[str] | None = None) -> None:
    """Create `path` and its missing parents as 0700 (whatever the umask); refuse untrusted ones.

    With `trusted_root` (keyrack's home, which holds `path`), every existing folder from the
    root down must pass `folder_problem`: the root may be a link the user made, the folders
    below it are keyrack's own and never are (those found group/world-readable are tightened
    to 0700). Without, only `path` itself is judged (~/.aws/sso/cache: the AWS CLI's too).
    Refusals are one UserError naming the folder and the fix.
    """
    name = os.path.abspath(os.fspath(path))
    root = os.path.abspath(os.fspath(trusted_root)) if trusted_root is not None else None
    if root is not None and name != root and not name.startswith(root.rstrip(os.sep) + os.sep):
        root = None
    chain = [name]
    if root is not None:
        while chain[-1] != root:
            chain.append(os.path.dirname(chain[-1]))
    chain.reverse()
    _make_missing_parents(chain[0])
    for folder in chain:
        mine = root is not None and folder != root
        if os.path.lexists(folder):
            why = folder_problem(folder, follow=not mine)
            if why is not None:
                refuse(*why)
            if mine:
                _tighten(folder)
        else:
            _mkdir(folder)


def _make_missing_parents(folder: str) -> None:
    missing = []
    current = os.path.dirname(folder)
    while not os.path.lexists(current) and os.path.dirname(current) != current:
        missing.append(current)
        current = os.path.dirname(current)
    for parent in reversed(missing):
        _mkdir(parent)


def _mkdir(folder: str) -> None:
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        return  # another process was first; judged at the next write
    except PermissionError:
        what, fix = writable_folder_problem(os.path.dirname(folder))
        refuse("cannot create %s: %s" % (folder, what), fix)
    except OSError as exc:
        refuse("cannot create %s (%s)" % (folder, exc.strerror or exc.errno),
               "ls -ld %s" % _quote(os.path.dirname(folder)))
    _tighten(folder)  # mkdir's mode is masked by the umask, never widened: exact 0700 anyway


def _tighten(folder: str) -> None:
    try:
        st = os.lstat(folder)
        if st.st_mode & 0o077 and st.st_mode & _IFMT == _IFDIR:
            os.chmod(folder, 0o700)
    except OSError:
        pass


def _quote(name: str) -> str:
    safe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@%+=:,./-_~"
    if name and not set(name) - set(safe):
        return name
    return "'" + name.replace("'", "'\"'\"'") + "'"


def refuse(what: str, fix: str) -> None:
    """Raise the UserError `keyrack: <what> (hint: <fix>)` (imported only when refusing)."""
    from keyrack_sh.errors import UserError

    raise UserError(what, hint=fix)

#!/bin/sh
# Install keyrack from the checkout this script sits in.
#
#   ./install.sh               venv + link + one hook line per installed shell
#   ./install.sh --uninstall   remove exactly what an install added
#
# Needs only Python >= 3.10 with its venv module. Everything it adds is
# listed in a manifest beside the venv, so --uninstall removes that and
# nothing else (your ~/.aws is never touched). Running it twice changes nothing.
set -eu

MARKER='# added by keyrack install.sh'
PKG_NAME='keyrack-sh'

usage() {
    cat <<'EOF'
usage: install.sh [options]

Install keyrack into its own virtual environment, link `keyrack` into a bin
folder and add one marked hook line to the rc file of each installed shell.

options:
  --bin-dir DIR     where to link `keyrack` (default: ~/.local/bin)
  --no-modify-rc    do not add hook lines to ~/.bashrc, ~/.zshrc, config.fish
  --pipx            install with pipx instead of a venv (pipx must be on PATH)
  --uv              install with `uv tool` instead of a venv (uv must be on PATH)
  --from DIR        the keyrack checkout to install (default: this script's folder)
  --uninstall       remove the venv, link and rc lines an install added
  -y, --yes         do not ask for confirmation
  -h, --help        show this help

environment:
  PYTHON            the Python interpreter to use (default: python3)
  XDG_DATA_HOME     the venv goes to $XDG_DATA_HOME/keyrack/venv (~/.local/share)
EOF
}

say() { printf '%s\n' "$*"; }
die() {
    # $1: exit code (2: you can fix it, 1: something failed); rest: message
    code=$1
    shift
    printf 'install.sh: %s\n' "$*" >&2
    exit "$code"
}

# --- options ----------------------------------------------------------------
bin_dir="$HOME/.local/bin"
modify_rc=1
method=venv
action=install
assume_yes=0
src=''

while [ $# -gt 0 ]; do
    case $1 in
        --bin-dir)
            [ $# -ge 2 ] || die 2 "--bin-dir needs a folder (see 'install.sh --help')"
            bin_dir=$2
            shift
            ;;
        --bin-dir=*) bin_dir=${1#--bin-dir=} ;;
        --from)
            [ $# -ge 2 ] || die 2 "--from needs a folder (see 'install.sh --help')"
            src=$2
            shift
            ;;
        --from=*) src=${1#--from=} ;;
        --no-modify-rc) modify_rc=0 ;;
        --pipx) method=pipx ;;
        --uv) method=uv ;;
        --uninstall) action=uninstall ;;
        -y | --yes) assume_yes=1 ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die 2 "unknown option '$1' (see 'install.sh --help')" ;;
    esac
    shift
done

[ -n "$bin_dir" ] || die 2 "--bin-dir must not be empty"
case $bin_dir in
    /*) ;;
    *) bin_dir="$(pwd)/$bin_dir" ;;
esac

# pip writes nothing outside the venv (no cache, no self-check state), so
# --uninstall can leave HOME exactly as it was.
PIP_NO_CACHE_DIR=1
PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_CACHE_DIR PIP_DISABLE_PIP_VERSION_CHECK

data_dir="${XDG_DATA_HOME:-$HOME/.local/share}/keyrack"
venv="$data_dir/venv"
manifest="$data_dir/install-manifest"
config_home="${XDG_CONFIG_HOME:-$HOME/.config}"

# --- Python -------------------------------------------------------------------
find_python() {
    for candidate in ${PYTHON:-} python3 python; do
        if command -v "$candidate" >/dev/null 2>&1; then
            py=$(command -v "$candidate")
            return 0
        fi
    done
    die 2 "Python 3.10 or newer is needed and none was found (hint: sudo apt-get install python3 python3-venv)"
}

check_python() {
    version=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) ||
        die 2 "$py does not run (set PYTHON to a Python 3.10+ interpreter)"
    major=${version%%.*}
    minor=${version#*.}
    if [ "$major" -lt 3 ] || { [ "$major" -eq 3 ] && [ "$minor" -lt 10 ]; }; then
        die 2 "keyrack needs Python >= 3.10; $py is $version (install a newer python3, or set PYTHON=/path/to/python3.10+)"
    fi
    if [ "$method" = venv ] && ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        die 2 "Python's venv module is missing for $py (hint: sudo apt-get install python3-venv)"
    fi
}

# --- rc lines ---------------------------------------------------------------
# Edited with Python (present by now): byte-exact, atomic (temp + rename),
# through symlinked dotfiles. A line added after a file with no final newline
# carries ':nl' so uninstall can restore the file byte for byte. Exit 3:
# nothing to change; exit 4 (add): the file did not exist and was created.
rc_edit() {
    # $1: add|remove  $2: rc file  $3: hook line (add), or "created" (remove:
    # the manifest says install created this file, so it may go once empty)
    "$py" - "$1" "$2" "${3:-}" "$MARKER" <<'PYEOF'
import os, sys, tempfile
op, path, line, marker = sys.argv[1:5]
path = os.path.realpath(path)
try:
    with open(path, "rb") as f:
        data = f.read()
    mode = os.stat(path).st_mode & 0o7777
except FileNotFoundError:
    data, mode = None, 0o644
lines = (data or b"").splitlines(keepends=True)
mark = marker.encode()
ours = [i for i, l in enumerate(lines) if mark in l]
if op == "add":
    want = line.encode() + b"  " + mark
    if ours:
        if len(ours) == 1 and lines[ours[0]].rstrip(b"\n").split(b"  " + mark)[0] == line.encode():
            sys.exit(3)  # already there: change nothing
        # an older line: replace it where it stands, keeping its newline flag
        nl = b":nl" if lines[ours[0]].rstrip(b"\n").endswith(b":nl") else b""
        lines[ours[0]] = want + nl + b"\n"
        for i in reversed(ours[1:]):
            del lines[i]
        new = b"".join(lines)
    elif data and not data.endswith(b"\n"):
        new = data + b"\n" + want + b":nl\n"
    else:
        new = (data or b"") + want + b"\n"
else:
    if data is None or not ours:
        sys.exit(3)
    out = []
    for i, l in enumerate(lines):
        if mark in l:
            # ':nl': the file had no final newline before this line. Restore
            # that only while this line is still the file's last: a line the
            # user added after it must keep its own line.
            last = i == len(lines) - 1
            if last and l.rstrip(b"\n").endswith(b":nl") and out and out[-1].endswith(b"\n"):
                out[-1] = out[-1][:-1]
            continue
        out.append(l)
    new = b"".join(out)
    if not new and line == "created":
        os.unlink(path)  # the install created it; a file that was there, even empty, stays
        sys.exit(0)
os.makedirs(os.path.dirname(path), exist_ok=True)
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".keyrack-install.")
try:
    with os.fdopen(fd, "wb") as f:
        f.write(new)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)  # path is the symlink's target: a symlinked rc file stays a link
except BaseException:
    os.unlink(tmp)
    raise
sys.exit(4 if op == "add" and data is None else 0)
PYEOF
}

rc_file_of() {
    case $1 in
        bash) printf '%s\n' "$HOME/.bashrc" ;;
        zsh) printf '%s\n' "${ZDOTDIR:-$HOME}/.zshrc" ;;
        fish) printf '%s\n' "$config_home/fish/config.fish" ;;
    esac
}

hook_line_of() {
    # $1: shell. Ask keyrack to pre-render its hook (no Python at shell start-up);
    # an older keyrack without `init --write` gets the eval form.
    hook_file="${XDG_CACHE_HOME:-$HOME/.cache}/keyrack/init.$1"
    make_dir "$(dirname "$hook_file")"
    if line=$("$keyrack_bin" init "$1" --write 2>/dev/null) && [ -n "$line" ]; then
        [ -f "$hook_file" ] && manifest_add hook "$hook_file"
        printf '%s\n' "$line" | tail -n 1
        return 0
    fi
    q=$(printf '%s' "$keyrack_bin" | sed "s/'/'\\\\''/g")
    case $1 in
        fish) printf "test -x '%s'; and '%s' init fish | source\n" "$q" "$q" ;;
        *) printf "[ -x '%s' ] && eval \"\$('%s' init %s)\"\n" "$q" "$q" "$1" ;;
    esac
}

# --- manifest: what this script added, for --uninstall ------------------------
manifest_add() {
    # $1: kind, $2: path. One "kind<TAB>path" per line, no duplicates.
    entry=$(printf '%s\t%s' "$1" "$2")
    if [ -f "$manifest" ] && grep -qxF "$entry" "$manifest"; then
        return 0
    fi
    printf '%s\n' "$entry" >>"$manifest"
}

make_dir() {
    # mkdir -p, recording each folder it creates so --uninstall can remove it
    # (when empty). Callers create $data_dir first: the manifest lives there.
    d=$1
    missing=''
    while [ ! -d "$d" ]; do
        missing="$d
$missing"
        d=$(dirname "$d")
    done
    mkdir -p "$1"
    printf '%s' "$missing" | while IFS= read -r m; do
        [ -z "$m" ] || manifest_add dir "$m"
    done
}

# --- install ----------------------------------------------------------------
find_source() {
    if [ -z "$src" ]; then
        case $0 in
            */install.sh) src=$(cd "$(dirname "$0")" && pwd) ;;
            *) src=$(pwd) ;; # piped into sh: run it from the checkout
        esac
    fi
    if [ ! -f "$src/pyproject.toml" ] || [ ! -d "$src/keyrack_sh" ]; then
        die 2 "$src is not a keyrack checkout (run install.sh from the clone, or pass --from DIR)"
    fi
    src=$(cd "$src" && pwd)
}

copy_source() {
    # pip builds a local folder in place (build/, *.egg-info); build from a
    # copy so the checkout stays as it was.
    build_tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyrack-install.XXXXXX")
    trap 'rm -rf "$build_tmp"' EXIT
    mkdir "$build_tmp/src"
    for item in pyproject.toml README.md LICENSE keyrack_sh shell completions; do
        if [ -e "$src/$item" ]; then
            cp -R "$src/$item" "$build_tmp/src/"
        fi
    done
    find "$build_tmp/src" -name '__pycache__' -type d -prune -exec rm -rf {} +
}

check_link() {
    # Before anything is installed: the chosen tool exists, and never replace
    # someone else's `keyrack` unasked.
    case $method in
        pipx) command -v pipx >/dev/null 2>&1 || die 2 "--pipx was given but pipx is not on PATH (python3 -m pip install --user pipx)" ;;
        uv) command -v uv >/dev/null 2>&1 || die 2 "--uv was given but uv is not on PATH (https://docs.astral.sh/uv/)" ;;
        *) ;;
    esac
    link="$bin_dir/keyrack"
    if [ "$method" = venv ] && { [ -e "$link" ] || [ -L "$link" ]; }; then
        if [ ! -L "$link" ] || [ "$(readlink "$link")" != "$venv/bin/keyrack" ]; then
            [ "$assume_yes" -eq 1 ] ||
                die 2 "$link exists and is not keyrack's link (rerun with --yes to replace it, or --bin-dir DIR)"
        fi
    fi
}

install_package() {
    case $method in
        venv)
            if [ ! -x "$venv/bin/python" ]; then
                say "  venv: creating $venv"
                "$py" -m venv "$venv" ||
                    die 2 "could not create a venv with $py (hint: sudo apt-get install python3-venv)"
            fi
            manifest_add venv "$venv"
            say "  pip: installing keyrack and its dependencies into the venv (about 20 s)"
            "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
                "$build_tmp/src" 2>"$build_tmp/pip.log" || {
                tail -n 5 "$build_tmp/pip.log" >&2
                die 1 "pip could not install keyrack into $venv (is the package index reachable?)"
            }
            keyrack_bin="$bin_dir/keyrack"
            target="$venv/bin/keyrack"
            make_dir "$bin_dir"
            if [ ! -L "$keyrack_bin" ] || [ "$(readlink "$keyrack_bin")" != "$target" ]; then
                rm -f "$keyrack_bin" # a foreign one only with --yes (check_link)
                ln -s "$target" "$keyrack_bin"
            fi
            say "  command: $keyrack_bin -> $target"
            manifest_add link "$keyrack_bin"
            ;;
        pipx)
            make_dir "$bin_dir"
            say "  pipx: installing keyrack (about 20 s)"
            PIPX_BIN_DIR=$bin_dir pipx install --force --python "$py" "$build_tmp/src" \
                >"$build_tmp/tool.log" 2>&1 || {
                tail -n 5 "$build_tmp/tool.log" >&2
                die 1 "pipx could not install keyrack"
            }
            manifest_add pipx "$PKG_NAME"
            keyrack_bin="$bin_dir/keyrack"
            ;;
        uv)
            make_dir "$bin_dir"
            say "  uv: installing keyrack (about 20 s)"
            UV_TOOL_BIN_DIR=$bin_dir uv tool install --force --python "$py" "$build_tmp/src" \
                >"$build_tmp/tool.log" 2>&1 || {
                tail -n 5 "$build_tmp/tool.log" >&2
                die 1 "uv could not install keyrack"
            }
            manifest_add uv "$PKG_NAME"
            keyrack_bin="$bin_dir/keyrack"
            ;;
    esac
    "$keyrack_bin" --version >/dev/null 2>&1 || die 1 "$keyrack_bin does not run after installing"
}

install_rc_lines() {
    for sh in bash zsh fish; do
        command -v "$sh" >/dev/null 2>&1 || continue
        rc=$(rc_file_of "$sh")
        make_dir "$(dirname "$rc")"
        line=$(hook_line_of "$sh")
        status=0
        rc_edit add "$rc" "$line" || status=$?
        case $status in
            0) say "  hook: added one line to $rc" ;;
            3) say "  hook: $rc already has keyrack's line" ;;
            4)
                say "  hook: created $rc with one line"
                manifest_add rc-created "$rc"
                ;;
            *) die 1 "could not edit $rc" ;;
        esac
        manifest_add rc "$rc"
    done
}

do_install() {
    find_source
    find_python
    check_python
    check_link
    if [ "$assume_yes" -eq 0 ] && [ -t 0 ]; then
        printf 'Install keyrack from %s (venv: %s, link: %s/keyrack)? [Y/n] ' "$src" "$venv" "$bin_dir"
        read -r answer || answer=n
        case $answer in
            '' | y | Y | yes | Yes) ;;
            *) die 2 "nothing installed" ;;
        esac
    fi
    say "Installing keyrack from $src ($method)"
    make_dir "$data_dir"
    copy_source
    install_package
    version=$("$keyrack_bin" --version 2>/dev/null)
    if [ "$modify_rc" -eq 1 ]; then
        install_rc_lines
        say "  completions: bash, zsh and fish load them with the hook (zsh: after compinit, see README)"
    else
        say "  hook: rc files left alone (--no-modify-rc); to add it yourself: keyrack init bash --write >>~/.bashrc"
    fi
    case ":$PATH:" in
        *":$bin_dir:"*) on_path=1 ;;
        *)
            on_path=0
            say "  note: $bin_dir is not on your PATH; add: export PATH=\"$bin_dir:\$PATH\""
            ;;
    esac
    say "Installed $version. Undo: $src/install.sh --uninstall"
    # The last line runs as printed in this terminal: by full path (PATH and
    # the hook reach only new shells), quoted when the path needs it.
    case $keyrack_bin in
        *[!A-Za-z0-9_./+@%:=,-]*) shown=$(printf "'%s'" "$(printf '%s' "$keyrack_bin" | sed "s/'/'\\\\''/g")") ;;
        *) shown=$keyrack_bin ;;
    esac
    [ "$on_path" -eq 1 ] && [ "$(command -v keyrack 2>/dev/null)" = "$keyrack_bin" ] && shown=keyrack
    say "Try it now, in this terminal: $shown demo --shell"
}

# --- uninstall --------------------------------------------------------------
keyrack_profiles() {
    # $1: the AWS config. The profiles keyrack manages, one a line: their
    # credential_process runs the keyrack this removes. Asks that keyrack while
    # it is still there; else a plain scan for keyrack_sso_session keys.
    for kr in "$venv/bin/keyrack" "$bin_dir/keyrack"; do
        if [ -n "$py" ] && [ -x "$kr" ] &&
            names=$("$kr" list --json 2>/dev/null | "$py" -c \
                'import json, sys; print("\n".join(p["profile"] for p in json.load(sys.stdin)))' 2>/dev/null); then
            [ -z "$names" ] || printf '%s\n' "$names"
            return 0
        fi
    done
    [ -f "$1" ] || return 0
    awk '
        /^[ \t]*\[/ {
            s = $0
            sub(/^[ \t]*\[[ \t]*/, "", s)
            sub(/[ \t]*\].*$/, "", s)
            n = split(s, w, /[ \t]+/)
            name = (n == 2 && w[1] == "profile") ? w[2] : (n == 1 && w[1] == "default") ? "default" : ""
            next
        }
        name != "" && /^keyrack_sso_session[ \t]*[=:]/ { print name; name = "" }
    ' "$1"
}

warn_keyrack_profiles() {
    # Before anything is removed: name the profiles that will stop working.
    # ~/.aws is never edited here.
    cfg=${AWS_CONFIG_FILE:-$HOME/.aws/config}
    case $cfg in
        \~/*) cfg="$HOME/${cfg#\~/}" ;;
    esac
    names=$(keyrack_profiles "$cfg" | awk 'NR > 1 { printf ", " } { printf "%s", $0 }')
    [ -n "$names" ] || return 1
    printf 'install.sh: warning: these keyrack profiles in %s will fail once keyrack is uninstalled: %s\n' \
        "$cfg" "$names" >&2
    printf "install.sh: %s is not edited; run 'keyrack remove PROFILE' for each before uninstalling, or reinstall to use them again\n" \
        "$cfg" >&2
    if [ "$assume_yes" -eq 0 ] && [ -t 0 ]; then
        printf 'Uninstall anyway? [y/N] '
        read -r answer || answer=n
        case $answer in
            y | Y | yes | Yes) ;;
            *) die 2 "nothing removed" ;;
        esac
    fi
    return 0
}

do_uninstall() {
    if [ ! -f "$manifest" ]; then
        say "keyrack is not installed by install.sh here (no $manifest); nothing to do"
        exit 0
    fi
    # rc lines first: they need Python, which the venv removal may take away
    py=''
    for candidate in ${PYTHON:-} python3 python; do
        if command -v "$candidate" >/dev/null 2>&1; then
            py=$(command -v "$candidate")
            break
        fi
    done
    left_profiles=0
    warn_keyrack_profiles && left_profiles=1
    tab=$(printf '\t')
    # rc files the install created (they go once empty; any other stays), one a line
    created_rcs="
$(sed -n "s/^rc-created${tab}//p" "$manifest")
"
    while IFS="$tab" read -r kind path; do
        case $kind in
            rc)
                if [ -z "$py" ] && [ -e "$path" ]; then
                    say "  no Python to edit $path: remove the line ending in '$MARKER' by hand"
                elif [ -e "$path" ]; then
                    created=''
                    case $created_rcs in
                        *"
$path
"*) created=created ;;
                    esac
                    status=0
                    rc_edit remove "$path" "$created" || status=$?
                    if [ "$status" -eq 0 ]; then
                        say "  removed keyrack's line from $path"
                    fi
                fi
                ;;
            link)
                if [ -L "$path" ]; then
                    case $(readlink "$path") in
                        "$venv"/*)
                            rm -f "$path"
                            say "  removed $path"
                            ;;
                    esac
                fi
                ;;
            pipx)
                if command -v pipx >/dev/null 2>&1 && pipx uninstall "$path" >/dev/null 2>&1; then
                    say "  pipx uninstall $path"
                fi
                ;;
            uv)
                if command -v uv >/dev/null 2>&1 && uv tool uninstall "$path" >/dev/null 2>&1; then
                    say "  uv tool uninstall $path"
                fi
                ;;
            hook)
                if [ -f "$path" ]; then
                    rm -f "$path"
                    say "  removed $path"
                fi
                ;;
        esac
    done <"$manifest"
    if [ -d "$venv" ]; then
        rm -rf "$venv"
        say "  removed $venv"
    fi
    # folders it created, deepest first, only when nothing else is in them
    dirs=$(sed -n "s/^dir${tab}//p" "$manifest" | sort -r)
    rm -f "$manifest"
    printf '%s\n' "$dirs" | while IFS= read -r d; do
        [ -z "$d" ] || rmdir "$d" 2>/dev/null || true
    done
    if [ "$left_profiles" -eq 1 ]; then
        say "Uninstalled keyrack ($cfg was not edited: the keyrack profiles named above fail until you reinstall)."
    else
        say "Uninstalled keyrack (your ~/.aws and its sessions were left alone)."
    fi
}

case $action in
    install) do_install ;;
    uninstall) do_uninstall ;;
esac

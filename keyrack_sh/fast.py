"""credential_process hot path: print cached role credentials, or hand over.

Run by every AWS SDK call as `<python> -I -S <this file> PROFILE`, so it
starts with no site: it loads keyrack_sh.hotpath (stdlib `os` and `time`
only; compiled once and cached, where this file, run as a script, is compiled
afresh at every call) and nothing else on a hit. A miss goes forward to
gate.py (builtins only too): callers that find a concurrent miss already
fetching wait for its answer; the one that fetches enables site and runs the
slow path (credential_process.py).
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # run as a script: the package is beside this file, not on sys.path
    _parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if _parent not in sys.path:
        sys.path.insert(0, _parent)

from keyrack_sh import hotpath  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        os.fstat(1)
    except OSError:  # stdout closed: the next open would get fd 1 and the answer would go into that file
        hotpath.stderr_line(b"keyrack: credential-process has no stdout to answer on (file descriptor 1 is closed)\n")
        return 1
    if len(argv) == 1 and hotpath.valid_name(argv[0]):
        payload = hotpath.cached(argv[0])
        if payload is not None:
            return hotpath.answer(payload)
    from keyrack_sh import gate

    return gate.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())

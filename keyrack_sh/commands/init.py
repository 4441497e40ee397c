"""`keyrack init [SHELL] [--write]`: print the shell hook, or pre-render it for fast start-up."""
from __future__ import annotations

import argparse

from keyrack_sh import shells


def run(args: argparse.Namespace) -> int:
    shell = args.shell or shells.detect_shell()
    prompt = not args.no_prompt
    if args.write:
        path = shells.write_init(shell, prompt=prompt)
        # stdout is the rc line alone, so install.sh can append it verbatim.
        print(shells.rc_line(shell, path))
        return 0
    print(shells.render(shells.build_context(shell, prompt=prompt)), end="")
    return 0

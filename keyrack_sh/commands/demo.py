"""`keyrack demo [--shell]`: the whole flow, offline, in a scratch folder (keyrack_sh/demo.py)."""
from __future__ import annotations

import argparse
import signal


def _interrupt(signum: int, frame: object) -> None:
    # A terminated demo still stops its servers and removes its scratch folder.
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from keyrack_sh import demo

    signal.signal(signal.SIGTERM, _interrupt)
    return demo.run(shell=args.shell)

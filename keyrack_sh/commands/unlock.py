"""`keyrack unlock`: not built yet."""
from __future__ import annotations

import argparse

from keyrack_sh.errors import UserError


def run(args: argparse.Namespace) -> int:
    raise UserError("'keyrack unlock' is not built yet")

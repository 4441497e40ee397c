"""`keyrack credential-process PROFILE`: what an AWS SDK runs (see keyrack_sh/fast.py).

cli.main sends the plain form straight to fast.main; this module only sees
the odd spellings argparse had to parse, and answers them the same way.
"""
from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from keyrack_sh import fast

    return fast.main([args.profile])

"""`keyrack unlock [PROFILE]`: sign in now (even when auto-unlock is 'never')."""
from __future__ import annotations

import argparse
import json
import time

from keyrack_sh import engine, profiles, prompt_state
from keyrack_sh.commands import _profile


def _when(epoch: int | None) -> str:
    if not epoch:
        return "unknown"
    left = max(0, int(epoch - time.time()))
    clock = time.strftime("%H:%M", time.localtime(epoch))
    return f"{clock} ({left // 3600}h{left % 3600 // 60:02d}m left)"


def run(args: argparse.Namespace) -> int:
    name = _profile.resolve(args.profile, "unlock")
    config = profiles.load()
    profile = config.profile(name)
    session = config.session_of(profile)  # its keyrack_browser opens the sign-in
    flow = engine.login_flow(profile.login, session.browser, device_code=args.device_code)
    info = engine.unlock(session, flow=flow, no_browser=args.no_browser)
    prompt_state.write_profile(profile.name, session.name)
    if args.json:
        print(json.dumps({"profile": profile.name, **info.to_json()}, sort_keys=True))
    elif info.signed_in:
        print(f"unlocked sso-session {session.name} (profile {profile.name}) until {_when(info.session_end)}")
    else:
        print(f"sso-session {session.name} is already unlocked until {_when(info.session_end)} "
              f"(keyrack relock {profile.name} to sign out)")
    return 0

"""One verify per account after a sync: STS through keyrack's credential_process, in a fresh boto3 process.

Not one boto3 process per profile (500 accounts would be 500 interpreters
importing botocore): one process parses the config once and, for one profile
of each account, lets botocore's own ProcessProvider run the profile's
credential_process line (what any SDK runs for it), then asks STS who that
is, a bounded number of accounts at a time. The role credentials are fetched
first, here, through the engine, so each credential_process is a hit. The roundtrip's full check
(boto3's whole provider chain picks keyrack) runs once per sso-session, in
roundtrip.verify.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from keyrack_sh import roundtrip
from keyrack_sh.profiles import Profile, SsoSession

CONCURRENCY = 8
TIMEOUT_PER_ACCOUNT = 30.0

_VERIFY = r"""
import json, sys, threading
from concurrent.futures import ThreadPoolExecutor
import botocore.config, botocore.credentials, botocore.session

jobs, workers = json.load(sys.stdin), int(sys.argv[1])
base = botocore.session.get_session()
config = base.full_config  # parsed once for every profile
client_lock = threading.Lock()  # creating clients from one session is not thread-safe
local = threading.local()
retry = botocore.config.Config(retries={"total_max_attempts": 2}, connect_timeout=10, read_timeout=30)

def sts(region, creds):
    # One client per thread and region (creating one costs ~0.1 s of CPU, 500 would be a minute),
    # signing each call with the profile's credentials: the request signer reads them per request.
    clients = local.__dict__.setdefault("clients", {})
    if region not in clients:
        with client_lock:
            clients[region] = base.create_client("sts", region_name=region, config=retry,
                                                 aws_access_key_id="-", aws_secret_access_key="-")
    client = clients[region]
    client._request_signer._credentials = creds
    return client

def one(job):
    name, region = job
    out = {"profile": name, "stage": "credentials"}
    try:
        creds = botocore.credentials.ProcessProvider(name, lambda: config).load()
        if creds is None:
            raise RuntimeError("the profile has no credential_process")
        out["stage"] = "sts"
        ident = sts(region, creds).get_caller_identity()
        out.update(stage=None, account=ident["Account"], arn=ident["Arn"])
    except Exception as exc:
        err = getattr(exc, "response", {}).get("Error", {})
        out.update(code=err.get("Code") or type(exc).__name__,
                   message=" ".join(str(err.get("Message") or exc).split())[:300])
    return out

with ThreadPoolExecutor(max_workers=workers) as pool:
    print(json.dumps(list(pool.map(one, jobs))))
"""


@dataclass(frozen=True)
class Checked:
    profile: str
    account_id: str
    arn: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _fetch(chosen: Sequence[Profile], session: SsoSession, concurrency: int) -> None:
    """Fetch each profile's role credentials here, where botocore is loaded already, into the cache
    the hot path reads: each credential_process of the check is then a hit (~35 ms) instead of a
    slow path importing botocore again (~0.5 s of CPU each). What fails, the check then meets."""
    from keyrack_sh import engine

    engine.prefetch(list(chosen), session, concurrency=concurrency)


def verify_accounts(chosen: Sequence[Profile], session: SsoSession, concurrency: int = CONCURRENCY,
                    clock: Callable[[str], None] | None = None) -> list[Checked]:
    """Verify each profile in `chosen` (one per account); a failure is reported, never raised."""
    if not chosen:
        return []
    _fetch(chosen, session, concurrency)
    if clock is not None:
        clock("fetch role credentials")
    default_region = session.region
    env = dict(os.environ)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE"):
        env.pop(name, None)
    env["KEYRACK_AUTO_UNLOCK"] = "never"  # signed in just before: never a browser from here
    jobs = [[p.name, p.region or default_region] for p in chosen]
    timeout = 60 + TIMEOUT_PER_ACCOUNT * len(chosen) / max(1, concurrency)
    try:
        proc = subprocess.run([sys.executable, "-c", _VERIFY, str(max(1, concurrency))], input=json.dumps(jobs),
                              env=env, capture_output=True, text=True, timeout=timeout)
        answers = json.loads(proc.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return [Checked(p.name, p.account_id, None, f"no answer within {timeout:g} s") for p in chosen]
    except (ValueError, IndexError):
        return [Checked(p.name, p.account_id, None, "the boto3 check crashed") for p in chosen]
    out = []
    for profile, answer in zip(chosen, answers):
        arn = str(answer.get("arn") or "")
        if answer.get("stage") == "credentials":
            error = f"credential_process failed: {answer.get('code')}: {answer.get('message')}"
        elif answer.get("stage") == "sts":
            error = f"STS GetCallerIdentity failed: {answer.get('code')}: {answer.get('message')}"
        elif answer.get("account") != profile.account_id or not roundtrip.expected_role(
                arn, profile.account_id, profile.role_name):
            error = f"STS answered {arn}, not role {profile.role_name} in {profile.account_id}"
        else:
            error = None
        out.append(Checked(profile.name, profile.account_id, arn or None, error))
    return out

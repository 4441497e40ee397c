"""`keyrack sync` from request to result: check, sign in once, list, plan, approve, write, prove.

Order matters, as in `set`: the template and every value are checked and the
config parsed before any network call; a vanity start URL is then followed once
to its AWS portal (flows/vanity, as `set` does); the sign-in flow is the
engine's choice (engine.login_flow); one sign-in (the live session reused,
else the engine's sign-in); the whole listing (a partial one raises, so it is
never written as if complete); the plan; the person's (or --yes's) approval;
one write through config_writer (one lock, one backup, one atomic replace);
then the prompt files (completions), the roundtrip once for a session that has
not passed one, and one verify per account that got a new or changed profile.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from keyrack_sh import config_writer, paths, validate
from keyrack_sh.errors import UserError
from keyrack_sh.profiles import Profile, SsoSession
from keyrack_sh.sync import plan as sync_plan
from keyrack_sh.sync.naming import Template
from keyrack_sh.sync.plan import SyncPlan


@dataclass(frozen=True)
class SyncRequest:
    start_url: str | None = None
    sso_region: str | None = None
    session: str | None = None
    template: str | None = None
    prefix: str = ""
    region: str | None = None
    prune: bool = False
    dry_run: bool = False
    force: bool = False  # --overwrite-edited: also overwrite or prune profiles edited after sync
    flow: str | None = None  # None: engine.login_flow chooses, once the sso-session is known
    device_code: bool = False
    no_browser: bool = False
    start_url_from: str | None = None  # the vanity URL given, once settled to its AWS portal
    concurrency: int = 8

    def check(self) -> None:
        """Every given value, before any file or network is touched."""
        if self.start_url is not None:
            validate.start_url(self.start_url)
        if self.sso_region is not None:
            validate.region(self.sso_region, "SSO region")
        if self.session is not None:
            validate.session_name(self.session)
        if self.region is not None:
            validate.region(self.region)
        if self.sso_region is not None and self.start_url is None:
            raise UserError("--sso-region goes with --start-url",
                            hint="keyrack sync --start-url URL --sso-region REGION (or --sso-session NAME)")

    def settled(self) -> SyncRequest:
        """The start URL as IAM Identity Center knows it (a vanity one followed once) and its region.

        As `set` does (commands/set.py _settle_start_url): one request to a vanity host, none
        for an AWS portal URL, whose host may name the region (then --sso-region is optional).
        """
        if self.start_url is None or self.start_url_from is not None:
            return self
        from keyrack_sh.flows import vanity

        start_url, sso_region, came_from = vanity.settle(self.start_url, self.sso_region)
        if sso_region is None:
            raise UserError(f"the start URL {start_url} does not name its region: --sso-region is needed",
                            hint=f"keyrack sync --start-url {start_url} --sso-region REGION")
        return replace(self, start_url=start_url, sso_region=sso_region, start_url_from=came_from)

    def with_flow(self, session: SsoSession) -> SyncRequest:
        """The sign-in flow, chosen where every sign-in's is: --device-code > KEYRACK_LOGIN > SSH/WSL default."""
        if self.flow is not None:
            return self
        from keyrack_sh import engine

        return replace(self, flow=engine.login_flow(None, session.browser, device_code=self.device_code))


@dataclass
class Outcome:
    plan: SyncPlan
    written: bool = False
    assignments: int = 0
    steps: list[Any] = field(default_factory=list)  # the roundtrip's, when it ran
    verified: list[Any] = field(default_factory=list)  # verify.Checked per account
    roundtrip: bool = False
    start_url_from: str | None = None  # the vanity URL the session's start URL came from
    seconds: dict[str, float] = field(default_factory=dict)  # per phase: listing, plan, write, ..., verify

    @property
    def failed(self) -> list[Any]:
        return [c for c in self.verified if not c.ok]

    def to_json(self) -> dict[str, Any]:
        out = self.plan.to_json()
        out.update(ok=not self.failed, dry_run=not self.written and self.plan.changed, written=self.written,
                   assignments=self.assignments, roundtrip=self.roundtrip,
                   seconds={k: round(v, 3) for k, v in self.seconds.items()},
                   **({"start_url_from": self.start_url_from} if self.start_url_from else {}),
                   steps=[{"step": s.name, "ok": s.ok, "detail": s.detail} for s in self.steps],
                   verified=[{"profile": c.profile, "account_id": c.account_id, "ok": c.ok, "arn": c.arn,
                              **({"error": c.error} if c.error else {})} for c in self.verified])
        return out


def resolve_session(text: str | None, request: SyncRequest) -> tuple[SsoSession, str]:
    """(the sso-session, "add" | "reuse"): named, found by start URL + region, or the config's only one."""
    path = paths.config_file()
    config = sync_plan.parsed(text or "", path)  # a config that does not parse stops here
    if request.start_url and request.sso_region:
        ask = config_writer.SetRequest(profile="-", start_url=request.start_url, sso_region=request.sso_region,
                                       account_id="-", role_name="-", session=request.session)
        name, action = config_writer.choose_session(config_writer.editor(text or "", path), ask, None, path)
        if action == "update":
            existing = config.session(name)
            raise UserError(f"sso-session {name!r} in {path} names {existing.start_url} ({existing.region}), not "
                            f"{request.start_url} ({request.sso_region}); sync does not change it",
                            hint=f"keyrack sync --sso-session {name} (or another --sso-session name)")
        if action == "add":
            return SsoSession(name=name, start_url=request.start_url, region=request.sso_region), "add"
        return config.session(name), "reuse"
    names = config.session_names()
    if request.session:
        if request.session not in names:
            raise UserError(f"sso-session {request.session!r} is not in {path}",
                            hint=f"keyrack sync --start-url URL --sso-region REGION --sso-session {request.session}")
        return config.session(request.session), "reuse"
    if len(names) == 1:
        return config.session(names[0]), "reuse"
    synced = sorted(sync_plan.synced_sessions(config) & set(names))
    if len(synced) == 1:
        return config.session(synced[0]), "reuse"  # the one session sync has written profiles for
    if not names:
        raise UserError(f"no sso-session in {path} to sync", hint="keyrack sync --start-url URL --sso-region REGION")
    raise UserError(f"{len(names)} sso-sessions in {path} ({', '.join(names[:6])}); which one?",
                    hint=f"keyrack sync --sso-session {names[0]}")


def _flow(request: SyncRequest) -> str:
    if request.flow is None:  # sync() chose it (with_flow) before any sign-in
        raise AssertionError("sync's sign-in flow is not chosen yet")
    return request.flow


def _listing(session: SsoSession, request: SyncRequest) -> list[Any]:
    """One sign-in (none while the session is unlocked), then every assignment."""
    from keyrack_sh import engine
    from keyrack_sh.flows import portal
    from keyrack_sh.flows.organisation import list_assignments

    engine.unlock(session, flow=_flow(request), no_browser=request.no_browser)
    try:
        return list_assignments(session, engine.access_token(session, policy="never"),
                                concurrency=request.concurrency)
    except portal.Unauthorized:
        # Revoked or signed out elsewhere since the token was stored: sign in once more.
        engine.relock(session.name, region=session.region)
        engine.unlock(session, flow=_flow(request), no_browser=request.no_browser, force=True)
        return list_assignments(session, engine.access_token(session, policy="never"),
                                concurrency=request.concurrency)


def sync(request: SyncRequest, approve: Callable[[SyncPlan], None] | None = None,
         on_step: Callable[[Any], None] | None = None) -> Outcome:
    """Plan (and unless dry_run, write and prove) the sync. `approve` raises to refuse."""
    clock = _Clock()
    request.check()
    template = Template(request.template, request.prefix)
    text = config_writer.read_config()
    sync_plan.parsed(text or "", paths.config_file())  # a config that does not parse stops before any request
    request = request.settled()
    session, action = resolve_session(text, request)
    request = request.with_flow(session)
    clock.lap("check")
    assignments = _listing(session, request)
    clock.lap("listing")  # the sign-in (if any) and the server's answers, mostly
    if not assignments:
        raise UserError(f"IAM Identity Center gives your user no account and role at {session.start_url}; "
                        f"nothing written", hint="ask your administrator for an assignment")

    def plan_for(current: str | None) -> SyncPlan:
        now_session, now_action = resolve_session(current, request)
        if now_session != session:
            raise UserError(f"sso-session {session.name!r} changed in {paths.config_file()} meanwhile; "
                            f"nothing written", hint="run keyrack sync again")
        return sync_plan.plan(current, session, now_action, assignments, template, region=request.region,
                              prune=request.prune, force=request.force)

    if request.dry_run:
        outcome = Outcome(plan=plan_for(text), assignments=len(assignments), start_url_from=request.start_url_from)
        clock.lap("plan")
        outcome.seconds = clock.laps
        return outcome

    def approve_timed(the_plan: SyncPlan) -> None:
        clock.lap("plan")
        if approve is not None:
            approve(the_plan)
        clock.lap("asking")

    the_plan = config_writer.apply_planned(plan_for, approve_timed, same=lambda a, b: a.shape() == b.shape())
    clock.lap("write")
    outcome = Outcome(plan=the_plan, written=the_plan.changed, assignments=len(assignments), seconds=clock.laps,
                      start_url_from=request.start_url_from)
    _after_write(the_plan)
    clock.lap("prompt files")
    _prove(outcome, request, on_step, clock)
    return outcome


class _Clock:
    """Seconds per phase, for --json and bench/sync_bench.py (what is sync's own work, what the server's)."""

    def __init__(self) -> None:
        import time

        self._now = time.perf_counter
        self._last = self._now()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = self._now()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now


def _after_write(the_plan: SyncPlan) -> None:
    """Completions and `list` see the new profiles; a pruned one leaves no prompt file or credentials."""
    from keyrack_sh import cache, prompt_state

    names = {e.name: the_plan.session.name for e in the_plan.of("add", "change", "unchanged", "edited", "stale")}
    prompt_state.write_profiles(names)
    gone = [e.name for e in the_plan.of("remove")]
    if gone:
        prompt_state.remove_profiles(gone)
        for name in gone:
            cache.remove_role_creds(name)


def _prove(outcome: Outcome, request: SyncRequest, on_step: Callable[[Any], None] | None, clock: _Clock) -> None:
    """The roundtrip once for the session (if it has not passed one), then one verify per account."""
    from keyrack_sh import roundtrip
    from keyrack_sh.sync import verify
    from keyrack_sh.vaults.identity_center import IdentityCenterVault

    the_plan = outcome.plan
    per_account: dict[str, Profile] = {}
    config = sync_plan.parsed(the_plan.after, the_plan.path)  # what was just written
    for e in the_plan.of("add", "change"):
        if e.account_id not in per_account:
            per_account[e.account_id] = config.profile(e.name)
    if not per_account:
        return
    vault = IdentityCenterVault()
    session = config.session(the_plan.session.name)
    first = next(iter(per_account.values()))
    force = the_plan.session_action == "add"
    if force or roundtrip.proven_at(vault, session) is None:
        try:
            result = roundtrip.run(vault, first, session, flow=_flow(request), no_browser=request.no_browser,
                                   on_step=on_step, force=force)
        except roundtrip.RoundtripFailure as failure:
            outcome.steps = failure.result.steps
            restored = config_writer.restore(the_plan)  # nothing proven: the config goes back
            raise type(failure.error)(f"sync failed at the roundtrip ({failure.step}): {failure.error.message}; "
                                      f"{_restored(the_plan, restored)}", hint=failure.error.hint) from None
        outcome.steps, outcome.roundtrip = result.steps, result.roundtrip
        outcome.verified.append(verify.Checked(first.name, first.account_id, result.arn))
        del per_account[first.account_id]
        clock.lap("roundtrip")
    outcome.verified.extend(verify.verify_accounts(list(per_account.values()), session,
                                                   concurrency=request.concurrency, clock=clock.lap))
    clock.lap("verify")


def _restored(the_plan: SyncPlan, outcome: str) -> str:
    if outcome == config_writer.MERGED:
        return f"another writer changed {the_plan.path} meanwhile, so only sync's sections were put back"
    if outcome == config_writer.GONE:
        return f"{the_plan.path} was deleted meanwhile"
    return f"{the_plan.path} is back as it was"


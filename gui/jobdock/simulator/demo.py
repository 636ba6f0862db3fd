"""The demo (`jobdock --demo`, the window's demo mode): Jobdock against the built-in simulator.

One simulator serves a demo data dir at a time, as one real API serves every process on a real
data dir. `start` either serves it (it holds `simulator.lock` in the demo dir, brings the
simulator back where the last run left it: same ports, secrets, jobs and result files, keeps its
state saved as it changes, and writes the demo accounts on it to `simulator.json`), or, while
another process serves it, reads those accounts and watches: when the serving process goes (it
ends, or is killed), the first one to notice serves the simulator again from the saved state, on
the same ports when they are free; when its accounts differ (other ports), every process gives
them to its engine again. A fresh demo takes a stretch of ports below every system's ephemeral
range (`STABLE_PORTS`): a port it frees there is not handed to another program meanwhile, so the
next run gets it back (from the ephemeral range any program's connection could take it).

The `Demo` it answers adds the demo accounts to an engine: one for each built-in provider and one
for each bundled profile whose fake the simulator registers (built from what the fake declares,
`config.DemoProfile`), and, in a fresh demo with an empty store, one demo job on each (and one
meant to fail for vainu and cisco-cce, through the simulator's `sim_outcome`). This is the one
place that knows the demo's accounts and the simulator's fake outcomes; the runtime only calls
`start`, `Demo.set_up` and `Demo.close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from jobdock.core.download import filelock
from jobdock.core.model.errors import JobdockError
from jobdock.core.model.job import Account, Job, SubmitRequest
from jobdock.core.net.requests import build_request
from jobdock.core.providers import builtin_ids
from jobdock.core.providers.base import Provider
from jobdock.core.providers.profiles.oauth import encode_secrets
from jobdock.simulator import persist
from jobdock.simulator.config import DemoAccount, DemoProfile, SimConfig, demo_config
from jobdock.simulator.simulator import PROVIDERS, Simulator

log = logging.getLogger("jobdock.simulator")
FAILING_DEMO_PROVIDERS = ("vainu", "cisco-cce")  # each also gets a job the simulator fails
SERVING_LOCK = "simulator.lock"  # held by the process whose simulator serves the demo
STARTING_LOCK = "simulator.starting.lock"  # held while a process starts serving or joins
ADDRESS_FILE = "simulator.json"  # the demo accounts on the simulator that serves now
# Below the ephemeral ranges (Linux 32768-60999, Windows and macOS 49152-65535) and above the
# well-known and most registered server ports.
STABLE_PORTS = (20_000, 32_000)
WATCH_INTERVAL = 0.25  # how often a process that does not serve checks that one still does


class DemoEngine(Protocol):
    """What the demo set-up needs of the engine."""

    def jobs(self) -> Sequence[Job]: ...

    def provider(self, provider_id: str) -> Provider: ...

    async def add_account(self, account: Account, secret: str | None) -> object: ...

    async def submit(
        self, account_name: str, request: SubmitRequest, *, label: str = ""
    ) -> Job: ...


def profile_accounts(sim: Simulator) -> list[DemoAccount]:
    """A demo account for each bundled profile whose fake `sim` registers, from what the fake
    declares (`demo_profile(origin)`, a `DemoProfile`; the defaults when it declares nothing)."""
    bundled = builtin_ids()
    accounts = []
    for name, api in sim.apis.items():
        if name in PROVIDERS or name not in bundled:
            continue  # a built-in provider (sim.demo_accounts) or a token endpoint
        declare = getattr(api, "demo_profile", None)
        declared = declare(sim.origin) if callable(declare) else DemoProfile()
        assert isinstance(declared, DemoProfile), name
        secrets = declared.secrets
        accounts.append(
            DemoAccount(
                name=declared.account or f"demo-{name.split('-')[0]}",
                provider=name,
                base_url=declared.base_url or sim.base_url(name),
                user=sim.user(name),
                secret=encode_secrets(secrets) if secrets is not None else sim.secret(name),
                request=declared.request,
                path=declared.path,
                options=dict(declared.options),
            )
        )
    return accounts


def demo_accounts(sim: Simulator) -> list[DemoAccount]:
    """Every demo account on a running simulator: the built-in providers', then the profiles'."""
    return [*sim.demo_accounts(), *profile_accounts(sim)]


def _account_json(account: DemoAccount) -> dict[str, Any]:
    request = account.request
    return {
        "name": account.name,
        "provider": account.provider,
        "base_url": account.base_url,
        "user": account.user,
        "secret": account.secret,
        "options": dict(account.options),
        "request": request.to_json() if request is not None else None,
        "path": account.path,
    }


def _account_of(data: dict[str, Any]) -> DemoAccount:
    request = data.get("request")
    return DemoAccount(
        name=data["name"],
        provider=data["provider"],
        base_url=data["base_url"],
        user=data.get("user"),
        secret=data["secret"],
        options=dict(data.get("options") or {}),
        request=SubmitRequest.from_json(request) if request else None,
        path=data.get("path"),
    )


def _write_address(folder: Path, accounts: Sequence[DemoAccount]) -> None:
    target = folder / ADDRESS_FILE
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    data = {"pid": os.getpid(), "accounts": [_account_json(a) for a in accounts]}
    temporary.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(temporary, target)


def _read_address(folder: Path) -> list[DemoAccount] | None:
    try:
        data = json.loads((folder / ADDRESS_FILE).read_text(encoding="utf-8"))
        return [_account_of(a) for a in data["accounts"]]
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("the demo simulator's %s is unusable: %s", ADDRESS_FILE, exc)
        return None


@contextlib.contextmanager
def _starting(folder: Path) -> Iterator[None]:
    """Only one process at a time starts serving the demo dir or joins the one that does."""
    with (folder / STARTING_LOCK).open("a+b") as handle:
        filelock.lock(handle.fileno())
        try:
            yield
        finally:
            filelock.unlock(handle.fileno())


def _hold(folder: Path) -> IO[bytes] | None:
    """The serving lock, held (until `_let_go` of the answered file), or None: another has it."""
    handle = (folder / SERVING_LOCK).open("a+b")
    if not filelock.try_lock(handle.fileno()):
        handle.close()
        return None
    return handle


def _let_go(handle: IO[bytes]) -> None:
    """Release the serving lock `_hold` answered, and close its file."""
    try:
        filelock.unlock(handle.fileno())
    finally:
        handle.close()


def serving(folder: Path) -> bool:
    """Whether a process serves the demo simulator of `folder` now."""
    if not (folder / SERVING_LOCK).exists():
        return False
    held = _hold(folder)
    if held is None:
        return True
    _let_go(held)
    return False


class Demo:
    """This process's part in the demo of `data_dir`: the simulator it serves (`simulator`,
    None while another process serves it) and the demo accounts on the one that serves."""

    def __init__(self, data_dir: Path, config: SimConfig | None = None) -> None:
        self.data_dir = data_dir
        self.simulator: Simulator | None = None
        self.fresh = False  # this process started the demo's simulator from nothing
        self._config = config
        self._held: IO[bytes] | None = None
        self._stop_saving: Callable[[], None] = lambda: None
        self._accounts: list[DemoAccount] = []  # the ones the engine has (or will get)
        self._engine: DemoEngine | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def accounts(self) -> list[DemoAccount]:
        return list(self._accounts)

    def begin(self) -> None:
        """Serve the demo's simulator, or join the process that serves it and watch it."""
        accounts = self._serve_or_join()
        if accounts is None:
            raise RuntimeError(
                f"another process serves the demo simulator of {self.data_dir} but "
                f"{ADDRESS_FILE} does not say where"
            )
        self._accounts = accounts
        if self.simulator is None:
            self._watcher = threading.Thread(
                target=self._watch, daemon=True, name="demo-simulator-watch"
            )
            self._watcher.start()

    def _serve_or_join(self) -> list[DemoAccount] | None:
        with _starting(self.data_dir):
            held = _hold(self.data_dir)
            if held is None:
                return _read_address(self.data_dir)
            try:
                sim = Simulator(self._config or demo_config())
                ports = persist.restore(sim, self.data_dir)
                stop_saving = persist.keep_saved(sim, self.data_dir)
                sim.start(ports=ports or stable_ports(sim))
            except BaseException:
                _let_go(held)
                raise
            persist.save(sim, self.data_dir)
            accounts = demo_accounts(sim)
            _write_address(self.data_dir, accounts)
            self.simulator, self._held, self._stop_saving = sim, held, stop_saving
            self.fresh = ports is None
            return accounts

    def _watch(self) -> None:
        """While another process serves the simulator: serve it once that one has gone, and
        hand the engine the accounts again when they changed."""
        while self.simulator is None and not self._closing.wait(WATCH_INTERVAL):
            try:
                accounts = self._serve_or_join()
            except Exception:
                log.exception("the demo simulator could not be served again")
                continue
            if accounts is not None and accounts != self._accounts:
                self._accounts = accounts
                self._give(accounts)
            if self.simulator is not None:
                log.info("this process serves the demo simulator now")

    def _give(self, accounts: list[DemoAccount]) -> None:
        engine, loop = self._engine, self._loop
        if engine is None or loop is None:
            return  # set_up gives them
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to give
            asyncio.run_coroutine_threadsafe(self._add_accounts(engine, accounts), loop)

    @staticmethod
    async def _add_accounts(engine: DemoEngine, accounts: Sequence[DemoAccount]) -> None:
        for demo in accounts:
            await engine.add_account(demo.account(), demo.secret)

    async def set_up(self, engine: DemoEngine) -> None:
        """The demo accounts, and in a fresh demo with an empty store a demo job on each."""
        self._engine, self._loop = engine, asyncio.get_running_loop()
        demo_accounts = self.accounts
        await self._add_accounts(engine, demo_accounts)
        if not self.fresh or engine.jobs():
            return
        # The seeded jobs show each API working (the "(fails)" ones show a failure): none of them
        # takes the demo's random failure, which only jobs submitted later may meet.
        sim = self.simulator
        rate = sim.config.failure_rate if sim is not None else 0.0
        if sim is not None:
            sim.config.failure_rate = 0.0
        try:
            await self._seed(engine, demo_accounts)
        finally:
            if sim is not None:
                sim.config.failure_rate = rate

    @staticmethod
    async def _seed(engine: DemoEngine, demo_accounts: Sequence[DemoAccount]) -> None:
        for demo in demo_accounts:
            provider = engine.provider(demo.provider)
            request = demo.request or provider.default_request()
            if demo.path is not None:
                request = build_request(request, path=demo.path, params=list(request.params))
            jobs = [(request, f"demo {demo.provider}")]
            if demo.provider in FAILING_DEMO_PROVIDERS:
                failing = build_request(request, params=[*request.params, ("sim_outcome", "fail")])
                jobs.append((failing, f"demo {demo.provider} (fails)"))
            for job_request, label in jobs:
                try:
                    await engine.submit(demo.name, job_request, label=label)
                except JobdockError as exc:  # one fake out of step: the rest of the demo runs
                    log.warning("the demo job %r was not submitted: %s", label, exc)

    def close(self) -> None:
        """Stop watching; when serving, save the simulator's state for the next run (the engine
        is closed: nothing changes any more), stop it and let another process serve."""
        if self._closing.is_set():
            return
        self._closing.set()
        if self._watcher is not None:
            self._watcher.join()
        self._engine = self._loop = None
        if self.simulator is not None:
            self._stop_saving()
            persist.save(self.simulator, self.data_dir)
            self.simulator.stop()
        if self._held is not None:
            _let_go(self._held)
            self._held = None


def start(data_dir: Path, config: SimConfig | None = None) -> Demo:
    """This process's demo on `data_dir`: it serves the demo simulator (`config` tunes it:
    tests), started where the run before left it, or joins the process that serves it."""
    demo = Demo(data_dir, config)
    demo.begin()
    return demo


def stable_ports(sim: Simulator, rng: random.Random | None = None) -> dict[str, int]:
    """Ports for a fresh demo's origins: a random stretch in `STABLE_PORTS` (a port in use
    there is replaced by a free one when the simulator starts)."""
    names = sim.servers()
    low, high = STABLE_PORTS
    base = (rng or random.Random()).randrange(low, high - len(names))
    return {name: base + n for n, name in enumerate(names)}

"""``chequered serve all``: one process per service, supervised.

Ingest, the classification and standings projectors, the documents service and the gateway each run as a child process
of their own, started as ``chequered serve ROLE`` with the broker's URL in ``NATS_URL``: what a cluster
deployment runs, one per container. No projector batch ever holds up the event loop that answers producers,
and the two cores of a small box both work.

The supervisor binds every port before it starts anything (a port in use is one line) and hands each child
its listening sockets: a restarted gateway serves on the same socket, which no other program can take
meanwhile, and each child serves its own ``/readyz`` and ``/metrics`` on a loopback socket the supervisor
holds and asks. It relays each child's output with the child's name in front, restarts a child that dies
(with a doubling back-off, and a line saying why), and on Ctrl-C or SIGTERM stops the children together
(SIGTERM, then SIGKILL after a grace) before the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from services.broker.connection import NATS_URL_ENV
from services.broker.embedded import EmbeddedNats
from services.observability import RESTARTS, Check, local_metrics, merge_metrics
from services.ports import address, listen
from services.processes import orphan_guard
from services.runtime import STOP_GRACE_S

log = logging.getLogger("chequered.supervisor")
logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line for every readiness probe

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0
STEADY_S = 30.0
"""A child that ran this long before it died is restarted after the first delay again."""
KILL_AFTER_S = STOP_GRACE_S + 0.5
"""A child still running this long after SIGTERM is killed (its own services have :data:`STOP_GRACE_S`)."""
PROBE_TIMEOUT_S = 1.0
STARTING_PROBE_S = 0.1
"""How often a starting child's readiness is asked, until it is ready."""
WATCH_S = 5.0
"""How often a ready child's readiness is asked."""
UNREADY_RESTART_S = 60.0
"""A child that was ready and has not been for this long (its connection closed for good, a task of its dead)
is restarted, as an orchestrator would: whatever broke it does not mend by itself."""
BROKER_WATCH_S = 0.5
EXPECTED_FAILURE = 2
"""The exit code of ``chequered`` for an expected failure it explained in one line (a configuration conflict):
a child that exits with it before it was ever ready is not restarted, the supervisor stops with it."""

PROJECTORS = ("classification", "standings", "documents")
"""The children that follow the log and write what they make of it (read models, documents)."""
PROJECTOR_NICE = 19
"""When the cores are all busy (a replay at full speed), ingest, the broker and the gateway come first: a
projector behind the log folds bigger batches when it gets the CPU back, each event costing it less, while an
acknowledgement or a push delayed is latency nobody gets back. A live race needs a fraction of a percent of a
core from each projector, which even the lowest priority's share of a busy machine covers."""

Relay = Callable[[str, str], None]
"""Where a child's output line goes: ``relay(child name, line)``."""
LINE_LIMIT = 2**16
"""asyncio's default limit of a line read from a pipe."""


def backoff(failures: int) -> float:
    """The delay before restart number ``failures`` in a row: 0.5 s, doubling, at most 10 s."""
    return float(min(BACKOFF_FIRST_S * 2 ** max(0, failures - 1), BACKOFF_MAX_S))


def exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class ChildSpec:
    """One service: its name, its ``chequered`` arguments, the sockets it inherits, its environment."""

    name: str
    args: list[str]
    ops: socket.socket
    """The loopback socket of its ``/healthz``, ``/readyz``, ``/metrics``."""
    sockets: list[socket.socket] = field(default_factory=list)
    """More listening sockets it serves on (the gateway's)."""
    env: dict[str, str] = field(default_factory=dict)
    nice: int = 0
    """How much less CPU it gets than the others when they compete for it (``nice``)."""

    @property
    def ops_url(self) -> str:
        host, port = address(self.ops)
        return f"http://{host}:{port}"


def service_spec(role: str, nats_url: str, log_format: str, extra: Sequence[str] = ()) -> ChildSpec:
    """``chequered serve ROLE`` for a child, with a fresh loopback ops socket; a projector runs at a lower CPU
    priority (:data:`PROJECTOR_NICE`). The broker's URL goes in the environment, not on the command line that
    anyone on the machine can read (it may hold a password)."""
    ops = listen("127.0.0.1", 0, f"{role} ops", "--ops-port")
    args = ["serve", role, "--ops-fd", str(ops.fileno()), "--log-format", log_format, *extra]
    nice = PROJECTOR_NICE if role in PROJECTORS else 0
    return ChildSpec(role, args, ops, env={NATS_URL_ENV: nats_url}, nice=nice)


class Child:
    """A child process of the supervisor, started again when it dies."""

    def __init__(self, spec: ChildSpec, relay: Relay) -> None:
        self.spec = spec
        self.relay = relay
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.failures = 0
        """Deaths in a row without a steady run."""
        self.ready = asyncio.Event()
        """Set once the current process answered ready."""
        self.ever_ready = False
        self.last_exit = ""
        self.restart_at = 0.0
        self.failed: str | None = None
        """Why it was given up (an expected failure before it was ever ready)."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def spawn(self) -> None:
        self.ready.clear()
        fds = [self.spec.ops.fileno(), *(sock.fileno() for sock in self.spec.sockets)]
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.cli",
            *self.spec.args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # every line as soon as it is written, and whole (the supervisor puts the name in front)
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "400", **self.spec.env},
            pass_fds=fds,
            process_group=0,  # Ctrl-C reaches the supervisor only, which stops the children in order
            preexec_fn=self._prepare(),
        )

    def _prepare(self) -> Callable[[], None]:
        """What the child does before it runs chequered: never outlive the supervisor, take its priority."""
        guard, nice = orphan_guard(), self.spec.nice

        def prepare() -> None:
            if guard is not None:
                guard()
            if nice:
                os.nice(nice)

        return prepare

    async def relay_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        await relay_lines(self.name, self.process.stdout, self.relay)

    async def signal(self, sig: signal.Signals) -> None:
        if self.running:
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)


async def relay_lines(name: str, stream: asyncio.StreamReader, relay: Relay) -> None:
    """Relay every line of a child's output until it ends.

    A line longer than the stream's limit (64 KiB: a huge traceback or log record) is dropped by asyncio, which
    raises: it is said in its place and the rest relayed, so the child's pipe is always drained (a child that can
    no longer write its output blocks for good).
    """
    while True:
        try:
            line = await stream.readline()
        except ValueError:
            line = f"[a line longer than {LINE_LIMIT // 1024} KiB was cut]\n".encode()
        if not line:
            return
        with contextlib.suppress(OSError):  # our own output gone (a closed terminal): keep the child's drained
            relay(name, line.decode("utf-8", "replace").rstrip("\n"))


class Supervisor:
    """The children of ``serve all`` (and the broker when it is embedded): started, watched, probed, stopped."""

    def __init__(self, specs: Sequence[ChildSpec], relay: Relay, broker: EmbeddedNats | None = None) -> None:
        self.children = [Child(spec, relay) for spec in specs]
        self.broker = broker
        self.stopping = asyncio.Event()
        self.failed = asyncio.Event()
        """Set when a child failed in a way a restart does not mend, or the broker could not be restarted."""
        self._tasks: list[asyncio.Task[None]] = []
        self._http = httpx.AsyncClient(timeout=PROBE_TIMEOUT_S)

    async def start(self) -> None:
        for child in self.children:
            self._tasks.append(asyncio.create_task(self._keep(child), name=f"supervise-{child.name}"))
        if self.broker is not None:
            self._tasks.append(asyncio.create_task(self._watch_broker(), name="supervise-broker"))

    async def wait_ready(self) -> bool:
        """Until every child answered ready (True), or the supervisor failed or was asked to stop (False)."""

        async def every_child() -> None:
            for child in self.children:
                await child.ready.wait()

        waits = [asyncio.ensure_future(wait) for wait in (every_child(), self.failed.wait(), self.stopping.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return all(child.ready.is_set() for child in self.children) and not self.failed.is_set()

    async def _keep(self, child: Child) -> None:
        """Run the child; when it dies, say why and start it again after the back-off, until stopping."""
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                await child.spawn()
            except OSError as error:  # no interpreter, no memory: a restart would not mend it
                child.failed = f"{child.name} could not be started: {error}"
                log.error("%s", child.failed)
                self.failed.set()
                return
            probe = asyncio.create_task(self._watch(child))
            await child.relay_output()
            assert child.process is not None
            code = await child.process.wait()
            probe.cancel()
            if self.stopping.is_set():
                return
            child.last_exit = exit_reason(code)
            if code == EXPECTED_FAILURE and not child.ever_ready:
                child.failed = f"{child.name} could not start ({child.last_exit}); see its line above"
                log.error("%s", child.failed)
                self.failed.set()
                return
            child.failures = 1 if time.monotonic() - started >= STEADY_S else child.failures + 1
            delay = backoff(child.failures)
            child.restart_at = time.monotonic() + delay
            log.warning("%s stopped (%s); restarting in %.1f s", child.name, child.last_exit, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            if self.stopping.is_set():
                return
            child.restarts += 1
            RESTARTS.labels(child.name).inc()

    async def _watch(self, child: Child) -> None:
        """Ask the child whether it is ready (a child says nothing by itself): often while it starts, then every
        :data:`WATCH_S`; one that stays unready for :data:`UNREADY_RESTART_S` is stopped, to be started again."""
        last_ready = time.monotonic()
        while True:
            check = await self._probe(child)
            now = time.monotonic()
            if check.ready:
                last_ready = now
                if not child.ready.is_set():
                    if child.ever_ready:
                        log.info("%s is ready again (restart %d)", child.name, child.restarts)
                    child.ever_ready = True
                    child.ready.set()
            elif child.ready.is_set() and now - last_ready >= UNREADY_RESTART_S:
                log.warning(
                    "%s has not been ready for %.0f s (%s): restarting it", child.name, now - last_ready, check.detail
                )
                await child.signal(signal.SIGTERM)
                assert child.process is not None
                try:
                    await asyncio.wait_for(child.process.wait(), KILL_AFTER_S)
                except TimeoutError:
                    await child.signal(signal.SIGKILL)
                return
            await asyncio.sleep(WATCH_S if child.ready.is_set() else STARTING_PROBE_S)

    async def _probe(self, child: Child) -> Check:
        """The child's own readiness (its ``/readyz``), or why it has none."""
        if not child.running:
            if child.failed:
                return Check(child.name, False, child.failed)
            if not child.last_exit:
                return Check(child.name, False, "starting")
            wait = max(0.0, child.restart_at - time.monotonic())
            return Check(child.name, False, f"{child.last_exit}; restarting in {wait:.1f} s")
        assert child.process is not None
        detail = f"pid {child.process.pid}, restarts {child.restarts}"
        try:
            answer = await self._http.get(f"{child.spec.ops_url}/readyz")
        except httpx.HTTPError as error:
            return Check(child.name, False, f"{detail}; not answering ({type(error).__name__})")
        if answer.status_code == 200:
            return Check(child.name, True, detail)
        lines = [line for line in answer.text.splitlines()[1:] if "not ready" in line]
        return Check(child.name, False, f"{detail}; {'; '.join(lines) or answer.text.strip()}")

    async def checks(self) -> list[Check]:
        """Readiness, part by part: the broker, then each child as it answers now."""
        parts = list(await asyncio.gather(*(self._probe(child) for child in self.children)))
        if self.broker is not None:
            process = self.broker.process
            up = process is not None and process.poll() is None
            detail = f"pid {process.pid}, {self.broker.url}" if up and process else "not running"
            parts.insert(0, Check("broker", up, detail))
        return parts

    async def metrics(self) -> bytes:
        """The supervisor's metrics and every running child's, each sample labelled with its service."""

        async def scrape(child: Child) -> tuple[str, str]:
            try:
                return child.name, (await self._http.get(f"{child.spec.ops_url}/metrics")).text
            except httpx.HTTPError:
                return child.name, ""

        texts = dict(await asyncio.gather(*(scrape(child) for child in self.children if child.running)))
        return merge_metrics({"supervisor": (await local_metrics()).decode(), **texts})

    async def _watch_broker(self) -> None:
        """Start the embedded broker again (same port, same store) if it stops; the services reconnect."""
        assert self.broker is not None
        failures = 0
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), BROKER_WATCH_S)
            process = self.broker.process
            if self.stopping.is_set() or process is None or process.poll() is None:
                continue
            failures += 1
            log.warning("the broker stopped (%s); restarting it", exit_reason(process.returncode))
            await asyncio.sleep(backoff(failures))
            try:
                self.broker.start()  # on this thread: the broker must not outlive it
            except RuntimeError as error:
                log.error("the broker could not be restarted: %s", error)
                self.failed.set()
                return
            RESTARTS.labels("broker").inc()

    async def stop(self, urgent: asyncio.Event | None = None) -> list[str]:
        """SIGTERM to every child, SIGKILL to those still running after :data:`KILL_AFTER_S` (or at once when
        ``urgent`` is set: a second Ctrl-C); the names of the children that had to be killed."""
        self.stopping.set()
        for child in self.children:
            await child.signal(signal.SIGTERM)
        killed: list[str] = []

        async def reap(child: Child) -> None:
            if child.process is None:
                return
            waiting = asyncio.ensure_future(child.process.wait())
            hurry = asyncio.ensure_future(urgent.wait()) if urgent is not None else None
            pending = [f for f in (waiting, hurry) if f is not None]
            await asyncio.wait(pending, timeout=KILL_AFTER_S, return_when=asyncio.FIRST_COMPLETED)
            if hurry is not None:
                hurry.cancel()
            if not waiting.done():
                killed.append(child.name)
                await child.signal(signal.SIGKILL)
                await waiting

        await asyncio.gather(*(reap(child) for child in self.children))
        if self._tasks:  # each ends once its child's last lines are relayed
            await asyncio.wait(self._tasks, timeout=1.0)
        for task in self._tasks:
            task.cancel()
        await self._http.aclose()
        return killed

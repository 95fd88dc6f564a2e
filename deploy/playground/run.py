"""The graysignal playground: a gray signal, end to end, on your machine, in minutes.

Starts four local background processes on 127.0.0.1, from Debian's packages and this
checkout (no containers):

- the demo service (``demo_service.py``), whose p99 latency and error log creep up
  slowly on an accelerated clock (one simulated day per real minute);
- Prometheus, scraping the demo service every second (and graysignal, Alertmanager and
  itself), with graysignal's own "who watches the watcher" alerts loaded
  (``deploy/prometheus/graysignal-alerts.yml``);
- Alertmanager, which receives every alert (no receivers: look at its UI or API);
- ``graysignal run`` with ``deploy/playground/rules.yaml``, reading that Prometheus and
  sending to that Alertmanager.

The first gray-signal alert reaches Alertmanager within two minutes of the start.

Usage (``make playground`` / ``make playground-stop`` call the first two)::

    python deploy/playground/run.py start    # start everything, print the URLs
    python deploy/playground/run.py stop     # stop everything, remove the state directory
    python deploy/playground/run.py status   # what runs, and the alerts so far
    python deploy/playground/run.py wait     # block until the first gray-signal alert

Ports (defaults in :data:`DEFAULT_PORTS`) and the state directory (``.playground/``:
PID files, logs, configuration, Prometheus and Alertmanager data, the ledger) can be
changed with flags or ``PLAYGROUND_*`` environment variables; see ``--help``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HERE = REPO / "deploy" / "playground"
RULES = HERE / "rules.yaml"
DEMO_SERVICE = HERE / "demo_service.py"
META_ALERTS = REPO / "deploy" / "prometheus" / "graysignal-alerts.yml"
DEFAULT_DIR = REPO / ".playground"

# Components in start order; they stop in the reverse order, graysignal first, so it can
# flush its outbox to an Alertmanager that is still there.
ORDER = ("demo", "alertmanager", "prometheus", "graysignal")
DEFAULT_PORTS = {"demo": 19100, "alertmanager": 19093, "prometheus": 19090, "graysignal": 19786}
LABELS = {
    "demo": "demo service",
    "alertmanager": "Alertmanager",
    "prometheus": "Prometheus",
    "graysignal": "graysignal",
}
PROMETHEUS = "prometheus"
ALERTMANAGER = "prometheus-alertmanager"
MARKER = ".graysignal-playground"  # only a directory holding it is ever deleted

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
WAIT_TIMEOUT = 300.0
POLL = 0.2


class PlaygroundError(Exception):
    """Something the user can act on; printed without a traceback."""


def port_variable(name: str) -> str:
    return f"PLAYGROUND_{name.upper()}_PORT"


# --- processes ----------------------------------------------------------------------


@dataclass(frozen=True)
class PidRecord:
    """A process we started: its PID and its start time, so a recycled PID is never
    mistaken for ours (and never signalled)."""

    pid: int
    started: str

    def line(self) -> str:
        return f"{self.pid} {self.started}\n"


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of a live process (``/proc/PID/stat``), else None.

    Zombies count as dead. Without ``/proc`` (not Linux) a live PID is all we can check.
    """
    if not Path("/proc/self/stat").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return "-"
        return "-"
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]  # field 22, starttime


def is_alive(record: PidRecord) -> bool:
    return process_start_time(record.pid) == record.started


def pid_file(state: Path, name: str) -> Path:
    return state / f"{name}.pid"


def read_pid(state: Path, name: str) -> PidRecord | None:
    try:
        pid, started = pid_file(state, name).read_text().split()
        return PidRecord(int(pid), started)
    except (OSError, ValueError):
        return None


def running(state: Path) -> dict[str, PidRecord]:
    """The playground processes recorded in ``state`` that are still alive."""
    found = {}
    for name in ORDER:
        record = read_pid(state, name)
        if record is not None and is_alive(record):
            found[name] = record
    return found


def terminate(record: PidRecord, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; True if it stopped on SIGTERM."""
    if not is_alive(record):
        return True
    with contextlib.suppress(ProcessLookupError):  # it may exit between check and kill
        os.kill(record.pid, signal.SIGTERM)
    if _wait_dead(record, timeout):
        return True
    if is_alive(record):
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGKILL)
    _wait_dead(record, 5.0)
    return False


def _wait_dead(record: PidRecord, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_alive(record):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL)
    return True


# --- configuration ------------------------------------------------------------------


@dataclass(frozen=True)
class Playground:
    """Where the playground lives and which ports it uses."""

    state: Path
    ports: dict[str, int]
    speed: float

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def log(self, name: str) -> Path:
        return self.state / f"{name}.log"


def prometheus_config(pg: Playground, alert_rules: Path) -> dict[str, Any]:
    def job(name: str, port: int, interval: str) -> dict[str, Any]:
        return {
            "job_name": name,
            "scrape_interval": interval,
            "scrape_timeout": "1s",
            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
        }

    return {
        # Every second: the playground's rules use a 1s step (see rules.yaml).
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "5s"},
        "rule_files": [str(alert_rules)],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{pg.ports['alertmanager']}"]}]}
            ]
        },
        "scrape_configs": [
            job("demo", pg.ports["demo"], "1s"),
            # The job name the meta-alerts expect (up{job="graysignal"}).
            job("graysignal", pg.ports["graysignal"], "5s"),
            job("alertmanager", pg.ports["alertmanager"], "5s"),
            job("prometheus", pg.ports["prometheus"], "5s"),
        ],
    }


ALERTMANAGER_CONFIG = {
    # One receiver without integrations: alerts are only shown (UI and /api/v2/alerts).
    # Add e.g. a webhook_configs entry to see notifications leave.
    "route": {
        "receiver": "playground",
        "group_by": ["alertname"],
        "group_wait": "5s",
        "group_interval": "30s",
        "repeat_interval": "4h",
    },
    "receivers": [{"name": "playground"}],
}


def graysignal_settings(pg: Playground) -> dict[str, Any]:
    """The daemon's settings file, as an operator would write it (README, "Running")."""
    return {
        "rules": [str(RULES)],
        "ledger": str(pg.state / "ledger.db"),
        "listen_address": f"127.0.0.1:{pg.ports['graysignal']}",
        "alertmanager_urls": [pg.url("alertmanager")],
        "resend_interval": "30s",
        "log_level": "info",
        "log_format": "console",
    }


@dataclass(frozen=True)
class Component:
    """One process: how to start it, and how to tell that *it* is ready: its readiness
    URL must answer 200 with ``ready_text`` in the body (anything else answering on
    that port, e.g. after a port clash, is not mistaken for it)."""

    name: str
    argv: list[str]
    ready_url: str
    ready_text: str
    env: dict[str, str]


def components(pg: Playground) -> list[Component]:
    state = pg.state
    graysignal = graysignal_executable()
    return [
        Component(
            "demo",
            [
                sys.executable,
                str(DEMO_SERVICE),
                f"--listen-address=127.0.0.1:{pg.ports['demo']}",
                f"--speed={pg.speed:g}",
            ],
            f"{pg.url('demo')}/metrics",
            "demo_checkout_latency_p99_seconds",
            {},
        ),
        Component(
            "alertmanager",
            [
                require_binary(ALERTMANAGER),
                f"--config.file={state / 'alertmanager.yml'}",
                f"--storage.path={state / 'alertmanager'}",
                f"--web.listen-address=127.0.0.1:{pg.ports['alertmanager']}",
                # No cluster: it would listen on 0.0.0.0:9094 and look for peers.
                "--cluster.listen-address=",
            ],
            f"{pg.url('alertmanager')}/-/ready",
            "OK",
            {},
        ),
        Component(
            "prometheus",
            [
                require_binary(PROMETHEUS),
                f"--config.file={state / 'prometheus.yml'}",
                f"--storage.tsdb.path={state / 'prometheus'}",
                f"--web.listen-address=127.0.0.1:{pg.ports['prometheus']}",
                "--storage.tsdb.retention.time=1d",
            ],
            f"{pg.url('prometheus')}/-/ready",
            "Prometheus Server is Ready",
            {},
        ),
        Component(
            "graysignal",
            [graysignal, "run", "--config", str(state / "graysignal.yaml")],
            f"{pg.url('graysignal')}/readyz",
            "ready",
            {
                # Connection settings are environment variables (docs/sources.md).
                "GRAYSIGNAL_PROMETHEUS_URL": pg.url("prometheus"),
            },
        ),
    ]


def graysignal_executable() -> str:
    """The ``graysignal`` next to this Python (the checkout's .venv), else on PATH."""
    beside = Path(sys.executable).with_name("graysignal")
    if beside.is_file():
        return str(beside)
    found = shutil.which("graysignal")
    if found is None:
        raise PlaygroundError(
            "graysignal is not installed: run `make playground` (it builds .venv)"
        )
    return found


def require_binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PlaygroundError(
            f"{name} is not installed: `make servers` installs Debian's prometheus and "
            "prometheus-alertmanager packages"
        )
    return found


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment without its GRAYSIGNAL_* settings: a Slack webhook or a
    production Prometheus URL exported in your shell must not leak into the playground."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAYSIGNAL_")}
    env.update(extra)
    return env


def write_configs(pg: Playground) -> None:
    import yaml  # noqa: PLC0415 - `stop` must work with nothing but the standard library

    def dump(name: str, data: dict[str, Any]) -> None:
        (pg.state / name).write_text(yaml.safe_dump(data, sort_keys=False))

    alert_rules = pg.state / "graysignal-alerts.yml"
    shutil.copyfile(META_ALERTS, alert_rules)
    dump("prometheus.yml", prometheus_config(pg, alert_rules))
    dump("alertmanager.yml", ALERTMANAGER_CONFIG)
    dump("graysignal.yaml", graysignal_settings(pg))
    (pg.state / "ports.json").write_text(json.dumps(pg.ports, indent=2) + "\n")


# --- HTTP ---------------------------------------------------------------------------


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes] | None:
    """Status and body of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), b""
    except (OSError, ValueError):
        return None


def gray_signal_alerts(alertmanager_url: str) -> list[dict[str, Any]] | None:
    """Active alerts in Alertmanager that graysignal raised (they carry graysignal_kind)."""
    answer = http_get(f"{alertmanager_url}/api/v2/alerts?active=true&silenced=false")
    if answer is None or answer[0] != 200:
        return None
    try:
        alerts: list[dict[str, Any]] = json.loads(answer[1])
    except ValueError:
        return None
    return [a for a in alerts if "graysignal_kind" in a.get("labels", {})]


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


# --- commands -----------------------------------------------------------------------


def start(pg: Playground) -> int:
    state = pg.state
    alive = running(state)
    if alive:
        names = ", ".join(f"{LABELS[n]} (pid {r.pid})" for n, r in alive.items())
        raise PlaygroundError(f"the playground in {state} is already running: {names}")
    if len(set(pg.ports.values())) < len(ORDER):
        raise PlaygroundError(f"every component needs its own port: {pg.ports}")
    busy = [name for name in ORDER if port_in_use(pg.ports[name])]
    if busy:
        raise PlaygroundError(
            "ports in use: "
            + ", ".join(f"{pg.ports[n]} ({LABELS[n]}; set {port_variable(n)})" for n in busy)
        )
    prepare_state_dir(state)
    (state / "started_at").write_text(f"{time.time():.3f}\n")
    write_configs(pg)
    print(f"starting the graysignal playground in {display(state)} ...", flush=True)
    try:
        for component in components(pg):
            launch(pg, component)
    except PlaygroundError:
        stop_processes(state)
        raise
    print_urls(pg)
    return 0


def prepare_state_dir(state: Path) -> None:
    if state.exists():
        if any(state.iterdir()) and not (state / MARKER).exists():
            raise PlaygroundError(f"{state} exists and is not a playground directory")
        shutil.rmtree(state)  # what a previous playground left behind (crash, reboot)
    state.mkdir(parents=True)
    (state / MARKER).write_text("created by deploy/playground/run.py; safe to delete\n")


def launch(pg: Playground, component: Component) -> None:
    """Start one component in its own session (it outlives this script) and wait until
    it answers its readiness URL; fail with its log if it exits or never answers."""
    log_path = pg.log(component.name)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            component.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=pg.state,
            env=child_environment(component.env),
            start_new_session=True,
        )
    started = process_start_time(process.pid) or "-"
    pid_file(pg.state, component.name).write_text(PidRecord(process.pid, started).line())
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        code = process.poll()
        if code is not None:
            raise PlaygroundError(
                f"{LABELS[component.name]} exited with code {code}:\n{log_tail(log_path)}"
            )
        answer = http_get(component.ready_url)
        if answer is not None and answer[0] == 200 and component.ready_text.encode() in answer[1]:
            print(f"  {LABELS[component.name]:<13} ready (pid {process.pid})", flush=True)
            return
        if time.monotonic() > deadline:
            raise PlaygroundError(
                f"{LABELS[component.name]} did not become ready within {READY_TIMEOUT:.0f} s "
                f"({component.ready_url}):\n{log_tail(log_path)}"
            )
        time.sleep(POLL)


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def display(path: Path) -> str:
    try:
        return f"{path.relative_to(Path.cwd())}/"
    except ValueError:
        return f"{path}/"


def print_urls(pg: Playground) -> None:
    graph = urllib.parse.urlencode(
        {
            "g0.expr": "demo_checkout_latency_p99_seconds",
            "g0.tab": "0",
            "g0.range_input": "15m",
            "g1.expr": 'rate(demo_log_lines_total{level="error"}[30s])',
            "g1.tab": "0",
            "g1.range_input": "15m",
        }
    )
    here = Path(__file__).resolve()
    try:
        script = str(here.relative_to(Path.cwd()))
    except ValueError:
        script = str(here)
    python = os.path.relpath(sys.executable) if sys.executable else "python3"
    state = display(pg.state)
    if pg.state == DEFAULT_DIR.resolve():
        stop_command = "make playground-stop"
    else:
        stop_command = f"{python} {script} stop --dir {pg.state}"
    print(
        f"""
The graysignal playground is running (PIDs, logs and data in {state}).

  Alertmanager   {pg.url("alertmanager")}/#/alerts
                 gray-signal alerts (CheckoutLatencyCreep, CheckoutErrorLogVolume)
                 arrive here within 2 minutes of the start
  Prometheus     {pg.url("prometheus")}/graph?{graph}
                 the demo service's latency and error log, creeping up
  graysignal     {pg.url("graysignal")}/metrics   (/healthz, /readyz)
  demo service   {pg.url("demo")}/metrics   (one simulated day per real minute)

Wait for the first alert:   {python} {script} wait
What runs, alerts so far:   {python} {script} status
graysignal's log:           tail -f {state}graysignal.log
Stop and clean up:          {stop_command}
""",
        flush=True,
    )


def stop_processes(state: Path) -> list[str]:
    """Stop every recorded process, graysignal first; the names that needed SIGKILL."""
    killed = []
    for name in reversed(ORDER):
        record = read_pid(state, name)
        if record is None or not is_alive(record):
            continue
        if not terminate(record):
            killed.append(name)
    return killed


def stop(pg: Playground, *, keep: bool) -> int:
    state = pg.state
    if not state.exists():
        print(f"no playground in {display(state)}: nothing to stop")
        return 0
    alive = running(state)
    killed = stop_processes(state)
    for name in reversed(ORDER):
        if name not in alive:
            continue
        how = "killed (did not stop on SIGTERM)" if name in killed else "stopped"
        print(f"  {LABELS[name]:<13} {how} (pid {alive[name].pid})")
    if keep:
        print(f"the playground is stopped; its files stay in {display(state)}")
    elif (state / MARKER).exists():
        shutil.rmtree(state)
        print(f"the playground is stopped and {display(state)} removed")
    else:
        print(f"{display(state)} is not a playground directory: left in place")
    return 0


def load_ports(pg: Playground) -> dict[str, int]:
    try:
        ports: dict[str, int] = json.loads((pg.state / "ports.json").read_text())
    except (OSError, ValueError):
        return pg.ports
    return ports


def status(pg: Playground) -> int:
    if not (pg.state / MARKER).exists():
        print(f"no playground in {display(pg.state)} (start one with `make playground`)")
        return 1
    pg = Playground(pg.state, load_ports(pg), pg.speed)
    alive = running(pg.state)
    for name in ORDER:
        state = f"running (pid {alive[name].pid})" if name in alive else "NOT RUNNING"
        print(f"  {LABELS[name]:<13} {pg.url(name):<24} {state}")
    alerts = gray_signal_alerts(pg.url("alertmanager"))
    if alerts is None:
        print("Alertmanager does not answer")
        return 1
    print(f"{len(alerts)} gray-signal alert(s) in Alertmanager")
    for alert in alerts:
        print("  " + describe(alert))
    return 0 if len(alive) == len(ORDER) else 1


def describe(alert: dict[str, Any]) -> str:
    labels = alert.get("labels", {})
    explanation = alert.get("annotations", {}).get("explanation", "")
    return f"{labels.get('alertname')} ({labels.get('graysignal_kind')}): {explanation}"


def wait(pg: Playground, timeout: float) -> int:
    """Block until Alertmanager holds a gray-signal alert; print it and the time taken."""
    pg = Playground(pg.state, load_ports(pg), pg.speed)
    try:
        started = float((pg.state / "started_at").read_text())
    except (OSError, ValueError):
        started = time.time()
    deadline = time.monotonic() + timeout
    print(f"waiting for a gray-signal alert in {pg.url('alertmanager')} ...", flush=True)
    while True:
        alerts = gray_signal_alerts(pg.url("alertmanager"))
        if alerts:
            elapsed = time.time() - started
            print(f"{elapsed:.0f} s after the playground started:")
            for alert in alerts:
                print("  " + describe(alert))
            return 0
        if time.monotonic() > deadline:
            print(f"no gray-signal alert within {timeout:.0f} s", file=sys.stderr)
            return 1
        time.sleep(1.0)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run the graysignal playground as local background processes.",
        epilog="Every default can also be set in the environment: PLAYGROUND_DIR, "
        + ", ".join(port_variable(n) for n in ORDER)
        + ", PLAYGROUND_SPEED.",
    )
    parser.add_argument("command", choices=("start", "stop", "status", "wait"), help="what to do")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(os.environ.get("PLAYGROUND_DIR", DEFAULT_DIR)),
        help="state directory: PID files, logs, data (default: .playground/ in the checkout)",
    )
    for name in ORDER:
        parser.add_argument(
            f"--{name}-port",
            type=int,
            default=int(os.environ.get(port_variable(name), DEFAULT_PORTS[name])),
            help=f"port of the {LABELS[name]} on 127.0.0.1 (default {DEFAULT_PORTS[name]})",
        )
    parser.add_argument(
        "--speed",
        type=float,
        default=float(os.environ.get("PLAYGROUND_SPEED", "1440")),
        help="demo clock: simulated seconds per real second (default 1440: a day a minute)",
    )
    parser.add_argument("--keep", action="store_true", help="stop: keep the state directory")
    parser.add_argument(
        "--timeout", type=float, default=WAIT_TIMEOUT, help="wait: give up after this many s"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    ports = {name: int(getattr(args, f"{name}_port")) for name in ORDER}
    pg = Playground(args.dir.resolve(), ports, args.speed)
    commands: dict[str, Callable[[], int]] = {
        "start": lambda: start(pg),
        "stop": lambda: stop(pg, keep=args.keep),
        "status": lambda: status(pg),
        "wait": lambda: wait(pg, args.timeout),
    }
    try:
        return commands[args.command]()
    except PlaygroundError as error:
        print(f"playground: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

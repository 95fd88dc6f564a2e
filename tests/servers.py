"""Real and stub servers for the source tests, all on 127.0.0.1.

Test modules import the fixtures they use by their function names, e.g.
``from tests.servers import prometheus_server  # noqa: F401`` makes the fixture
``prometheus`` available (registering the module with ``pytest_plugins`` would work too,
but importing its helpers as well then defeats pytest's assertion rewriting).

- ``prometheus`` (session): a real Debian ``prometheus`` serving historical data that
  ``promtool tsdb create-blocks-from openmetrics`` backfilled from :data:`DATASETS`
  (two NAB series, a generated 14-day 1-minute seasonal series with a slow ramp, a
  small fleet of series, and a recent series for ``check --probe``).
- ``victoria_metrics`` (session): a real ``victoria-metrics`` loaded through its
  ``/api/v1/import/prometheus`` API.
- :class:`StubServer`: a tiny ``http.server`` in a thread for what a real server cannot
  do on demand (hang, fail once, answer garbage) and for Loki, which cannot be installed
  here: the Loki tests talk to a stub answering in Loki's documented format.

Both real servers are configured so that a range query at the data's own step returns
exactly the stored samples: Prometheus with ``--query.lookback-delta=59s`` and
VictoriaMetrics with ``-search.maxStalenessInterval=1s``. Their defaults carry the last
sample forward over short gaps (Prometheus for 5 minutes), which is their documented
behaviour, not the source's; with exact answers the tests can compare sample for sample
against the file source.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detector.series import Series, format_labels
from tests.conftest import load_nab

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

GENERATED_START = 1_709_510_400  # 2024-03-04T00:00:00Z, a Monday midnight
GENERATED_STEP = 60
GENERATED_POINTS = 14 * 1440  # 14 days at 1 minute: 20,160 points


@dataclass(frozen=True)
class Dataset:
    """One series the servers hold: its Prometheus labels and its samples on the grid
    (NaN slots are gaps: no sample is written for them)."""

    labels: dict[str, str]
    series: Series

    @property
    def name(self) -> str:
        return self.labels["__name__"]

    def selector(self) -> str:
        """A PromQL selector matching exactly this series."""
        return format_labels(self.labels).replace(", ", ",")

    def samples(self) -> Iterator[tuple[int, float]]:
        for ts, value in zip(
            self.series.timestamps.tolist(), self.series.values.tolist(), strict=True
        ):
            if math.isfinite(value):
                yield ts, value

    def write_csv(self, path: Path) -> Path:
        """The same samples as a CSV the file source reads, with the same labels."""
        names = sorted(self.labels)
        with path.open("w", encoding="utf-8") as handle:
            handle.write(",".join(["timestamp", "value", *names]) + "\n")
            extra = ",".join(self.labels[n] for n in names)
            for ts, value in self.samples():
                handle.write(f"{ts},{value!r},{extra}\n")
        return path


def _nab(name: str, metric: str, instance: str) -> Dataset:
    return Dataset({"__name__": metric, "instance": instance}, load_nab(name))


def generated_latency() -> Dataset:
    """14 days at 1 minute: a daily cycle, noise, and a slow ramp over the last 4 days."""
    rng = np.random.default_rng(20240304)
    minutes = np.arange(GENERATED_POINTS)
    day = 2 * np.pi * minutes / 1440
    values = 200 + 30 * np.sin(day - np.pi / 2) + rng.normal(0, 4, GENERATED_POINTS)
    ramp_start = 10 * 1440
    values[ramp_start:] += 0.02 * (minutes[ramp_start:] - ramp_start)
    timestamps = GENERATED_START + GENERATED_STEP * minutes
    series = Series({}, timestamps.astype(np.int64), values, GENERATED_STEP)
    return Dataset({"__name__": "checkout_latency_ms", "service": "checkout"}, series)


def fleet(size: int = 12) -> list[Dataset]:
    """``size`` small series of one metric, for the per-rule series limit."""
    timestamps = GENERATED_START + 300 * np.arange(288, dtype=np.int64)
    return [
        Dataset(
            {"__name__": "fleet_up", "instance": f"i-{n:03d}"},
            Series({}, timestamps, np.full(288, float(n)), 300),
        )
        for n in range(size)
    ]


def recent_heartbeat(now: int) -> Dataset:
    """Two hours of 1-minute samples ending 5 minutes before ``now`` (for the probe)."""
    end = now - now % 60 - 300
    timestamps = end - 60 * np.arange(119, -1, -1, dtype=np.int64)
    return Dataset(
        {"__name__": "probe_heartbeat", "job": "api"},
        Series({}, timestamps, np.linspace(1.0, 2.0, timestamps.size), 60),
    )


def recent_shift(now: int) -> Dataset:
    """Eight days of 5-minute samples ending 5 minutes before ``now``, 30% higher for the
    last 8 hours: a gray signal a daemon running *now* must report (daemon e2e tests)."""
    end = now - now % 300 - 300
    timestamps = end - 300 * np.arange(8 * 288 - 1, -1, -1, dtype=np.int64)
    values = 100 + np.random.default_rng(8).normal(0, 2, timestamps.size)
    values[-96:] += 30
    return Dataset(
        {"__name__": "checkout_p99_ms", "service": "checkout", "env": "e2e"},
        Series({}, timestamps, values, 300),
    )


@dataclass
class Datasets:
    ec2_latency: Dataset
    jumps_up: Dataset
    checkout: Dataset
    fleet: list[Dataset]
    heartbeat: Dataset
    shift_now: Dataset

    def all(self) -> list[Dataset]:
        return [
            self.ec2_latency,
            self.jumps_up,
            self.checkout,
            *self.fleet,
            self.heartbeat,
            self.shift_now,
        ]


def build_datasets(now: int) -> Datasets:
    return Datasets(
        ec2_latency=_nab(
            "realKnownCause/ec2_request_latency_system_failure.csv", "nab_request_latency", "ec2"
        ),
        jumps_up=_nab("artificialWithAnomaly/art_daily_jumpsup.csv", "nab_jumps_up", "art"),
        checkout=generated_latency(),
        fleet=fleet(),
        heartbeat=recent_heartbeat(now),
        shift_now=recent_shift(now),
    )


def openmetrics(datasets: list[Dataset]) -> str:
    """OpenMetrics text (``# TYPE``, samples with Unix-second timestamps, ``# EOF``);
    one metric family's samples must be contiguous, so series are grouped by name."""
    lines: list[str] = []
    by_name: dict[str, list[Dataset]] = {}
    for data in datasets:
        by_name.setdefault(data.name, []).append(data)
    for name, family in by_name.items():
        lines.append(f"# TYPE {name} gauge")
        for data in family:
            labels = {k: v for k, v in data.labels.items() if k != "__name__"}
            selector = format_labels(labels).replace(", ", ",") if labels else ""
            lines.extend(f"{name}{selector} {value!r} {ts}" for ts, value in data.samples())
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def prometheus_text(datasets: list[Dataset]) -> str:
    """Prometheus text exposition with millisecond timestamps (VictoriaMetrics import)."""
    lines: list[str] = []
    for data in datasets:
        labels = {k: v for k, v in data.labels.items() if k != "__name__"}
        selector = format_labels(labels).replace(", ", ",") if labels else ""
        lines.extend(f"{data.name}{selector} {value!r} {ts * 1000}" for ts, value in data.samples())
    return "\n".join(lines) + "\n"


def free_port() -> int:
    """A port nothing listens on right now (bound to 127.0.0.1:0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


@dataclass
class ServerProcess:
    """A server binary we started, with its log; stopped with terminate, then kill."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        """Poll ``ready`` for at most :data:`READY_TIMEOUT` seconds."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"{self.name} not {what} within {READY_TIMEOUT:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; run `make servers` (Debian package)")
    return path


def _start(name: str, args: list[str], workdir: Path, url: str) -> ServerProcess:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [_binary(name), *args], stdout=log_file, stderr=subprocess.STDOUT, cwd=workdir
        )
    return ServerProcess(name, url, process, log_path)


@dataclass
class RealServer:
    """A running server and the data it holds."""

    url: str
    data: Datasets
    process: ServerProcess = field(repr=False)


@functools.cache
def shared_datasets() -> Datasets:
    """One :class:`Datasets` per test session, shared by every server."""
    return build_datasets(int(time.time()))


@contextlib.contextmanager
def _stopped_on_error(server: ServerProcess) -> Iterator[None]:
    """Stop a server we started if getting it ready fails: no orphaned processes."""
    try:
        yield
    except BaseException:
        server.stop()
        raise


@dataclass
class _Running:
    server: RealServer | None = None
    users: int = 0


_RUNNING: dict[str, _Running] = {}


@contextlib.contextmanager
def _shared(kind: str) -> Iterator[_Running]:
    """One server of each kind per test session.

    Each test module that imports a fixture gets its own copy of it, so even a
    session-scoped fixture would start one server per module; this shares the first
    one and stops it when the last module's fixture is torn down (at session end).
    If starting fails, the next user tries again.
    """
    running = _RUNNING.setdefault(kind, _Running())
    running.users += 1
    try:
        yield running
    finally:
        running.users -= 1
        if running.users == 0 and running.server is not None:
            running.server.process.stop()
            running.server = None


PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1h
  evaluation_interval: 1h
"""


@pytest.fixture(scope="session", name="prometheus")
def prometheus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """A real Prometheus whose TSDB was backfilled with :func:`shared_datasets`."""
    with _shared("prometheus") as running:
        if running.server is None:
            running.server = _start_prometheus(tmp_path_factory)
        yield running.server


def _start_prometheus(tmp_path_factory: pytest.TempPathFactory) -> RealServer:
    datasets = shared_datasets()
    workdir = tmp_path_factory.mktemp("prometheus")
    source = workdir / "data.om"
    source.write_text(openmetrics(datasets.all()), encoding="utf-8")
    datadir = workdir / "tsdb"
    created = subprocess.run(
        [
            _binary("promtool"),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--quiet",
            # Hidden flag: month-long blocks instead of one per 2 hours (1,000+ blocks
            # for these data, which take a minute to write and to open).
            "--max-block-duration=720h",
            str(source),
            str(datadir),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if created.returncode != 0:
        pytest.fail(f"promtool failed: {created.stderr or created.stdout}")
    config = workdir / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG, encoding="utf-8")
    port = free_port()
    server = _start(
        "prometheus",
        [
            f"--config.file={config}",
            f"--storage.tsdb.path={datadir}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{port}",
            "--query.lookback-delta=59s",
        ],
        workdir,
        f"http://127.0.0.1:{port}",
    )
    with _stopped_on_error(server):
        server.wait_until(lambda: http_get(f"{server.url}/-/ready")[0] == 200, "ready")
    return RealServer(server.url, datasets, server)


@pytest.fixture(scope="session", name="victoria_metrics")
def victoria_metrics_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """A real VictoriaMetrics loaded with the generated and NAB series via its import API."""
    with _shared("victoria_metrics") as running:
        if running.server is None:
            running.server = _start_victoria_metrics(tmp_path_factory)
        yield running.server


def _start_victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> RealServer:
    datasets = shared_datasets()
    workdir = tmp_path_factory.mktemp("victoria-metrics")
    port = free_port()
    server = _start(
        "victoria-metrics",
        [
            f"-storageDataPath={workdir / 'data'}",
            f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=100y",
            "-search.disableCache",
            "-search.latencyOffset=0s",
            "-search.maxStalenessInterval=1s",
        ],
        workdir,
        f"http://127.0.0.1:{port}",
    )
    with _stopped_on_error(server):
        server.wait_until(lambda: http_get(f"{server.url}/health")[0] == 200, "healthy")
        loaded = [datasets.ec2_latency, datasets.checkout, *datasets.fleet]
        request = urllib.request.Request(
            f"{server.url}/api/v1/import/prometheus",
            data=prometheus_text(loaded).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 204
        http_get(f"{server.url}/internal/force_flush", timeout=30)
        probe = urllib.parse.urlencode(
            {
                "match[]": '{__name__=~".+"}',
                "start": str(min(d.series.start for d in loaded)),
                "end": str(max(d.series.end for d in loaded)),
            }
        )
        server.wait_until(
            lambda: (
                len(json.loads(http_get(f"{server.url}/api/v1/series?{probe}")[1])["data"])
                == len(loaded)
            ),
            "queryable",
        )
    return RealServer(server.url, datasets, server)


@dataclass
class Request:
    """What a stub server received."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


Reply = tuple[int, dict[str, str], bytes]
Handler = Callable[[Request], Reply]


def json_reply(payload: Any, status: int = 200) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


class StubServer:
    """An HTTP server on 127.0.0.1 answering every request with ``handler(request)``.

    ``handler`` may block (a hanging server): :meth:`close` sets :attr:`released`, which
    such a handler should wait on, so the test never outlives its own server.
    """

    def __init__(self, handler: Handler, tls: TlsFiles | None = None) -> None:
        self.requests: list[Request] = []
        self.scheme = "https" if tls is not None else "http"
        self.released = threading.Event()
        stub = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                request = Request(
                    method="GET",
                    path=parsed.path,
                    params=dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)),
                    headers={k: v for k, v in self.headers.items()},
                )
                stub.requests.append(request)
                status, headers, body = handler(request)
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output clean."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert, tls.key)
            # A client refusing the certificate fails the handshake in accept(), which
            # socketserver treats as a failed accept: nothing is printed.
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}"

    def close(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(STOP_TIMEOUT)

    def __enter__(self) -> StubServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class TlsFiles:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""

    cert: Path
    key: Path


@pytest.fixture(scope="session", name="tls_files")
def tls_files_fixture(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throwaway self-signed certificate for 127.0.0.1, made with ``openssl``."""
    workdir = tmp_path_factory.mktemp("tls")
    files = TlsFiles(workdir / "cert.pem", workdir / "key.pem")
    made = subprocess.run(
        [
            _binary("openssl"),
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(files.key),
            "-out",
            str(files.cert),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if made.returncode != 0:
        pytest.fail(f"openssl failed: {made.stderr}")
    return files


@pytest.fixture(name="stub_server")
def stub_server_factory() -> Iterator[Callable[..., StubServer]]:
    """A factory of :class:`StubServer`s (``start(handler, tls=None)``), all closed
    after the test."""
    started: list[StubServer] = []

    def start(handler: Handler, tls: TlsFiles | None = None) -> StubServer:
        server = StubServer(handler, tls)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()

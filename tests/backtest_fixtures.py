"""A real Prometheus holding the example incident library's data, for backtests end to end.

The shipped library (``incidents/``) reads CSV files; here the same series live in a real
Prometheus, backfilled with ``promtool tsdb create-blocks-from openmetrics`` exactly as
``tests/servers.py`` does for the source tests (whose public pieces are reused), and the
shipped rules are rewritten to query it (:func:`prometheus_rules`). So the tests backtest
the library through the Prometheus source while the shipped baseline was made from the
files: a difference in what is caught is a bug in one of the two paths.

Besides the library's series the server holds ``kube_deployment_status_observed_generation``
for the checkout deployment, at one-minute resolution around the leak, stepping at the
deploy and the rollback, for ``--changes-query``.

Importing :func:`backtest_prometheus_fixture` into a test module makes the session fixture
``backtest_prometheus`` available there (one server per module that imports it).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from adapters.backtest.scenarios import (
    CHECKOUT,
    CHECKOUT_DEPLOY,
    CHECKOUT_ROLLBACK,
    ORDERS_DB,
    PAYMENTS,
    scenario_series,
)
from adapters.ledger import Ledger
from adapters.rulefiles import load_rule_file
from adapters.sources.files import read_series_file
from adapters.timeparse import format_rfc3339
from detector.alerts import AlertBook
from detector.finding import Direction, Finding, Kind
from detector.incident import Incident
from detector.replay import Firing, ReplayResult, RuleOutcome, Signal
from detector.rule import Rule
from detector.series import Series, fingerprint
from tests.conftest import NAB_ROOT, REPO
from tests.servers import (
    PROMETHEUS_CONFIG,
    Dataset,
    ServerProcess,
    free_port,
    http_get,
    openmetrics,
)

INCIDENTS = REPO / "incidents"
LIBRARY_RULES = INCIDENTS / "rules" / "library.yaml"
MACHINE_CSV = REPO / "adapters" / "demo" / "machine_temperature_system_failure.csv"
CHANGES_QUERY = "changes(kube_deployment_status_observed_generation[5m])"


@dataclass(frozen=True)
class LibrarySeries:
    """One series of the library: the CSV the shipped rules read, its Prometheus labels."""

    csv: str
    dataset: Dataset

    @property
    def step(self) -> int:
        return self.dataset.series.step


def _nab(csv: str, labels: dict[str, str], path: Path | None = None) -> LibrarySeries:
    (series,) = read_series_file(path or NAB_ROOT / "data" / "realKnownCause" / csv)
    return LibrarySeries(csv, Dataset(labels, series))


def library_series() -> list[LibrarySeries]:
    """Every series the shipped rules read, labelled as a Prometheus would hold them."""
    out = [
        _nab(
            "machine_temperature_system_failure.csv",
            {"__name__": "machine_temperature", "service": "plant-machine"},
            MACHINE_CSV,
        ),
        _nab(
            "ec2_request_latency_system_failure.csv",
            {"__name__": "ec2_request_latency", "service": "ec2-api"},
        ),
        _nab(
            "ambient_temperature_system_failure.csv",
            {"__name__": "office_ambient_temperature", "service": "office-hvac"},
        ),
        _nab(
            "cpu_utilization_asg_misconfiguration.csv",
            {"__name__": "asg_cpu_utilization", "service": "web-asg"},
        ),
    ]
    for scenario in (CHECKOUT, ORDERS_DB, PAYMENTS):
        for stem, series in scenario_series(scenario).items():
            out.append(LibrarySeries(f"{stem}.csv", Dataset(dict(series.labels), series)))
    return out


def deployment_generation() -> Dataset:
    """The checkout deployment's generation: 1, then 2 at the deploy, 3 at the rollback."""
    start, end = CHECKOUT_DEPLOY - 86400, CHECKOUT_ROLLBACK + 86400
    timestamps = np.arange(start, end + 60, 60, dtype=np.int64)
    values = 1.0 + (timestamps >= CHECKOUT_DEPLOY) + (timestamps >= CHECKOUT_ROLLBACK)
    return Dataset(
        {
            "__name__": "kube_deployment_status_observed_generation",
            "deployment": "checkout",
            "namespace": "shop",
        },
        Series({}, timestamps, values.astype(np.float64), 60),
    )


def prometheus_rules(path: Path, series: list[LibrarySeries]) -> Path:
    """The shipped rules with each ``source: file`` rule turned into a Prometheus query
    for the same series, at the data's own step."""
    by_csv = {one.csv: one for one in series}
    document: dict[str, Any] = yaml.safe_load(LIBRARY_RULES.read_text(encoding="utf-8"))
    for group in document["groups"]:
        for rule in group["rules"]:
            one = by_csv[Path(rule.pop("path")).name]
            rule["source"] = "prometheus"
            rule["query"] = one.dataset.selector()
            rule["step"] = f"{one.step}s"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class BacktestServer:
    """The running Prometheus and the rules that query it."""

    url: str
    rules: Path
    process: ServerProcess


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; run `make servers` (Debian package)")
    return found


def _start(workdir: Path) -> BacktestServer:
    series = library_series()
    source = workdir / "library.om"
    source.write_text(
        openmetrics([one.dataset for one in series] + [deployment_generation()]),
        encoding="utf-8",
    )
    datadir = workdir / "tsdb"
    created = subprocess.run(
        [
            _binary("promtool"),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--quiet",
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
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                _binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={datadir}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{port}",
                "--query.lookback-delta=59s",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    server = ServerProcess("prometheus", url, process, log_path)
    try:
        server.wait_until(lambda: http_get(f"{url}/-/ready")[0] == 200, "ready")
    except BaseException:
        server.stop()
        raise
    return BacktestServer(url, prometheus_rules(workdir / "rules.yaml", series), server)


@pytest.fixture(scope="session", name="backtest_prometheus")
def backtest_prometheus_fixture(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BacktestServer]:
    """A real Prometheus backfilled with the library's series (see the module doc)."""
    server = _start(tmp_path_factory.mktemp("backtest-prometheus"))
    try:
        yield server
    finally:
        server.process.stop()


# --- hand-made replays: classification, reports and stories without running detectors ---

T0 = 1_795_683_600  # 2026-11-26T09:00:00Z, the start of impact of the hand-made incident
HOUR = 3600


def hand_incident(
    *services: str,
    start: int = T0,
    category: str = "code",
    incident_id: str = "checkout-2026-11",
    changes: tuple[tuple[int, str], ...] = (),
) -> Incident:
    """An incident at ``start`` (one hour long, detected 20 minutes in)."""
    return Incident.model_validate(
        {
            "id": incident_id,
            "title": "Checkout slow",
            "impact": {"start": format_rfc3339(start), "end": format_rfc3339(start + HOUR)},
            "detected": {"at": format_rfc3339(start + 1200), "how": "page"},
            "services": list(services or ('service="checkout"',)),
            "category": category,
            "changes": [{"at": format_rfc3339(at), "what": what} for at, what in changes],
        }
    )


def hand_finding(rule: str, labels: dict[str, str], onset: int, at: int) -> Finding:
    return Finding(
        rule=rule,
        labels=labels,
        kind=Kind.TREND,
        onset=onset,
        detected_at=at,
        direction=Direction.UP,
        before=1.0,
        after=2.0,
        relative_change=1.0,
        score=6.0,
        explanation=f"{rule} saw {labels.get('service', '?')} double.",
    )


def hand_signal(
    rule: str,
    labels: dict[str, str],
    *firings: tuple[int, int | None],
    rule_labels: dict[str, str] | None = None,
    group: str = "g",
    onset_before: int = 2 * HOUR,
) -> Signal:
    """A signal of ``rule`` on a series with ``labels`` that fired over each ``(start, end)``."""
    alert = {k: v for k, v in labels.items() if k != "__name__"}
    alert.update(rule_labels or {})
    alert.update({"alertname": rule, "graysignal_kind": "trend"})
    signal = Signal(
        rule=rule,
        group=group,
        labels=labels,
        alert_labels=alert,
        kind=Kind.TREND,
        series_fingerprint=fingerprint(labels),
    )
    for start, end in firings:
        finding = hand_finding(rule, labels, start - onset_before, start)
        signal.firings.append(Firing(start, end, start, finding, finding, 6.0))
    return signal


def hand_outcome(
    rule: str, series_count: int = 1, error: str | None = None, group: str = "g"
) -> RuleOutcome:
    return RuleOutcome(rule, group, (Kind.TREND,), series_count, 100, error)


def hand_result(
    signals: list[Signal], outcomes: list[RuleOutcome], incident: int = T0
) -> ReplayResult:
    return ReplayResult(
        start=incident - 14 * 86400,
        end=incident + 6 * HOUR,
        incident=incident,
        signals=signals,
        outcomes=outcomes,
    )


# --- a small library on files: fast enough for CLI tests -----------------------------------

MINI_STEP = 300
MINI_DAYS = 10
MINI_START = T0 - 9 * 86400  # the shift comes 14.4 hours before T0
MINI_SHIFT = MINI_START + int(8.4 * 86400)

MINI_RULES = """\
groups:
  - name: checkout
    interval: 5m
    rules:
      - signal: CheckoutLatencyShift
        source: file
        path: {csv}
        detect: [level_shift]
        window: 2d
        seasonality: none
        direction: {direction}
        for: 15m
        labels: {{team: payments}}
"""

MINI_INCIDENT = """\
id: {incident_id}
title: Checkout slow
impact:
  start: {start}
  end: {end}
detected:
  at: {end}
  how: customer_ticket
services:
  - 'service="{service}"'
category: {category}
"""


def write_mini_csv(path: Path) -> Path:
    """Ten days of checkout latency at 5 minutes, 30% higher from :data:`MINI_SHIFT`."""
    n = MINI_DAYS * 86400 // MINI_STEP
    timestamps = MINI_START + MINI_STEP * np.arange(n, dtype=np.int64)
    values = 100 + np.random.default_rng(3).normal(0, 2, n)
    values[timestamps >= MINI_SHIFT] += 30
    lines = ["timestamp,value,__name__,service"]
    lines += [
        f"{t},{v:.4f},latency,checkout"
        for t, v in zip(timestamps.tolist(), values.tolist(), strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_mini_rules(directory: Path, direction: str = "up") -> Path:
    csv = directory / "latency.csv"
    if not csv.exists():
        write_mini_csv(csv)
    path = directory / "rules.yaml"
    path.write_text(MINI_RULES.format(csv=csv, direction=direction), encoding="utf-8")
    return path


def write_mini_incident(
    directory: Path,
    incident_id: str = "checkout-slow",
    *,
    start: int = T0,
    service: str = "checkout",
    category: str = "code",
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{incident_id}.yaml"
    path.write_text(
        MINI_INCIDENT.format(
            incident_id=incident_id,
            start=format_rfc3339(start),
            end=format_rfc3339(start + HOUR),
            service=service,
            category=category,
        ),
        encoding="utf-8",
    )
    return path


CHECKOUT_LATENCY = {"__name__": "latency", "service": "checkout"}


def mini_rule_and_shift(rules: Path, at: int) -> tuple[Rule, Finding]:
    """The mini rule file's rule (firing at once) and a +30% checkout shift seen at ``at``."""
    rule = load_rule_file(rules).groups[0].rules[0].model_copy(update={"for_": 0})
    finding = Finding(
        rule=rule.signal,
        labels=CHECKOUT_LATENCY,
        kind=Kind.LEVEL_SHIFT,
        onset=at - HOUR,
        detected_at=at,
        direction=Direction.UP,
        before=100.0,
        after=130.0,
        relative_change=0.3,
        score=9.0,
        explanation="latency rose",
    )
    return rule, finding


def record_delivered_shift(ledger: Ledger, rules: Path, at: int) -> None:
    """Record in ``ledger`` that the daemon fired the mini rule at ``at`` and Slack got it."""
    rule, finding = mini_rule_and_shift(rules, at)
    book = AlertBook(rule)
    ledger.record_evaluation(
        group="checkout",
        rule=rule,
        now=at,
        findings=[finding],
        transitions=book.update([finding], at),
        alerts=book.alerts,
        notifiers=["slack"],
        payloads=lambda transition: {"status": "firing"},
    )
    for item in ledger.due(at):
        ledger.mark_delivered(item.id, at=at + 5)

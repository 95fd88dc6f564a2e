"""Fleet runs on a real Dask cluster: a scheduler and two one-thread workers on loopback.

What a cluster reports must be what one process reports, byte for byte: the same JSON for
a backtest, a replay and a digest, also when a worker is killed in the middle of a run.
A cluster that cannot be reached is a clear message and exit 3, within seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.backtest.engine import Backtest, BacktestSettings, run_backtest
from adapters.backtest.json_report import render_backtest_json
from adapters.backtest.library import load_incidents
from adapters.cli import app
from adapters.cli.exitcodes import ExitCode
from adapters.cli.replay import rule_files_plan
from adapters.sources import default_sources
from tests.fleet_fixtures import DaskCluster, dask_cluster, write_fleet
from tests.servers import free_port

pytestmark = pytest.mark.slow

AT = "2026-11-26T08:00:00Z"
BACKTEST = ("--lookback", "3d", "--quiet-weeks", "0", "--format", "json")


@pytest.fixture(name="fleet", scope="module")
def fleet_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated library's rules file (its incidents beside it)."""
    return write_fleet(tmp_path_factory.mktemp("fleet"))


@pytest.fixture(name="cluster", scope="module")
def cluster_fixture() -> Iterator[DaskCluster]:
    yield from dask_cluster(workers=2)


def run(*args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def backtest_args(rules: Path) -> tuple[str, ...]:
    return ("backtest", str(rules.parent / "incidents"), "--rules", str(rules), *BACKTEST)


def test_backtest_on_a_cluster_gives_the_single_process_json(
    fleet: Path, cluster: DaskCluster
) -> None:
    alone = run(*backtest_args(fleet))

    on_cluster = run(*backtest_args(fleet), "--scheduler", cluster.address)

    assert '"early": 1' in alone  # the library is caught, so there is something to compare
    assert on_cluster == alone


def test_replay_on_the_cluster_named_by_the_environment_equals_one_process(
    fleet: Path, cluster: DaskCluster
) -> None:
    args = ("replay", str(fleet), "--at", AT, "--lookback", "5d", "--format", "json")
    alone = run(*args)

    on_cluster = run(*args, env={"GRAYSIGNAL_DASK_SCHEDULER": cluster.address})

    assert '"firings"' in alone
    assert on_cluster == alone


def test_digest_on_a_cluster_equals_one_process(fleet: Path, cluster: DaskCluster) -> None:
    args = ("digest", "--rules", str(fleet), "--since", "7d", "--until", AT, "--format", "json")
    args = (*args, "--history-weeks", "1")
    alone = run(*args)

    on_cluster = run(*args, "--scheduler", cluster.address)

    assert on_cluster == alone


def test_an_unreachable_scheduler_is_a_clear_error_and_exit_3(fleet: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"

    result = CliRunner().invoke(app, [*backtest_args(fleet), "--scheduler", address])

    assert result.exit_code == ExitCode.UNAVAILABLE
    assert f"cannot reach the Dask scheduler at {address}" in result.stderr
    assert "Traceback" not in result.output


def test_scheduler_and_workers_together_are_refused(fleet: Path) -> None:
    result = CliRunner().invoke(
        app, [*backtest_args(fleet), "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"]
    )

    assert result.exit_code == ExitCode.USAGE
    assert "not both" in result.stderr


def _backtest(rules: Path, replay: object = None) -> Backtest:
    kwargs = {} if replay is None else {"replay": replay}
    return run_backtest(
        load_incidents([rules.parent / "incidents"]),
        rule_files_plan([rules]),
        default_sources(),
        BacktestSettings(lookback=3 * 86400, quiet_weeks=0),
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_worker_killed_mid_backtest_changes_nothing_in_the_report(
    tmp_path: Path,
) -> None:
    from distributed import Client  # noqa: PLC0415

    from adapters.fleet.runner import FleetReplayer  # noqa: PLC0415

    rules = write_fleet(tmp_path, hosts=16)
    expected = render_backtest_json(_backtest(rules))
    for cluster in dask_cluster(workers=2):
        with Client(cluster.address, set_as_default=False) as client:
            replayer = FleetReplayer(client, files_per_task=1)  # many small tasks
            done: list[Backtest] = []
            worker = threading.Thread(target=_into, args=(done, rules, replayer))
            worker.start()
            killed = _kill_a_busy_worker(client, cluster, worker)
            worker.join(timeout=120)

    assert killed, "the backtest ended before a worker could be killed"
    assert render_backtest_json(done[0]) == expected


def _into(done: list[Backtest], rules: Path, replay: object) -> None:
    done.append(_backtest(rules, replay))


def _kill_a_busy_worker(client: object, cluster: DaskCluster, run: threading.Thread) -> bool:
    """Kill the first worker seen replaying a share, while ``run`` goes on."""
    while run.is_alive():
        processing = client.processing()  # type: ignore[attr-defined]
        names = {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}  # type: ignore[attr-defined]
        for address, keys in processing.items():
            if any(str(k).startswith("graysignal-replay") for k in keys):
                cluster.kill(str(names[address]))
                return True
        threading.Event().wait(0.02)
    return False

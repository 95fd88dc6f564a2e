"""The digest schedule: cron in a time zone, validated at load, run by the daemon once.

The daemon test posts to a loopback stand-in for a Slack incoming webhook (127.0.0.1;
no Slack server can run here) that answers ``200 ok`` as Slack documents.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from structlog.testing import capture_logs
from typer.testing import CliRunner

from adapters.cli import app
from adapters.daemon.service import Service, WallClock
from adapters.daemon.settings import DaemonSettings, load_settings
from adapters.digest.schedule import Schedule
from adapters.digest.scheduler import scheduler_from_settings
from adapters.digest.settings import DigestSettings
from adapters.ledger import Ledger
from detector.periods import Period
from tests.alertmanager_server import recording_server, wait_until
from tests.digest_fixtures import PERIOD, write_rules


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


class FixedClock(WallClock):
    """Time stands still; sleeping returns at once as if stopped (no loop runs twice)."""

    def __init__(self, now: int) -> None:
        self.moment = float(now)

    def now(self) -> float:
        return self.moment

    def sleep_until(self, moment: float, stop: threading.Event) -> bool:
        return False


# -- cron with a time zone -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2026-10-19T07:00:00", "2026-10-26T08:00:00"),  # CEST -> CET: 09:00 is 08:00 UTC
        ("2026-03-23T08:00:00", "2026-03-30T07:00:00"),  # CET -> CEST: 09:00 is 07:00 UTC
        ("2026-11-16T07:59:59", "2026-11-16T08:00:00"),
    ],
)
def test_the_next_run_keeps_the_local_hour_across_daylight_saving_changes(
    after: str, expected: str
) -> None:
    schedule = Schedule.parse("0 9 * * MON Europe/Berlin")
    assert schedule.next_after(utc(after)) == utc(expected)


def test_without_a_zone_the_schedule_is_utc() -> None:
    schedule = Schedule.parse("30 6 * * 1")
    assert schedule.zone == "UTC"
    assert schedule.next_after(utc("2026-11-23T06:30:00")) == utc("2026-11-30T06:30:00")
    assert schedule.latest_at_or_before(utc("2026-11-23T06:30:00")) == utc("2026-11-23T06:30:00")


def test_a_monday_morning_east_of_utc_is_flagged_as_posting_the_week_before() -> None:
    friday = utc("2026-11-20T00:00:00")
    tokyo = Schedule.parse("0 8 * * MON Asia/Tokyo")  # Sunday 23:00 UTC
    assert tokyo.late_runs(friday)[0] == utc("2026-11-22T23:00:00")
    assert Period.week_ending_before(utc("2026-11-22T23:00:00")).label == "2026-W46"
    assert Schedule.parse("0 9 * * MON Europe/Berlin").late_runs(friday) == []
    assert Schedule.parse("0 9 * * * Asia/Tokyo").late_runs(friday) == []  # Monday's run posts
    with Ledger.open(":memory:") as ledger, capture_logs() as logs:
        scheduler_from_settings(
            DigestSettings(
                schedule=str(tokyo), slack_webhook_url=SecretStr("http://127.0.0.1:9/h")
            ),
            ledger,
            sources={},
            plan=list,
            suppressions=list,
            clock=FixedClock(friday),
        )
    (warning,) = [e for e in logs if e["log_level"] == "warning"]
    assert "Sun 23:00 UTC" in warning["event"] and "before the ISO week" in warning["event"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 9 * *", "five cron fields"),
        ("0 25 * * MON", "not a valid cron expression"),
        ("0 9 * * MON Europe/Atlantis", "unknown time zone"),
    ],
)
def test_an_invalid_schedule_is_rejected_at_load_naming_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "graysignal.yaml"
    config.write_text(f"digest:\n  schedule: '{text}'\n  slack_channel: '#drift'\n")
    with pytest.raises(ValidationError) as raised:
        load_settings(config)
    (error,) = raised.value.errors()
    assert error["loc"] == ("digest", "schedule")
    assert message in error["msg"]


def test_the_daemon_refuses_a_bad_schedule_with_exit_code_2(tmp_path: Path) -> None:
    config = tmp_path / "graysignal.yaml"
    config.write_text("digest:\n  schedule: '0 9 * * FUNDAY'\n")
    result = CliRunner().invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 2
    assert f"{config}:2: digest.schedule: " in result.output


def test_a_schedule_needs_somewhere_to_post() -> None:
    with pytest.raises(ValidationError, match="schedule needs a Slack destination"):
        DigestSettings(schedule="0 9 * * MON")


def test_digest_environment_beats_the_file_and_secrets_stay_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "graysignal.yaml"
    config.write_text("digest:\n  schedule: '0 9 * * MON'\n  history_weeks: 2\n")
    monkeypatch.setenv("GRAYSIGNAL_DIGEST_HISTORY_WEEKS", "6")
    monkeypatch.setenv("GRAYSIGNAL_DIGEST_SLACK_WEBHOOK_URL", "https://hooks.example/T0/SeCrEt")
    settings = load_settings(config)
    assert settings.digest.history_weeks == 6
    assert settings.digest.destination == "slack:webhook"
    assert "SeCrEt" not in repr(settings) + str(settings)


# -- the daemon runs it --------------------------------------------------------------------


def daemon_settings(
    folder: Path, webhook_url: str, schedule: str = "0 9 * * MON Europe/Berlin"
) -> DaemonSettings:
    return DaemonSettings(
        rules=[write_rules(folder)],
        ledger=folder / "ledger.db",
        digest=DigestSettings(
            schedule=schedule, slack_webhook_url=SecretStr(webhook_url), history_weeks=1
        ),
    )


def test_the_daemon_posts_the_week_that_ended_once_even_across_a_restart(
    tmp_path: Path,
) -> None:
    monday_nine = utc("2026-11-23T08:00:00")  # 09:00 in Berlin: W47 has just ended
    with recording_server() as slack:
        settings = daemon_settings(tmp_path, slack.url + "/services/T0/B0/secret")
        first = Service(settings, notifiers={}, clock=FixedClock(monday_nine + 60))
        assert first.reload()
        assert first.digest is not None
        assert "digest:slack:webhook" not in first.engine.notifier_names  # alerts never go there
        queued = first.digest.catch_up(first.clock.now())  # the daemon was down at 09:00
        assert queued is not None and queued.period == PERIOD.label
        first.dispatcher.deliver_due(monday_nine + 60)
        first.ledger.close()

        second = Service(settings, notifiers={}, clock=FixedClock(monday_nine + 120))
        assert second.reload() and second.digest is not None
        assert second.digest.catch_up(second.clock.now()) is None  # the ledger says: done
        assert second.digest.run_for(monday_nine) is None
        second.dispatcher.deliver_due(monday_nine + 120)
        (record,) = second.ledger.digests_for(PERIOD.label)
        second.ledger.close()
    (request,) = slack.received()
    assert record.status == "posted"
    assert "Drift digest 2026-W47" in request.json()["text"]


def test_a_missed_run_older_than_a_week_is_not_caught_up(tmp_path: Path) -> None:
    with recording_server() as slack:
        monthly = daemon_settings(tmp_path, slack.url + "/hook", schedule="0 9 1 * *")
        now = utc("2026-11-20T12:00:00")  # the 1 Nov run is 19 days old
        service = Service(monthly, notifiers={}, clock=FixedClock(now))
        assert service.digest is not None
        missed = utc("2026-11-01T09:00:00")
        assert service.digest.schedule.latest_at_or_before(now) == missed
        assert service.digest.catch_up(now) is None
        assert Period.week_ending_before(missed).label == "2026-W43"  # what it would post
        assert service.ledger.digests_for("2026-W43") == []
        assert service.ledger.outbox_depth() == 0
        service.ledger.close()
    assert slack.received() == []


def test_the_running_daemon_queues_and_posts_the_digest_from_its_own_threads(
    tmp_path: Path,
) -> None:
    monday_nine = utc("2026-11-23T08:00:00")
    with recording_server() as slack:
        settings = daemon_settings(tmp_path, slack.url + "/services/T0/B0/run-secret")
        settings.listen_address = "127.0.0.1:0"
        service = Service(settings, notifiers={}, clock=FixedClock(monday_nine + 60))

        def stop_after_the_post() -> None:
            wait_until(slack.received)
            service.request_stop()

        stopper = threading.Thread(target=stop_after_the_post, daemon=True)
        stopper.start()
        assert service.run_forever() == 0
        stopper.join()
    (request,) = slack.received()
    assert "Drift digest 2026-W47" in request.json()["text"]
    with Ledger.open(settings.ledger) as ledger:
        (record,) = ledger.digests_for(PERIOD.label)
    assert record.status == "posted"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GRAYSIGNAL_DIGEST_SLACK_WEBHOOK_URL", "ftp://hooks.example/services/T0SECRET/XoXoHook"),
        ("GRAYSIGNAL_DIGEST_SLACK_BOT_TOKEN", "xoxb-T0SECRET-XoXoHook"),  # without a channel
        ("GRAYSIGNAL_DIGEST_SLACK_WEBHOOK_URL", "https://[::1/services/T0SECRET/XoXoHook"),
    ],
)
def test_a_rejected_secret_is_not_repeated_in_the_error(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as raised:
        load_settings()
    text = str(raised.value) + repr(raised.value) + repr(raised.value.errors())
    assert "digest" in text
    assert "T0SECRET" not in text and "XoXoHook" not in text


def test_a_digest_refused_halfway_is_not_queued_again_by_the_schedule() -> None:
    monday_nine = utc("2026-11-23T08:00:00")
    settings = DigestSettings(
        schedule="0 9 * * MON Europe/Berlin",
        slack_webhook_url=SecretStr("http://127.0.0.1:9/services/T0/B0/x"),
    )
    with Ledger.open(":memory:") as ledger:
        scheduler = scheduler_from_settings(
            settings,
            ledger,
            sources={},
            plan=list,
            suppressions=list,
            clock=FixedClock(monday_nine),
        )
        assert scheduler is not None
        record = ledger.queue_digest(
            period=PERIOD.label,
            period_start=PERIOD.start,
            period_end=PERIOD.end,
            destination=scheduler.poster.destination,
            notifier=scheduler.poster.name,
            messages=[{"text": "part 1", "blocks": []}, {"text": "part 2", "blocks": []}],
            summary={},
            payload_hash="h",
            now=monday_nine,
        )
        assert record is not None
        ledger.record_digest_part(record.id, parts_posted=1)
        (item,) = ledger.due(monday_nine)
        ledger.mark_failed(item.id, at=monday_nine, error="invalid_blocks", next_attempt_at=None)
        with capture_logs() as logs:
            assert scheduler.run_for(monday_nine) is None
        assert len(ledger.digests_for(PERIOD.label)) == 1
    (error,) = [e for e in logs if e["log_level"] == "error"]
    assert "2026-W47" in error["event"] and "1 of 2 parts" in error["event"]


def test_a_sharded_replica_names_its_shard_in_the_digest_title(tmp_path: Path) -> None:
    """Each replica evaluates only its groups, so each posts a digest of its part."""
    monday_nine = utc("2026-11-23T08:00:00")
    with recording_server() as slack:
        settings = daemon_settings(tmp_path, slack.url + "/services/T0/B0/secret")
        sharded = settings.model_copy(update={"shard": "1/2"})
        service = Service(sharded, notifiers={}, clock=FixedClock(monday_nine + 60))
        assert service.reload() and service.digest is not None
        assert service.digest.catch_up(service.clock.now()) is not None
        service.dispatcher.deliver_due(monday_nine + 60)
        service.ledger.close()
    (request,) = slack.received()
    assert "Drift digest 2026-W47 (shard 2 of 2)" in request.json()["text"]

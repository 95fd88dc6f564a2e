"""Daemon settings: flags over GRAYSIGNAL_* environment over a YAML file; secrets hidden."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from adapters.cli import app
from adapters.daemon.settings import load_settings, parse_shard
from detector.replay import next_evaluation


def test_environment_lists_may_be_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "GRAYSIGNAL_ALERTMANAGER_URLS", "http://127.0.0.1:9093, http://127.0.0.1:9094"
    )
    monkeypatch.setenv("GRAYSIGNAL_RULES", "rules/a.yaml,rules/b")

    settings = load_settings()

    assert settings.alertmanager_urls == ["http://127.0.0.1:9093", "http://127.0.0.1:9094"]
    assert settings.rules == [Path("rules/a.yaml"), Path("rules/b")]


def test_flags_beat_environment_which_beats_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "graysignal.yaml"
    config.write_text("ledger: /var/lib/from-file.db\nresend_interval: 2m\nshard: 0/2\n")
    monkeypatch.setenv("GRAYSIGNAL_LEDGER", "/var/lib/from-env.db")

    from_env = load_settings(config)
    from_flag = load_settings(config, ledger=Path("/var/lib/from-flag.db"))

    assert from_env.ledger == Path("/var/lib/from-env.db")
    assert from_env.resend_interval == 120
    assert from_env.shard_index == (0, 2)
    assert from_flag.ledger == Path("/var/lib/from-flag.db")


def test_unknown_setting_in_the_file_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "graysignal.yaml"
    config.write_text("ledgr: x.db\n")

    with pytest.raises(ValidationError, match="ledgr"):
        load_settings(config)


def test_secrets_never_appear_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAYSIGNAL_SLACK_WEBHOOK_URL", "https://hooks.example/T000/B000/secret-x")

    settings = load_settings()

    assert "secret-x" not in repr(settings)
    assert "secret-x" not in str(settings.model_dump())
    assert settings.slack_webhook_url is not None
    assert settings.slack_webhook_url.get_secret_value().endswith("secret-x")


@pytest.mark.parametrize("text", ["2/2", "a/b", "1", "-1/3"])
def test_bad_shard_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="shard"):
        parse_shard(text)


@pytest.mark.parametrize(
    ("now", "expected"),
    [(1000.0, 1037), (1037.0, 1097), (1036.9, 1037), (0.0, 17)],
)
def test_next_evaluation_is_on_the_group_phase(now: float, expected: int) -> None:
    assert next_evaluation(now, interval=60, offset=17) == expected


@pytest.mark.parametrize(
    ("variable", "field"),
    [
        ("GRAYSIGNAL_SLACK_WEBHOOK_URL", "slack_webhook_url"),
        ("GRAYSIGNAL_WEBHOOK_URL", "webhook_url"),
    ],
)
@pytest.mark.parametrize("url", ["hooks.example/T0/s3cr3t-path", "http://[::zz/s3cr3t-path"])
def test_a_malformed_notifier_url_stops_the_daemon_with_exit_2_and_hides_it(
    variable: str, field: str, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("groups: []\n")
    monkeypatch.setenv(variable, url)

    result = CliRunner().invoke(app, ["run", "--rules", str(rules), "--once"])

    assert result.exit_code == 2
    assert f"settings: {field}: " in result.output
    assert "s3cr3t" not in result.output


@pytest.mark.parametrize("bad", ["127.0.0.1:9094", "http://127.0.0.1:9094/?token=s3cr3t"])
def test_a_malformed_alertmanager_url_is_named_by_position(bad: str) -> None:
    with pytest.raises(ValidationError) as raised:
        load_settings(alertmanager_urls=["http://127.0.0.1:9093", bad])
    (error,) = raised.value.errors()
    assert error["loc"] == ("alertmanager_urls",)
    assert "URL 2" in error["msg"]
    assert "s3cr3t" not in error["msg"]

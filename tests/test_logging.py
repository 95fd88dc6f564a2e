"""Log lines with an exception: one line of error, the traceback only when debugging."""

from __future__ import annotations

import json

import pytest
import structlog

from adapters.logging import configure_logging


def logged_failure(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    configure_logging("info", json=True)
    log = structlog.get_logger("graysignal.test")
    try:
        raise ValueError("no route to tok-9a8b7c6d5e\nsecond line")
    except ValueError:
        log.exception("rule evaluation failed", rule="S")
    line: dict[str, object] = json.loads(capsys.readouterr().err)
    return line


def test_an_exception_is_logged_as_one_line_of_error_without_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRAYSIGNAL_DEBUG", raising=False)
    monkeypatch.setenv("GRAYSIGNAL_LOKI_PASSWORD", "tok-9a8b7c6d5e")

    line = logged_failure(capsys)

    assert line["error"] == "ValueError: no route to **********"
    assert "exception" not in line and "exc_info" not in line


def test_debug_adds_the_traceback_without_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAYSIGNAL_DEBUG", "1")
    monkeypatch.setenv("GRAYSIGNAL_LOKI_PASSWORD", "tok-9a8b7c6d5e")

    line = logged_failure(capsys)

    assert str(line["exception"]).startswith("Traceback (most recent call last)")
    assert "tok-9a8b7c6d5e" not in json.dumps(line)

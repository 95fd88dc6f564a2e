"""Log files as per-level volume series: counting, formats, zero-filling, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.errors import InputError
from adapters.sources import logs
from adapters.sources.logs import LogFileSource, LogVolume, read_log_volume
from detector.rule import LogOptions, Rule
from detector.series import Series

T0 = 1795168800  # 2026-11-20T10:00:00Z

APP_LOG = """\
2026-11-20T10:00:00Z INFO service started
2026-11-20T10:00:10Z ERROR request failed
java.lang.IllegalStateException: connection reset
\tat com.example.Db.query(Db.java:42)
\tat com.example.Api.handle(Api.java:7)

2026-11-20T10:00:50Z WARN slow response
2026-11-20T10:01:30Z ERROR request failed again
2026-11-20T10:02:00Z INFO still alive
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def counts(volume: LogVolume) -> dict[str, list[float]]:
    return {s.labels["level"]: s.values.tolist() for s in volume.series}


def read(path: Path, step: int = 60, **options: object) -> LogVolume:
    return read_log_volume(path, LogOptions.model_validate(options), step)


def test_counts_lines_per_level_per_step(tmp_path: Path) -> None:
    volume = read(write(tmp_path, "app.log", APP_LOG))
    # end-labelled slots: T0 holds (09:59, 10:00], T0+60 (10:00, 10:01], T0+120 (10:01, 10:02]
    assert counts(volume) == {
        "ERROR": [0.0, 1.0, 1.0],
        "INFO": [1.0, 0.0, 1.0],
        "WARN": [0.0, 1.0, 0.0],
    }


def test_series_cover_first_to_last_line_on_the_step_grid(tmp_path: Path) -> None:
    volume = read(write(tmp_path, "app.log", APP_LOG))
    for series in volume.series:
        assert series.timestamps.tolist() == [T0, T0 + 60, T0 + 120]
        assert series.step == 60


def test_series_are_labelled_with_level_and_log_stem(tmp_path: Path) -> None:
    volume = read(write(tmp_path, "checkout.log", APP_LOG))
    assert {"level": "ERROR", "log": "checkout"} in [s.labels for s in volume.series]


def test_continuation_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    volume = read(write(tmp_path, "app.log", APP_LOG))
    assert volume.parsed_lines == 5
    assert volume.skipped_lines == 3  # exception line and two "at" lines; blank not counted


def test_silent_slots_are_zero_not_nan(tmp_path: Path) -> None:
    text = "2026-11-20T10:00:00Z ERROR a\n2026-11-20T10:05:00Z ERROR b\n"
    volume = read(write(tmp_path, "quiet.log", text))
    assert counts(volume) == {"ERROR": [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]}


def test_line_after_slot_boundary_counts_in_next_slot(tmp_path: Path) -> None:
    text = "2026-11-20T10:00:00Z ERROR a\n2026-11-20T10:00:01Z ERROR b\n"
    [series] = read(write(tmp_path, "edge.log", text)).series
    assert series.timestamps.tolist() == [T0, T0 + 60]
    assert series.values.tolist() == [1.0, 1.0]


def test_coarser_step_sums_lines(tmp_path: Path) -> None:
    volume = read(write(tmp_path, "app.log", APP_LOG), step=300)
    assert counts(volume) == {"ERROR": [0.0, 2.0], "INFO": [1.0, 1.0], "WARN": [0.0, 1.0]}


@pytest.mark.parametrize(
    "line",
    [
        "2026-11-20T10:00:00Z ERROR msg",
        "2026-11-20 10:00:00,123 [ERROR] msg",
        "2026-11-20T11:00:00.123+01:00 level=error msg",
        "2026-11-20 10:00:00,123 - app.db - ERROR - msg",
        "[2026-11-20 10:00:00] error: msg",
        "1795168800 ERROR msg",
    ],
)
def test_default_pattern_reads_common_formats(tmp_path: Path, line: str) -> None:
    [series] = read(write(tmp_path, "f.log", line + "\n")).series
    assert series.labels["level"] == "ERROR"
    assert series.timestamps.tolist() == [T0]


def test_level_aliases_are_folded_and_fatal_critical_kept(tmp_path: Path) -> None:
    text = "".join(
        f"2026-11-20T10:00:00Z {level} m\n"
        for level in ("warning", "WARN", "err", "Error", "FATAL", "CRITICAL")
    )
    volume = read(write(tmp_path, "a.log", text))
    assert counts(volume) == {"CRITICAL": [1.0], "ERROR": [2.0], "FATAL": [1.0], "WARN": [2.0]}


def test_levels_filter_keeps_only_listed_levels(tmp_path: Path) -> None:
    volume = read(write(tmp_path, "app.log", APP_LOG), levels=["ERROR", "WARN"])
    assert set(counts(volume)) == {"ERROR", "WARN"}


def test_listed_level_that_never_occurs_is_an_all_zero_series(tmp_path: Path) -> None:
    volume = read(write(tmp_path, "app.log", APP_LOG), levels=["ERROR", "FATAL"])
    assert counts(volume)["FATAL"] == [0.0, 0.0, 0.0]


def test_listed_levels_are_normalised(tmp_path: Path) -> None:
    volume = read(write(tmp_path, "app.log", APP_LOG), levels=["warning"])
    assert counts(volume) == {"WARN": [0.0, 1.0, 0.0]}


def test_json_logs(tmp_path: Path) -> None:
    lines = [
        {"ts": "2026-11-20T10:00:00Z", "severity": "error", "msg": "a"},
        {"ts": "2026-11-20T10:00:30Z", "severity": "info", "msg": "b"},
        {"ts": T0 + 60, "severity": "error", "msg": "c"},
    ]
    text = "".join(json.dumps(obj) + "\n" for obj in lines) + "Traceback (most recent call)\n"
    volume = read(
        write(tmp_path, "j.log", text), format="json", timestamp_field="ts", level_field="severity"
    )
    assert counts(volume) == {"ERROR": [1.0, 1.0], "INFO": [0.0, 1.0]}
    assert volume.skipped_lines == 1


def test_json_logs_reach_nested_fields_with_dots(tmp_path: Path) -> None:
    obj = {"@timestamp": "2026-11-20T10:00:00Z", "log": {"level": "warn"}}
    volume = read(
        write(tmp_path, "ecs.log", json.dumps(obj) + "\n"),
        format="json",
        timestamp_field="@timestamp",
        level_field="log.level",
    )
    assert counts(volume) == {"WARN": [1.0]}


def test_custom_pattern(tmp_path: Path) -> None:
    text = "<E> 2026-11-20T10:00:00Z boom\n<W> 2026-11-20T10:00:00Z hm\n<E> 1795168860 x\n"
    volume = read(
        write(tmp_path, "c.log", text),
        pattern=r"^<(?P<level>\w)> (?P<timestamp>\S+)",
    )
    assert counts(volume) == {"E": [1.0, 1.0], "W": [1.0, 0.0]}


def test_custom_timestamp_format(tmp_path: Path) -> None:
    text = "20/Nov/2026:10:00:00 ERROR a\n20/Nov/2026:10:01:00 ERROR b\n"
    volume = read(
        write(tmp_path, "t.log", text),
        pattern=r"^(?P<timestamp>\S+) (?P<level>\w+)",
        timestamp_format="%d/%b/%Y:%H:%M:%S",
    )
    [series] = volume.series
    assert series.timestamps.tolist() == [T0, T0 + 60]


# --- errors ----------------------------------------------------------------------------


def test_missing_log_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"none\.log: file not found"):
        read(tmp_path / "none.log")


def test_no_parsable_line_names_first_non_empty_line_and_pattern(tmp_path: Path) -> None:
    path = write(tmp_path, "odd.log", "\n\nhello world\nsecond line\n")
    with pytest.raises(InputError, match=r"odd\.log:3: no line matches pattern") as caught:
        read(path)
    assert "(?P<timestamp>" in str(caught.value)


def test_no_parsable_json_line_names_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "j.log", '{"time": 1, "lvl": "info"}\n')
    with pytest.raises(InputError, match=r"j\.log:1: no line matches JSON .*'timestamp'"):
        read(path, format="json")


def test_empty_log_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"empty\.log: no log lines"):
        read(write(tmp_path, "empty.log", "\n"))


def test_unparsable_timestamp_on_matching_line_names_line(tmp_path: Path) -> None:
    text = "x 2026-11-20T10:00:00Z ERROR\nx yesterday ERROR\n"
    with pytest.raises(InputError, match=r"u\.log:2: invalid timestamp 'yesterday'"):
        read(write(tmp_path, "u.log", text), pattern=r"^x (?P<timestamp>\S+) (?P<level>\w+)")


def test_timestamp_not_matching_format_names_line(tmp_path: Path) -> None:
    text = "20/Nov/2026:10:00:00 ERROR a\n2026-11-20T10:01:00Z ERROR b\n"
    with pytest.raises(InputError, match=r"f\.log:2: .*does not match format"):
        read(
            write(tmp_path, "f.log", text),
            pattern=r"^(?P<timestamp>\S+) (?P<level>\w+)",
            timestamp_format="%d/%b/%Y:%H:%M:%S",
        )


# --- the Source ------------------------------------------------------------------------


def log_rule(path: Path, **extra: object) -> Rule:
    return Rule.model_validate({"signal": "Test", "source": "logfile", "path": str(path), **extra})


def test_source_defaults_to_one_minute_steps(tmp_path: Path) -> None:
    series = LogFileSource().fetch(log_rule(write(tmp_path, "app.log", APP_LOG)), 0, T0 + 3600)
    assert {s.step for s in series} == {60}


def test_source_returns_the_causal_window(tmp_path: Path) -> None:
    rule = log_rule(write(tmp_path, "app.log", APP_LOG), log={"levels": ["ERROR"]})
    [series] = LogFileSource().fetch(rule, T0, T0 + 60)
    assert series.timestamps.tolist() == [T0 + 60]
    assert series.values.tolist() == [1.0]


def test_source_parses_a_log_once_across_fetches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = log_rule(write(tmp_path, "app.log", APP_LOG))
    calls: list[int] = []
    real = logs.read_log_volume

    def counting(path: str | Path, options: LogOptions, step: int) -> LogVolume:
        calls.append(step)
        return real(path, options, step)

    monkeypatch.setattr(logs, "read_log_volume", counting)
    source = LogFileSource()
    for end in range(T0, T0 + 180, 60):
        source.fetch(rule, 0, end)
    assert calls == [60]


def test_source_rereads_a_growing_log(tmp_path: Path) -> None:
    path = write(tmp_path, "app.log", APP_LOG)
    source = LogFileSource()
    source.fetch(log_rule(path), 0, T0 + 3600)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("2026-11-20T10:03:00Z FATAL out of memory\n")
    series: list[Series] = source.fetch(log_rule(path), 0, T0 + 3600)
    assert "FATAL" in {s.labels["level"] for s in series}

"""Series files: limits checked before the work they bound, and data that is odd but usable.

Limits (adapters/limits.py, docs/sources.md "Limits") refuse a file with a message naming
the file, the line where there is one, the limit and the variable that raises it. Samples
out of time order are not a reason to refuse a file: they are sorted into place with a
warning that counts them, unless ``--strict-order`` asks for the error.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from adapters.cli import app
from adapters.errors import InputError, Problem
from adapters.limits import Limits
from adapters.sources.files import FileSource, read_series_file
from detector.rule import Rule
from tests.conftest import NAB_ROOT
from tests.test_file_source import T0, write

NAB_MACHINE = NAB_ROOT / "data" / "realKnownCause" / "machine_temperature_system_failure.csv"


def refusal(path: Path, **options: object) -> Problem:
    with pytest.raises(InputError) as caught:
        read_series_file(path, **options)  # type: ignore[arg-type]
    (problem,) = caught.value.problems
    return problem


def minutes(count: int, start: int = T0) -> str:
    return "".join(f"{start + 60 * i},{i % 7}\n" for i in range(count))


# --- limits ------------------------------------------------------------------------------


def test_a_file_larger_than_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:  # 1 GB that takes no disk: a sparse file
        handle.truncate(1 << 30)

    problem = refusal(path)

    assert problem.source == str(path)
    assert problem.message == (
        "file is 1,073,741,824 bytes (limit 256.0 MiB; GRAYSIGNAL_MAX_SERIES_FILE_BYTES raises it)"
    )
    assert problem.unreadable


def test_a_line_longer_than_the_limit_is_refused_before_it_is_held(tmp_path: Path) -> None:
    path = write(tmp_path, "long.csv", "timestamp,value\n" + "1" * 100_000 + ",1\n")

    problem = refusal(path)

    assert problem.line == 2
    assert "line is longer than 65,536 characters" in problem.message


def test_ten_thousand_label_columns_are_refused_at_the_header(tmp_path: Path) -> None:
    header = "timestamp,value," + ",".join(f"l{i}" for i in range(10_000))
    limits = Limits(line_chars=1_000_000)

    with pytest.raises(InputError) as caught:
        read_series_file(write(tmp_path, "wide.csv", header + "\n"), limits=limits)

    (problem,) = caught.value.problems
    assert problem.line == 1
    assert "the header has 10,000 label columns (limit 64;" in problem.message


def test_a_json_line_with_more_labels_than_the_limit_is_refused_at_its_line(
    tmp_path: Path,
) -> None:
    wide = {"timestamp": T0 + 60, "value": 1, **{f"l{i}": "v" for i in range(65)}}
    lines = json.dumps({"timestamp": T0, "value": 1}) + "\n" + json.dumps(wide) + "\n"

    problem = refusal(write(tmp_path, "wide.jsonl", lines))

    assert problem.line == 2
    assert "65 labels (limit 64; GRAYSIGNAL_MAX_LABELS raises it)" in problem.message


def test_a_label_value_longer_than_the_limit_is_refused_at_its_line(tmp_path: Path) -> None:
    rows = f"{T0},1,a\n{T0 + 60},1,{'x' * 5000}\n"

    problem = refusal(write(tmp_path, "v.csv", "timestamp,value,host\n" + rows))

    assert problem.line == 3
    assert "label 'host' has a value of 5,000 characters (limit 4,096;" in problem.message


def test_more_series_than_the_limit_are_refused_at_the_first_one_over(tmp_path: Path) -> None:
    rows = "".join(f"{T0},1,h{i}\n" for i in range(11))

    with pytest.raises(InputError) as caught:
        read_series_file(
            write(tmp_path, "many.csv", "timestamp,value,host\n" + rows),
            limits=Limits(series_per_file=10),
        )

    (problem,) = caught.value.problems
    assert problem.line == 12
    assert "more than 10 series (label combinations)" in problem.message


def test_samples_years_apart_are_refused_from_the_span_before_the_grid_exists(
    tmp_path: Path,
) -> None:
    rows = f"{T0},1\n{T0 + 60},2\n{T0 + 60 + 20 * 365 * 86400},3\n"

    problem = refusal(write(tmp_path, "sparse.csv", "timestamp,value\n" + rows))

    assert problem.message.startswith(
        'series {series="sparse"} spans 7300d1m (2026-11-20T10:00:00Z to 2046-11-15T10:01:00Z), '
        "10,512,002 steps of 1m; a wrong timestamp or a too small step?"
    )
    assert "GRAYSIGNAL_MAX_SERIES_STEPS raises it" in problem.message


def test_samples_far_apart_at_a_coarse_step_are_read(tmp_path: Path) -> None:
    rows = f"{T0},1\n{T0 + 86400},2\n{T0 + 3 * 365 * 86400},3\n"

    (series,) = read_series_file(write(tmp_path, "daily.csv", "timestamp,value\n" + rows))

    assert series.step == 86400
    assert len(series) == 3 * 365 + 1
    assert int(np.isfinite(series.values).sum()) == 3


def test_millisecond_timestamps_are_named_once_as_milliseconds(tmp_path: Path) -> None:
    rows = "".join(f"{(T0 + 300 * i) * 1000},{i}\n" for i in range(50))

    problem = refusal(write(tmp_path, "ms.csv", "timestamp,value\n" + rows))

    assert problem.line == 2
    assert "is after the year 9999: Unix milliseconds?" in problem.message


@pytest.mark.parametrize("value", ["1e308", "-1.7976931348623157e308", "1e101"])
def test_values_beyond_the_largest_magnitude_are_named(tmp_path: Path, value: str) -> None:
    problem = refusal(write(tmp_path, "v.csv", f"timestamp,value\n{T0},1\n{T0 + 60},{value}\n"))

    assert problem.line == 3
    assert "is too large: graysignal reads values up to ±1e+100" in problem.message


def test_values_at_the_largest_magnitude_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, "v.csv", f"timestamp,value\n{T0},1e100\n{T0 + 60},-1e100\n")

    (series,) = read_series_file(path)

    assert series.values.tolist() == [1e100, -1e100]


def test_deeply_nested_json_is_a_problem_at_its_line_not_a_crash(tmp_path: Path) -> None:
    deep = '{"timestamp": 1, "value": ' + "[" * 50_000 + "]" * 50_000 + "}"
    path = write(tmp_path, "deep.jsonl", deep + "\n")

    with pytest.raises(InputError) as caught:
        read_series_file(path, limits=Limits(line_chars=200_000))

    (problem,) = caught.value.problems
    assert (problem.line, problem.message) == (1, "malformed JSON: nested too deeply for a sample")


def test_invalid_utf8_is_named_at_its_line_even_far_into_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bin.csv"
    path.write_bytes(("timestamp,value\n" + minutes(5000)).encode() + b"\xc3\x28,1\n")

    problem = refusal(path)

    assert (problem.line, problem.message) == (5002, "not UTF-8 text (byte 0xc3)")


# --- a window that cannot hold the step ----------------------------------------------


def test_a_rule_window_that_cannot_hold_the_inferred_step_is_said_in_words(
    tmp_path: Path,
) -> None:
    rows = "".join(f"{T0 + 86400 * i},{i}\n" for i in range(60))
    path = write(tmp_path, "daily.csv", "timestamp,value\n" + rows)
    rule = Rule.model_validate({"signal": "Daily", "source": "file", "path": str(path)})

    with pytest.raises(InputError) as caught:
        FileSource().fetch(rule, T0, T0 + 60 * 86400)

    assert str(caught.value) == (
        f"{path}: the samples are 1d apart, so the 7d window holds 7 of them and a rule "
        "needs at least 24; set the 'window' of rule Daily to 24d or more"
    )


def test_replay_of_millisecond_data_says_so_instead_of_a_validation_dump(tmp_path: Path) -> None:
    rows = "".join(f"{(T0 + 300 * i) * 1000},{i % 5}\n" for i in range(500))
    path = write(tmp_path, "ms.csv", "timestamp,value\n" + rows)

    result = CliRunner().invoke(app, ["replay", str(path)])

    assert result.exit_code == 2
    assert result.output.startswith(f"{path}:2: timestamp ")
    assert "milliseconds" in result.output
    assert "pydantic" not in result.output and "Traceback" not in result.output


def test_replay_of_daily_data_names_the_window_it_needs(tmp_path: Path) -> None:
    rows = "".join(f"{T0 + 86400 * i},{i % 5}\n" for i in range(60))
    path = write(tmp_path, "daily.csv", "timestamp,value\n" + rows)

    result = CliRunner().invoke(app, ["replay", str(path)])

    assert result.exit_code == 2
    assert "so the 7d window holds 7 of them" in result.output
    assert "set --window to 24d or more" in result.output


# --- samples out of time order ---------------------------------------------------------


def test_out_of_order_samples_are_sorted_into_place_with_one_warning_counting_them(
    tmp_path: Path,
) -> None:
    rows = f"{T0},1\n{T0 + 120},3\n{T0 + 60},2\n{T0 + 180},4\n{T0 + 60},9\n"
    path = write(tmp_path, "order.csv", "timestamp,value\n" + rows)

    with capture_logs() as logs:
        (series,) = read_series_file(path)

    assert series.timestamps.tolist() == [T0, T0 + 60, T0 + 120, T0 + 180]
    assert series.values.tolist() == [1.0, 5.5, 3.0, 4.0]  # the two at T0 + 60 averaged
    (warning,) = [entry for entry in logs if entry["log_level"] == "warning"]
    assert warning["event"] == "samples out of time order were sorted into place"
    assert (warning["file"], warning["samples"], warning["first_line"]) == (str(path), 2, 4)


def test_strict_order_refuses_out_of_order_samples_at_each_line(tmp_path: Path) -> None:
    rows = f"{T0},1\n{T0 + 120},3\n{T0 + 60},2\n{T0 + 180},4\n{T0 + 90},9\n"
    path = write(tmp_path, "order.csv", "timestamp,value\n" + rows)

    with pytest.raises(InputError) as caught:
        read_series_file(path, strict_order=True)

    assert [p.line for p in caught.value.problems] == [4, 6]


def test_nab_machine_temperature_replays_with_its_repeated_hour_sorted_in(
    nab_root: Path,
) -> None:
    result = CliRunner().invoke(
        app,
        ["replay", str(NAB_MACHINE), "--format", "json", "--lookback", "2d", "--detect", "trend"],
    )

    assert result.exit_code == 0, result.output
    assert "samples out of time order were sorted into place" in result.stderr
    assert "samples=11" in result.stderr and "first_line=10151" in result.stderr
    (rule,) = json.loads(result.stdout)["rules"]
    assert (rule["error"], rule["series_count"]) == (None, 1)


def test_nab_machine_temperature_with_strict_order_names_line_10151(nab_root: Path) -> None:
    result = CliRunner().invoke(app, ["replay", str(NAB_MACHINE), "--strict-order"])

    assert result.exit_code == 2
    assert f"{NAB_MACHINE}:10151: timestamp 2014-01-07T02:00:00Z is earlier than" in result.output

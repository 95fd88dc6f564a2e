"""CSV and JSON-lines files as series: parsing, grids, errors with file:line, the Source."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.errors import InputError
from adapters.sources import files
from adapters.sources.files import MAX_PROBLEMS, FileSource, read_series_file
from detector.rule import Rule
from detector.series import Series

T0 = 1795168800  # 2026-11-20T10:00:00Z, a multiple of 300
NAB_FILE = Path(
    "/work/shared/datasets/nab/data/realKnownCause/ec2_request_latency_system_failure.csv"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(tmp_path: Path, name: str, objects: list[dict[str, object]]) -> Path:
    return write(tmp_path, name, "".join(json.dumps(o) + "\n" for o in objects))


def by_label(series: list[Series], key: str) -> dict[str, Series]:
    return {s.labels[key]: s for s in series}


def problem_lines(error: InputError) -> list[int | None]:
    return [p.line for p in error.problems]


# --- reading ---------------------------------------------------------------------------


def test_csv_with_nab_style_timestamps(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cpu.csv",
        "timestamp,value\n2014-04-01 00:00:00,1.5\n2014-04-01 00:05:00,2.5\n",
    )
    [series] = read_series_file(path)
    assert series.timestamps.tolist() == [1396310400, 1396310700]
    assert series.values.tolist() == [1.5, 2.5]


def test_csv_with_unix_seconds(tmp_path: Path) -> None:
    path = write(tmp_path, "cpu.csv", f"timestamp,value\n{T0},1\n{T0 + 60},2\n")
    [series] = read_series_file(path)
    assert series.timestamps.tolist() == [T0, T0 + 60]
    assert series.step == 60


def test_file_without_label_columns_is_named_after_its_stem(tmp_path: Path) -> None:
    path = write(tmp_path, "disk_io.csv", f"timestamp,value\n{T0},1\n{T0 + 60},2\n")
    [series] = read_series_file(path)
    assert series.labels == {"series": "disk_io"}


def test_label_columns_split_series(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "lat.csv",
        f"timestamp,value,host\n{T0},1,a\n{T0},10,b\n{T0 + 60},2,a\n{T0 + 60},20,b\n",
    )
    series = by_label(read_series_file(path), "host")
    assert set(series) == {"a", "b"}
    assert series["a"].values.tolist() == [1.0, 2.0]
    assert series["b"].values.tolist() == [10.0, 20.0]
    assert series["b"].labels == {"host": "b"}


def test_empty_label_value_means_label_absent(tmp_path: Path) -> None:
    path = write(
        tmp_path, "lat.csv", f"timestamp,value,host\n{T0},1,\n{T0 + 60},2,\n{T0 + 120},3,\n"
    )
    [series] = read_series_file(path)
    assert series.labels == {"series": "lat"}


def test_jsonl_with_labels_object(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path,
        "m.jsonl",
        [
            {"timestamp": "2026-11-20T10:00:00Z", "value": 1, "labels": {"job": "api"}},
            {"timestamp": "2026-11-20T10:01:00Z", "value": 2, "labels": {"job": "api"}},
        ],
    )
    [series] = read_series_file(path)
    assert series.labels == {"job": "api"}
    assert series.values.tolist() == [1.0, 2.0]


def test_jsonl_other_keys_are_labels(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path,
        "m.ndjson",
        [
            {"timestamp": T0, "value": 1, "job": "api"},
            {"timestamp": T0, "value": 5, "job": "db"},
            {"timestamp": T0 + 60, "value": 2, "job": "api"},
            {"timestamp": T0 + 60, "value": 6, "job": "db"},
        ],
    )
    series = by_label(read_series_file(path), "job")
    assert series["db"].values.tolist() == [5.0, 6.0]


def test_step_is_inferred_as_most_common_difference(tmp_path: Path) -> None:
    stamps = [T0, T0 + 300, T0 + 600, T0 + 1500, T0 + 1800]  # diffs 300, 300, 900, 300
    rows = "".join(f"{t},1\n" for t in stamps)
    [series] = read_series_file(write(tmp_path, "s.csv", "timestamp,value\n" + rows))
    assert series.step == 300


def test_gaps_become_nan_not_invented(tmp_path: Path) -> None:
    path = write(tmp_path, "g.csv", f"timestamp,value\n{T0},1\n{T0 + 60},2\n{T0 + 240},5\n")
    [series] = read_series_file(path)
    assert series.timestamps.tolist() == [T0, T0 + 60, T0 + 120, T0 + 180, T0 + 240]
    assert np.isnan(series.values[2:4]).all()
    assert series.values[[0, 1, 4]].tolist() == [1.0, 2.0, 5.0]


def test_coarser_step_averages_samples_in_one_slot(tmp_path: Path) -> None:
    # end-labelled slots: (T0-300, T0] holds T0; (T0, T0+300] holds 60..300
    rows = "".join(f"{T0 + 60 * k},{k}\n" for k in range(6))
    [series] = read_series_file(write(tmp_path, "c.csv", "timestamp,value\n" + rows), step=300)
    assert series.step == 300
    assert series.timestamps.tolist() == [T0, T0 + 300]
    assert series.values.tolist() == [0.0, 3.0]  # mean of 1, 2, 3, 4, 5


def test_off_grid_sample_lands_in_the_slot_that_ends_after_it(tmp_path: Path) -> None:
    path = write(tmp_path, "o.csv", f"timestamp,value\n{T0 + 10},1\n{T0 + 70},2\n")
    [series] = read_series_file(path, step=60)
    assert series.timestamps.tolist() == [T0 + 60, T0 + 120]


def test_averaging_ignores_nan_samples_in_a_slot(tmp_path: Path) -> None:
    path = write(tmp_path, "n.csv", f"timestamp,value\n{T0 + 30},NaN\n{T0 + 60},4\n")
    [series] = read_series_file(path, step=60)
    assert series.values.tolist() == [4.0]


def test_empty_and_nan_values_are_nan(tmp_path: Path) -> None:
    rows = f"{T0},1\n{T0 + 60},\n{T0 + 120},NaN\n{T0 + 180},nan\n{T0 + 240},2\n"
    [series] = read_series_file(write(tmp_path, "v.csv", "timestamp,value\n" + rows))
    assert [math.isnan(v) for v in series.values] == [False, True, True, True, False]


def test_repeated_timestamps_are_averaged(tmp_path: Path) -> None:
    rows = f"{T0},1\n{T0 + 60},2\n{T0 + 60},4\n{T0 + 120},5\n"
    [series] = read_series_file(write(tmp_path, "d.csv", "timestamp,value\n" + rows))
    assert series.values.tolist() == [1.0, 3.0, 5.0]


def test_returned_arrays_are_read_only(tmp_path: Path) -> None:
    path = write(tmp_path, "r.csv", f"timestamp,value\n{T0},1\n{T0 + 60},2\n")
    [series] = read_series_file(path)
    with pytest.raises(ValueError, match="read-only"):
        series.values[0] = 9.0


def test_real_nab_file_reads_as_one_series_at_step_300() -> None:
    if not NAB_FILE.exists():
        pytest.skip("NAB dataset not present")
    [series] = read_series_file(NAB_FILE)
    assert series.step == 300
    assert series.labels == {"series": "ec2_request_latency_system_failure"}
    # 4032 rows: 12 rows stamped 2014-03-09 03:00 (a DST artefact in the file) share one
    # slot, which leaves 11 empty slots before it, plus one 10-minute gap on 03-16.
    assert np.isfinite(series.values).sum() == 4032 - 11
    assert len(series) == 4033
    assert np.isnan(series.values).sum() == 12


# --- errors: each names the file and the line ------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.csv: file not found"):
        read_series_file(tmp_path / "nope.csv")


def test_text_that_is_not_utf8_names_the_line_and_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "bin.csv"
    path.write_bytes(b"timestamp,value\n\xff\xfe\x00,1\n")
    with pytest.raises(InputError, match=r"bin\.csv:2: not UTF-8 text \(byte 0xff\)"):
        read_series_file(path)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InputError, match=r"dir\.csv: is a directory"):
        read_series_file(tmp_path / "dir.csv")


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = write(tmp_path, "data.txt", "timestamp,value\n")
    with pytest.raises(InputError, match=r"data\.txt: unsupported file type"):
        read_series_file(path)


def test_missing_header_column(tmp_path: Path) -> None:
    path = write(tmp_path, "h.csv", f"time,value\n{T0},1\n")
    with pytest.raises(InputError, match=r"h\.csv:1: .*missing: timestamp") as caught:
        read_series_file(path)
    assert problem_lines(caught.value) == [1]


def test_unparsable_timestamp_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", f"timestamp,value\n{T0},1\nnoon,2\n")
    with pytest.raises(InputError, match=r"t\.csv:3: invalid timestamp 'noon'"):
        read_series_file(path)


def test_non_numeric_value_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "v.csv", f"timestamp,value\n{T0},1\n{T0 + 60},fast\n")
    with pytest.raises(InputError, match=r"v\.csv:3: value 'fast' is not a number"):
        read_series_file(path)


def test_strict_order_names_the_line_where_time_goes_backwards_and_both_times(
    tmp_path: Path,
) -> None:
    rows = "2026-11-20 10:00:00,1\n2026-11-20 10:05:00,2\n2026-11-20 10:01:00,3\n"
    path = write(tmp_path, "b.csv", "timestamp,value\n" + rows)
    with pytest.raises(
        InputError,
        match=r"b\.csv:4: timestamp 2026-11-20T10:01:00Z is earlier than "
        r"2026-11-20T10:05:00Z on line 3",
    ):
        read_series_file(path, strict_order=True)


def test_time_order_is_checked_per_series(tmp_path: Path) -> None:
    rows = f"{T0 + 60},1,a\n{T0},1,b\n{T0 + 120},2,a\n{T0 + 60},2,b\n"
    series = read_series_file(write(tmp_path, "p.csv", "timestamp,value,host\n" + rows))
    assert len(series) == 2


def test_header_only_file_has_no_samples(tmp_path: Path) -> None:
    path = write(tmp_path, "e.csv", "timestamp,value\n")
    with pytest.raises(InputError, match=r"e\.csv: no samples"):
        read_series_file(path)


def test_empty_jsonl_file_has_no_samples(tmp_path: Path) -> None:
    path = write(tmp_path, "e.jsonl", "\n")
    with pytest.raises(InputError, match=r"e\.jsonl: no samples"):
        read_series_file(path)


def test_malformed_json_line_names_line(tmp_path: Path) -> None:
    good = json.dumps({"timestamp": T0, "value": 1})
    path = write(tmp_path, "j.jsonl", f"{good}\n{{'timestamp': 1}}\n")
    with pytest.raises(InputError, match=r"j\.jsonl:2: malformed JSON"):
        read_series_file(path)


def test_json_line_missing_value_names_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, "j.jsonl", [{"timestamp": T0, "value": 1}, {"timestamp": T0}])
    with pytest.raises(InputError, match=r"j\.jsonl:2: missing field 'value'"):
        read_series_file(path)


def test_row_with_wrong_field_count_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "f.csv", f"timestamp,value\n{T0},1\n{T0 + 60},2,extra\n")
    with pytest.raises(InputError, match=r"f\.csv:3: expected 2 fields, found 3"):
        read_series_file(path)


def test_several_problems_are_reported_in_one_pass(tmp_path: Path) -> None:
    rows = f"{T0},1\nnoon,2\n{T0 + 120},slow\n{T0 + 180},4\n"
    path = write(tmp_path, "m.csv", "timestamp,value\n" + rows)
    with pytest.raises(InputError) as caught:
        read_series_file(path)
    assert problem_lines(caught.value) == [3, 4]


def test_problems_are_capped(tmp_path: Path) -> None:
    rows = "".join(f"{T0 + 60 * k},bad\n" for k in range(MAX_PROBLEMS + 5))
    path = write(tmp_path, "cap.csv", "timestamp,value\n" + rows)
    with pytest.raises(InputError) as caught:
        read_series_file(path)
    assert len(caught.value.problems) == MAX_PROBLEMS


def test_step_cannot_be_inferred_from_one_timestamp(tmp_path: Path) -> None:
    path = write(tmp_path, "one.csv", f"timestamp,value\n{T0},1\n")
    with pytest.raises(InputError, match=r"one\.csv: cannot infer the step"):
        read_series_file(path)


def test_one_timestamp_is_fine_with_explicit_step(tmp_path: Path) -> None:
    path = write(tmp_path, "one.csv", f"timestamp,value\n{T0},1\n")
    [series] = read_series_file(path, step=60)
    assert series.values.tolist() == [1.0]


# --- the Source ------------------------------------------------------------------------


def file_rule(path: Path, step: str | None = None) -> Rule:
    data: dict[str, object] = {"signal": "Test", "source": "file", "path": str(path)}
    if step is not None:
        data["step"] = step
    return Rule.model_validate(data)


def test_source_returns_the_causal_window(tmp_path: Path) -> None:
    rows = "".join(f"{T0 + 60 * k},{k}\n" for k in range(10))
    path = write(tmp_path, "w.csv", "timestamp,value\n" + rows)
    [series] = FileSource().fetch(file_rule(path), T0 + 120, T0 + 300)
    assert series.timestamps.tolist() == [T0 + 180, T0 + 240, T0 + 300]


def test_source_uses_rule_step(tmp_path: Path) -> None:
    rows = "".join(f"{T0 + 60 * k},{k}\n" for k in range(10))
    path = write(tmp_path, "w.csv", "timestamp,value\n" + rows)
    [series] = FileSource().fetch(file_rule(path, step="5m"), T0 - 1, T0 + 600)
    assert series.step == 300


def test_source_drops_series_without_samples_in_window(tmp_path: Path) -> None:
    rows = f"{T0},1,a\n{T0 + 60},2,a\n{T0 + 600},1,b\n{T0 + 660},2,b\n"
    path = write(tmp_path, "d.csv", "timestamp,value,host\n" + rows)
    result = FileSource().fetch(file_rule(path, step="1m"), T0 - 1, T0 + 120)
    assert [s.labels["host"] for s in result] == ["a"]


def test_source_parses_a_file_once_across_fetches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "c.csv", f"timestamp,value\n{T0},1\n{T0 + 60},2\n")
    calls: list[Path] = []
    real = files.read_series_file

    def counting(p: str | Path, step: int | None = None, **options: Any) -> list[Series]:
        calls.append(Path(p))
        return real(p, step, **options)

    monkeypatch.setattr(files, "read_series_file", counting)
    source = FileSource()
    for end in range(T0, T0 + 600, 60):
        source.fetch(file_rule(path), T0 - 60, end)
    assert len(calls) == 1


def test_source_rereads_a_changed_file(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", f"timestamp,value\n{T0},1\n{T0 + 60},2\n")
    source = FileSource()
    source.fetch(file_rule(path), T0 - 60, T0 + 600)
    write(tmp_path, "c.csv", f"timestamp,value\n{T0},1\n{T0 + 60},2\n{T0 + 120},3\n")
    [series] = source.fetch(file_rule(path), T0 - 60, T0 + 600)
    assert series.values.tolist() == [1.0, 2.0, 3.0]


def test_source_reports_missing_file_as_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"gone\.csv: file not found"):
        FileSource().fetch(file_rule(tmp_path / "gone.csv"), 0, T0)

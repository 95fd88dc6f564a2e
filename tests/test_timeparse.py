"""Timestamp parsing: the forms files and logs use, floored to Unix seconds."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.timeparse import (
    TimestampError,
    format_rfc3339,
    parse_timestamp,
    parse_timestamps,
)

T0 = 1795168800  # 2026-11-20T10:00:00Z


def test_rfc3339_with_z_is_utc() -> None:
    assert parse_timestamp("2026-11-20T10:00:00Z") == T0


def test_rfc3339_offset_is_converted_to_utc() -> None:
    assert parse_timestamp("2026-11-20T11:00:00+01:00") == T0


def test_fractional_seconds_are_floored() -> None:
    assert parse_timestamp("2026-11-20T10:00:00.999Z") == T0


def test_space_separated_naive_time_is_utc() -> None:
    assert parse_timestamp("2014-04-01 00:05:00") == 1396310700


def test_log4j_comma_millis() -> None:
    assert parse_timestamp("2026-11-20 10:00:00,123") == T0


def test_lowercase_t_and_z_are_accepted() -> None:
    assert parse_timestamp("2026-11-20t10:00:00z") == T0


def test_unix_seconds_integer_text() -> None:
    assert parse_timestamp("1795168800") == T0


def test_unix_seconds_float_text_is_floored() -> None:
    assert parse_timestamp("1795168800.75") == T0


def test_negative_unix_seconds_floor_not_truncate() -> None:
    assert parse_timestamp("-1.5") == -2


def test_garbage_raises_value_error_naming_text_and_forms() -> None:
    with pytest.raises(ValueError, match=r"'yesterday'.*RFC 3339.*Unix seconds"):
        parse_timestamp("yesterday")


def test_impossible_date_raises_value_error() -> None:
    with pytest.raises(ValueError, match="2026-13-01"):
        parse_timestamp("2026-13-01T00:00:00Z")


def test_strptime_format_overrides_default_forms() -> None:
    assert parse_timestamp("20/11/2026 10:00", fmt="%d/%m/%Y %H:%M") == T0


def test_strptime_format_mismatch_names_format() -> None:
    with pytest.raises(ValueError, match="%d/%m/%Y"):
        parse_timestamp("2026-11-20", fmt="%d/%m/%Y")


def test_format_rfc3339_renders_utc_with_z() -> None:
    assert format_rfc3339(T0) == "2026-11-20T10:00:00Z"


def test_column_of_iso_times_parses_to_int64() -> None:
    out = parse_timestamps(["2026-11-20T10:00:00Z", "2026-11-20 10:05:00,500"])
    assert out.dtype == np.int64
    assert out.tolist() == [T0, T0 + 300]


def test_column_of_unix_seconds_parses() -> None:
    assert parse_timestamps(["1795168800", "1795168860.9"]).tolist() == [T0, T0 + 60]


def test_column_mixing_forms_parses_item_by_item() -> None:
    out = parse_timestamps(["1795168800", "2026-11-20T10:01:00Z", "2026-11-20T11:02:00+01:00"])
    assert out.tolist() == [T0, T0 + 60, T0 + 120]


def test_column_matches_single_value_parser_on_offsets() -> None:
    texts = ["2026-11-20T10:00:00.123+05:30", "2026-11-20T10:00:00-08:00"]
    assert parse_timestamps(texts).tolist() == [parse_timestamp(t) for t in texts]


def test_column_error_reports_first_bad_index() -> None:
    with pytest.raises(TimestampError) as caught:
        parse_timestamps(["2026-11-20T10:00:00Z", "2026-11-20T10:01:00Z", "soon", "later"])
    assert [bad.index for bad in caught.value.errors] == [2]
    assert "soon" in str(caught.value)


def test_column_error_collects_up_to_max_errors() -> None:
    with pytest.raises(TimestampError) as caught:
        parse_timestamps(["x", "2026-11-20T10:00:00Z", "y", "z"], max_errors=2)
    assert [bad.text for bad in caught.value.errors] == ["x", "y"]


def test_column_with_format_parses_vectorised() -> None:
    out = parse_timestamps(["20/11/2026 10:00", "20/11/2026 10:01"], fmt="%d/%m/%Y %H:%M")
    assert out.tolist() == [T0, T0 + 60]


def test_empty_column_gives_empty_int64_array() -> None:
    out = parse_timestamps([])
    assert out.dtype == np.int64
    assert out.size == 0

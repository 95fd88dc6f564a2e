"""Malformed log input never crashes a ``by: pattern`` rule, and every skipped line is counted.

Real files on disk, read by the ``logfile`` source as the daemon (following the file,
its miner saved beside a ledger) and replay (the whole file) read them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from adapters.logpatterns.files import LogPatternFiles
from adapters.logpatterns.state import PatternStateStore
from adapters.sources.logs import LogFileSource
from adapters.timeparse import format_rfc3339
from detector.rule import Rule

START = 1_795_000_000 - 1_795_000_000 % 3600
ALL = (-(2**62), 2**62)


def good_lines(count: int, offset: int = 0) -> list[str]:
    return [
        f"{format_rfc3339(START + 60 * (offset + i))} INFO request {offset + i} served in {i} ms"
        for i in range(count)
    ]


def rule_for(path: Path, **log: object) -> Rule:
    return Rule.model_validate(
        {
            "signal": "Patterns",
            "source": "logfile",
            "path": str(path),
            "log": {"by": "pattern", **log},
            "step": 60,
            "window": 86400,
            "detect": ["new_pattern"],
        }
    )


def follower(tmp_path: Path) -> LogFileSource:
    """The daemon's way: follow the file, save the miner beside a ledger."""
    store = PatternStateStore(tmp_path / "ledger.db-patterns", save_interval=0)
    return LogFileSource(patterns=LogPatternFiles(store, follow=True))


def stats_of(source: LogFileSource, rule: Rule) -> Mapping[str, int]:
    """How the source accounted for the rule's lines so far."""
    stats = source.line_stats(rule)
    assert stats is not None
    return stats


def total_lines(source: LogFileSource, rule: Rule) -> float:
    return float(sum(np.nansum(s.values) for s in source.fetch(rule, *ALL)))


def test_binary_garbage_between_lines_is_counted_as_unparsed(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    garbage = bytes(np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8))
    garbage = garbage.replace(b"\n", b"")
    with path.open("wb") as handle:
        handle.write(("\n".join(good_lines(10)) + "\n").encode())
        handle.write(garbage[:2000] + b"\n" + garbage[2000:] + b"\x00\x00\n")
        handle.write(("\n".join(good_lines(10, 10)) + "\n").encode())
    source, rule = LogFileSource(), rule_for(path)

    assert total_lines(source, rule) == 20
    stats = stats_of(source, rule)
    assert stats["parsed"] == 20
    assert stats["unparsed"] == 2
    assert stats["undecodable"] == 2


def test_a_one_megabyte_line_is_cut_counted_and_mined(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    huge = f"{format_rfc3339(START)} ERROR dump " + "x" * (1 << 20)
    path.write_text("\n".join([huge, *good_lines(5, 1)]) + "\n")
    source, rule = LogFileSource(), rule_for(path)

    series = source.fetch(rule, *ALL)

    stats = stats_of(source, rule)
    assert stats["oversized"] == 1
    assert stats["parsed"] == 6
    (dump,) = [s for s in series if s.labels["level"] == "ERROR"]
    assert len(dump.labels["template"]) <= 120
    assert len(dump.labels["sample"]) <= 200


def test_invalid_utf8_is_replaced_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    line = f"{format_rfc3339(START)} WARN caf\xe9 latency high\n".encode("latin-1")
    path.write_bytes(line + ("\n".join(good_lines(3, 1)) + "\n").encode())
    source, rule = LogFileSource(), rule_for(path)

    series = source.fetch(rule, *ALL)

    stats = stats_of(source, rule)
    assert stats["undecodable"] == 1
    assert stats["parsed"] == 4
    (warn,) = [s for s in series if s.labels["level"] == "WARN"]
    assert warn.labels["template"] == "caf\ufffd latency high"


def test_truncated_json_lines_are_counted_as_unparsed(tmp_path: Path) -> None:
    path = tmp_path / "app.jsonl"
    lines = [
        json.dumps({"ts": START + 60 * i, "severity": "error", "msg": f"pool exhausted db-{i}"})
        for i in range(6)
    ]
    lines[2] = lines[2][:25]  # cut off mid-object, as a crashed writer leaves it
    lines[4] = lines[4][:-1]
    path.write_text("\n".join([*lines, "[1, 2]", "not json at all"]) + "\n")
    source = LogFileSource()
    rule = rule_for(
        path, format="json", timestamp_field="ts", level_field="severity", message_field="msg"
    )

    series = source.fetch(rule, *ALL)

    stats = stats_of(source, rule)
    assert stats["parsed"] == 4
    assert stats["unparsed"] == 4
    assert [s.labels["template"] for s in series] == ["pool exhausted <*>"]


def test_unparsable_timestamps_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text(
        "\n".join([*good_lines(3), "2026-13-45T99:00:00Z INFO request 9 served in 1 ms"]) + "\n"
    )
    source, rule = LogFileSource(), rule_for(path)

    assert total_lines(source, rule) == 3
    stats = stats_of(source, rule)
    assert stats["bad_timestamp"] == 1


def test_a_line_still_being_written_is_read_once_it_is_complete(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("\n".join(good_lines(3)) + "\n" + good_lines(1, 3)[0][:20])
    source, rule = follower(tmp_path), rule_for(path)
    assert total_lines(source, rule) == 3

    with path.open("a") as handle:
        handle.write(good_lines(1, 3)[0][20:] + "\n")

    assert total_lines(source, rule) == 4


def test_a_rotated_file_is_read_from_its_start_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("\n".join(good_lines(5)) + "\n")
    source, rule = follower(tmp_path), rule_for(path)
    assert total_lines(source, rule) == 5

    path.rename(tmp_path / "app.log.1")
    path.write_text("\n".join(good_lines(4, 5)) + "\n")

    assert total_lines(source, rule) == 9  # the counts carry on across the rotation
    stats = stats_of(source, rule)
    assert stats["rotated"] == 1


def test_a_file_truncated_in_place_is_read_from_its_start_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("\n".join(good_lines(5)) + "\n")
    source, rule = follower(tmp_path), rule_for(path)
    assert total_lines(source, rule) == 5

    path.write_text("\n".join(good_lines(2, 5)) + "\n")  # copytruncate, then new lines

    assert total_lines(source, rule) == 7
    stats = stats_of(source, rule)
    assert stats["truncated"] == 1


def test_a_damaged_saved_state_is_ignored_and_mining_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("\n".join(good_lines(5)) + "\n")
    source, rule = follower(tmp_path), rule_for(path)
    total_lines(source, rule)
    (saved,) = (tmp_path / "ledger.db-patterns").glob("*.json.gz")
    saved.write_bytes(b"\x1f\x8b not really gzip")

    assert total_lines(follower(tmp_path), rule) == 5

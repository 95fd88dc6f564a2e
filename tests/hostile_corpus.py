"""A generated corpus of hostile, broken and merely odd inputs for ``replay`` and ``check``.

Nothing here is committed as data: each :class:`Case` writes its files when the test
runs. The cases are the issues users and attackers actually produce: YAML alias bombs
and deep nesting, binary garbage, invalid UTF-8, NUL bytes, BOMs and CRLF, duplicate
and unsorted timestamps, NaN and infinities, values near 1e308, millisecond
timestamps, a few samples years apart, 10,000 label columns, one-point and constant
series, and huge inputs (sparse files of a gigabyte, ``/dev/zero``) that must be refused
from their size or streamed, never read whole.

Each case states the exit codes the convention allows for it (adapters/cli/exitcodes.py)
and which file its message must name.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

OK, PROBLEMS, USAGE, UNAVAILABLE = 0, 1, 2, 3

T0 = 1_699_999_200  # 2023-11-14T22:00:00Z, a whole hour
HOUR = 3600

Writer = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """One command line over files written fresh into an empty directory.

    ``argv`` items may hold ``{dir}`` (that directory). ``names`` is the file the output
    must name when the command does not succeed, or when it warns (empty: nothing to
    name). ``expect`` is the set of exit codes the convention allows.
    """

    name: str
    argv: tuple[str, ...]
    expect: frozenset[int]
    files: dict[str, Writer] = field(default_factory=dict)
    names: str = ""

    def write(self, directory: Path) -> list[str]:
        for name, writer in self.files.items():
            writer(directory / name)
        return [arg.replace("{dir}", str(directory)) for arg in self.argv]


# --- writers -----------------------------------------------------------------------------


def text(content: str, encoding: str = "utf-8") -> Writer:
    return lambda path: path.write_bytes(content.encode(encoding))


def raw(content: bytes) -> Writer:
    return lambda path: path.write_bytes(content)


def sparse(size: int) -> Writer:
    """A file of ``size`` bytes that takes no disk (a hole): huge to read, free to make."""

    def write(path: Path) -> None:
        with path.open("wb") as handle:
            handle.truncate(size)

    return write


def link(target: str) -> Writer:
    return lambda path: path.symlink_to(target)


def garbage(seed: int, size: int = 4096) -> Writer:
    return raw(random.Random(seed).randbytes(size))


def rows(
    count: int, value: Callable[[int], object] = lambda i: 100 + i % 24, step: int = HOUR
) -> list[str]:
    return [f"{T0 + step * i},{value(i)}" for i in range(count)]


def csv(lines: list[str], header: str = "timestamp,value", newline: str = "\n") -> str:
    return newline.join([header, *lines]) + newline


def jsonl(objects: list[object]) -> str:
    return "".join(json.dumps(obj) + "\n" for obj in objects)


def hourly_objects(count: int) -> list[dict[str, object]]:
    return [{"timestamp": T0 + HOUR * i, "value": 100 + i % 24} for i in range(count)]


GOOD_ROWS = rows(240)  # ten days of hourly samples: enough for the default 7d window

RULE = """\
groups:
  - name: g
    interval: 1h
    rules:
      - signal: S
        source: file
        path: {path}
        step: 1h
"""


def rule_file(extra: str = "", path: str = "data.csv") -> str:
    return RULE.format(path=path) + extra


def bomb(levels: int = 9, width: int = 9) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def bomb_under(field_name: str) -> str:
    return bomb() + rule_file(f"        {field_name}: *a8\n")


def many_rules(count: int) -> str:
    body = "".join(
        f"      - signal: S{n}\n        source: prometheus\n        query: up\n"
        for n in range(count)
    )
    return "groups:\n  - name: g\n    rules:\n" + body


# --- the corpus ---------------------------------------------------------------------------

BAD_FLAG_CASES = {
    "at-beyond-year-9999": ("--at",),
    "at-words": ("--at",),
    "lookback-of-a-googol-days": ("--lookback",),
    "window-of-a-googol-days": ("--window",),
}
"""Cases whose problem is a flag: their message names the flag, not a file."""


def _series_cases() -> Iterator[Case]:
    """``graysignal replay <one series file>``."""

    def replay(
        name: str, content: Writer, expect: set[int], suffix: str = ".csv", *extra: str
    ) -> Case:
        file = f"data{suffix}"
        flag = next((arg for arg in extra if arg.startswith("--")), "")
        return Case(
            name,
            ("replay", f"{{dir}}/{file}", "--format", "json", *extra),
            frozenset(expect),
            {file: content},
            flag if flag in BAD_FLAG_CASES.get(name, ()) else file,
        )

    for suffix in (".csv", ".jsonl"):
        kind = suffix[1:]
        yield replay(f"{kind}-empty", text(""), {USAGE}, suffix)
        yield replay(f"{kind}-blank-lines", text("\n\n \n\t\n"), {USAGE}, suffix)
        for seed in range(3):
            yield replay(f"{kind}-binary-garbage-{seed}", garbage(seed), {USAGE}, suffix)
        yield replay(f"{kind}-utf16", text("timestamp,value\n1,2\n", "utf-16"), {USAGE}, suffix)
        yield replay(f"{kind}-sparse-1gb", sparse(1 << 30), {USAGE}, suffix)
        yield replay(f"{kind}-dev-zero", link("/dev/zero"), {USAGE}, suffix)
        yield replay(f"{kind}-one-line-of-2mb", text("9" * (2 << 20)), {USAGE}, suffix)

    good = csv(GOOD_ROWS)
    yield replay("csv-valid", text(good), {OK})
    yield replay("csv-bom", text("\ufeff" + good), {OK})
    yield replay("csv-crlf", text(csv(GOOD_ROWS, newline="\r\n")), {OK})
    yield replay("csv-bom-crlf", text("\ufeff" + csv(GOOD_ROWS, newline="\r\n")), {OK})
    yield replay("csv-cr-only", text(csv(GOOD_ROWS, newline="\r")), {OK})
    yield replay("csv-invalid-utf8", raw(good.encode() + b"\xff\xfe,1\n"), {USAGE})
    yield replay("csv-nul-byte", raw(good.encode() + b"\x00,1\n"), {USAGE})
    yield replay("csv-header-only", text("timestamp,value\n"), {USAGE})
    yield replay("csv-no-value-column", text(csv(GOOD_ROWS, header="timestamp,v")), {USAGE})
    yield replay(
        "csv-repeated-column", text(csv(GOOD_ROWS, header="timestamp,value,value")), {USAGE}
    )
    yield replay("csv-wrong-field-count", text(good + "1,2,3\n"), {USAGE})
    yield replay("csv-unterminated-quote", text(good + '"1700000000,5\n'), {OK, USAGE})
    yield replay(
        "csv-quoted-newline-in-label",
        text(csv([f'{r},"a\nb"' for r in GOOD_ROWS], "timestamp,value,host")),
        {OK},
    )
    wide = "timestamp,value," + ",".join(f"l{i}" for i in range(10_000))
    yield replay(
        "csv-10000-label-columns", text(wide + "\n" + "1,1" + ",x" * 10_000 + "\n"), {USAGE}
    )
    yield replay(
        "csv-65-label-columns",
        text(
            csv(
                [r + ",x" * 65 for r in GOOD_ROWS],
                "timestamp,value," + ",".join(f"l{i}" for i in range(65)),
            )
        ),
        {USAGE},
    )
    yield replay(
        "csv-label-value-100k",
        text(csv([GOOD_ROWS[0] + "," + "x" * 100_000], "timestamp,value,host")),
        {USAGE},
    )
    yield replay(
        "csv-label-value-5000",
        text(csv([r + "," + "x" * 5000 for r in GOOD_ROWS], "timestamp,value,host")),
        {USAGE},
    )
    yield replay(
        "csv-20000-series",
        text(csv([f"{T0},1,h{i}" for i in range(20_000)], "timestamp,value,host")),
        {USAGE},
    )
    yield replay("csv-one-point", text(csv(GOOD_ROWS[:1])), {USAGE})
    yield replay("csv-two-points", text(csv(GOOD_ROWS[:2])), {OK})
    yield replay("csv-constant", text(csv(rows(240, lambda i: 5))), {OK})
    yield replay("csv-all-nan", text(csv(rows(240, lambda i: "NaN"))), {OK})
    yield replay("csv-all-empty-values", text(csv(rows(240, lambda i: ""))), {OK})
    yield replay(
        "csv-some-nan",
        text(
            csv(rows(240, lambda i: "nan" if i % 3 else i)),
        ),
        {OK},
    )
    for bad in ("inf", "-inf", "Infinity", "1e308", "-1.7976931348623157e308", "1e400", "1e101"):
        yield replay(
            f"csv-value-{bad}", text(csv([*GOOD_ROWS, f"{T0 + 240 * HOUR},{bad}"])), {USAGE}
        )
    yield replay("csv-value-1e-308", text(csv(rows(240, lambda i: f"{1 + i % 3}e-308"))), {OK})
    yield replay("csv-value-near-1e100", text(csv(rows(240, lambda i: f"{1 + i % 3}e99"))), {OK})
    yield replay("csv-value-text", text(csv([*GOOD_ROWS, f"{T0 + 240 * HOUR},fast"])), {USAGE})
    yield replay(
        "csv-value-thousands", text(csv([*GOOD_ROWS, f'{T0 + 240 * HOUR},"1,234"'])), {USAGE}
    )
    yield replay(
        "csv-duplicate-timestamps", text(csv([r for r in GOOD_ROWS for _ in range(2)])), {OK}
    )
    shuffled = list(GOOD_ROWS)
    random.Random(7).shuffle(shuffled)
    yield replay("csv-shuffled", text(csv(shuffled)), {OK})
    yield replay("csv-reversed", text(csv(GOOD_ROWS[::-1])), {OK})
    yield replay("csv-shuffled-strict", text(csv(shuffled)), {USAGE}, ".csv", "--strict-order")
    yield replay(
        "csv-millisecond-timestamps",
        text(csv([f"{(T0 + HOUR * i) * 1000},{i}" for i in range(240)])),
        {USAGE},
    )
    yield replay(
        "csv-nanosecond-timestamps",
        text(csv([f"{(T0 + HOUR * i) * 10**9},{i}" for i in range(240)])),
        {USAGE},
    )
    yield replay("csv-timestamp-30-digits", text(csv([*GOOD_ROWS, "9" * 30 + ",1"])), {USAGE})
    yield replay("csv-timestamp-words", text(csv([*GOOD_ROWS, "yesterday,1"])), {USAGE})
    yield replay(
        "csv-timestamp-year-10000", text(csv([*GOOD_ROWS, "10000-01-01T00:00:00Z,1"])), {USAGE}
    )
    yield replay(
        "csv-timestamp-before-year-1", text(csv([*GOOD_ROWS, "-99999999999999,1"])), {USAGE}
    )
    yield replay(
        "csv-timestamps-before-1970",
        text(csv([f"{-HOUR * (240 - i)},{i % 24}" for i in range(240)])),
        {OK},
    )
    yield replay(
        "csv-fractional-timestamps",
        text(csv([f"{T0 + HOUR * i}.25,{i % 24}" for i in range(240)])),
        {OK},
    )
    yield replay(
        "csv-mixed-time-zones",
        text(
            csv(
                [
                    f"2023-11-{1 + i // 24:02d}T{i % 24:02d}:00:00{zone},{i % 5}"
                    for i, zone in zip(range(240), ["Z", "+00:00"] * 120, strict=True)
                ]
            )
        ),
        {OK},
    )
    yield replay(
        "csv-samples-years-apart",
        text(csv([f"{T0},1", f"{T0 + 60},2", f"{T0 + 30 * 365 * 86400},3"])),
        {USAGE},
    )
    yield replay("csv-daily-under-a-7d-window", text(csv(rows(60, step=86400))), {USAGE})
    yield replay(
        "csv-daily-with-a-long-window",
        text(csv(rows(60, step=86400))),
        {OK},
        ".csv",
        "--window",
        "30d",
    )

    good_objects = hourly_objects(240)
    yield replay("jsonl-valid", text(jsonl(good_objects)), {OK}, ".jsonl")
    yield replay("jsonl-crlf", text(jsonl(good_objects).replace("\n", "\r\n")), {OK}, ".jsonl")
    yield replay(
        "jsonl-nested-deep",
        text('{"timestamp": 1, "value": ' + "[" * 30_000 + "]" * 30_000 + "}\n"),
        {USAGE},
        ".jsonl",
    )
    yield replay(
        "jsonl-nested-deep-labels",
        text(jsonl([{"timestamp": T0, "value": 1, "labels": {"a": {"b": {"c": 1}}}}])),
        {USAGE},
        ".jsonl",
    )
    yield replay("jsonl-array-lines", text(jsonl([[T0, 1], [T0 + HOUR, 2]])), {USAGE}, ".jsonl")
    yield replay("jsonl-string-lines", text(jsonl(["hello", "world"])), {USAGE}, ".jsonl")
    yield replay("jsonl-missing-value", text(jsonl([{"timestamp": T0}])), {USAGE}, ".jsonl")
    yield replay(
        "jsonl-boolean-timestamp", text(jsonl([{"timestamp": True, "value": 1}])), {USAGE}, ".jsonl"
    )
    yield replay(
        "jsonl-100-labels",
        text(jsonl([{"timestamp": T0, "value": 1, **{f"l{i}": "v" for i in range(100)}}])),
        {USAGE},
        ".jsonl",
    )
    yield replay(
        "jsonl-nan-literals",
        text("".join(f'{{"timestamp": {T0 + HOUR * i}, "value": NaN}}\n' for i in range(240))),
        {OK},
        ".jsonl",
    )
    yield replay(
        "jsonl-infinity-literal",
        text(jsonl(good_objects) + f'{{"timestamp": {T0}, "value": Infinity}}\n'),
        {USAGE},
        ".jsonl",
    )
    yield replay(
        "jsonl-1e999",
        text(jsonl(good_objects) + f'{{"timestamp": {T0}, "value": 1e999}}\n'),
        {USAGE},
        ".jsonl",
    )
    yield replay(
        "jsonl-null-values",
        text(jsonl([{"timestamp": T0 + HOUR * i, "value": None} for i in range(240)])),
        {OK},
        ".jsonl",
    )
    yield replay("jsonl-unsorted", text(jsonl(good_objects[::-1])), {OK}, ".jsonl")
    yield replay("txt-suffix", text(good), {USAGE}, ".txt")
    yield replay("at-beyond-year-9999", text(good), {USAGE}, ".csv", "--at", "9" * 17)
    yield replay("at-words", text(good), {USAGE}, ".csv", "--at", "soon")
    yield replay(
        "lookback-of-a-googol-days", text(good), {USAGE}, ".csv", "--lookback", "9" * 100 + "d"
    )
    yield replay(
        "window-of-a-googol-days", text(good), {USAGE}, ".csv", "--window", "9" * 100 + "d"
    )


def _rule_cases() -> Iterator[Case]:
    """``graysignal check <rule file>`` (and a few ``replay <rule file>``)."""

    def check(name: str, content: Writer, expect: set[int], file: str = "rules.yaml") -> Case:
        return Case(
            name,
            ("check", f"{{dir}}/{file}"),
            frozenset(expect),
            {file: content, "data.csv": text(csv(GOOD_ROWS))},
            file,
        )

    for field_name in ("labels", "annotations", "detect", "path", "query", "window"):
        yield check(f"rules-bomb-under-{field_name}", text(bomb_under(field_name)), {USAGE})
    yield check("rules-bomb-as-groups", text(bomb() + "groups: *a8\n"), {USAGE})
    yield check(
        "rules-bomb-in-merge-key",
        text(bomb() + "groups:\n  - <<: {x: *a8}\n    name: g\n"),
        {USAGE},
    )
    yield check("rules-bomb-wide", text(bomb(levels=3, width=500)), {USAGE})
    yield check(
        "rules-150-aliases",
        text(
            "v: &v x\n"
            + rule_file(
                "        annotations:\n" + "".join(f"          n{i}: *v\n" for i in range(150))
            )
        ),
        {USAGE},
    )
    yield check("rules-recursive-alias", text("groups: &g\n  - *g\n"), {PROBLEMS})
    yield check("rules-undefined-alias", text("groups: *nowhere\n"), {PROBLEMS})
    yield check(
        "rules-deep-block",
        text("".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n"),
        {USAGE},
    )
    yield check("rules-deep-flow", text("groups: " + "[" * 5000 + "]" * 5000 + "\n"), {USAGE})
    yield check(
        "rules-deep-flow-mappings",
        text("groups: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n"),
        {USAGE},
    )
    yield check("rules-nul-byte", text(rule_file() + "\x00\n"), {PROBLEMS})
    yield check("rules-invalid-utf8", raw(rule_file().encode() + b"# \xff\xfe\n"), {PROBLEMS})
    yield check("rules-binary-garbage", garbage(11), {PROBLEMS, USAGE})
    yield check("rules-empty", text(""), {PROBLEMS})
    yield check("rules-2mb", text(rule_file() + ("# padding\n" * 220_000)), {USAGE})
    yield check("rules-sparse-1gb", sparse(1 << 30), {USAGE})
    yield check("rules-dev-zero", link("/dev/zero"), {USAGE})
    yield check(
        "rules-line-of-100k", text(rule_file("        query: " + "x" * 100_000 + "\n")), {USAGE}
    )
    yield check("rules-1500-rules", text(many_rules(1500)), {USAGE})
    yield check("rules-1000-rules", text(many_rules(1000)), {OK})
    yield check(
        "rules-100-labels",
        text(rule_file("        labels: {" + ", ".join(f"l{i}: v" for i in range(100)) + "}\n")),
        {USAGE},
    )
    yield check(
        "rules-label-value-10k",
        text(rule_file("        labels: {team: " + "x" * 10_000 + "}\n")),
        {USAGE},
    )
    yield check("rules-valid", text(rule_file()), {OK})
    yield check("rules-bom", text("\ufeff" + rule_file()), {OK})
    yield check("rules-crlf", text(rule_file().replace("\n", "\r\n")), {OK})
    yield check("rules-tabs", text(rule_file().replace("    rules:", "\trules:")), {PROBLEMS})
    yield check(
        "rules-python-tag",
        text(rule_file("        labels: !!python/object/apply:os.system [echo]\n")),
        {PROBLEMS},
    )
    yield check(
        "rules-binary-tag", text(rule_file("        labels: {a: !!binary /w==}\n")), {PROBLEMS}
    )
    yield check("rules-two-documents", text(rule_file() + "---\n" + rule_file()), {PROBLEMS})
    yield check("rules-top-level-list", text("- groups\n"), {PROBLEMS})
    yield check("rules-duplicate-keys", text(rule_file("        step: 2h\n")), {PROBLEMS})
    yield check(
        "rules-huge-duration", text(rule_file("        window: " + "9" * 40 + "d\n")), {PROBLEMS}
    )
    yield check("rules-float-window", text(rule_file("        window: 1.0e308\n")), {PROBLEMS})
    yield check(
        "rules-zero-interval", text(rule_file().replace("interval: 1h", "interval: 0s")), {PROBLEMS}
    )
    yield check("rules-unknown-fields", text(rule_file("        detekt: [trend]\n")), {PROBLEMS})
    yield check(
        "rules-date-label", text(rule_file("        labels: {since: 2024-01-01}\n")), {PROBLEMS}
    )
    yield check(
        "rules-huge-int-label-key",
        text(rule_file("        labels: {" + "9" * 5000 + ": v}\n")),
        {PROBLEMS},
    )
    yield check(
        "rules-bad-regex",
        text(
            rule_file().replace("source: file", "source: logfile")
            + "        log: {pattern: '(?P<timestamp>[' }\n"
        ),
        {PROBLEMS},
    )
    yield check("incident-bomb", text(bomb() + "id: x\ncategory: *a8\n"), {USAGE}, "incident.yaml")
    yield check(
        "suppressions-bomb", text(bomb() + "suppressions: *a8\n"), {USAGE}, "suppressions.yaml"
    )

    def replay(
        name: str, data: Writer, expect: set[int], rules: str | None = None, names: str = "data.csv"
    ) -> Case:
        return Case(
            name,
            ("replay", "{dir}/rules.yaml", "--at", f"{T0 + 240 * HOUR}", "--lookback", "1d"),
            frozenset(expect),
            {"rules.yaml": text(rules or rule_file()), "data.csv": data},
            names,
        )

    # A rule whose data cannot be read is skipped with its error; the replay's exit
    # code is then 0 or 3 (no rule could read data), never a crash.
    yield replay("replay-rule-on-garbage", garbage(21), {OK, UNAVAILABLE})
    yield replay("replay-rule-on-dev-zero", link("/dev/zero"), {OK, UNAVAILABLE})
    yield replay("replay-rule-on-sparse-1gb", sparse(1 << 30), {OK, UNAVAILABLE})
    years_apart = text(csv([f"{T0},1", f"{T0 + 60},2", f"{T0 + 30 * 365 * 86400},3"]))
    yield replay(
        "replay-rule-on-years-apart",
        years_apart,
        {OK, UNAVAILABLE},
        rule_file().replace("        step: 1h\n", ""),
    )
    deep_log = text('{"timestamp": 1, "level": ' + "[" * 20_000 + "]" * 20_000 + "}\n")
    logfile = (
        rule_file(path="data.log").replace("source: file", "source: logfile")
        + "        log: {format: json}\n"
    )
    yield Case(
        "replay-logfile-deeply-nested",
        ("replay", "{dir}/rules.yaml", "--at", f"{T0}", "--lookback", "1d"),
        frozenset({OK, UNAVAILABLE}),
        {"rules.yaml": text(logfile), "data.log": deep_log},
        "data.log",
    )
    yield replay(
        "replay-rule-on-daily-data",
        text(csv(rows(60, step=86400))),
        {OK, UNAVAILABLE},
        rule_file().replace("        step: 1h\n", ""),
    )
    yield replay(
        "replay-bomb-rules", text(csv(GOOD_ROWS)), {USAGE}, bomb_under("labels"), "rules.yaml"
    )
    deep = "groups: " + "[" * 5000 + "]" * 5000 + "\n"
    yield replay("replay-deep-rules", text(csv(GOOD_ROWS)), {USAGE}, deep, "rules.yaml")


def corpus() -> list[Case]:
    cases = [*_series_cases(), *_rule_cases()]
    names = [case.name for case in cases]
    if len(set(names)) != len(names):
        raise AssertionError("case names must be unique")
    return cases


if __name__ == "__main__":  # list the corpus: python -m tests.hostile_corpus
    for case in corpus():
        print(case.name, " ".join(case.argv), sorted(case.expect), os.sep.join(case.files))

"""The reviewed suppressions file (``rules/suppressions.yaml``): load it, check it, add to it.

Accepting a change is a decision a team should review, so acknowledgements and expected
changes live in a YAML file next to the rules, not in a database: a pull request shows
who accepted what, why and until when. The matching itself is pure
(:mod:`detector.suppressions`); this module is the edge that turns the file into
:class:`~detector.suppressions.Suppression` values, with every mistake reported as
``file:line: message`` by the same machinery as rule files
(:func:`adapters.rulefiles.load_yaml_model`).

``graysignal ack`` and ``graysignal expect`` *append* entries (:func:`append_entry`)
instead of rewriting the file, so comments, order and formatting a reviewer relies on
survive; the result is loaded again before it is kept, so a command never leaves a file
that ``graysignal check`` would reject. The format is documented in docs/suppressions.md.

Regenerate the editor schema with
``python -m adapters.suppressions --write-schema rules/suppressions.schema.json``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adapters.errors import InputError, Problem
from adapters.rulefiles import (
    JSON_SCHEMA_DIALECT,
    SUPPRESSIONS_FILE_NAMES,
    load_yaml_model,
    top_level_keys,
    write_schema_main,
)
from adapters.timeparse import format_rfc3339, parse_timestamp
from detector.durations import format_duration, parse_duration
from detector.finding import Kind
from detector.rule import Rule
from detector.suppressions import EXPECT_ONSET_GRACE, Action, Suppression

__all__ = [
    "DEFAULT_ACK_DAYS",
    "SUPPRESSIONS_FILE_NAMES",
    "SuppressionEntry",
    "SuppressionsFile",
    "append_entries",
    "append_entry",
    "format_change",
    "format_matchers",
    "is_suppressions_file",
    "load_entries",
    "load_suppressions",
    "parse_change",
    "parse_matchers",
    "review_suppressions",
    "suppressions_file_json_schema",
    "suppressions_files_near",
]

TOP_LEVEL_KEY = "suppressions"
DEFAULT_ACK_DAYS = 30
HEADER = (
    "# Accepted changes: reviewed like rules (docs/suppressions.md).\n"
    "# Written by `graysignal ack` / `graysignal expect`; edit freely, keep the reason.\n"
)

_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
_CHANGE = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*%\s*")

Moment = str | int | date | datetime


def parse_matchers(text: str) -> dict[str, str]:
    """``service="checkout",region="eu"`` -> ``{"service": "checkout", "region": "eu"}``.

    Only equality: a suppression names series, it does not search for them.
    """
    matchers: dict[str, str] = {}
    rest = text.strip().removeprefix("{").removesuffix("}").strip()
    while rest:
        found = _MATCHER.match(rest)
        if found is None:
            raise ValueError(
                f'invalid matchers {text!r}: use name="value" pairs separated by commas, '
                'e.g. service="checkout",region="eu"'
            )
        name, value = found.group(1), json.loads(f'"{found.group(2)}"')
        if name in matchers:
            raise ValueError(f"invalid matchers {text!r}: label {name!r} appears twice")
        matchers[name] = value
        rest = rest[found.end() :].strip()
    return matchers


def format_matchers(matchers: Mapping[str, str]) -> str:
    """The inverse of :func:`parse_matchers`, sorted by label name."""
    return ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(matchers.items()))


def parse_change(value: str | float) -> float:
    """``"+20%"`` -> ``0.2``; a bare number is a fraction (``0.2``)."""
    if isinstance(value, bool):
        raise ValueError(f"invalid change {value!r}: use a signed percentage, e.g. +20%")
    if isinstance(value, int | float):
        return float(value)
    found = _CHANGE.fullmatch(value)
    if found is None:
        raise ValueError(f"invalid change {value!r}: use a signed percentage, e.g. +20% or -5%")
    return float(found.group(1)) / 100


def format_change(fraction: float) -> str:
    """``0.1234`` -> ``"+12.3%"``, ``0.0004`` -> ``"+0.04%"`` (what a reviewer reads).

    Three significant digits, never fewer than one decimal below 100%, so a small
    effect is not written as ``+0.0%`` (an ack of nothing would cover nothing).
    """
    percent = fraction * 100
    if percent == 0 or not math.isfinite(percent):
        return f"{percent:+.1f}%"
    decimals = min(6, max(1, 2 - math.floor(math.log10(abs(percent)))))
    text = f"{percent:+.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + "%"


def _moment(value: Moment) -> int:
    """A time as written in the file: RFC 3339, a bare date (midnight UTC) or Unix seconds."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return int(moment.timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    if isinstance(value, int):
        return value
    return parse_timestamp(value)


class SuppressionEntry(BaseModel):
    """One entry of the suppressions file (docs/suppressions.md explains every field)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["ack", "expect"] = Field(
        description="ack: accept one alert as it is; expect: a change of about this size is planned"
    )
    rule: str = Field(min_length=1, description="the rule's signal name (the alertname)")
    matchers: str | dict[str, str] = Field(
        default_factory=dict,
        description='series labels that must all match: service="checkout" or a mapping',
    )
    kind: Kind | None = Field(default=None, description="ack: the acknowledged kind (required)")
    change: str | float | None = Field(
        default=None,
        description="ack: the effect when acknowledged; expect: the expected change (+20%)",
    )
    time_to_limit: str | None = Field(
        default=None,
        description="exhaustion ack: the forecast time left when acknowledged (e.g. 25d22h)",
    )
    reason: str = Field(min_length=1, description="why this is accepted (shown with the alert)")
    by: str | None = Field(default=None, description="who accepted it")
    since: str | int | date | datetime = Field(
        description="ack: when it was acknowledged; expect: the date the new baseline starts"
    )
    until: str | int | date | datetime | None = Field(
        default=None, description="exclusive end (a date means its midnight UTC); ack: required"
    )

    @field_validator("matchers")
    @classmethod
    def _matchers_parse(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        if isinstance(value, str):
            parse_matchers(value)
        return value

    @field_validator("change")
    @classmethod
    def _change_parses(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_change(value)
        return value

    @field_validator("time_to_limit")
    @classmethod
    def _duration_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("since", "until")
    @classmethod
    def _time_parses(cls, value: Moment | None) -> Moment | None:
        if value is not None:
            _moment(value)
        return value

    @model_validator(mode="after")
    def _action_fields(self) -> SuppressionEntry:
        if self.action == "ack":
            if self.kind is None:
                raise ValueError("an ack needs 'kind': it accepts one kind of finding, no other")
            if self.until is None:
                raise ValueError(
                    "an ack needs 'until': acknowledgements expire "
                    f"(graysignal ack writes {DEFAULT_ACK_DAYS} days by default)"
                )
            if self.change is not None and parse_change(self.change) == 0:
                raise ValueError(
                    "an ack's 'change' must not be zero (twice nothing is nothing);"
                    " leave it out to let only 'until' end the ack"
                )
            if self.kind is Kind.EXHAUSTION and self.time_to_limit is None:
                raise ValueError(
                    "an exhaustion ack needs 'time_to_limit', the time left when acknowledged:"
                    " it holds until that time halves"
                )
            if self.kind is not Kind.EXHAUSTION and self.time_to_limit is not None:
                raise ValueError("'time_to_limit' belongs to exhaustion acks only")
        else:
            if self.kind is not None:
                raise ValueError(
                    "an expect takes no 'kind': it explains level_shift, trend and volume "
                    "findings of the expected size"
                )
            if self.time_to_limit is not None:
                raise ValueError("an expect takes no 'time_to_limit'")
            if self.change is None:
                raise ValueError("an expect needs 'change', e.g. change: \"+20%\"")
            if parse_change(self.change) == 0:
                raise ValueError("an expect needs a non-zero 'change'")
        if self.until is not None and _moment(self.until) <= _moment(self.since):
            raise ValueError("'until' must be after 'since'")
        return self

    def suppression(self, where: str = "") -> Suppression:
        matchers = (
            parse_matchers(self.matchers) if isinstance(self.matchers, str) else self.matchers
        )
        return Suppression(
            action=Action(self.action),
            rule=self.rule,
            matchers=dict(matchers),
            reason=self.reason,
            since=_moment(self.since),
            until=None if self.until is None else _moment(self.until),
            by=self.by,
            kind=self.kind,
            change=None if self.change is None else parse_change(self.change),
            time_to_limit=None
            if self.time_to_limit is None
            else parse_duration(self.time_to_limit),
            where=where,
        )


class SuppressionsFile(BaseModel):
    """The whole file: one list under ``suppressions:``."""

    model_config = ConfigDict(extra="forbid")

    suppressions: list[SuppressionEntry] = Field(default_factory=list)

    @field_validator("suppressions", mode="before")
    @classmethod
    def _empty_list(cls, value: Any) -> Any:
        return [] if value is None else value  # "suppressions:" with no entry yet


def is_suppressions_file(path: Path) -> bool:
    """Named ``suppressions.yaml``/``.yml``, or a top-level ``suppressions:`` list."""
    if path.name.lower() in SUPPRESSIONS_FILE_NAMES:
        return True
    keys = top_level_keys(path)
    return TOP_LEVEL_KEY in keys and "groups" not in keys


def suppressions_files_near(paths: Sequence[Path]) -> list[Path]:
    """The suppressions files that belong to these rule paths, each once, in order.

    A directory's ``suppressions.yaml`` (or ``.yml``); for a rule file, the one beside
    it; a path that is itself a suppressions file. Only files that exist.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_file() and is_suppressions_file(path):
            candidates = [path]
        else:
            folder = path if path.is_dir() else path.parent
            candidates = [folder / name for name in SUPPRESSIONS_FILE_NAMES]
        for candidate in candidates:
            if candidate.is_file() and candidate.resolve() not in {p.resolve() for p in found}:
                found.append(candidate)
    return found


def load_entries(path: Path) -> list[tuple[int, SuppressionEntry]]:
    """Each entry with the line it starts on; :class:`InputError` lists every problem."""
    loaded = load_yaml_model(
        path,
        SuppressionsFile,
        top_level="'suppressions:'",
        empty="'suppressions:' with a list of entries",
        models_at={(): SuppressionsFile, ("suppressions",): SuppressionEntry},
    )
    lines = _entry_lines(path)
    return [(lines[i] if i < len(lines) else 1, e) for i, e in enumerate(loaded.suppressions)]


def load_suppressions(path: Path) -> list[Suppression]:
    """The file's suppressions in file order; a missing file means none."""
    if not path.exists():
        return []
    return [entry.suppression(f"{path}:{line}") for line, entry in load_entries(path)]


def _entry_lines(path: Path) -> list[int]:
    """1-based first line of each list item (the file is already known to parse)."""
    root = yaml.compose(path.read_text(encoding="utf-8-sig"), Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if key.value == TOP_LEVEL_KEY and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


# --- review (graysignal check) -------------------------------------------------------


def review_suppressions(
    path: Path,
    entries: Sequence[tuple[int, SuppressionEntry]],
    rules: Sequence[Rule] | None,
    *,
    now: int,
) -> list[Problem]:
    """Entries that no longer do anything: expired, or stale against ``rules``.

    Stale means the rule is gone (when ``rules`` is known), an ack names a kind the rule
    no longer detects, or an expected change started longer ago than every window of
    its rule, so no evaluation sees the step any more and the entry changes nothing.
    Acks that overlap an earlier one (:func:`overlapping_acks`) are listed too.
    These are warnings: the daemon ignores such entries safely, but a reviewer should
    remove them so the file keeps saying what is really accepted.
    """
    by_name: dict[str, list[Rule]] = {}
    for rule in rules or ():
        by_name.setdefault(rule.signal, []).append(rule)
    problems = overlapping_acks(path, entries, now=now)
    for line, entry in entries:
        item = entry.suppression(f"{path}:{line}")
        if item.expired(now):
            message = (
                f"{item.action.value} of {item.rule} expired at {format_rfc3339(item.until or 0)};"
                " remove it or extend 'until'"
            )
            problems.append(Problem(str(path), message, line))
            continue
        if rules is None:
            continue
        matching = by_name.get(item.rule, [])
        if not matching:
            message = (
                f"stale: rule {item.rule!r} is not defined in the checked rule files;"
                " the entry no longer applies"
            )
            problems.append(Problem(str(path), message, line))
        elif item.kind is not None and all(item.kind not in r.detect for r in matching):
            message = (
                f"stale: rule {item.rule!r} no longer detects {item.kind.value};"
                " the ack no longer applies"
            )
            problems.append(Problem(str(path), message, line))
        elif item.action is Action.EXPECT and all(
            now - (item.since + EXPECT_ONSET_GRACE) > r.window for r in matching
        ):
            window = format_duration(max(r.window for r in matching))
            message = (
                f"stale: the expected change of {item.rule} started at "
                f"{format_rfc3339(item.since)}, longer ago than the rule's window ({window}):"
                " it is the baseline now and the entry changes nothing; remove it"
            )
            problems.append(Problem(str(path), message, line))
    return sorted(problems, key=lambda problem: problem.line or 0)


def overlapping_acks(
    path: Path, entries: Sequence[tuple[int, SuppressionEntry]], *, now: int
) -> list[Problem]:
    """Acks that cover a series an earlier ack in the file already covers, at the same
    time: same rule and kind, matchers that some series can satisfy both (no label
    with two different values), and validity periods that meet. Only the first entry
    in file order ever applies (:func:`~detector.suppressions.split_suppressed`), so
    the later one is dead weight that reads as if it did something. Expired acks are
    left to the expiry warning."""
    acks = [
        (line, item)
        for line, entry in entries
        if (item := entry.suppression(f"{path}:{line}")).action is Action.ACK
        and not item.expired(now)
    ]
    problems = []
    for index, (line, later) in enumerate(acks):
        for first_line, earlier in acks[:index]:
            if _same_series_at_once(earlier, later):
                series = format_matchers(later.matchers) or "every series"
                message = (
                    f"ack of {later.rule} {later.kind.value if later.kind else ''} on "
                    f"{series} overlaps the ack at line {first_line} (same series, same "
                    "time); only the first applies: remove one or narrow its matchers"
                )
                problems.append(Problem(str(path), " ".join(message.split()), line))
                break
    return problems


def _same_series_at_once(first: Suppression, second: Suppression) -> bool:
    if (first.rule, first.kind) != (second.rule, second.kind):
        return False
    shared = first.matchers.keys() & second.matchers.keys()
    if any(first.matchers[k] != second.matchers[k] for k in shared):
        return False
    first_end = first.until if first.until is not None else 2**62
    second_end = second.until if second.until is not None else 2**62
    return first.since < second_end and second.since < first_end


# --- writing --------------------------------------------------------------------------


def entry_fields(suppression: Suppression) -> dict[str, Any]:
    """The file's fields for a suppression, in the order a reviewer reads them."""
    fields: dict[str, Any] = {"action": suppression.action.value, "rule": suppression.rule}
    if suppression.matchers:
        fields["matchers"] = dict(sorted(suppression.matchers.items()))
    if suppression.kind is not None:
        fields["kind"] = suppression.kind.value
    if suppression.change is not None:
        fields["change"] = format_change(suppression.change)
    if suppression.time_to_limit is not None:
        fields["time_to_limit"] = format_duration(suppression.time_to_limit)
    fields["reason"] = suppression.reason
    if suppression.by:
        fields["by"] = suppression.by
    fields["since"] = format_rfc3339(suppression.since)
    if suppression.until is not None:
        fields["until"] = format_rfc3339(suppression.until)
    return fields


def append_entry(path: Path, suppression: Suppression) -> int:
    """Append one entry (:func:`append_entries`); return the line it starts on."""
    (line,) = append_entries(path, [suppression])
    return line


def append_entries(path: Path, suppressions: Sequence[Suppression]) -> list[int]:
    """Append entries to the file (created if missing); return the line each starts on.

    All or nothing: the entries are written in one replacement. The existing text is
    kept byte for byte, line endings included: the entries are added at the end of the
    ``suppressions:`` block list, which must therefore be the file's last top-level key
    (as in every file these commands write). The new text is validated before it
    atomically replaces the old one, under an exclusive lock, so two people
    acknowledging at once both get their entries.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.parent):
        original = _read_exactly(path)
        newline = "\r\n" if "\r\n" in original else "\n"
        text = original.replace("\r\n", "\n")
        if text.strip() and not _only_comments(text):
            load_entries(path)  # never append to a file that is already broken
            text, indent = _open_list(path, text)
        else:
            text, indent = text + ("" if not text else "\n") + HEADER + "suppressions:\n", 2
        if text and not text.endswith("\n"):
            text += "\n"
        lines = []
        for suppression in suppressions:
            lines.append(text.count("\n") + 1)
            text += _render(entry_fields(suppression), indent)
        _replace_validated(path, _with_newlines(text, newline))
    return lines


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the file's folder while the block runs.

    The folder, not the file: the file is replaced by a rename, so a lock on it would
    guard an inode nobody reads any more; and no lock file is left in the repository.
    """
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _read_exactly(path: Path) -> str:
    """The file's text with its own line endings (``read_text`` would turn CRLF to LF)."""
    if not path.exists():
        return ""
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def _with_newlines(text: str, newline: str) -> str:
    """``text`` with every bare LF written as ``newline`` (CRLF files stay CRLF)."""
    if newline == "\n":
        return text
    return text.replace("\r\n", "\n").replace("\n", newline)


def _replace_validated(path: Path, text: str) -> None:
    """Write ``text`` to a private temporary file beside ``path``, check that it loads,
    flush it to disk and rename it over ``path`` (keeping the file's permissions)."""
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            temporary.chmod(path.stat().st_mode & 0o7777)
        try:
            load_entries(temporary)
        except InputError as exc:
            problems = [Problem(str(path), p.message, p.line) for p in exc.problems]
            raise InputError(problems) from None
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


def _open_list(path: Path, text: str) -> tuple[str, int]:
    """The text ready for one more block item, and the items' indentation."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    where = f"{path}: cannot append"
    assert isinstance(root, yaml.MappingNode)  # load_entries checked the shape
    last_key, last_value = root.value[-1]
    if last_key.value != TOP_LEVEL_KEY:
        entry = next((v for k, v in root.value if k.value == TOP_LEVEL_KEY), None)
        if entry is None:
            return text.rstrip("\n") + "\nsuppressions:\n", 2
        raise InputError.at(
            str(path),
            f"{where}: 'suppressions:' must be the last top-level key",
            last_key.start_mark.line + 1,
        )
    if not isinstance(last_value, yaml.SequenceNode):  # "suppressions:" with nothing after it
        return text, 2
    if last_value.flow_style:
        if last_value.value:
            raise InputError.at(
                str(path),
                f"{where}: write the list as block items ('- action: ...'), not [...]",
                last_value.start_mark.line + 1,
            )
        start, end = last_value.start_mark.index, last_value.end_mark.index
        return text[:start].rstrip(" ") + text[end:], 2
    first = last_value.value[0]
    return text, max(0, first.start_mark.column - 2)


def _render(fields: Mapping[str, Any], indent: int) -> str:
    """One block list item, each value on its key's line."""
    pad = " " * indent
    lines = []
    for i, (key, value) in enumerate(fields.items()):
        if isinstance(value, Mapping):
            shown = "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items()) + "}"
        else:
            shown = _scalar(value)
        lines.append(f"{pad}{'- ' if i == 0 else '  '}{key}: {shown}\n")
    return "".join(lines)


def _scalar(value: str) -> str:
    """Plain when YAML reads it back as the same string, else JSON-quoted (valid YAML)."""
    special = "{}[],#&*!|>'\"%@`"
    plain = value.strip() == value and "\n" not in value and not any(c in special for c in value)
    try:
        if plain and value and yaml.safe_load(value) == value:
            return value
    except yaml.YAMLError:
        pass
    return json.dumps(value, ensure_ascii=False)


def suppressions_file_json_schema() -> str:
    """The JSON Schema of the suppressions file, committed beside ``rules/schema.json``."""
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        **SuppressionsFile.model_json_schema(by_alias=True),
    }
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    raise SystemExit(
        write_schema_main(
            sys.argv[1:],
            usage="python -m adapters.suppressions --write-schema rules/suppressions.schema.json",
            render=suppressions_file_json_schema,
        )
    )

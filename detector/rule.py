"""The rule-file schema: what to watch, how, and who is told.

Pure data (pydantic models), no I/O: adapters load YAML into these models and the
detector core reads them. Field names follow Prometheus alerting rules where the idea
is the same (``for``, ``keep_firing_for``, ``labels``, ``annotations``, ``interval``).
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from detector.durations import parse_duration
from detector.finding import Kind

MAX_DURATION = 100 * 365 * 86400
"""The longest duration a rule may state (100y): longer ones are typos, and times that
far apart overflow the 64-bit arithmetic of series and windows."""


def _duration(value: Any) -> Any:
    """Accept ``5m``-style strings, or whole seconds as an integer, up to 100 years."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a string such as 5m, not a boolean")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str):
        seconds = parse_duration(value)
    else:
        seconds = parse_duration(str(value))
    if seconds > MAX_DURATION:
        raise ValueError(f"duration {str(value)[:40]!r} is longer than 100y, the longest accepted")
    return seconds


DURATION_PATTERN = r"^(\d+(s|m|h|d|w|y))+$"
Duration = Annotated[
    int,
    BeforeValidator(_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "integer", "minimum": 0},
            ],
            "description": "a duration such as 30s, 5m, 1h30m, 7d, or whole seconds",
        }
    ),
]
PositiveDuration = Annotated[Duration, Field(gt=0)]


def _fraction(value: Any) -> Any:
    """Accept ``10%``, ``"0.1"`` or ``0.1`` as the fraction 0.1."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            try:
                return float(text[:-1]) / 100.0
            except ValueError as exc:
                raise ValueError(f"invalid percentage {value!r}: use e.g. 10%") from exc
        try:
            return float(text)
        except ValueError as exc:
            raise ValueError(f"invalid fraction {value!r}: use e.g. 10% or 0.1") from exc
    return value


Fraction = Annotated[
    float,
    BeforeValidator(_fraction),
    Field(ge=0.0),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^[0-9]*\.?[0-9]+%?$"},
            ],
            "description": "a fraction (0.1) or a percentage (10%)",
        }
    ),
]


def _min_change(value: Any) -> Any:
    """``10%`` (of the level before the change) or an amount in the series' own units."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("min_change must be a percentage such as 10% or an amount such as 25")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("min_change must not be negative")
        return repr(float(value))
    text = str(value).strip()
    number = text[:-1] if text.endswith("%") else text
    try:
        parsed = float(number)
    except ValueError as exc:
        raise ValueError(
            f"invalid min_change {value!r}: use a percentage (10%) or an amount (25)"
        ) from exc
    if parsed < 0 or math.isnan(parsed):
        raise ValueError("min_change must not be negative")
    return f"{parsed!r}%" if text.endswith("%") else repr(parsed)


MinChange = Annotated[
    str | None,
    BeforeValidator(_min_change),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^[0-9]*\.?[0-9]+%?$"},
                {"type": "null"},
            ],
            "description": (
                "smallest change worth reporting: a percentage of the level (10%) or an "
                "amount in the series' units (25); default: half the series' own noise"
            ),
        }
    ),
]


def _yaml_bool_as_text(value: Any) -> Any:
    """YAML reads an unquoted ``true`` as a boolean; the rule means the word."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


DEFAULT_STEP = 60
"""Step for sources with no natural one (Prometheus, Loki, logs) when a rule sets none."""

MIN_WINDOW_STEPS = 24
"""Steps a rule's window must hold: fewer samples cannot tell a change from noise."""

_SIGNAL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Seasonality(StrEnum):
    AUTO = "auto"
    DAILY = "daily"
    WEEKLY = "weekly"
    NONE = "none"


class Sensitivity(StrEnum):
    """How strong evidence must be before a change is reported (see docs/detectors.md)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Watch(StrEnum):
    """Which direction of change matters: latency only hurts when it goes ``up``."""

    UP = "up"
    DOWN = "down"
    BOTH = "both"


class CounterMode(StrEnum):
    AUTO = "auto"
    TRUE = "true"
    FALSE = "false"


DEFAULT_MAX_PATTERNS = 100
"""Message templates a ``by: pattern`` rule follows as series of their own; lines of
further templates are counted in one ``other`` series per level (docs/sources.md)."""


class LogOptions(BaseModel):
    """How a log becomes series: line counts per level (``by: level``) or per message
    template (``by: pattern``, ``source: logfile`` or ``source: loki``)."""

    model_config = ConfigDict(extra="forbid")

    by: Literal["level", "pattern"] = Field(
        default="level",
        description="level: one volume series per level; pattern: one per message template",
    )
    format: Literal["text", "json"] = "text"
    pattern: str | None = Field(
        default=None,
        description="text logs: a regex with named groups 'timestamp' and 'level' "
        "(and optionally 'message', the part mined for templates)",
    )
    timestamp_field: str = "timestamp"
    level_field: str = "level"
    message_field: str = Field(
        default="message", description="JSON logs, by: pattern: the field holding the message"
    )
    max_patterns: int = Field(
        default=DEFAULT_MAX_PATTERNS,
        ge=1,
        le=10_000,
        description="by: pattern: templates followed per rule; the rest count as 'other'",
    )
    patterns_from: Literal["auto", "server", "local"] = Field(
        default="auto",
        description="loki, by: pattern: Loki's patterns endpoint (server), lines mined "
        "here (local), or the endpoint where Loki offers it (auto)",
    )
    timestamp_format: str | None = Field(
        default=None, description="strftime format; default: RFC 3339 or Unix seconds"
    )
    levels: list[str] | None = Field(default=None, description="only these levels (upper case)")

    @model_validator(mode="after")
    def _pattern_compiles(self) -> LogOptions:
        if self.pattern is not None:
            try:
                compiled = re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from exc
            missing = {"timestamp", "level"} - set(compiled.groupindex)
            if missing:
                raise ValueError(
                    "pattern needs named groups (?P<timestamp>...) and (?P<level>...); "
                    f"missing: {', '.join(sorted(missing))}"
                )
        return self


class Rule(BaseModel):
    """One signal to watch. Defaults are the documented, benchmarked ones."""

    model_config = ConfigDict(extra="forbid")

    signal: str = Field(description="alert name, e.g. CheckoutLatencyCreep")
    source: Literal["file", "logfile", "prometheus", "loki"]
    query: str | None = Field(default=None, description="PromQL or LogQL (prometheus, loki)")
    path: str | None = Field(default=None, description="file or logfile path")
    log: LogOptions | None = None
    step: PositiveDuration | None = Field(
        default=None, description="sample step; default: the file's own step, 1m for servers"
    )
    window: PositiveDuration = 7 * 86400
    detect: Annotated[
        list[Kind],
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "array", "items": {"enum": [k.value for k in Kind]}},
                    {"enum": [k.value for k in Kind]},
                ],
                "default": ["level_shift", "trend"],
            }
        ),
    ] = Field(default_factory=lambda: [Kind.LEVEL_SHIFT, Kind.TREND])
    seasonality: Seasonality = Seasonality.AUTO
    sensitivity: Sensitivity = Sensitivity.MEDIUM
    direction: Watch = Watch.BOTH
    min_change: MinChange = None
    counter: Annotated[CounterMode, BeforeValidator(_yaml_bool_as_text)] = CounterMode.AUTO
    limit: float | None = Field(default=None, description="hard limit for exhaustion")
    horizon: PositiveDuration = Field(
        default=7 * 86400, description="exhaustion: warn when the limit is this close"
    )
    for_: Duration = Field(default=15 * 60, alias="for", ge=0)
    keep_firing_for: Duration = Field(default=30 * 60, ge=0)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _coerce_detect(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("detect"), str):
            data = {**data, "detect": [data["detect"]]}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if not _SIGNAL_NAME.match(self.signal):
            raise ValueError(
                f"signal {self.signal!r} must be a valid alert name ([A-Za-z_][A-Za-z0-9_]*)"
            )
        if self.source in ("file", "logfile") and not self.path:
            raise ValueError(f"source '{self.source}' needs 'path'")
        if self.source in ("prometheus", "loki") and not self.query:
            raise ValueError(f"source '{self.source}' needs 'query'")
        if self.log is not None and self.source not in ("logfile", "loki"):
            raise ValueError("'log' options only apply to sources 'logfile' and 'loki'")
        if self.source == "loki" and self.log is not None and self.log.by != "pattern":
            raise ValueError(
                "source 'loki' takes 'log' options only with 'by: pattern' "
                "(per-level volume comes from a LogQL metric query)"
            )
        if not self.detect:
            raise ValueError("'detect' needs at least one kind")
        if len(set(self.detect)) != len(self.detect):
            raise ValueError("'detect' lists a kind twice")
        if Kind.EXHAUSTION in self.detect and self.limit is None:
            raise ValueError("kind 'exhaustion' needs 'limit' (the value at which it breaks)")
        if self.step is not None and self.window < MIN_WINDOW_STEPS * self.step:
            raise ValueError(
                f"window ({self.window}s) must hold at least {MIN_WINDOW_STEPS} steps "
                f"({MIN_WINDOW_STEPS * self.step}s)"
            )
        return self

    @property
    def for_seconds(self) -> int:
        return self.for_

    @property
    def min_change_relative(self) -> float | None:
        """``min_change`` as a fraction of the level, when given as a percentage."""
        if self.min_change is None or not self.min_change.endswith("%"):
            return None
        return float(self.min_change[:-1]) / 100.0

    @property
    def min_change_absolute(self) -> float | None:
        """``min_change`` in the series' units, when given as a plain amount."""
        if self.min_change is None or self.min_change.endswith("%"):
            return None
        return float(self.min_change)

    @property
    def by_pattern(self) -> bool:
        """Whether the rule's series are per message template (``log: {by: pattern}``)."""
        return self.log is not None and self.log.by == "pattern"


class RuleGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    interval: PositiveDuration = 60
    rules: list[Rule] = Field(min_length=1)


class RuleFile(BaseModel):
    """A whole rule file: ``groups:`` with rules, as in Prometheus."""

    model_config = ConfigDict(extra="forbid")

    groups: list[RuleGroup] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> RuleFile:
        seen_groups: set[str] = set()
        for group in self.groups:
            if group.name in seen_groups:
                raise ValueError(f"group name {group.name!r} is used twice")
            seen_groups.add(group.name)
        return self

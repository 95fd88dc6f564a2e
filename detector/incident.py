"""The incident library's schema: what went wrong, when users felt it, and where.

Pure data (pydantic models) plus the matching logic that decides whether a series
belongs to an incident; no I/O (adapters load the YAML, see
:mod:`adapters.backtest.library`). A backtest replays the rules over the window before
each incident and asks which signals on the *affected services* fired before users
were affected, so the two things this module must get exactly right are the times and
the service matchers.

Times are RFC 3339 with an explicit zone: a post-mortem timeline written in "local time"
is the classic way of getting a lead time wrong by an hour. Service matchers are
Prometheus label matchers (``service="checkout"``, ``job=~"api.*"``) with PromQL's
semantics: ``=``, ``!=``, ``=~``, ``!~``, regular expressions anchored at both ends, and
a missing label reads as the empty string. One ``services`` entry may hold several
matchers, comma-separated (``service="checkout", env="prod"``, braces optional, a metric
name in front allowed); all of them must match. The entries of the list are
alternatives: the incident affects a series when any entry matches it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

__all__ = [
    "ChangeEvent",
    "Detection",
    "DetectionChannel",
    "Impact",
    "Incident",
    "IncidentCategory",
    "LabelMatcher",
    "MatchOp",
    "ServiceSelector",
    "parse_rfc3339",
    "parse_selector",
    "quarter_of",
]


# --- label matchers ---------------------------------------------------------------------


class MatchOp(StrEnum):
    """PromQL's four label-matching operators."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True)
class LabelMatcher:
    """One ``name op "value"`` matcher, with PromQL semantics.

    A label the series does not have reads as ``""`` (so ``env!="prod"`` matches a series
    without ``env``, and ``env=""`` matches only such series), and regular expressions
    must match the whole value, as Prometheus anchors them.
    """

    name: str
    op: MatchOp
    value: str

    def __post_init__(self) -> None:
        if self.op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(
                    f"invalid regular expression {self.value!r} for label '{self.name}': {exc}"
                ) from None

    def matches_value(self, value: str) -> bool:
        if self.op is MatchOp.EQUAL:
            return value == self.value
        if self.op is MatchOp.NOT_EQUAL:
            return value != self.value
        found = _compiled(self.value).fullmatch(value) is not None
        return found if self.op is MatchOp.REGEX else not found

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.matches_value(labels.get(self.name, ""))

    def __str__(self) -> str:
        return f"{self.name}{self.op.value}{_quote(self.value)}"


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    """Compiled patterns, cached: a backtest matches thousands of series against few.

    Callers use ``fullmatch``: Prometheus anchors label regexes at both ends.
    """
    found = _PATTERNS.get(pattern)
    if found is None:
        found = _PATTERNS[pattern] = re.compile(pattern)
    return found


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


@dataclass(frozen=True)
class ServiceSelector:
    """Matchers that must all match: one entry of an incident's ``services``."""

    matchers: tuple[LabelMatcher, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    @property
    def label_names(self) -> frozenset[str]:
        return frozenset(m.name for m in self.matchers)

    def __str__(self) -> str:
        return ", ".join(str(m) for m in self.matchers)


_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_METRIC_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_OPERATORS = ("=~", "!~", "!=", "=")  # longest first
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


class _Cursor:
    """A position in the selector text, with errors that say where (1-based column)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, pos: int | None = None) -> ValueError:
        column = (self.pos if pos is None else pos) + 1
        return ValueError(f"invalid label matcher {self.text!r}: {message} (column {column})")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self, pattern: re.Pattern[str]) -> str | None:
        found = pattern.match(self.text, self.pos)
        if found is None:
            return None
        self.pos = found.end()
        return found.group()

    def operator(self, name: str) -> MatchOp:
        self.skip_space()
        for op in _OPERATORS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return MatchOp(op)
        raise self.error(f"expected one of =, !=, =~, !~ after label '{name}'")

    def string(self) -> str:
        """A PromQL string: "double" or 'single' quoted with Go escapes, or `raw`."""
        self.skip_space()
        quote = self.peek()
        if quote not in ('"', "'", "`"):
            raise self.error('expected a quoted value, e.g. "checkout"')
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(out)
            if char == "\\" and quote != "`":
                out.append(self._escape())
                continue
            if char == "\n" and quote != "`":
                break
            out.append(char)
            self.pos += 1
        raise self.error("unterminated quoted value", start)

    def _escape(self) -> str:
        start = self.pos
        self.pos += 1
        code = self.peek()
        if code in _SIMPLE_ESCAPES:
            self.pos += 1
            return _SIMPLE_ESCAPES[code]
        if code in _HEX_ESCAPES:
            digits = self.text[self.pos + 1 : self.pos + 1 + _HEX_ESCAPES[code]]
            if len(digits) == _HEX_ESCAPES[code] and all(
                c in "0123456789abcdefABCDEF" for c in digits
            ):
                self.pos += 1 + len(digits)
                return chr(int(digits, 16))
        elif code in "01234567":
            digits = self.text[self.pos : self.pos + 3]
            if len(digits) == 3 and all(c in "01234567" for c in digits):
                self.pos += 3
                return chr(int(digits, 8))
        raise self.error(
            "unknown escape sequence; write a backslash as \\\\ (in a regex, \\\\. for a dot)",
            start,
        )


def parse_selector(text: str) -> ServiceSelector:
    """Parse ``service="checkout"``, ``{job=~"api.*", env!="dev"}`` or
    ``http_requests_total{code=~"5.."}`` into a :class:`ServiceSelector`.

    As in PromQL, at least one matcher must be unable to match the empty string:
    ``service=~".*"`` alone would select every series there is, which in an incident
    file is always a mistake. Raises ``ValueError`` saying what is wrong and at which
    column.
    """
    cursor = _Cursor(text)
    matchers: list[LabelMatcher] = []
    cursor.skip_space()
    if cursor.at_end():
        raise ValueError('empty label matcher: write e.g. service="checkout"')
    closing = False
    metric_start = cursor.pos
    metric = cursor.take(_METRIC_NAME)
    cursor.skip_space()
    if metric is not None and cursor.peek() in ("{", ""):
        matchers.append(LabelMatcher("__name__", MatchOp.EQUAL, metric))
    else:
        cursor.pos = metric_start
    if cursor.peek() == "{":
        cursor.pos += 1
        closing = True
    while not cursor.at_end():
        if closing and cursor.peek() == "}":
            break
        name_at = cursor.pos
        name = cursor.take(_LABEL_NAME)
        if name is None:
            raise cursor.error("expected a label name such as service", name_at)
        op = cursor.operator(name)
        value = cursor.string()
        matchers.append(LabelMatcher(name, op, value))
        cursor.skip_space()
        if cursor.peek() == ",":
            cursor.pos += 1
            continue
        if cursor.at_end() or (closing and cursor.peek() == "}"):
            break
        raise cursor.error("expected ',' between matchers")
    if closing:
        if cursor.at_end() or cursor.peek() != "}":
            raise cursor.error("missing closing '}'")
        cursor.pos += 1
        if not cursor.at_end():
            raise cursor.error("unexpected text after '}'")
    if not matchers:
        raise ValueError(f"invalid label matcher {text!r}: no matchers")
    if all(m.matches_value("") for m in matchers):
        raise ValueError(
            f"label matcher {text!r} matches every series (each matcher accepts an empty "
            'value); name the service, e.g. service="checkout"'
        )
    return ServiceSelector(tuple(matchers))


def _selector(value: Any) -> Any:
    if isinstance(value, ServiceSelector):
        return value
    if not isinstance(value, str):
        raise ValueError(
            "a service is a label matcher string such as 'service=\"checkout\"'; "
            "quote the whole entry in YAML"
        )
    return parse_selector(value)


Selector = Annotated[
    ServiceSelector,
    BeforeValidator(_selector),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "description": 'Prometheus label matchers, e.g. service="checkout" or job=~"api.*"',
        }
    ),
]


# --- times ------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_rfc3339(value: Any) -> int:
    """An RFC 3339 time with an explicit zone (a string or a YAML timestamp) as Unix
    seconds, fractions dropped. A time without a zone is refused, not guessed."""
    if isinstance(value, int | float):  # bool too
        raise ValueError(
            f"expected an RFC 3339 time such as 2014-02-08T14:30:00Z, got the number {value!r}"
        )
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        raise ValueError(
            f"{value.isoformat()} has no time of day: write e.g. {value.isoformat()}T00:00:00Z"
        )
    elif isinstance(value, str):
        text = value.strip()
        if not _RFC3339.match(text):
            hint = (
                "; add the zone: Z for UTC or an offset like +01:00"
                if re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?$", text)
                else ""
            )
            raise ValueError(
                f"invalid time {value!r}: use RFC 3339, e.g. 2014-02-08T14:30:00Z{hint}"
            )
        try:
            moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"invalid time {value!r}: {exc}") from None
    else:
        raise ValueError(f"expected an RFC 3339 time such as 2014-02-08T14:30:00Z, got {value!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"time {moment.isoformat(sep=' ')} has no zone: write Z for UTC or an offset "
            "like +01:00 (quote it in YAML)"
        )
    return int((moment - _EPOCH).total_seconds() // 1)


Timestamp = Annotated[
    int,
    BeforeValidator(parse_rfc3339),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def quarter_of(ts: int) -> str:
    """The calendar quarter of a time, e.g. ``2014-Q1`` (UTC)."""
    moment = datetime.fromtimestamp(ts, tz=UTC)
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


# --- the incident -----------------------------------------------------------------------


class IncidentCategory(StrEnum):
    """Root-cause categories, coarse on purpose so that trends over quarters mean something."""

    REQUIREMENTS = "requirements"
    ARCHITECTURE = "architecture"
    CODE = "code"
    DEPLOYMENT = "deployment"
    CONFIGURATION = "configuration"
    CAPACITY = "capacity"
    DEPENDENCY = "dependency"
    OPERATIONAL = "operational"


class DetectionChannel(StrEnum):
    """How humans learnt of the incident: the bar graysignal's lead time is measured against."""

    PAGE = "page"
    ALERT = "alert"
    CUSTOMER_TICKET = "customer_ticket"
    DASHBOARD = "dashboard"
    INTERNAL_REPORT = "internal_report"
    GRAYSIGNAL = "graysignal"
    OTHER = "other"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Impact(_Strict):
    """When users were affected: ``(start, end]``; a backtest's "before" means before ``start``."""

    start: Timestamp
    end: Timestamp

    @model_validator(mode="after")
    def _ordered(self) -> Impact:
        if self.end <= self.start:
            raise ValueError("'end' must be after 'start'")
        return self


def _channel(value: Any) -> Any:
    """Name the choices in the message: ``how`` alone reads oddly in an enum error."""
    if isinstance(value, str) and value not in {c.value for c in DetectionChannel}:
        choices = ", ".join(c.value for c in DetectionChannel)
        raise ValueError(f"unknown detection channel {value!r} (expected one of {choices})")
    return value


class Detection(_Strict):
    at: Timestamp
    how: Annotated[DetectionChannel, BeforeValidator(_channel)]


class ChangeEvent(_Strict):
    """A deploy, config push, migration, ...: overlaid on the incident's story."""

    at: Timestamp
    what: str = Field(min_length=1)


_INCIDENT_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class Incident(_Strict):
    """One incident of the library (one file in ``incidents/``)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    id: str = Field(description="stable identifier: lower case, digits, '.', '_' and '-'")
    title: str = Field(min_length=1)
    impact: Impact
    detected: Detection
    services: list[Selector] = Field(min_length=1)
    category: IncidentCategory
    notes: str | None = None
    changes: list[ChangeEvent] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not _INCIDENT_ID.match(value):
            raise ValueError(
                f"{value!r} must be lower case letters, digits, '.', '_' or '-' "
                "(it names the incident in baselines and reports)"
            )
        return value

    def affects(self, *label_sets: Mapping[str, str]) -> bool:
        """Whether any ``services`` entry matches any of the label sets.

        Callers pass a series' own labels and its alert labels (series labels with the
        rule's labels on top), so an incident names a service either by a label the
        metrics carry or by one its rules add.
        """
        return any(s.matches(labels) for s in self.services for labels in label_sets)

    @property
    def quarter(self) -> str:
        return quarter_of(self.impact.start)

    @property
    def time_to_detect(self) -> int:
        """Seconds from the start of user impact to human detection (negative: before)."""
        return self.detected.at - self.impact.start

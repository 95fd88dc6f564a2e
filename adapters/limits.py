"""Limits on what graysignal reads: stated, checked before the work they bound, overridable.

Every input is someone's file or someone's server, and a few bytes can ask for a lot: ten
lines of YAML anchors expand to a billion nodes, a CSV with two samples years apart asks
for a grid of millions of slots, a label column per host makes a series per cell. Each
limit here is checked *before* the work it bounds (a file's size before reading it, the
YAML events before composing them, a grid's length before allocating it), so a hostile
or mistaken input costs little and is refused with a message naming the file, the line
where there is one, the limit and the environment variable that raises it.

The defaults are far above what real rule files and exports need (docs/rules.md and
docs/sources.md, "Limits"); ``GRAYSIGNAL_MAX_*`` variables raise them for a process.
Values are read when a file is read (not at import), so a bad variable is reported as an
:class:`~adapters.errors.InputError` naming it.
"""

from __future__ import annotations

from pydantic import ByteSize, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.errors import Problem
from adapters.settings import env_var_of, load_settings

__all__ = ["MAX_ABS_VALUE", "Limits", "load_limits", "over_limit"]

MAX_ABS_VALUE = 1e100
"""Largest magnitude of a sample value. Not a setting: no metric comes near it, and the
detectors' sums of squares must stay finite (1e308 overflows at the first square)."""


class Limits(BaseSettings):
    """``GRAYSIGNAL_MAX_*``: how much graysignal reads from one file or one answer."""

    model_config = SettingsConfigDict(env_prefix="GRAYSIGNAL_MAX_", extra="ignore")

    rule_file_bytes: ByteSize = Field(
        default=ByteSize(1 << 20),
        gt=0,
        description="size of one rule, incident or suppressions file",
    )
    rules_per_file: int = Field(default=1000, ge=1, description="rules in one rule file")
    yaml_depth: int = Field(default=32, ge=1, description="nesting of YAML mappings and lists")
    yaml_aliases: int = Field(default=100, ge=0, description="YAML aliases (*name) in one file")
    yaml_nodes: int = Field(
        default=100_000, ge=1, description="YAML nodes in one file, aliases counted expanded"
    )
    line_chars: int = Field(
        default=65_536, ge=80, description="characters in one line of a rule or series file"
    )
    labels: int = Field(default=64, ge=1, description="labels of one rule or one series")
    label_value_chars: int = Field(default=4096, ge=1, description="characters in a label value")
    series_file_bytes: ByteSize = Field(
        default=ByteSize(256 << 20), gt=0, description="size of one CSV or JSON-lines series file"
    )
    series_per_file: int = Field(
        default=10_000, ge=1, description="series (label combinations) in one series file"
    )
    series_steps: int = Field(
        default=1_000_000, ge=1, description="steps one series spans, first to last sample"
    )

    @classmethod
    def env_var(cls, field: str) -> str:
        """The environment variable that raises the limit ``field``."""
        return env_var_of(cls, field)


def load_limits() -> Limits:
    """The limits in force: defaults, raised or lowered by ``GRAYSIGNAL_MAX_*``.

    Raises :class:`~adapters.errors.InputError` naming each malformed variable.
    """
    return load_settings(Limits)


def over_limit(
    source: str, message: str, field: str, value: object, line: int | None = None
) -> Problem:
    """A problem saying what is over which limit and how to raise it; ``unreadable``,
    because nothing in the input was judged (``check`` exits 2 for it, not 1)."""
    shown = value.human_readable(separator=" ") if isinstance(value, ByteSize) else f"{value:,}"
    hint = f"(limit {shown}; {Limits.env_var(field)} raises it)"
    return Problem(source, f"{message} {hint}", line, unreadable=True)

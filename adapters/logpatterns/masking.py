"""Masking: variable parts of a log message replaced by typed placeholders before mining.

Drain (the template miner) compares messages token by token; masking first turns the
values that make every line unique into placeholders, so that
``payment timeout after 3012 ms for order 5f0c...`` and ``... after 28 ms for order 9ab1...``
are the same message, and a template is readable from its very first line:
``payment timeout after <NUM> ms for order <UUID>``.

A value is a run of number-like characters standing alone (not glued to a word:
``worker7`` stays as it is, Drain parametrises it once it varies) and is replaced by

=========  ==========================================================================
``<TIME>`` a date and time (``2026-11-20T10:00:01.5Z``, ``2026-11-20 10:00:01``)
``<UUID>`` 8-4-4-4-12 hexadecimal digits
``<IP>``   an IPv4 address, with or without ``:port``
``<HEX>``  ``0x...``, or six or more hexadecimal digits with both digits and letters
``<NUM>``  an integer or decimal, signed, with an exponent, or digit groups joined by
           ``.``, ``:``, ``,`` or ``-`` (times, dates, versions); a unit glued to it is
           kept (``250ms`` -> ``<NUM>ms``)
=========  ==========================================================================

One regular-expression pass finds the candidates and a small function names them:
drain3's own masker runs one pass per instruction, about three times slower on typical
service logs (BENCHMARKS.md, "Log pattern mining"). Masking is part of a template's identity
(its id is a hash of the masked text), so changing it changes ids: :data:`MASKING_VERSION`
is stored with the miner's state, and a state mined with other rules is not reused.
"""

from __future__ import annotations

import re

MASKING_VERSION = 1

_CANDIDATE = re.compile(
    # the first character is consumed before the look-behind, so that the regex engine
    # can skip ahead to a possible first character instead of testing every position
    r"[-+0-9a-fA-F](?<![A-Za-z0-9_.].)"
    r"(?:(?<=\d)(?P<time>\d{3}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)"
    r"|[-+.:,0-9a-fA-FxX]*(?P<unit>ms|us|µs|ns|s|[KMGT]i?B|B|%)?)"
    r"(?![A-Za-z0-9_.])"
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_IP = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?")
_NUM = re.compile(r"[-+]?\d+(?:[.:,-]\d+)*(?:[eE][-+]?\d+)?")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+|(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{6,}")
_DIGITS = frozenset("0123456789")


def _name(match: re.Match[str]) -> str:
    if match.group("time"):
        return "<TIME>"
    text = match.group()
    if text.isdigit():  # the common case first
        return "<NUM>"
    unit = match.group("unit")
    value = text[: -len(unit)] if unit else text
    if _DIGITS.isdisjoint(value):
        return text
    if _IP.fullmatch(value):
        return "<IP>" if not unit else text
    if _NUM.fullmatch(value):
        return "<NUM>" + (unit or "")
    if unit:
        return text
    if _UUID.fullmatch(value):
        return "<UUID>"
    if _HEX.fullmatch(value):
        return "<HEX>"
    return text


def mask(message: str) -> str:
    """``message`` with its values replaced by ``<TIME>``, ``<UUID>``, ``<IP>``, ``<HEX>``
    and ``<NUM>`` (see the module doc)."""
    return _CANDIDATE.sub(_name, message)


_SECRET = re.compile(
    r"(?i)(?P<key>\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
    r"authorization|auth|cookie|session[_-]?id)\b[\"']?\s*[=:]\s*(?:bearer\s+|basic\s+)?)"
    r"(?:\"[^\"]*\"?|'[^']*'?|[^\s\"',;&]+)"
)


def scrub(line: str) -> str:
    """A log line safe to quote in an alert: values of secret-looking keys
    (``password=``, ``token:``, ``Authorization: Bearer ...``) become ``****``."""
    return _SECRET.sub(lambda m: m.group("key") + "****", line)

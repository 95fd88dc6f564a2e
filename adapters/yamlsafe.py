"""YAML that cannot blow up: every limit is checked before a single node is composed.

``yaml.safe_load`` is safe against code execution, not against size. A few lines of
anchors and aliases (``&a [x, x, x]``, ``&b [*a, *a, *a]``, ...) describe a document of
millions of nodes; composing it is cheap (an alias is a reference), but anything that
walks the data afterwards (validation, an error message quoting a value) expands it.
Deep nesting exhausts Python's recursion in the composer, and a NUL byte stops the
reader with an exception of its own.

So a file is checked in layers, each before the work it bounds: its size (before
reading), its longest line (before parsing), then one pass over the parser's *events*,
which are flat, counting nesting depth, aliases, and the number of nodes the document
would have with every alias expanded (each anchor's expanded size is remembered, so an
alias costs one addition, never an expansion). Only then is the node tree composed and
constructed, with libyaml's C parser where PyYAML has it (several times faster on large
rule sets, same nodes and marks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from adapters.errors import InputError
from adapters.limits import Limits, load_limits, over_limit

__all__ = ["Loader", "parse_yaml", "read_yaml_text"]

Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it; the pure-Python one otherwise."""

_LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"
"""libyaml's scanner refuses 1,000 nested flow collections before our event check can
count them; the same limit, reported the same way."""
_COLLECTION_START = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_COLLECTION_END = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def read_yaml_text(path: Path, source: str, limits: Limits | None = None) -> str:
    """The file's text; refused when it is larger than the limit, reading no more than
    the limit plus one byte (a device or a pipe given as a file cannot stream forever)."""
    limits = limits or load_limits()
    cap = int(limits.rule_file_bytes)
    try:
        with path.open("rb") as handle:
            raw = handle.read(cap + 1)
    except FileNotFoundError:
        raise InputError.at(source, "no such file") from None
    except IsADirectoryError:
        raise InputError.at(
            source, "is a directory; pass it to `graysignal check` to load its *.yaml files"
        ) from None
    except OSError as exc:
        raise InputError.at(source, f"cannot read file: {exc.strerror or exc}") from None
    if len(raw) > cap:
        raise InputError(
            [
                over_limit(
                    source,
                    "file is larger than the limit",
                    "rule_file_bytes",
                    limits.rule_file_bytes,
                )
            ]
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        byte = raw[exc.start]
        raise InputError.at(source, f"not UTF-8 text (byte 0x{byte:02x})", line) from None


def parse_yaml(
    text: str, source: str, limits: Limits | None = None
) -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the data constructed from it, after the
    limits are checked; any problem is an :class:`InputError` at its line."""
    limits = limits or load_limits()
    _check_lines(text, source, limits)
    try:
        _check_events(text, source, limits)
        loader = Loader(text)
        try:
            root = loader.get_single_node()
            return root, (None if root is None else loader.construct_document(root))
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        if _LIBYAML_TOO_DEEP in (exc.problem or ""):  # libyaml stops [[[[... on its own
            message = f"YAML nested more than {limits.yaml_depth} levels deep"
            raise InputError(
                [over_limit(source, message, "yaml_depth", limits.yaml_depth, line)]
            ) from None
        what = "; ".join(part for part in (exc.context, exc.problem) if part)
        where = f" (column {mark.column + 1})" if mark is not None else ""
        raise InputError.at(source, f"invalid YAML: {what}{where}", line) from None
    except yaml.reader.ReaderError as exc:
        raise InputError.at(
            source, f"invalid YAML: {_reader_reason(exc)}", _reader_line(text, exc)
        ) from None
    except yaml.YAMLError as exc:
        raise InputError.at(source, f"invalid YAML: {exc}") from None


def _check_lines(text: str, source: str, limits: Limits) -> None:
    for number, line in enumerate(text.split("\n"), start=1):
        if len(line) > limits.line_chars:
            message = f"line has {len(line):,} characters"
            raise InputError([over_limit(source, message, "line_chars", limits.line_chars, number)])


def _check_events(text: str, source: str, limits: Limits) -> None:
    """Depth, aliases and expanded size from the event stream (see the module doc)."""
    open_nodes: list[list[Any]] = []  # [anchor, expanded size so far] per open collection
    sizes: dict[str, int] = {}  # expanded size of each anchored node
    aliases = 0
    loader = Loader(text)
    try:
        while loader.check_event():
            event = loader.get_event()  # type: ignore[no-untyped-call]
            line = event.start_mark.line + 1
            if isinstance(event, _COLLECTION_START):
                if len(open_nodes) >= limits.yaml_depth:
                    raise InputError(
                        [
                            over_limit(
                                source,
                                f"YAML nested more than {limits.yaml_depth} levels deep",
                                "yaml_depth",
                                limits.yaml_depth,
                                line,
                            )
                        ]
                    )
                open_nodes.append([event.anchor, 1])
                continue
            if isinstance(event, _COLLECTION_END):
                anchor, size = open_nodes.pop()
            elif isinstance(event, yaml.ScalarEvent):
                anchor, size = event.anchor, 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > limits.yaml_aliases:
                    raise InputError(
                        [
                            over_limit(
                                source,
                                f"more than {limits.yaml_aliases} YAML aliases (*name)",
                                "yaml_aliases",
                                limits.yaml_aliases,
                                line,
                            )
                        ]
                    )
                if any(node[0] == event.anchor for node in open_nodes):
                    raise InputError.at(
                        source,
                        f"alias *{event.anchor} is used inside the node it names "
                        "(a structure that contains itself)",
                        line,
                    )
                anchor, size = None, sizes.get(event.anchor or "", 1)
            else:
                continue
            if anchor is not None:
                sizes[anchor] = size
            total = size + (open_nodes[-1][1] if open_nodes else 0)
            if total > limits.yaml_nodes:
                raise InputError(
                    [
                        over_limit(
                            source,
                            f"YAML expands to more than {limits.yaml_nodes:,} nodes "
                            "with its aliases expanded",
                            "yaml_nodes",
                            limits.yaml_nodes,
                            line,
                        )
                    ]
                )
            if open_nodes:
                open_nodes[-1][1] = total
    finally:
        loader.dispose()


def _reader_reason(exc: yaml.reader.ReaderError) -> str:
    character = exc.character
    if isinstance(character, str):
        character = ord(character)
    if isinstance(character, int) and character == 0:
        return "a NUL byte (0x00); rule files are text"
    if isinstance(character, int) and character >= 0:
        return f"unacceptable character U+{character:04X} ({exc.reason})"
    return str(exc.reason)


def _reader_line(text: str, exc: yaml.reader.ReaderError) -> int | None:
    """The line of a reader error: libyaml counts bytes of UTF-8, PyYAML characters."""
    position = exc.position
    if not isinstance(position, int) or position < 0:
        return None
    if Loader is yaml.SafeLoader:
        return text.count("\n", 0, position) + 1
    return text.encode("utf-8")[:position].count(b"\n") + 1

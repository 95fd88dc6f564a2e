"""Load rule files from YAML and report every problem in them as ``file:line: message``.

The schema lives in :mod:`detector.rule` (pure pydantic, no I/O). This module is the
edge that turns a file on disk into a validated :class:`~detector.rule.RuleFile`, and a
user's typo into a message that names the exact line. Line numbers come from the YAML
node tree (``yaml.compose``), walked along pydantic's error ``loc``: pydantic knows
*what* is wrong, only the node tree knows *where* it was written.

Everything wrong with one file is reported in one pass, so a user fixes a file once
instead of re-running the check after each correction.

Regenerate the editor schema with
``python -m adapters.rulefiles --write-schema rules/schema.json``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from adapters.errors import InputError, Problem
from adapters.limits import Limits, load_limits, over_limit
from adapters.yamlsafe import parse_yaml, read_yaml_text
from detector.rule import LogOptions, Rule, RuleFile, RuleGroup

__all__ = [
    "RULE_FILE_SUFFIXES",
    "SUPPRESSIONS_FILE_NAMES",
    "load_rule_file",
    "load_rule_files",
    "load_yaml_model",
    "rule_file_json_schema",
    "top_level_keys",
    "yaml_files",
]

RULE_FILE_SUFFIXES = (".yaml", ".yml")
# The reviewed suppressions file lives beside the rules but is not a rule file
# (adapters/suppressions.py reads it); directories never yield it as one.
SUPPRESSIONS_FILE_NAMES = ("suppressions.yaml", "suppressions.yml")
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_PATH_SOURCES = ("file", "logfile")
_MERGE_KEY = "<<"
_KEY_MARKER = "[key]"  # pydantic's last loc item when a mapping key (not value) is invalid
# Which model a mapping is, by the field names (indices dropped) on the way to it;
# used only to suggest a correct spelling for an unknown field.
_MODEL_AT: dict[tuple[str, ...], type[BaseModel]] = {
    (): RuleFile,
    ("groups",): RuleGroup,
    ("groups", "rules"): Rule,
    ("groups", "rules", "log"): LogOptions,
}

Loc = tuple[int | str, ...]
ModelT = TypeVar("ModelT", bound=BaseModel)
NodeCheck = Callable[[yaml.Node, str], list[Problem]]


def load_rule_file(path: str | Path) -> RuleFile:
    """Read and validate one rule file; raise :class:`InputError` listing every problem.

    Relative ``path:`` values of ``file``/``logfile`` rules are resolved against the
    rule file's directory, so a rule file means the same thing whatever the working
    directory of the process that loads it.
    """
    limits = load_limits()
    rule_file = load_yaml_model(
        path,
        RuleFile,
        top_level="'groups:'",
        empty="'groups:' with rule groups",
        checks=(_duplicate_names, partial(_rule_limits, limits=limits)),
        models_at=_MODEL_AT,
        limits=limits,
    )
    return _with_absolute_paths(rule_file, Path(os.path.abspath(path)).parent)


def load_yaml_model(
    path: str | Path,
    model: type[ModelT],
    *,
    top_level: str,
    empty: str,
    checks: Sequence[NodeCheck] = (),
    models_at: Mapping[tuple[str, ...], type[BaseModel]] | None = None,
    limits: Limits | None = None,
) -> ModelT:
    """Read one YAML file into ``model``; raise :class:`InputError` listing every problem
    as ``file:line: message``.

    The machinery behind rule files, for any pydantic model with a mapping at the top
    (incident files use it too), so that every YAML input of graysignal reports its
    mistakes the same way: duplicate keys, YAML syntax, and each validation error at the
    line where the offending key was written. ``top_level`` names what the mapping
    should hold (``"'groups:'"``), ``empty`` what an empty file lacks; ``checks`` are
    extra node-tree checks run even when validation fails (unless one finds the file over
    a limit: then nothing more is judged); ``models_at`` maps a path of field names to
    the model found there, for "did you mean" suggestions. The file's size, lines,
    nesting and aliases are checked against ``limits`` (:mod:`adapters.yamlsafe`) before
    it is parsed.
    """
    source = str(path)
    limits = limits or load_limits()
    text = read_yaml_text(Path(path), source, limits)
    root, data = parse_yaml(text, source, limits)
    if root is None or data is None:
        line = 1 if root is None else root.start_mark.line + 1
        raise InputError.at(source, f"file is empty: expected {empty}", line)
    if not isinstance(data, dict):
        raise InputError.at(
            source,
            f"expected a mapping with {top_level} at the top level, got {_kind_of(data)}",
            root.start_mark.line + 1,
        )
    problems = _duplicate_keys(root, source)
    for check in checks:
        problems += check(root, source)
    if any(problem.unreadable for problem in problems):
        raise InputError(sorted((p for p in problems if p.unreadable), key=_by_line))
    try:
        loaded = model.model_validate(data)
    except ValidationError as exc:
        models: Mapping[tuple[str, ...], type[BaseModel]] = (
            {(): model} if models_at is None else models_at
        )
        problems += _validation_problems(exc, root, source, already=problems, models=models)
    if problems:
        raise InputError(sorted(problems, key=_by_line))
    return loaded


def top_level_keys(path: str | Path) -> frozenset[str]:
    """The keys of a YAML file's top-level mapping; empty when it has none or cannot be
    read or parsed (the loader that is then chosen reports why, at its line)."""
    try:
        _, data = parse_yaml(read_yaml_text(Path(path), str(path)), str(path))
    except InputError:
        return frozenset()
    if not isinstance(data, dict):
        return frozenset()
    return frozenset(str(key) for key in data)


def yaml_files(
    paths: Sequence[str | Path], what: str = "rule files"
) -> tuple[list[Path], list[Problem]]:
    """Files and directories as files: a directory becomes its ``*.yaml``/``*.yml`` files
    (sorted, not recursive), anything else is kept for its loader to judge. Returns the
    files and the problems met (an unreadable directory, or one holding no ``what``)."""
    problems: list[Problem] = []
    return _expand(paths, problems, what), problems


def load_rule_files(paths: Sequence[str | Path]) -> list[tuple[Path, RuleFile]]:
    """Load files and directories (their ``*.yaml``/``*.yml``, sorted, not recursive).

    Problems from all files are collected into one :class:`InputError`, so ``graysignal
    check rules/`` shows everything wrong in the whole rule set at once.
    """
    problems: list[Problem] = []
    loaded: list[tuple[Path, RuleFile]] = []
    for file in _expand(paths, problems):
        try:
            loaded.append((file, load_rule_file(file)))
        except InputError as error:
            problems.extend(error.problems)
    if problems:
        raise InputError(problems)
    return loaded


def rule_file_json_schema() -> str:
    """The JSON Schema of a rule file as committed in ``rules/schema.json``.

    Pretty-printed with sorted keys so that regenerating it gives a stable, reviewable
    diff; ``$schema`` names the dialect for editors (yaml-language-server).
    """
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        **RuleFile.model_json_schema(by_alias=True),
    }
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- walking the node tree ------------------------------------------------------------


def _find_key(mapping: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    """The entry for ``key`` as the constructed data sees it (last one wins, then ``<<``)."""
    for key_node, value_node in reversed(mapping.value):
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return key_node, value_node
    for key_node, value_node in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == _MERGE_KEY:
            merged = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for node in merged:
                found = _find_key(node, key) if isinstance(node, yaml.MappingNode) else None
                if found is not None:
                    return found
    return None


def _line_of(root: yaml.Node, loc: Loc) -> int:
    """1-based line of the deepest node on ``loc`` that exists in the file.

    Values reached through a mapping point at their key (where the user looks for the
    field); sequence items at their first line; a missing field at the mapping lacking it.
    """
    node, line = root, root.start_mark.line
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            entry = _find_key(node, str(part))
            if entry is None:
                break
            key_node, node = entry
            line = key_node.start_mark.line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line
        else:
            break
    return line + 1


def _mappings(node: yaml.Node, loc: Loc = ()) -> Iterator[tuple[yaml.MappingNode, Loc]]:
    """Every mapping in the tree with its path; aliased nodes are visited once."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Loc]] = [(node, loc)]
    while stack:
        current, where = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            yield current, where
            for key_node, value_node in current.value:
                stack.append((value_node, (*where, str(key_node.value))))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, (*where, i)) for i, item in enumerate(current.value))


def _duplicate_keys(root: yaml.Node, source: str) -> list[Problem]:
    """PyYAML silently keeps the last of two equal keys; the user meant one of them."""
    problems = []
    for mapping, where in _mappings(root):
        first_line: dict[str, int] = {}
        for key_node, _ in mapping.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == _MERGE_KEY:
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in first_line:
                message = (
                    f"duplicate key '{key_node.value}' (first at line "
                    f"{first_line[key_node.value]}); YAML would keep only the last one"
                )
                problems.append(Problem(source, _at(where, message), line))
            else:
                first_line[key_node.value] = line
    return problems


def _items(node: yaml.Node | None, key: str) -> list[yaml.Node]:
    """Items of the list under ``key`` in a mapping node, or none if the shape is wrong."""
    if not isinstance(node, yaml.MappingNode):
        return []
    entry = _find_key(node, key)
    if entry is None or not isinstance(entry[1], yaml.SequenceNode):
        return []
    return list(entry[1].value)


def _name_in(node: yaml.Node, key: str) -> tuple[str, int] | None:
    entry = _find_key(node, key) if isinstance(node, yaml.MappingNode) else None
    if entry is None or not isinstance(entry[1], yaml.ScalarNode):
        return None
    return str(entry[1].value), entry[0].start_mark.line + 1


def _duplicate_names(root: yaml.Node, source: str) -> list[Problem]:
    """Group names and signal names must be unique in a file: alerts are keyed by them.

    Checked on the node tree rather than left to the model so the problem points at the
    second occurrence and is reported even when other fields in the file are invalid.
    """
    problems = []
    groups_seen: dict[str, int] = {}
    signals_seen: dict[str, int] = {}
    for g, group in enumerate(_items(root, "groups")):
        name = _name_in(group, "name")
        if name is not None:
            if name[0] in groups_seen:
                message = (
                    f"group name '{name[0]}' is used twice (first at line {groups_seen[name[0]]})"
                )
                problems.append(Problem(source, _at(("groups", g, "name"), message), name[1]))
            groups_seen.setdefault(*name)
        for r, rule in enumerate(_items(group, "rules")):
            signal = _name_in(rule, "signal")
            if signal is None:
                continue
            if signal[0] in signals_seen:
                message = (
                    f"signal '{signal[0]}' is already defined at line {signals_seen[signal[0]]}; "
                    "signal names must be unique in a file"
                )
                where = ("groups", g, "rules", r, "signal")
                problems.append(Problem(source, _at(where, message), signal[1]))
            signals_seen.setdefault(*signal)
    return problems


def _rule_limits(root: yaml.Node, source: str, *, limits: Limits) -> list[Problem]:
    """The rule count and each rule's labels against the limits, on the node tree and
    before validation, so an oversized file is refused without validating it."""
    rules = [rule for group in _items(root, "groups") for rule in _items(group, "rules")]
    if len(rules) > limits.rules_per_file:
        message = f"the file defines {len(rules):,} rules"
        return [over_limit(source, message, "rules_per_file", limits.rules_per_file)]
    problems = []
    for rule in rules:
        entry = _find_key(rule, "labels") if isinstance(rule, yaml.MappingNode) else None
        if entry is None or not isinstance(entry[1], yaml.MappingNode):
            continue
        key, labels = entry
        if len(labels.value) > limits.labels:
            message = f"labels: {len(labels.value):,} labels"
            line = key.start_mark.line + 1
            problems.append(over_limit(source, message, "labels", limits.labels, line))
            continue
        for name, value in labels.value:
            if isinstance(value, yaml.ScalarNode) and len(value.value) > limits.label_value_chars:
                message = f"labels.{name.value}: the value has {len(value.value):,} characters"
                line = value.start_mark.line + 1
                problems.append(
                    over_limit(source, message, "label_value_chars", limits.label_value_chars, line)
                )
    return problems


# --- turning pydantic errors into problems ------------------------------------------


def _validation_problems(
    exc: ValidationError,
    root: yaml.Node,
    source: str,
    already: list[Problem],
    models: Mapping[tuple[str, ...], type[BaseModel]] = _MODEL_AT,
) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        message = _describe(error, models)
        if not loc and any(message in p.message for p in already):
            continue  # a file-level model check we already reported at its exact line
        if loc and loc[-1] == _KEY_MARKER:
            shown = loc[:-2]  # pydantic's (..., 'labels', 1, '[key]'): the key 1 is bad
        elif error["type"] in ("missing", "extra_forbidden"):
            shown = loc[:-1]
        else:
            shown = loc
        problems.append(Problem(source, _at(shown, message), _line_of(root, loc)))
    return problems


def _describe(
    error: ErrorDetails, models: Mapping[tuple[str, ...], type[BaseModel]] = _MODEL_AT
) -> str:
    """A message in the user's terms (YAML, field names) rather than pydantic's."""
    kind, loc, value = error["type"], error["loc"], error["input"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    field = str(loc[-1]) if loc else "value"
    if loc and loc[-1] == _KEY_MARKER:
        return f"keys must be strings, got {_kind_of(value)} {_show(value)}; quote the key"
    if kind == "missing":
        return f"missing required field '{field}'"
    if kind == "extra_forbidden":
        return f"unknown field '{field}'{_suggestion(loc, models)}"
    if kind in ("enum", "literal_error"):
        choices = ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
        what = "detector" if len(loc) >= 2 and loc[-2] == "detect" else field
        return f"unknown {what} {_show(value)} (expected one of {choices}){_quote_hint(value)}"
    if kind in ("value_error", "assertion_error"):
        return re.sub(r"^(Value error|Assertion failed), ", "", error["msg"])
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping (key: value lines), got {_kind_of(value)}"
    if kind == "list_type":
        return f"expected a list, got {_kind_of(value)}"
    if kind == "string_type":
        return f"expected a string, got {_kind_of(value)} {_show(value)}{_quote_hint(value)}"
    if kind in ("float_type", "float_parsing", "int_type", "int_parsing", "int_from_float"):
        return f"expected a number, got {_show(value)}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length', 1)} entry, got {_kind_of(value)}"
    if kind == "greater_than":
        return f"must be greater than {ctx.get('gt')}, got {_show(value)}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}, got {_show(value)}"
    return f"{error['msg']}, got {_show(value)}"


def _suggestion(loc: Sequence[int | str], models: Mapping[tuple[str, ...], type[BaseModel]]) -> str:
    model = models.get(tuple(p for p in loc[:-1] if isinstance(p, str)))
    if model is None or not loc:
        return ""
    known = [info.alias or name for name, info in model.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.7)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _quote_hint(value: Any) -> str:
    if isinstance(value, bool):
        return "; YAML reads unquoted true/false/yes/no/on/off as booleans, so quote the value"
    if isinstance(value, int | float):
        return "; quote the value to make it a string"
    return ""


_SHOWN_CHARS = 80
"""A value quoted in a message is cut here: the user needs to recognise it, not reread it."""


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _kind_of(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _at(loc: Sequence[int | str], message: str) -> str:
    """Prefix a message with the dotted path, e.g. ``groups[0].rules[1].window: ...``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return f"{path}: {message}" if path else message


def _by_line(problem: Problem) -> tuple[bool, int]:
    return problem.line is None, problem.line or 0


# --- files, directories and paths ---------------------------------------------------


def _expand(
    paths: Sequence[str | Path], problems: list[Problem], what: str = "rule files"
) -> list[Path]:
    """Directories become their rule files (never their suppressions file); anything else
    is left for the loader to judge."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            files.append(path)
            continue
        try:
            found = sorted(
                child
                for child in path.iterdir()
                if child.suffix.lower() in RULE_FILE_SUFFIXES
                and child.name.lower() not in SUPPRESSIONS_FILE_NAMES
                and child.is_file()
            )
        except OSError as exc:
            problems.append(Problem(str(given), f"cannot list directory: {exc.strerror or exc}"))
            continue
        if not found:
            problems.append(Problem(str(given), f"directory holds no *.yaml or *.yml {what}"))
        files.extend(found)
    return files


def _with_absolute_paths(rule_file: RuleFile, base: Path) -> RuleFile:
    groups = [
        group.model_copy(update={"rules": [_absolute(rule, base) for rule in group.rules]})
        for group in rule_file.groups
    ]
    return rule_file.model_copy(update={"groups": groups})


def _absolute(rule: Rule, base: Path) -> Rule:
    if rule.source not in _PATH_SOURCES or rule.path is None:
        return rule
    path = Path(rule.path).expanduser()
    return rule.model_copy(update={"path": os.path.normpath(base / path)})


def write_schema_main(argv: Sequence[str], *, usage: str, render: Callable[[], str]) -> int:
    """``python -m <module> --write-schema PATH``: regenerate a committed editor schema."""
    if len(argv) != 2 or argv[0] != "--write-schema":
        print(f"usage: {usage}", file=sys.stderr)
        return 2
    Path(argv[1]).write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(
        write_schema_main(
            sys.argv[1:],
            usage="python -m adapters.rulefiles --write-schema rules/schema.json",
            render=rule_file_json_schema,
        )
    )

"""The incident library on disk: ``incidents/*.yaml``, one incident per file.

Files are loaded with the rule files' machinery (:func:`adapters.rulefiles.load_yaml_model`),
so an incident file's mistakes are reported exactly like a rule file's: every problem at
once, as ``file:line: message``.

Regenerate the editor schema with
``python -m adapters.backtest.library --write-schema incidents/schema.json``.

Which YAML file is an incident file? ``graysignal check`` is given rule files and
incident files alike, so the rule is simple and written down once, here:

1. a file whose top-level mapping has ``groups`` is a rule file;
2. otherwise a file whose top level has ``id`` or ``impact`` is an incident file;
3. otherwise (e.g. an empty or broken file) it is an incident file when its directory
   is named ``incidents``, and a rule file everywhere else.

So rules kept next to the library (``incidents/rules/*.yaml``) stay rule files, and a
half-written incident in ``incidents/`` is reported against the incident schema.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from adapters.errors import InputError, Problem
from adapters.rulefiles import load_yaml_model, top_level_keys, write_schema_main, yaml_files
from detector.incident import ChangeEvent, Detection, Impact, Incident

__all__ = [
    "INCIDENT_DIRECTORY",
    "duplicate_ids",
    "incident_json_schema",
    "is_incident_file",
    "load_incident_file",
    "load_incidents",
]

INCIDENT_DIRECTORY = "incidents"
_INCIDENT_KEYS = frozenset({"id", "impact"})
_MODEL_AT: dict[tuple[str, ...], type[BaseModel]] = {
    (): Incident,
    ("impact",): Impact,
    ("detected",): Detection,
    ("changes",): ChangeEvent,
}
_ID_LINE = re.compile(r"^id\s*:", re.MULTILINE)


def is_incident_file(path: Path) -> bool:
    """Whether ``path`` is checked and loaded as an incident (see the module doc)."""
    keys = top_level_keys(path)
    if "groups" in keys:
        return False
    if keys & _INCIDENT_KEYS:
        return True
    return path.resolve().parent.name == INCIDENT_DIRECTORY


def load_incident_file(path: str | Path) -> Incident:
    """Read and validate one incident file; :class:`InputError` lists every problem."""
    return load_yaml_model(
        path,
        Incident,
        top_level="'id:', 'title:', 'impact:' ...",
        empty="an incident ('id:', 'title:', 'impact:', 'detected:', 'services:', 'category:')",
        models_at=_MODEL_AT,
    )


def load_incidents(paths: Sequence[str | Path]) -> list[tuple[Path, Incident]]:
    """Load incident files and directories, ordered by impact start (then id).

    In a directory, rule files (rule 1 of the module doc) are skipped, so a library may
    keep its rules beside it; a rule file named explicitly is an error. Problems from all
    files, and ids used twice, are collected into one :class:`InputError`.
    """
    explicit = {Path(p) for p in paths if not Path(p).is_dir()}
    files, problems = yaml_files(paths, what="incident files")
    loaded: list[tuple[Path, Incident]] = []
    for file in files:
        if file.is_file() and not is_incident_file(file):
            if file in explicit:
                problems.append(
                    Problem(str(file), "this is a rule file ('groups:'); pass it with --rules")
                )
            continue
        try:
            loaded.append((file, load_incident_file(file)))
        except InputError as error:
            problems.extend(error.problems)
    problems += duplicate_ids(loaded)
    if problems:
        raise InputError(problems)
    if not loaded:
        raise InputError.at(", ".join(str(p) for p in paths), "no incident files found")
    return sorted(loaded, key=lambda item: (item[1].impact.start, item[1].id))


def duplicate_ids(loaded: Sequence[tuple[Path, Incident]]) -> list[Problem]:
    """Ids name incidents in baselines and reports: two files with one id would merge."""
    first: dict[str, Path] = {}
    problems = []
    for path, incident in loaded:
        if incident.id in first:
            problems.append(
                Problem(
                    str(path),
                    f"id: incident id '{incident.id}' is already used by {first[incident.id]}",
                    _id_line(path),
                )
            )
        else:
            first[incident.id] = path
    return problems


def _id_line(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError:
        return None
    found = _ID_LINE.search(text)
    return None if found is None else text.count("\n", 0, found.start()) + 1


def incident_json_schema() -> str:
    """The JSON Schema of an incident file, for editors (``incidents/schema.json``)."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **Incident.model_json_schema(),
    }
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    raise SystemExit(
        write_schema_main(
            sys.argv[1:],
            usage="python -m adapters.backtest.library --write-schema incidents/schema.json",
            render=incident_json_schema,
        )
    )

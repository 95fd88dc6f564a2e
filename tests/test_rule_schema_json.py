"""``rules/schema.json`` must match the rule schema, or editors validate against a lie."""

from __future__ import annotations

import json
from pathlib import Path

from adapters.rulefiles import rule_file_json_schema

SCHEMA = Path(__file__).resolve().parent.parent / "rules" / "schema.json"
REGENERATE = ".venv/bin/python -m adapters.rulefiles --write-schema rules/schema.json"


def test_committed_schema_matches_the_rule_model() -> None:
    committed = SCHEMA.read_text(encoding="utf-8") if SCHEMA.exists() else "<missing>"

    assert committed == rule_file_json_schema(), (
        f"rules/schema.json is stale: detector/rule.py changed since it was generated. "
        f"Regenerate it from the repository root with `{REGENERATE}` and commit the result."
    )


def test_schema_describes_rule_files_with_prometheus_field_names() -> None:
    schema = json.loads(rule_file_json_schema())
    rule = schema["$defs"]["Rule"]

    assert schema["required"] == ["groups"]
    assert "for" in rule["properties"]
    assert "for_" not in rule["properties"]
    assert rule["additionalProperties"] is False

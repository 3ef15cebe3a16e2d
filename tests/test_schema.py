"""Editor support: the JSON Schema of source files is generated from the models, checked in,
current, carried by the shipped sources and the `new` scaffold, and agrees with the models."""
from __future__ import annotations

import json
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from healthsite import models, schema
from healthsite.cli import cli

jsonschema = pytest.importorskip("jsonschema")

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "content"
CHECKED_IN = REPO / "schema" / "source.schema.json"
MODELINE = "# yaml-language-server: $schema=../../schema/source.schema.json"


def as_json(value):
    """YAML as an editor's language server sees it: timestamps are text."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft7Validator(json.loads(CHECKED_IN.read_text(encoding="utf-8")))


# ---- checked in and current -------------------------------------------------------------------
def test_checked_in_schemas_are_current():
    stale = schema.stale(REPO / "schema")
    assert not stale, f"run `python build.py schema --write`: {stale}"
    assert CHECKED_IN.read_text(encoding="utf-8") == schema.text(schema.source_schema())


def test_schemas_are_valid_draft7():
    for name in (schema.SOURCE_SCHEMA, schema.EXPORT_SCHEMA):
        data = json.loads((REPO / "schema" / name).read_text(encoding="utf-8"))
        assert data["$schema"] == "http://json-schema.org/draft-07/schema#"
        assert data["title"] and data["description"]
        jsonschema.Draft7Validator.check_schema(data)


def test_schema_describes_every_source_key():
    data = schema.source_schema()
    assert set(data["properties"]) == set(models.Source.model_fields)
    assert data["additionalProperties"] is False
    assert set(data["required"]) == {"name", "platform", "profile", "status"}
    for name, definition in [("Source", data), *data["definitions"].items()]:
        for key, prop in definition.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{key} has no description"
            assert "title" not in prop


# ---- the modeline -----------------------------------------------------------------------------
def test_shipped_sources_name_the_schema():
    for path in sorted((SHIPPED / "sources").glob("*.yaml")):
        assert path.read_text(encoding="utf-8").splitlines()[0] == MODELINE, path.name
    assert (SHIPPED / "sources" / MODELINE.split("=", 1)[1]).resolve() == CHECKED_IN.resolve()
    assert schema.MODELINE == MODELINE


def test_new_scaffold_names_the_schema_and_validates(tmp_path, validator):
    content = tmp_path / "content"
    shutil.copytree(SHIPPED, content)
    result = CliRunner().invoke(cli, ["new", "brand-new", "--platform", "shopify", "--content", str(content)])
    assert result.exit_code == 0, result.output
    text = (content / "sources" / "brand-new.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[0] == MODELINE
    errors = list(validator.iter_errors(as_json(yaml.safe_load(text))))
    assert not errors, [e.message for e in errors]


def test_shipped_sources_validate_against_the_schema(validator):
    for path in sorted((SHIPPED / "sources").glob("*.yaml")):
        errors = list(validator.iter_errors(as_json(yaml.safe_load(path.read_text(encoding="utf-8")))))
        assert not errors, (path.name, [e.message for e in errors])


# ---- the schema and the models agree ----------------------------------------------------------
BASE = {"name": "X", "platform": "shopify", "profile": "cyspera", "status": "healthy"}
CASES = [
    ({}, True),
    ({"reasons": ["auth_expired", {"code": "rate_limited", "message": "Custom."}]}, True),
    ({"unknown_key": 1}, False),
    ({"status": "broken"}, False),
    ({"name": 5}, False),
    ({"technical": {"enabled": "yes"}}, False),
    ({"technical": {"last_successful_sync": "2026-11-20T08:15:00Z"}}, True),
    ({"technical": {"last_successful_sync": "2026-11-20T08:15:00+02:00"}}, False),
    ({"technical": {"last_successful_sync": None}}, True),
    ({"actions": [{"id": "reconnect", "state": "blocked", "reason": "Admin approval."}]}, True),
    ({"actions": [{"id": "reconnect", "state": "blocked"}]}, False),
    ({"actions": [{"id": "reconnect", "state": "hidden", "reason": "Why?"}]}, False),
    ({"actions": [{"id": "reconnect", "reason": "Why?"}]}, False),
    ({"sync_history": [{"status": "completed", "fetched": 1, "processed": 1, "failed": 0}]}, True),
    ({"sync_history": [{"status": "completed", "fetched": -1, "processed": 1, "failed": 0}]}, False),
    ({"sync_history": [{"status": "completed", "fetched": 1, "processed": 1}]}, False),
    ({"sync_history": [{"status": "completed", "fetched": 1, "processed": 1, "failed": 0, "api_version": 202501}]}, True),
    ({"sync_history": [{"status": "completed", "fetched": 1, "processed": 1, "failed": 0, "duration_s": 90}]}, True),
    ({"external_accounts": [{"name": "A", "ref": "tt_1234567890_fr", "profile": "cyspera"}]}, True),
    ({"external_accounts": [{"name": "A", "profile": "cyspera"}]}, False),
    ({"data_quality": [{"severity": "NOTICE", "code": "x"}]}, False),
    ({"notes": "Some *Markdown*."}, True),
]


@pytest.mark.parametrize("extra, valid", CASES, ids=[json.dumps(c[0])[:60] for c in CASES])
def test_schema_and_models_agree(extra, valid, validator):
    doc = {**BASE, **extra}
    assert validator.is_valid(doc) is valid
    try:
        models.Source.model_validate(doc)
        model_ok = True
    except ValidationError:
        model_ok = False
    assert model_ok is valid


# ---- the command ------------------------------------------------------------------------------
def test_schema_command_prints_the_source_schema():
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert result.output == schema.text(schema.source_schema())


def test_schema_command_write_and_check(tmp_path):
    runner = CliRunner()
    folder = tmp_path / "schema"
    result = runner.invoke(cli, ["schema", "--check", "--dir", str(folder)])
    assert result.exit_code == 1 and "out of date" in result.output
    result = runner.invoke(cli, ["schema", "--write", "--dir", str(folder)])
    assert result.exit_code == 0
    assert (folder / "source.schema.json").read_text(encoding="utf-8") == CHECKED_IN.read_text(encoding="utf-8")
    assert (folder / "sources.schema.json").is_file()
    assert runner.invoke(cli, ["schema", "--check", "--dir", str(folder)]).exit_code == 0
    (folder / "source.schema.json").write_text("{}\n", encoding="utf-8")
    result = runner.invoke(cli, ["schema", "--check", "--dir", str(folder)])
    assert result.exit_code == 1 and "source.schema.json" in result.output
    assert runner.invoke(cli, ["schema", "--write", "--check"]).exit_code == 2

"""JSON Schemas for editors and other tools, generated from the models.

- `schema/source.schema.json`: a content file, `content/sources/<slug>.yaml`. Source files
  name it in their first line, `# yaml-language-server: $schema=../../schema/source.schema.json`,
  so an editor with a YAML language server (VS Code's YAML extension, JetBrains IDEs, Neovim's
  yamlls) completes keys and flags unknown keys, wrong types and bad values while typing.
- `schema/sources.schema.json`: the export, `sources.json` in the output (docs/export.md).

Both are generated (`python build.py schema --write`) and checked in; a test fails when a model
changed and the checked-in file was not regenerated. The generated schema says what the models
say; rules that need the catalog (a known platform, reason or action id) stay with `check`.
"""
from __future__ import annotations

import json
from copy import deepcopy
from pathlib import Path
from typing import Annotated, Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import models

# Draft 7: what the YAML language server (and VS Code's JSON support it builds on) implements fully.
DIALECT = "http://json-schema.org/draft-07/schema#"
_REF = "#/definitions/{model}"
SCHEMA_DIR = Path("schema")
SOURCE_SCHEMA = "source.schema.json"
EXPORT_SCHEMA = "sources.schema.json"
# How a source file names its schema (content/sources/ -> schema/), for editors.
MODELINE = f"# yaml-language-server: $schema=../../{SCHEMA_DIR.as_posix()}/{SOURCE_SCHEMA}"

_UTC = r"(?:[Zz]|[+]00:00)$"

# Hover help in editors: what each key means. Keyed by model name, then field name.
_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Source": {
        "name": "Display name of the source, shown as the page title and in every action line.",
        "platform": "Platform id from content/catalog/platforms.yaml (tiktok_ads, shopify, meta_ads, ...).",
        "profile": "Profile id from content/catalog/profiles.yaml. Only the authorized profile's sources are built.",
        "context": "One line under the Health heading, e.g. \"Post-connection review (preview).\"",
        "status": "The health status. Shown as text, never by colour alone.",
        "reasons": "Reason codes from content/catalog/reasons.yaml, written as a code or as "
                   "{code, message} to override the catalog's health message.",
        "technical": "The Technical status section.",
        "actions": "Preview-only actions. Omit to allow every catalog action; list an action to block it "
                   "(with a reason) or hide it.",
        "data_quality": "The Data quality section: issues with a severity and a code.",
        "sync_history": "Sync runs, newest first. The health page shows the latest 10 and charts them; "
                        "with more, the source gets a full history page.",
        "external_accounts": "External ad or store accounts. Refs are always masked in the output; "
                             "accounts of another profile are never shown.",
        "notes": "Optional Markdown, sanitized when rendered (no script, no event handlers).",
    },
    "ReasonRef": {
        "code": "A reason code from content/catalog/reasons.yaml.",
        "message": "Replaces the catalog's health message for this source.",
    },
    "Technical": {
        "enabled": "Whether the source is enabled (shown as Enabled: Yes/No).",
        "api_version_review": "Whether the platform API version needs a review.",
        "schema_changed": "The platform changed its report schema.",
        "changelog_review_required": "A platform changelog needs review.",
        "field_mapping_check_required": "The field mapping needs to be checked.",
        "mapping_status": "Whether the field mapping is confirmed.",
        "last_successful_sync": "UTC date and time of the last successful sync (e.g. 2026-11-20T08:15:00Z), "
                                "or null when there has been none.",
    },
    "ActionSetting": {
        "id": "An action id from content/catalog/actions.yaml.",
        "state": "allowed (the default), blocked (needs a reason) or hidden (not shown).",
        "reason": "Why the action is blocked; only for blocked actions.",
    },
    "DataQualityIssue": {
        "severity": "INFO, WARNING, ERROR or CRITICAL, shown as text.",
        "code": "A reason code; without a message it must be in content/catalog/reasons.yaml.",
        "message": "Replaces the catalog's data-quality message.",
    },
    "SyncRun": {
        "status": "How the run ended (or that it is still running or queued).",
        "fetched": "Rows fetched from the platform.",
        "processed": "Rows processed. processed + failed should not exceed fetched.",
        "failed": "Rows rejected.",
        "api_version": "The platform API version the run used.",
        "error": "The error message of a failed or partial run.",
        "started_at": "UTC start time, e.g. 2026-11-20T08:15:00Z. Shown in a Started column.",
        "duration_s": "Duration in seconds. Shown in a Duration column.",
    },
    "ExternalAccount": {
        "name": "The account's display name.",
        "ref": "The raw external account id. Never shown: the page shows a masked form (tt_•••_fr).",
        "profile": "The profile the account belongs to; other profiles' accounts are never shown.",
        "selected": "Whether the account is selected for syncing.",
        "mapping_status": "The account's own mapping status, noted after its name when not confirmed.",
    },
}


def source_schema() -> dict[str, Any]:
    """The JSON Schema of a source file, from models.Source."""
    raw = models.Source.model_json_schema(ref_template=_REF)
    defs = raw.pop("$defs", {})
    raw.pop("title", None)
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        "title": "Source Health Preview source file",
        "description": "A mock data source: content/sources/<slug>.yaml, the slug being the file name "
                       "(lower-case letters, digits and '-'). Generated from healthsite/models.py by "
                       "`python build.py schema --write`; do not edit by hand.",
        **raw,
        "definitions": defs,
    }
    for name, definition in [("Source", schema), *defs.items()]:
        _describe(name, definition)
    # A reason is a code or {code, message}: the model accepts both (a BeforeValidator turns a code
    # into the mapping), so the schema says both.
    items = schema["properties"]["reasons"]["items"]
    schema["properties"]["reasons"]["items"] = {"anyOf": [
        {"type": "string", "pattern": defs["ReasonRef"]["properties"]["code"]["pattern"]}, items]}
    # Times are UTC with an explicit zone.
    for definition, key in (("SyncRun", "started_at"), ("Technical", "last_successful_sync")):
        for option in defs[definition]["properties"][key]["anyOf"]:
            if option.get("type") == "string":
                option["pattern"] = _UTC
    # An API version may be written as a number (202501, 21.0): the model reads it as text.
    version = defs["SyncRun"]["properties"]["api_version"]
    version["anyOf"].insert(1, {"type": "number"})
    # A blocked action needs a reason; only a blocked action has one (ActionSetting's validator).
    defs["ActionSetting"]["if"] = {"properties": {"state": {"const": "blocked"}}, "required": ["state"]}
    defs["ActionSetting"]["then"] = {"required": ["reason"]}
    defs["ActionSetting"]["else"] = {"not": {"required": ["reason"]}}
    return schema


def _describe(model: str, definition: dict[str, Any]) -> None:
    """Replace pydantic's generated property titles ("Duration S") with a description each."""
    if model != "Source":
        definition.pop("title", None)
    notes = _DESCRIPTIONS.get(model, {})
    for key, prop in definition.get("properties", {}).items():
        prop.pop("title", None)
        if key in notes:
            prop["description"] = notes[key]


# ---- the export: sources.json -----------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Status = models.Status


class ExportPlatform(_Strict):
    id: str
    name: str


class ExportReason(_Strict):
    code: str
    severity: models.Severity
    message: str


class ExportTechnical(_Strict):
    enabled: bool
    api_version_review: Literal["NOT_REQUIRED", "REQUIRED", "OVERDUE"]
    schema_changed: bool
    changelog_review_required: bool
    field_mapping_check_required: bool
    mapping_status: models.MappingStatus
    last_successful_sync: Annotated[str | None, Field(description="UTC, ISO 8601 with a Z, or null.")]


class ExportIssue(_Strict):
    severity: models.Severity
    code: str
    message: str


class ExportRun(_Strict):
    status: models.RunStatus
    fetched: int
    processed: int
    failed: int
    api_version: str | None
    error: str | None
    started_at: Annotated[str | None, Field(description="UTC, ISO 8601 with a Z, or null.")]
    duration_s: float | None


class ExportAccount(_Strict):
    name: str
    masked_ref: Annotated[str, Field(description="The masked ref (tt_•••_fr); the raw ref is never exported.")]
    selected: bool
    mapping_status: models.MappingStatus | None


class ExportSource(_Strict):
    slug: str
    name: str
    url: Annotated[str, Field(description="The health page, relative to the site root.")]
    history_url: Annotated[str | None, Field(
        description="The full sync-history page, relative to the site root; null when the health page shows every run.")]
    badge_url: Annotated[str, Field(description="The status badge (SVG), relative to the site root.")]
    platform: ExportPlatform
    status: Status
    reasons: list[ExportReason]
    technical: ExportTechnical
    data_quality: list[ExportIssue]
    sync_runs: Annotated[int, Field(description="How many sync runs the source has.")]
    last_sync_status: models.RunStatus | None
    sync_history: Annotated[list[ExportRun], Field(description="Every sync run, newest first.")]
    external_accounts: Annotated[list[ExportAccount], Field(description="The authorized profile's accounts only.")]


class ExportDocument(_Strict):
    """sources.json: every source of the authorized profile, masked, in severity order."""

    format: Literal["source-health-preview/sources"]
    version: Literal[1]
    profile: Annotated[str, Field(description="The authorized profile the site was built for.")]
    title: str
    counts: Annotated[dict[str, int], Field(description="Sources per status, every status, worst first.")]
    sources: list[ExportSource]


def export_schema() -> dict[str, Any]:
    raw = ExportDocument.model_json_schema(ref_template=_REF)
    raw["definitions"] = raw.pop("$defs", {})
    return {
        "$schema": DIALECT,
        "title": "Source Health Preview export (sources.json)",
        "description": "The authorized profile's sources, masked. Versioned: `format` names the document, "
                       "`version` changes only on a breaking change; keys may be added within a version. "
                       "Generated by `python build.py schema --write`; do not edit by hand.",
        **{k: v for k, v in raw.items() if k not in ("title", "description")},
    }


# ---- files ------------------------------------------------------------------------------------
SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {SOURCE_SCHEMA: source_schema, EXPORT_SCHEMA: export_schema}


def text(schema: dict[str, Any]) -> str:
    """A schema as the checked-in file holds it: stable key order, two-space indent, final newline."""
    return json.dumps(deepcopy(schema), indent=2, ensure_ascii=False) + "\n"


def stale(folder: Path = SCHEMA_DIR) -> list[Path]:
    """The schema files under folder that are missing or differ from what the models generate."""
    out = []
    for name, make in SCHEMAS.items():
        path = folder / name
        try:
            current = path.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != text(make()):
            out.append(path)
    return out


def write(folder: Path = SCHEMA_DIR) -> list[Path]:
    """(Re)write every schema file under folder; return the files that changed."""
    changed = stale(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for path in changed:
        path.write_text(text(SCHEMAS[path.name]()), encoding="utf-8")
    return changed

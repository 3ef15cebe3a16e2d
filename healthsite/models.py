"""The content model, as typed pydantic models: what a valid file holds.

Strict: no coercion ("1000" is not a number, 1 is not a bool), unknown keys are errors.
Cross-file rules (known platform, profile, reason and action ids) live in resolve, which sees
the catalog.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}\Z")  # \Z: "$" would let a final newline through
ID = r"^[a-z0-9][a-z0-9_]{0,63}$"

Status = Literal["healthy", "pending", "degraded", "action_required", "failing", "disabled"]
STATUSES: tuple[str, ...] = Status.__args__
Severity = Literal["INFO", "WARNING", "ERROR", "CRITICAL"]
SEVERITIES: tuple[str, ...] = Severity.__args__
RunStatus = Literal["completed", "partial", "failed", "running", "queued", "cancelled"]
MappingStatus = Literal["confirmed", "unconfirmed", "partial"]
ActionState = Literal["allowed", "blocked", "hidden"]


_UTC_START = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _utc(value: object) -> datetime:
    """A UTC instant written in ISO 8601 with an explicit zone (Z or +00:00)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if not _UTC_START.match(text):
            raise ValueError("expected a UTC date and time such as 2026-11-20T08:15:00Z")
        try:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise ValueError("not a real date and time (expected e.g. 2026-11-20T08:15:00Z)") from None
    else:
        raise ValueError("expected a UTC date and time such as 2026-11-20T08:15:00Z")
    if parsed.tzinfo is timezone.utc:  # a trailing Z: most times
        return parsed
    if parsed.tzinfo is None:
        raise ValueError("the time zone is missing: write UTC times with a trailing Z")
    if parsed.utcoffset().total_seconds() != 0:
        raise ValueError("times must be in UTC (Z or +00:00)")
    return parsed.astimezone(timezone.utc)


UtcDatetime = Annotated[datetime, BeforeValidator(_utc)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
LongText = Annotated[str, Field(max_length=20000)]
Count = Annotated[int, Field(ge=0, le=10**12)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# ---- site.yaml -------------------------------------------------------------------------------
class Site(Model):
    title: Text
    profile: Annotated[str, Field(pattern=ID)]
    banner: LongText = ""
    footer_notes: list[Text] = []
    base_url: str | None = None


# ---- catalog/ --------------------------------------------------------------------------------
class Platform(Model):
    id: Annotated[str, Field(pattern=ID)]
    name: Text
    auth_method: Text
    ref_prefix: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+[_-]$")]


class Action(Model):
    id: Annotated[str, Field(pattern=ID)]
    label: Text
    description: Text
    section: Literal["sync_history", "data_quality"] | None = None


class Reason(Model):
    code: Annotated[str, Field(pattern=ID)]
    severity: Severity
    health_message: Text
    data_quality_message: Text


class Profile(Model):
    id: Annotated[str, Field(pattern=ID)]
    name: Text


# labels.yaml: every piece of page copy that is not content, keyed by where it shows.
Labels = dict[Annotated[str, Field(pattern=ID)], str]


# ---- sources/<slug>.yaml ---------------------------------------------------------------------
class ReasonRef(Model):
    code: Annotated[str, Field(pattern=ID)]
    message: Text | None = None


def _reason_refs(value: object) -> object:
    """A reason is written as its code, or as {code, message} to override the catalog message."""
    if isinstance(value, list):
        return [{"code": item} if isinstance(item, str) else item for item in value]
    return value


def _number_as_text(value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


class Technical(Model):
    enabled: bool = True
    api_version_review: Literal["NOT_REQUIRED", "REQUIRED", "OVERDUE"] = "NOT_REQUIRED"
    schema_changed: bool = False
    changelog_review_required: bool = False
    field_mapping_check_required: bool = False
    mapping_status: MappingStatus = "confirmed"
    last_successful_sync: UtcDatetime | None = None


class ActionSetting(Model):
    id: Annotated[str, Field(pattern=ID)]
    state: ActionState = "allowed"
    reason: Text | None = None

    @model_validator(mode="after")
    def _reason_only_when_blocked(self) -> "ActionSetting":
        if self.state == "blocked" and not self.reason:
            raise ValueError("a blocked action needs a reason")
        if self.state != "blocked" and self.reason:
            raise ValueError(f"reason is only for blocked actions (this one is {self.state})")
        return self


class DataQualityIssue(Model):
    severity: Severity
    code: Annotated[str, Field(pattern=ID)]
    message: Text | None = None


class SyncRun(Model):
    status: RunStatus
    fetched: Count
    processed: Count
    failed: Count
    # Versions such as 202501 or 21.0 read as numbers in YAML: take them as the text they are.
    api_version: Annotated[str, BeforeValidator(_number_as_text), Field(min_length=1, max_length=40)] | None = None
    error: Text | None = None
    started_at: UtcDatetime | None = None
    duration_s: Annotated[float, Field(ge=0, le=10**7)] | None = None


class ExternalAccount(Model):
    name: Text
    ref: Annotated[str, Field(min_length=1, max_length=200)]
    profile: Annotated[str, Field(pattern=ID)]
    selected: bool = False
    mapping_status: MappingStatus | None = None


class Source(Model):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    platform: Annotated[str, Field(pattern=ID)]
    profile: Annotated[str, Field(pattern=ID)]
    context: Text | None = None
    status: Status
    reasons: Annotated[list[ReasonRef], BeforeValidator(_reason_refs)] = []
    technical: Technical = Technical()
    actions: list[ActionSetting] | None = None
    data_quality: list[DataQualityIssue] = []
    sync_history: list[SyncRun] = []
    external_accounts: list[ExternalAccount] = []
    notes: LongText | None = None

"""View models: all a template is given. They hold no raw ref, no secret and nothing of another
profile, so a template cannot print what it never receives."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Collection

# How many sync runs a health page shows (table and chart); a source with more gets a full
# history page of its own.
RUNS_ON_PAGE = 10


@dataclass(frozen=True, slots=True)
class ReasonView:
    code: str
    severity: str
    message: str


@dataclass(frozen=True, slots=True)
class TechnicalView:
    enabled: bool
    api_version_review: str
    schema_changed: bool
    changelog_review_required: bool
    field_mapping_check_required: bool
    mapping_status: str
    last_successful_sync: datetime | None


@dataclass(frozen=True, slots=True)
class ActionView:
    id: str
    state: str  # allowed | blocked
    label: str
    description: str
    section: str | None  # the page section it opens, if any
    reason: str | None


@dataclass(frozen=True, slots=True)
class DataQualityView:
    severity: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class RunView:
    status: str
    fetched: int
    processed: int
    failed: int
    api_version: str | None
    error: str | None
    started_at: datetime | None
    duration_s: float | None


@dataclass(frozen=True, slots=True)
class AccountView:
    name: str
    masked_ref: str
    selected: bool
    mapping_status: str | None


@dataclass(frozen=True, slots=True)
class PlatformView:
    id: str
    name: str
    auth_method: str


@dataclass(frozen=True, slots=True)
class SourceView:
    slug: str
    name: str
    platform: PlatformView
    context: str | None
    status: str
    reasons: tuple[ReasonView, ...]
    technical: TechnicalView
    actions: tuple[ActionView, ...]
    data_quality: tuple[DataQualityView, ...]
    runs: tuple[RunView, ...]  # newest first, as written
    accounts: tuple[AccountView, ...]
    notes: str | None  # Markdown, sanitized when rendered

    @property
    def recent_runs(self) -> tuple[RunView, ...]:
        """The runs the health page shows: the latest RUNS_ON_PAGE, newest first."""
        return self.runs[:RUNS_ON_PAGE]

    @property
    def has_full_history(self) -> bool:
        """More runs than the health page shows: the source gets a history page."""
        return len(self.runs) > RUNS_ON_PAGE


@dataclass(frozen=True, slots=True)
class SiteView:
    title: str
    banner: str  # Markdown
    footer_notes: tuple[str, ...]
    profile_id: str
    profile_name: str
    statuses: tuple[str, ...]  # every status, in severity order
    sources: tuple[SourceView, ...]  # authorized profile only, in severity order
    labels: "Labels"
    # The platforms the shown sources use, in catalog order (the platform filters): never one
    # that only another profile uses.
    platforms: tuple[PlatformView, ...] = ()
    base_url: str | None = None  # where the site is published, for embed snippets; None: relative


class MissingLabel(Exception):
    def __init__(self, key: str):
        self.key = key
        super().__init__(key)


class Labels:
    """Page copy from catalog/labels.yaml. A template asking for a label that is not there is a
    content error naming the label, not a blank on the page."""

    def __init__(self, text: dict[str, str]):
        # Plain attributes: a template looks labels up hundreds of times a page, and an instance
        # attribute is the fast path of Jinja's getattr; __getattr__ only runs for a missing one.
        self.__dict__.update(text)

    def __getattr__(self, key: str) -> str:
        if key.startswith("__"):
            raise AttributeError(key)
        raise MissingLabel(key)

    def __getitem__(self, key: str) -> str:
        try:
            return self.__dict__[key]
        except KeyError:
            raise MissingLabel(key) from None


@dataclass(frozen=True)
class Canaries:
    """What must never reach the output: every raw ref (all profiles), other profiles' names."""

    refs: Collection[str]  # a set, or a list the store made (no duplicates either way)
    foreign_names: Collection[str]

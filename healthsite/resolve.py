"""Stage 2, resolve: catalog look-ups, the authorized-profile filter, masking and lint.

In: the loaded content. Out: a SiteView that holds only what may be shown (masked refs, the
authorized profile's sources and accounts), the Canaries the leak scan looks for, and lint
warnings. Cross-file errors (unknown platform, profile, reason or action) are collected here.
"""
from __future__ import annotations

import itertools

from dataclasses import dataclass

from . import verify, views
from .load import Content, LoadedSource
from .masking import mask_ref
from .models import STATUSES
from .problems import ContentError, Problem

# Severity order, worst first: the order of the index and of the status counts.
STATUS_ORDER = ("failing", "action_required", "degraded", "pending", "healthy", "disabled")
assert set(STATUS_ORDER) == set(STATUSES)
_BAD_RUNS = {"failed", "partial"}
FOREIGN_NAME_MIN = 6  # shorter names are too likely to appear in ordinary text to scan for


@dataclass
class Catalog:
    platforms: dict
    actions: list
    reasons: dict
    profiles: dict
    labels: dict


@dataclass
class Resolved:
    site: views.SiteView
    canaries: views.Canaries
    warnings: list[Problem]


def make_catalog(content: Content, problems: list[Problem]) -> Catalog:
    def index(name: str, key: str) -> dict:
        loaded = content.catalog[name]
        out: dict = {}
        for i, item in enumerate(loaded.model):
            ident = getattr(item, key)
            if ident in out:
                problems.append(loaded.doc.problem((i, key), f"{name}: {key} {ident!r} is listed twice"))
            out[ident] = item
        return out

    platforms, reasons, profiles = index("platforms", "id"), index("reasons", "code"), index("profiles", "id")
    actions = index("actions", "id")
    return Catalog(platforms, list(actions.values()), reasons, profiles, content.catalog["labels"].model)


def resolve(content: Content, profile: str | None = None) -> Resolved:
    """Build the view of the site for one profile (site.yaml's unless given)."""
    problems: list[Problem] = list(content.problems)
    if not content.complete:  # nothing to check the sources against
        raise ContentError(problems + content.warnings)
    catalog, authorized = resolve_head(content, problems, profile)

    for source in content.sources:
        problems.extend(cross_check(source, catalog))
    if problems:
        raise ContentError(problems + content.warnings)

    warnings = list(content.warnings)
    for source in content.sources:
        warnings.extend(lint(source, catalog))

    mine = [s for s in content.sources if s.model.profile == authorized]
    shown = [source_view(s, catalog, authorized) for s in mine]
    shown.sort(key=lambda v: (STATUS_ORDER.index(v.status), v.name.casefold(), v.slug))
    canaries = _canaries(content, authorized, catalog)
    return Resolved(site_view(content, catalog, authorized, tuple(shown)), canaries, warnings)


def resolve_head(head, problems: list[Problem], profile: str | None) -> tuple[Catalog, str]:
    """The catalog, indexed and checked, and the profile to build (site.yaml's unless given)."""
    catalog = make_catalog(head, problems)
    site = head.site.model
    if site.profile not in catalog.profiles:
        problems.append(head.site.doc.problem(("profile",), f"profile {site.profile!r} is not in catalog/profiles.yaml"))
    return catalog, profile or site.profile


def site_view(head, catalog: Catalog, authorized: str, shown: tuple[views.SourceView, ...],
              used: set[str] | None = None) -> views.SiteView:
    """The site for one profile: its sources (in severity order) and the site-wide copy. used:
    the platform ids its sources use, when shown does not hold them (the engine's store does)."""
    site = head.site.model
    used = {v.platform.id for v in shown} if used is None else used
    return views.SiteView(
        title=site.title,
        banner=site.banner,
        footer_notes=tuple(site.footer_notes),
        profile_id=authorized,
        profile_name=catalog.profiles[authorized].name if authorized in catalog.profiles else authorized,
        statuses=STATUS_ORDER,
        sources=shown,
        labels=views.Labels(catalog.labels),
        # Only platforms the authorized profile's sources use: a platform filter never hints at
        # another profile's sources.
        platforms=tuple(views.PlatformView(p.id, p.name, p.auth_method) for p in catalog.platforms.values()
                        if p.id in used),
        base_url=site.base_url.rstrip("/") + "/" if site.base_url else None,
    )


def cross_check(source: LoadedSource, catalog: Catalog) -> list[Problem]:
    m, doc, out = source.model, source.doc, []
    if m.platform not in catalog.platforms:
        out.append(doc.problem(("platform",), f"unknown platform {m.platform!r} (not in catalog/platforms.yaml)"))
    if m.profile not in catalog.profiles:
        out.append(doc.problem(("profile",), f"unknown profile {m.profile!r} (not in catalog/profiles.yaml)"))
    for i, reason in enumerate(m.reasons):
        if reason.code not in catalog.reasons:
            out.append(doc.problem(("reasons", i), f"unknown reason code {reason.code!r} (not in catalog/reasons.yaml)"))
    known_actions = {a.id for a in catalog.actions}
    seen: set[str] = set()
    for i, action in enumerate(m.actions or ()):
        if action.id not in known_actions:
            out.append(doc.problem(("actions", i, "id"), f"unknown action {action.id!r} (not in catalog/actions.yaml)"))
        elif action.id in seen:
            out.append(doc.problem(("actions", i, "id"), f"action {action.id!r} is set twice"))
        seen.add(action.id)
    for i, issue in enumerate(m.data_quality):
        if issue.code not in catalog.reasons and issue.message is None:
            out.append(doc.problem(("data_quality", i, "code"),
                                   f"unknown data-quality code {issue.code!r}: add it to catalog/reasons.yaml or give a message"))
    for i, account in enumerate(m.external_accounts):
        if account.profile not in catalog.profiles:
            out.append(doc.problem(("external_accounts", i, "profile"),
                                   f"unknown profile {account.profile!r} (not in catalog/profiles.yaml)"))
    return out


def lint(source: LoadedSource, catalog: Catalog) -> list[Problem]:
    """Valid but inconsistent states: warnings from `check`, errors with --strict."""
    m, doc, out = source.model, source.doc, []

    def warn(loc: tuple, message: str) -> None:
        out.append(doc.problem(loc, message, severity="warning"))

    runs, tech = m.sync_history, m.technical
    if m.status == "healthy" and runs and runs[0].status in _BAD_RUNS:
        warn(("sync_history", 0, "status"), f"status is healthy but the last sync is {runs[0].status}")
    if m.status == "healthy" and any(i.severity in ("ERROR", "CRITICAL") for i in m.data_quality):
        warn(("status",), "status is healthy but data quality has ERROR or CRITICAL issues")
    if m.status in ("pending", "degraded", "action_required", "failing") and not m.reasons:
        warn(("status",), f"status is {m.status} but no reason is given")
    if m.status == "disabled" and tech.enabled:
        warn(("technical", "enabled"), "status is disabled but the source is enabled")
    if m.status != "disabled" and not tech.enabled and m.status != "healthy" and not m.reasons:
        warn(("technical", "enabled"), "the source is not enabled but its status does not say why")
    for i, run in enumerate(runs):
        if run.processed + run.failed > run.fetched:
            warn(("sync_history", i), f"processed + failed ({run.processed + run.failed}) is more than fetched ({run.fetched})")
        if run.status == "failed" and not run.error:
            warn(("sync_history", i, "status"), "a failed sync without an error message")
        if run.status == "completed" and run.failed:
            warn(("sync_history", i, "failed"), "a completed sync with failed rows (should it be partial?)")
        if run.status == "partial" and not run.failed:
            warn(("sync_history", i, "failed"), "a partial sync with no failed rows (should it be completed?)")
        if run.status in ("running", "queued") and i > 0:
            warn(("sync_history", i, "status"), f"a {run.status} sync below a newer run (history is newest first)")
    if any(r.status == "completed" for r in runs) and tech.last_successful_sync is None:
        warn(("technical", "last_successful_sync"), "there are completed syncs but no last successful sync")
    newest_ok = next((r.started_at for r in runs if r.status == "completed" and r.started_at), None)
    if newest_ok and tech.last_successful_sync and tech.last_successful_sync < newest_ok:
        warn(("technical", "last_successful_sync"), "last successful sync is older than the newest completed sync")
    started = [r.started_at for r in runs if r.started_at]
    if started != sorted(started, reverse=True):
        warn(("sync_history",), "sync history is not newest first")
    if tech.mapping_status == "confirmed" and any(r.code == "mapping_unconfirmed" for r in m.reasons):
        warn(("technical", "mapping_status"), "mapping is confirmed but a reason says mapping_unconfirmed")
    refs: dict[str, int] = {}
    prefix = catalog.platforms[m.platform].ref_prefix if m.platform in catalog.platforms else ""
    for i, account in enumerate(m.external_accounts):
        if account.ref in refs:
            warn(("external_accounts", i, "ref"), f"the same ref as account {refs[account.ref] + 1}")
        refs.setdefault(account.ref, i)
        if prefix and not account.ref.startswith(prefix):
            warn(("external_accounts", i, "ref"), f"ref does not start with the platform prefix {prefix!r}: only its last 4 characters will show")
    return out


def source_view(source: LoadedSource, catalog: Catalog, authorized: str) -> views.SourceView:
    m = source.model
    platform = catalog.platforms[m.platform]
    settings = {a.id: a for a in m.actions or ()}
    actions = []
    for action in catalog.actions:
        setting = settings.get(action.id)
        state = setting.state if setting else "allowed"
        if state == "hidden":
            continue
        actions.append(views.ActionView(action.id, state, action.label, action.description, action.section,
                                        setting.reason if setting else None))
    t = m.technical
    return views.SourceView(
        slug=source.slug,
        name=m.name,
        platform=views.PlatformView(platform.id, platform.name, platform.auth_method),
        context=m.context,
        status=m.status,
        reasons=tuple(views.ReasonView(r.code, catalog.reasons[r.code].severity,
                                       r.message or catalog.reasons[r.code].health_message) for r in m.reasons),
        technical=views.TechnicalView(t.enabled, t.api_version_review, t.schema_changed, t.changelog_review_required,
                                      t.field_mapping_check_required, t.mapping_status, t.last_successful_sync),
        actions=tuple(actions),
        data_quality=tuple(views.DataQualityView(i.severity, i.code,
                                                 i.message or catalog.reasons[i.code].data_quality_message)
                           for i in m.data_quality),
        runs=tuple(views.RunView(r.status, r.fetched, r.processed, r.failed, r.api_version, r.error,
                                 r.started_at, r.duration_s) for r in m.sync_history),
        # The authorized-profile filter and the mask: the raw ref stops here.
        accounts=tuple(views.AccountView(a.name, mask_ref(a.ref, platform.ref_prefix), a.selected, a.mapping_status)
                       for a in m.external_accounts if a.profile == authorized),
        notes=m.notes,
    )


def _site_copy(content: Content, catalog: Catalog, authorized: str) -> list[str]:
    """Text every build shows whatever the sources: a foreign name found in it is no leak."""
    site = content.site.model
    out = [site.title, site.banner, *site.footer_notes, *catalog.labels.values()]
    for p in catalog.platforms.values():
        out += [p.id, p.name, p.auth_method]
    for a in catalog.actions:
        out += [a.label, a.description]
    for r in catalog.reasons.values():
        out += [r.code, r.health_message, r.data_quality_message]
    out += [p.name for p in catalog.profiles.values() if p.id == authorized]
    return out


def shown_text(m) -> list[str]:
    """The free text of an authorized source that its page shows."""
    out = [m.name, m.context or "", m.notes or ""]
    out += [r.message or "" for r in m.reasons] + [d.message or "" for d in m.data_quality]
    out += [r.error or "" for r in m.sync_history] + [a.reason or "" for a in m.actions or ()]
    return out


def _canaries(content: Content, authorized: str, catalog: Catalog) -> views.Canaries:
    refs, foreign, shown = [], [], []
    for source in content.sources:
        m = source.model
        mine = m.profile == authorized
        if not mine:
            foreign.append(m.name)
        else:
            shown += shown_text(m)
        for account in m.external_accounts:
            refs.append(account.ref)
            if not mine or account.profile != authorized:
                foreign.append(account.name)
            else:
                shown.append(account.name)
    return canaries_from(content, catalog, authorized, refs, foreign, shown)


def canaries_from(head, catalog: Catalog, authorized: str, refs, foreign, shown) -> views.Canaries:
    """Every raw ref, and the names of another profile that the authorized site does not show
    anyway (in its copy or its own sources' text): those are what the leak scan looks for."""
    return views.Canaries(frozenset(refs), frozenset(canary_names(head, catalog, authorized, foreign, shown)))


def canary_names(head, catalog: Catalog, authorized: str, foreign, shown) -> set[str]:
    """The names of another profile (foreign) that the authorized site does not show anyway, in
    its copy or in its own sources' text (shown: any iterable of texts)."""
    foreign = {n for n in foreign if len(n) >= FOREIGN_NAME_MIN}
    if not foreign:
        return foreign
    names = verify.Scanner(views.Canaries(refs=(), foreign_names=foreign))
    return foreign - shown_names(head, catalog, authorized, names, shown)


def shown_names(head, catalog: Catalog, authorized: str, names: verify.Scanner, shown) -> set[str]:
    """Those of the names (a Scanner of them) that the authorized site shows anyway: in its copy
    or in its own sources' text (shown: any iterable of texts, taken piece by piece: thousands of
    sources' text is never joined in memory). A name inside another one the text shows is
    shown too."""
    return names.words_in(itertools.chain(["\n".join(_site_copy(head, catalog, authorized))], shown))

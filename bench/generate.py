"""Generate N valid, varied synthetic sources (and the same pages as Hugo content).

Deterministic: source i is always the same file. Used by bench/bench.py and by the
incremental-build tests.
"""
from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
PLATFORMS = {
    "tiktok_ads": ("tt_", "v1.3", "40100: Access token is expired"),
    "shopify": ("shp_", "2025-01", "429 Too Many Requests: Exceeded 2 calls per second for api client"),
    "meta_ads": ("act_", "v21.0", "(#17) User request limit reached"),
    "google_ads": ("gads_", "v18", "AuthorizationError.USER_PERMISSION_DENIED"),
    "ga4": ("ga4_", "v1beta", "403 PERMISSION_DENIED: User does not have sufficient permissions for this property"),
    "linkedin_ads": ("li_", "202410", "401 EXPIRED_ACCESS_TOKEN"),
}
COUNTRIES = ["fr", "de", "us", "uk", "es", "it", "nl", "se", "pl", "jp"]
STATUS_REASONS = {
    "healthy": [[], ["mapping_unconfirmed"], ["timezone_mismatch"]],
    "pending": [["first_sync_pending"]],
    "degraded": [["rate_limited"], ["partial_data"], ["api_version_deprecated", "currency_mismatch"]],
    "action_required": [["auth_expired"], ["schema_changed"], ["insufficient_permissions"]],
    "failing": [["sync_failing", "token_revoked"], ["api_version_sunset"], ["sync_failing"]],
    "disabled": [["disabled_by_user"]],
}
STATUSES = list(STATUS_REASONS)


def _foreign(i: int) -> bool:
    return i % 10 == 9  # a tenth of the sources are another profile's


def shown_file(content: Path, i: int) -> Path:
    """The file of the first source from the i-th on that the site shows (the authorized profile's)."""
    while _foreign(i):
        i += 1
    return content / "sources" / f"bench-{i:06d}.yaml"


def source(i: int) -> dict:
    rng = random.Random(i)
    platform = list(PLATFORMS)[i % len(PLATFORMS)]
    prefix, api, error = PLATFORMS[platform]
    status = STATUSES[rng.randrange(len(STATUSES))]
    country = COUNTRIES[i % len(COUNTRIES)]
    profile = "northwind" if _foreign(i) else "cyspera"
    reasons = rng.choice(STATUS_REASONS[status])
    runs = []
    for r in range(rng.randint(3, 12)):
        fetched = rng.randint(100, 50000)
        bad = status in ("failing", "degraded") and r == 0
        run = {"status": "failed" if bad and status == "failing" else ("partial" if bad else "completed"),
               "fetched": fetched, "processed": fetched, "failed": 0, "api_version": api,
               "started_at": f"2026-11-{24 - r:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
               "duration_s": rng.randint(5, 4000)}
        if run["status"] == "failed":
            run.update(processed=0, failed=0, error=error)
        elif run["status"] == "partial":
            failed = rng.randint(1, fetched // 10 + 1)
            run.update(processed=fetched - failed, failed=failed, error=error)
        runs.append(run)
    last_ok = next((r["started_at"] for r in runs if r["status"] == "completed"), None)
    doc = {
        "name": f"{platform.replace('_', ' ').title()} {country.upper()} {i:06d}",
        "platform": platform,
        "profile": profile,
        "context": "Synthetic source for the benchmark (preview).",
        "status": status,
        "reasons": reasons,
        "technical": {
            "enabled": status != "disabled",
            "api_version_review": "REQUIRED" if "api_version_deprecated" in reasons else "NOT_REQUIRED",
            "schema_changed": "schema_changed" in reasons,
            "changelog_review_required": False,
            "field_mapping_check_required": "mapping_unconfirmed" in reasons,
            "mapping_status": "unconfirmed" if "mapping_unconfirmed" in reasons else "confirmed",
            "last_successful_sync": last_ok,
        },
        "data_quality": [{"severity": "WARNING", "code": code} for code in reasons if code != "disabled_by_user"][:2],
        "sync_history": runs,
        "external_accounts": [
            {"name": f"Account {i}-{a} {country.upper()}", "ref": f"{prefix}{7100000000 + i * 7 + a}_{country}",
             "profile": profile, "selected": a == 0}
            for a in range(rng.randint(1, 3))
        ],
    }
    if rng.random() < 0.3:
        doc["notes"] = f"Reviewed by *QA* on run {i}.\n\n- check spend\n- check [the changelog](https://example.com/changelog)"
    return doc


def _other_status(text: str) -> str:
    current = re.search(r"(?m)^status: (\w+)", text).group(1)
    return re.sub(r"(?m)^status: \w+", "status: " + ("degraded" if current == "failing" else "failing"), text, count=1)


# The kinds of edit a benchmark rebuilds after, as what each does to a source file's text.
EDITS = {
    # Its context line: only its own page shows it.
    "edit": lambda text: text.replace("(preview)", "(preview, edited)", 1),
    # Its name: its row on the index and a filter page, and its line of sources.json, change too.
    "rename": lambda text: re.sub(r"(?m)^name: ", "name: Renamed ", text, count=1),
    # Its status: its row moves from one status page to another, and every dashboard page's counts change.
    "status": _other_status,
    # An account's ref (a digit more, after its platform's prefix): a new canary, which every
    # unchanged file is scanned for.
    "new ref": lambda text: re.sub(r"(?m)^(\s*ref: [A-Za-z0-9]+?_\d+)", r"\g<1>7", text, count=1),
}


def dump(doc: dict) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)


def write_content(folder: Path, n: int) -> Path:
    """A content folder with the shipped site.yaml and catalog, and n synthetic sources."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "sources").mkdir(parents=True)
    shutil.copy(REPO / "content" / "site.yaml", folder / "site.yaml")
    shutil.copytree(REPO / "content" / "catalog", folder / "catalog")
    for i in range(n):
        (folder / "sources" / f"bench-{i:06d}.yaml").write_text(dump(source(i)), encoding="utf-8")
    return folder


HUGO = Path(__file__).resolve().parent / "hugo"
HUGO_PAGES = ("full", "minimal")


def write_hugo(folder: Path, n: int, pages: str = "full", content: Path | None = None) -> Path:
    """The same sources as a Hugo site, each a page with the source's YAML as its front matter
    (and a title).

    pages "full" (bench/hugo/full): the same files as our build, from the front matter and from
    the catalog and site.yaml copied into data/ (from content, the generated content folder, or the
    shipped ones): the authorized profile's health pages, history pages and badges, the dashboard
    and its filter pages, sources.json, 404.html and the assets. "minimal" (bench/hugo/minimal):
    the old, smaller page per source (of every profile) and one list, no data files."""
    if pages not in HUGO_PAGES:
        raise ValueError(f"pages: one of {HUGO_PAGES}, not {pages!r}")
    if folder.exists():
        shutil.rmtree(folder)
    if pages == "minimal":
        (folder / "layouts" / "_default").mkdir(parents=True)
        (folder / "config.yaml").write_text(
            "baseURL: /\ndisableKinds: [taxonomy, term, RSS, sitemap, robotsTXT]\nrelativeURLs: true\n", encoding="utf-8")
        shutil.copy(HUGO / "minimal" / "single.html", folder / "layouts" / "_default" / "single.html")
        shutil.copy(HUGO / "minimal" / "list.html", folder / "layouts" / "_default" / "list.html")
        shutil.copy(HUGO / "minimal" / "list.html", folder / "layouts" / "index.html")
    else:
        shutil.copytree(HUGO / "full", folder)
        head = content if content is not None else REPO / "content"
        (folder / "data").mkdir()
        shutil.copy(head / "site.yaml", folder / "data" / "site.yaml")
        shutil.copytree(head / "catalog", folder / "data" / "catalog")
        # The stylesheet as a Hugo asset (404.html inlines it, with its hash), the icon as a static file.
        assets = REPO / "templates" / "assets"
        (folder / "assets" / "assets").mkdir(parents=True)
        shutil.copy(assets / "style.css", folder / "assets" / "assets" / "style.css")
        (folder / "static" / "assets").mkdir(parents=True)
        for path in assets.iterdir():
            if path.is_file() and path.name != "style.css":
                shutil.copy(path, folder / "static" / "assets" / path.name)
        (folder / "static" / ".nojekyll").write_bytes(b"")
    (folder / "content" / "sources").mkdir(parents=True)
    for i in range(n):
        doc = source(i)
        doc["title"] = doc["name"]
        (folder / "content" / "sources" / f"bench-{i:06d}.md").write_text(f"---\n{dump(doc)}---\n", encoding="utf-8")
    return folder

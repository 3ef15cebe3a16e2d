"""Deploy: the GitHub Pages workflow, .nojekyll and 404.html in the output, and a site that any
static host serves (relative links, no directory URLs, byte-identical rebuilds)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from healthsite import pipeline

pytest_plugins = ["healthsite.pytest_plugin"]

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "pages.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1); look it up either way.
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def steps(job: dict) -> list[dict]:
    return job["steps"]


def uses(job: dict, action: str) -> dict:
    found = [s for s in steps(job) if s.get("uses", "").split("@")[0] == action]
    assert len(found) == 1, f"{action} is used {len(found)} times"
    return found[0]


def test_workflow_triggers(workflow):
    on = workflow.get("on", workflow.get(True))
    assert on["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in on


def test_workflow_builds_then_uploads(workflow):
    build = workflow["jobs"]["build"]
    names = [s.get("uses", "").split("@")[0] or s.get("run", "") for s in steps(build)]
    order = [next(i for i, n in enumerate(names) if key in n) for key in
             ("actions/checkout", "actions/setup-python", "pip install .", "python build.py build",
              "actions/upload-pages-artifact")]
    assert order == sorted(order)
    upload = uses(build, "actions/upload-pages-artifact")
    assert upload["with"]["path"] == "site"
    # upload-pages-artifact v4+ drops dotfiles unless asked: .nojekyll must ship
    assert upload["with"]["include-hidden-files"] is True
    run = next(s["run"] for s in steps(build) if "python build.py build" in s.get("run", ""))
    assert "--out site" in run


def test_workflow_deploys_with_the_right_permissions(workflow):
    assert workflow["permissions"] == {"contents": "read"}
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    step = uses(deploy, "actions/deploy-pages")
    assert deploy["environment"]["url"] == "${{ steps.%s.outputs.page_url }}" % step["id"]
    assert workflow["concurrency"]["group"] == "pages"


def test_output_has_nojekyll_and_404(health_site):
    assert health_site.path(".nojekyll").is_file()
    assert health_site.path(".nojekyll").read_bytes() == b""
    page = BeautifulSoup(health_site.path("404.html").read_text(encoding="utf-8"), "html.parser")
    # a host serves 404.html at any depth: it must not depend on a relative stylesheet
    assert page.find("link", rel="stylesheet") is None and page.find("style") is not None


def test_no_directory_urls_or_absolute_links(health_site):
    for page in sorted(health_site.root.rglob("*.html")):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for node in soup.find_all(["a", "link", "img"]):
            target = node.get("href") or node.get("src")
            if not target or target.startswith(("#", "mailto:")):
                continue
            if target.startswith(("http:", "https:")):
                assert node.name == "a" and node.find_parent(class_="notes") is not None, f"{page}: {target}"
                continue
            assert not target.startswith("/") and not target.endswith("/"), f"{page}: {target}"
            assert target.split("#")[0].endswith((".html", ".css", ".svg", ".json")), f"{page}: {target}"


def test_rebuild_is_byte_identical(tmp_path):
    def digest(folder: Path) -> dict[str, str]:
        return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    pipeline.build(REPO / "content", tmp_path / "one")
    pipeline.build(REPO / "content", tmp_path / "two")
    first, second = digest(tmp_path / "one"), digest(tmp_path / "two")
    assert first == second
    for prefix in ("status/", "platform/", "badges/", "sources/"):
        assert any(name.startswith(prefix) for name in first), prefix
    assert ".nojekyll" in first and "sources.json" in first


def test_deploy_notes_exist():
    text = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    for needle in ("pages.yml", ".nojekyll", "404.html", "file://", "python build.py build"):
        assert needle in text, needle

"""The checks catch what they exist to catch: each runs on a copy of the site broken on purpose.

The copies live in /mutants/<name>/ on the sub-path server; every check here is the very function
the real tests use over the real pages.
"""
from __future__ import annotations

import re
import shutil

import pytest

from .helpers import (axe_violations, broken_links, page_links, sideways_scroll, status_label_problems,
                      stylesheet_applied, table_problems)

PAGE = "sources/tiktok-ads-france.html"


@pytest.fixture
def mutant(site_dir, www_dir, sub_server, request):
    """mutant({relpath: edit}) -> (folder, base URL): a copy of the built site with files edited."""
    made = []

    def make(edits: dict):
        name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-") + f"-{len(made)}"
        folder = www_dir / "mutants" / name
        shutil.copytree(site_dir, folder)
        made.append(folder)
        for rel, edit in edits.items():
            path = folder / rel
            before = path.read_text(encoding="utf-8")
            after = edit(before)
            assert after != before, f"the edit of {rel} changed nothing: the mutant would prove nothing"
            path.write_text(after, encoding="utf-8")
        return folder, f"{sub_server.origin}/mutants/{name}/"

    yield make
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


def _first_h2_to(level: int):
    def edit(text: str) -> str:
        return re.sub(r"<h2\b(.*?)</h2>", lambda m: f"<h{level}{m[1]}</h{level}>", text, count=1, flags=re.S)
    return edit


def _append_css(css: str):
    return lambda text: text + "\n" + css + "\n"


def test_axe_catches_a_heading_order_jump(tab, mutant):
    _, base = mutant({PAGE: _first_h2_to(4)})
    page, _ = tab.visit(base + PAGE, base, width=375)
    assert any(v.startswith("heading-order") for v in axe_violations(page))


def test_axe_catches_low_contrast_in_light_mode(tab, mutant):
    _, base = mutant({"assets/style.css": _append_css(".meta, .context { color: #b8bec6; }")})
    page, _ = tab.visit(base + PAGE, base, width=375)
    assert any(v.startswith("color-contrast") for v in axe_violations(page))


def test_dark_mode_contrast_check_catches_a_dark_only_regression(tab, mutant):
    _, base = mutant({"assets/style.css": _append_css(
        "@media (prefers-color-scheme: dark) { :root { --ok-fg: #1d3b27; } }")})
    page, _ = tab.visit(base + PAGE, base, color_scheme="light")
    assert not axe_violations(page, only_rules=["color-contrast"]), "the light scheme should still pass"
    page.emulate_media(color_scheme="dark")
    assert any(v.startswith("color-contrast") for v in axe_violations(page, only_rules=["color-contrast"]))


def test_print_check_catches_badges_that_vanish_on_paper(tab, mutant):
    _, base = mutant({"assets/style.css": _append_css("@media print { .badge { visibility: hidden; } }")})
    page, _ = tab.visit(base + PAGE, base, media="print")
    assert any("hidden" in p for p in status_label_problems(page))


def test_a_broken_stylesheet_path_fails_the_style_and_request_checks(tab, mutant, open_page):
    folder, base = mutant({PAGE: lambda t: t.replace("assets/style.css", "assets/styles.css")})
    page, watch = tab.visit(base + PAGE, base)
    assert not stylesheet_applied(page)
    assert any("404" in p and "styles.css" in p for p in watch.problems), watch.problems
    page, _ = open_page((folder / PAGE).as_uri(), "file://")
    assert not stylesheet_applied(page), "from file:// too"


def test_the_link_check_catches_a_broken_link_and_a_broken_fragment(tab, mutant):
    folder, base = mutant({
        "index.html": lambda t: t.replace('sources/tiktok-ads-france.html"', 'sources/tiktok-ads-franse.html"', 1),
        PAGE: lambda t: t.replace('href="#sync-history"', 'href="#sync-histroy"', 1),
    })
    page, _ = tab.visit(base + "index.html", base)
    assert any("tiktok-ads-franse.html: no such file" in p for p in broken_links(page_links(page), base, folder))
    page, _ = tab.visit(base + PAGE, base)
    assert any("no element with id 'sync-histroy'" in p for p in broken_links(page_links(page), base, folder))


def test_width_checks_catch_sideways_scroll_and_an_unboxed_table(tab, mutant):
    _, base = mutant({"assets/style.css": _append_css(
        ".site-footer .wrap { min-width: 40rem; } .table-scroll { overflow: visible; }")})
    page, _ = tab.visit(base + PAGE, base, width=375)
    assert sideways_scroll(page) > 0
    assert any("not inside a scrolling container" in p for p in table_problems(page))


def test_request_watch_catches_a_request_to_another_origin(tab, mutant):
    _, base = mutant({PAGE: lambda t: t.replace(
        "</head>", '<link rel="stylesheet" href="https://cdn.example.com/x.css">\n</head>', 1)})
    _, watch = tab.visit(base + PAGE, base)
    assert any("cdn.example.com" in p for p in watch.problems), "a stylesheet from another origin went unnoticed"
    _, watch = tab.visit(base + "index.html", base)
    assert not watch.problems, "the untouched page of the same copy must pass"


def test_nu_checker_catches_invalid_html(nu_results, nu_mutant):
    assert nu_results[str(nu_mutant.resolve())], "the Nu checker found nothing in a page with misnested tags"

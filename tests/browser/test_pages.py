"""Every built page, in Chromium: clean load, links, widths, axe (light, dark, print), the Nu checker."""
from __future__ import annotations

from .helpers import (WIDTHS, axe_violations, body_luminance, broken_links, page_links, sideways_scroll,
                      status_label_problems, stylesheet_applied, table_problems)


def test_loads_clean_links_resolve_and_fits_every_width(tab, server, site_dir, page_path):
    """No console error, no request elsewhere, no 4xx; the stylesheet applies; every link lands on a
    file (and #id); at 375, 768 and 1280 px nothing scrolls sideways and tables scroll in their own box."""
    page, watch = tab.visit(f"{server.origin}/{page_path}", server.origin, width=WIDTHS[0])
    problems = []
    assert stylesheet_applied(page), "the stylesheet is not in effect"
    problems += broken_links(page_links(page), server.origin + "/", site_dir)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        overflow = sideways_scroll(page)
        if overflow > 0:
            problems.append(f"{width}px: the page scrolls sideways by {overflow}px")
        problems += [f"{width}px: {p}" for p in table_problems(page)]
    problems += watch.problems  # everything logged while loading and resizing
    assert not problems, "\n".join(problems)


def test_axe_wcag22aa_on_a_phone(tab, server, page_path):
    """WCAG 2.2 A/AA (and heading order, landmarks, one h1) at 375 px, light scheme."""
    page, watch = tab.visit(f"{server.origin}/{page_path}", server.origin, width=375)
    violations = axe_violations(page)
    assert not violations, "\n".join(violations)
    assert not watch.problems, "\n".join(watch.problems)


def test_dark_mode_and_print_keep_every_status_readable(tab, server, page_path):
    """Dark scheme: applied, contrast holds, every badge shows. Print (from a light or a dark
    screen): print styles applied, every badge and chip still shows its text, contrast holds."""
    page, _ = tab.visit(f"{server.origin}/{page_path}", server.origin, width=1280, color_scheme="dark")
    problems = []
    if body_luminance(page) > 0.1:
        problems.append("dark: the dark scheme is not applied")
    contrast = axe_violations(page, only_rules=["color-contrast"])
    problems += [f"dark: {p}" for p in status_label_problems(page) + contrast]
    for scheme in ("light", "dark"):
        page.emulate_media(media="print", color_scheme=scheme)
        if page.evaluate("getComputedStyle(document.querySelector('.skip-link')).display") != "none":
            problems.append(f"print ({scheme} screen): the print styles are not applied")
        problems += [f"print ({scheme} screen): {p}" for p in
                     status_label_problems(page) + axe_violations(page, only_rules=["color-contrast"])]
    assert not problems, "\n".join(problems)


def test_nu_html_checker_finds_no_error(nu_results, site_dir, page_path):
    path = str((site_dir / page_path).resolve())
    assert path in nu_results
    assert not nu_results[path], "\n".join(nu_results[path])


def test_nu_html_checker_passes_the_stylesheets(nu_results, site_dir):
    css = {str(p.resolve()) for p in site_dir.rglob("*.css")}
    assert css, "no stylesheet was built"
    errors = [f"{path}: {e}" for path in sorted(css) for e in nu_results[path]]
    assert not errors, "\n".join(errors)


def test_nu_checker_reported_only_on_our_files(nu_results, site_dir, nu_mutant):
    expected = {str(p.resolve()) for p in [*site_dir.rglob("*.html"), *site_dir.rglob("*.css"), nu_mutant]}
    assert set(nu_results) == expected, "the checker reported on other files (or a non-document error)"

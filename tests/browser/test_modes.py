"""The site from file://, from a sub-path, and its in-page links, in Chromium."""
from __future__ import annotations

import re
from collections import deque

import pytest

from .conftest import SUB_PATH
from .helpers import broken_links, in_viewport, page_links, stylesheet_applied


def crawl(page, watch, start: str, base: str, root) -> tuple[list[str], list[str]]:
    """Follow every link under base from start; each page must load clean with the stylesheet applied."""
    seen, queue, problems = {start}, deque([start]), []
    while queue:
        url = queue.popleft()
        watch.problems.clear()
        page.goto(url, wait_until="load")
        if not stylesheet_applied(page):
            problems.append(f"{url}: the stylesheet is not in effect")
        links = page_links(page)
        problems += [f"{url}: {p}" for p in broken_links(links, base, root) + watch.problems]
        for link in links:
            link = link.split("#", 1)[0]
            if link.startswith(base) and link.endswith(".html") and link not in seen:
                seen.add(link)
                queue.append(link)
    return sorted(seen), problems


def test_site_works_from_file_urls(open_page, site_dir):
    """Open index.html from disk, follow a link to a source page: the stylesheet applies, nothing fails."""
    base = site_dir.as_uri() + "/"
    page, watch = open_page(base + "index.html", "file://")
    assert stylesheet_applied(page)
    page.locator('main a[href*="sources/"]').first.click()
    page.wait_for_load_state("load")
    assert re.search(r"/sources/[a-z0-9-]+\.html$", page.url), page.url
    assert stylesheet_applied(page), "the stylesheet is not applied on a source page opened from file://"
    assert page.locator("h1").first.inner_text().strip()
    assert not watch.problems, "\n".join(watch.problems)
    page.locator(".site-title").click()
    page.wait_for_load_state("load")
    assert page.url == base + "index.html"


def test_every_page_reachable_and_clean_from_file_urls(open_page, site_dir):
    base = site_dir.as_uri() + "/"
    page, watch = open_page(base + "index.html", "file://")
    seen, problems = crawl(page, watch, base + "index.html", base, site_dir)
    assert not problems, "\n".join(problems)
    built = {base + p.relative_to(site_dir).as_posix() for p in site_dir.rglob("*.html")} - {base + "404.html"}
    assert built <= set(seen), f"not reachable by links from index.html: {sorted(built - set(seen))}"


def test_every_page_works_under_a_sub_path(open_page, sub_server, www_dir):
    """Served as a GitHub Pages project site is, at /sub/path/: every page reachable, clean, styled,
    and nothing requested outside /sub/path/."""
    scope = f"{sub_server.origin}/{SUB_PATH}"
    page, watch = open_page(scope + "/index.html", scope)
    seen, problems = crawl(page, watch, scope + "/index.html", scope + "/", www_dir / SUB_PATH)
    assert not problems, "\n".join(problems)
    assert len(seen) >= len(list((www_dir / SUB_PATH).glob("sources/*.html"))) + 1
    page.goto(scope + "/404.html")
    assert stylesheet_applied(page), "404.html (inline stylesheet) is not styled under a sub-path"


def test_in_page_links_land_on_their_sections(tab, server, linked_page):
    """Every in-page link of every page, on a phone (where sections are furthest apart)."""
    page, watch = tab.visit(f"{server.origin}/{linked_page}", server.origin, width=375)
    links = page.locator('main a[href^="#"]')
    assert links.count() > 0
    problems = []
    for i in range(links.count()):
        link = links.nth(i)
        target = link.get_attribute("href")[1:]
        link.click()
        page.wait_for_function("(h) => location.hash === '#' + h", arg=target, timeout=3000)
        if not in_viewport(page, target):
            problems.append(f"#{target} ({link.inner_text()!r}) is not in the viewport after the click")
    problems += watch.problems
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("width", [375, 1280])
def test_open_sync_history_lands_on_sync_history(tab, server, width):
    """The reference page: the "Open sync history" action link scrolls its section into view."""
    page, _ = tab.visit(f"{server.origin}/sources/tiktok-ads-france.html", server.origin, width=width, height=600)
    page.get_by_role("link", name="Open sync history").click()
    page.wait_for_function("() => location.hash === '#sync-history'", timeout=3000)
    assert in_viewport(page, "sync-history")
    page.get_by_role("link", name="Open data quality").click()
    page.wait_for_function("() => location.hash === '#data-quality'", timeout=3000)
    assert in_viewport(page, "data-quality")


def test_skip_link_by_keyboard(tab, server):
    page, _ = tab.visit(f"{server.origin}/sources/tiktok-ads-france.html", server.origin, width=375)
    page.keyboard.press("Tab")
    focused = page.evaluate("""() => {
        const e = document.activeElement, r = e.getBoundingClientRect();
        return {href: e.getAttribute('href'), visible: r.left >= 0 && r.top >= 0 && r.width > 0};
    }""")
    assert focused["href"] == "#main" and focused["visible"], focused
    page.keyboard.press("Enter")
    page.wait_for_function("() => location.hash === '#main'", timeout=3000)
    assert page.evaluate("document.activeElement.id") == "main"

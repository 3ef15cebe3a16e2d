"""`contact-sheet` on a two-source fixture: screenshots at both widths, grouped by status, viewable."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

from bs4 import BeautifulSoup

from .conftest import SHIPPED
from .helpers import REPO, axe_violations, sideways_scroll

from healthsite import pipeline  # noqa: E402  (conftest put the repo on sys.path)
from healthsite.contact import png_size  # noqa: E402


def _two_sources(root):
    content = root / "content"
    shutil.copytree(SHIPPED, content)
    sources = content / "sources"
    reference = (sources / "tiktok-ads-france.yaml").read_text(encoding="utf-8")
    for path in sources.iterdir():
        path.unlink()
    (sources / "tiktok-ads-france.yaml").write_text(reference, encoding="utf-8")
    degraded = re.sub(r"^status: \w+", "status: degraded", reference, count=1, flags=re.M)
    degraded = degraded.replace("name: TikTok Ads France", "name: TikTok Ads Belgium").replace(
        "tt_7123456789_fr", "tt_7000000001_be")
    assert "status: degraded" in degraded and "Belgium" in degraded
    (sources / "tiktok-ads-belgium.yaml").write_text(degraded, encoding="utf-8")
    return content


def test_contact_sheet_for_two_sources(tmp_path, open_page):
    content = _two_sources(tmp_path)
    out = tmp_path / "sheet"
    proc = subprocess.run([sys.executable, str(REPO / "build.py"), "contact-sheet", "--content", str(content),
                           "--out", str(out)], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    index = out / "contact" / "index.html"
    assert "2 sources, 4 screenshots" in proc.stdout

    shots = sorted(p.name for p in (out / "contact" / "shots").iterdir())
    assert shots == ["tiktok-ads-belgium-desktop.png", "tiktok-ads-belgium-phone.png",
                     "tiktok-ads-france-desktop.png", "tiktok-ads-france-phone.png"]
    for name in shots:
        width, height = png_size(out / "contact" / "shots" / name)
        assert width == (1280 if "desktop" in name else 375) and height > 600, (name, width, height)

    soup = BeautifulSoup(index.read_text(encoding="utf-8"), "html.parser")
    groups = [(sec["id"], [f.find("strong").get_text() for f in sec.find_all("figure")])
              for sec in soup.find_all("section", class_="group")]
    france_status = re.search(r"^status: (\w+)", (content / "sources" / "tiktok-ads-france.yaml").read_text(),
                              re.M)[1]
    assert dict(groups) == {"status-degraded": ["TikTok Ads Belgium"], f"status-{france_status}": ["TikTok Ads France"]}
    statuses = pipeline.check(content).site.statuses
    assert [g for g, _ in groups] == [f"status-{st}" for st in statuses if f"status-{st}" in dict(groups)], \
        "groups follow the site's status order"
    for img in soup.find_all("img"):
        assert (out / "contact" / img["src"]).is_file()
        assert re.match(r"TikTok Ads (France|Belgium), (desktop|phone) \(\d+ px wide\)$", img["alt"])
        assert img.find_parent("a")["href"] == img["src"]

    # The sheet itself: opens from disk, needs nothing else, is accessible and fits a laptop screen.
    page, watch = open_page(index.as_uri(), "file://")
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert not watch.problems, "\n".join(watch.problems)
    assert sideways_scroll(page) <= 0
    assert not axe_violations(page)

    # Run again: contact/ is replaced whole.
    (content / "sources" / "tiktok-ads-belgium.yaml").unlink()
    proc = subprocess.run([sys.executable, str(REPO / "build.py"), "contact-sheet", "--content", str(content),
                           "--out", str(out)], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (out / "contact" / "shots").iterdir()) == [
        "tiktok-ads-france-desktop.png", "tiktok-ads-france-phone.png"]
    assert not [p for p in out.iterdir() if p.name != "contact"], "no staging folder left behind"


def test_contact_sheet_refuses_a_folder_it_did_not_make(tmp_path):
    content = _two_sources(tmp_path)
    (tmp_path / "sheet" / "contact").mkdir(parents=True)
    (tmp_path / "sheet" / "contact" / "notes.txt").write_text("mine", encoding="utf-8")
    proc = subprocess.run([sys.executable, str(REPO / "build.py"), "contact-sheet", "--content", str(content),
                           "--out", str(tmp_path / "sheet")], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1 and "not a contact sheet" in proc.stderr
    assert (tmp_path / "sheet" / "contact" / "notes.txt").read_text(encoding="utf-8") == "mine"

"""The HTML report in a real browser (Debian's Chromium, headless): links, images, console.

On the session's tiny real campaign (``campaigns.py``), the index page, every model report and one
replicate page are opened; every local link must resolve, every image must load, and the console
must stay free of errors. Screenshots are saved under outputs/test-artifacts/ for a person to look at.
"""

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "outputs" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="Chromium is not installed (make setup installs it)"
)]


@pytest.fixture(scope="module")
def campaign(tiny_campaign) -> Path:
    return tiny_campaign[1]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield chromium
        chromium.close()


def visit(browser, page_path: Path, screenshot: str | None = None) -> list[Path]:
    """Open a page; check console, images and local links; return the local pages it links to."""
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_path.as_uri())
    page.wait_for_load_state("load")
    assert not errors, f"console errors on {page_path.name}: {errors}"
    broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
    assert not broken, f"images that did not load on {page_path}: {broken}"
    remote = page.evaluate("""Array.from(document.querySelectorAll('script[src], link[href], img[src]'))
        .map(e => e.src || e.href).filter(u => u.startsWith('http'))""")
    assert not remote, f"{page_path.name} loads remote resources: {remote}"
    targets = []
    for href in page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"):
        url = urlparse(href)
        if url.scheme == "file":
            target = Path(unquote(url.path))
            assert target.is_file(), f"{page_path.name} links to a missing file: {target}"
            targets.append(target)
    if screenshot:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
    page.close()
    return targets


def test_index_models_and_a_replicate_open_cleanly(browser, campaign):
    linked = visit(browser, campaign / "index.html", screenshot="index.png")
    summaries = [p for p in linked if p.name == "summary.html"]
    assert {p.parent.name for p in summaries} == {"centered", "noncentered"}
    replicate_pages = []
    for summary in summaries:
        replicate_pages += [p for p in visit(browser, summary, screenshot=f"{summary.parent.name}.png")
                            if p.parent.name == "replicates" and p.suffix == ".html"]
    assert replicate_pages, "model reports link to no replicate page"
    visit(browser, replicate_pages[0], screenshot="replicate.png")
    assert (ARTIFACTS / "index.png").stat().st_size > 10_000


def test_worst_replicate_is_two_clicks_from_the_index(browser, campaign):
    """Index -> model report -> the worst replicate of the least calibrated quantity."""
    page = browser.new_page()
    page.goto((campaign / "index.html").as_uri())
    page.click("text=centered >> nth=0")
    page.wait_for_load_state("load")
    assert page.url.endswith("centered/summary.html")
    first_worst = page.locator("table.sortable").first.locator("tbody tr").first.locator("a")
    first_worst.click()
    page.wait_for_load_state("load")
    assert "/replicates/" in page.url and page.url.endswith(".html")
    assert "One SBC replicate" in page.content()
    page.close()

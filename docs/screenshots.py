"""Screenshots of a campaign's report for the README, taken in headless Chromium.

    .venv/bin/python docs/screenshots.py outputs/demo [--model centered]

writes docs/img/index.png (the campaign's index page) and docs/img/summary.png (the top of one
model's report: verdict, calibration table, first plots).
"""

import argparse
import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

IMAGES = Path(__file__).resolve().parent / "img"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("campaign_dir", type=Path)
    parser.add_argument("--model", default="centered", help="whose summary.html to capture")
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    pages = {"index.png": (args.campaign_dir / "index.html", None),
             "summary.png": (args.campaign_dir / args.model / "summary.html", 1800)}
    IMAGES.mkdir(exist_ok=True)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": args.width, "height": 900})
        for name, (html, height) in pages.items():
            page.goto(html.resolve().as_uri())
            page.wait_for_load_state("load")
            clip = {"x": 0, "y": 0, "width": args.width, "height": height} if height else None
            page.screenshot(path=str(IMAGES / name), full_page=True, clip=clip)
            print(IMAGES / name)
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

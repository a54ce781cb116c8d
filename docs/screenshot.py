"""Take the README's screenshot of the page: an answered question with its highlighted source.

    make serve &                      # the page over the demo index on port 8000
    .venv/bin/python docs/screenshot.py http://127.0.0.1:8000 docs/page.png
"""

from __future__ import annotations

import sys

from playwright.sync_api import sync_playwright

QUESTION = "Who invented packet switching?"


def main(base: str, out: str) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1000, "height": 1000}, device_scale_factor=1)
        page.goto(base + "/")
        page.fill("#question", QUESTION)
        page.keyboard.press("Enter")
        page.wait_for_selector("#history > li[data-state=done]", timeout=120_000)
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=out, full_page=False)
        browser.close()


if __name__ == "__main__":
    main(*(sys.argv[1:3] if len(sys.argv) > 2 else ("http://127.0.0.1:8000", "docs/page.png")))

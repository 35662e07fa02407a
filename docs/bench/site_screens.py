"""The README's screenshots of the site, taken in headless chromium (Debian's) from a build:

- a chapter page (chapter 4, the losses: its text, a cell and what the cell printed):
  docs/images/site_chapter.jpg;
- an annotated module (nst_jax/paper/losses.py at its Gram matrix: notes beside code):
  docs/images/site_module.jpg.

    python docs/build.py && python docs/bench/site_screens.py [--site docs/_build/full/html]
"""

import argparse
from pathlib import Path

from web_screens import ARGS, HERE, shoot

DOCS = Path(__file__).resolve().parents[1]
# the file -> (the page, the text the window starts at)
PAGES = {
    "site_chapter.jpg": ("tutorials/04_losses.html", "The Gram matrix"),
    "site_module.jpg": ("nst_jax/paper/losses.html", "G_ij = sum_k F_ik F_jk"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", type=Path, default=DOCS / "_build" / "full" / "html", help="the built site")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, args=ARGS + ["--no-first-run"])
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        for name, (path, text) in PAGES.items():
            page.goto((a.site / path).resolve().as_uri())
            page.get_by_text(text).first.evaluate("e => e.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(1500)  # (MathJax typesets)
            shoot(page, HERE / name, full_page=False)  # the window, as a reader sees it
        browser.close()


if __name__ == "__main__":
    main()

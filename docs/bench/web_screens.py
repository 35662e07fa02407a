"""The README's screenshots, taken in headless chromium with the real weights:

- the `--web` preview of the bundled demo at 256 px, once the run has gone some way, then
  stopped from the page: docs/images/web_preview.jpg (the 1280x800 page);
- the studio (`serve`) after two runs of the cat (The Starry Night, then The Scream at
  twice the style weight), compared side by side: docs/images/web_studio.jpg.

    python docs/bench/web_screens.py --weights FILE [--chromium /usr/bin/chromium]
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parents[1] / "images"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def shoot(page, out: Path, full_page: bool = True) -> None:
    shot = out.with_suffix(".png")
    page.screenshot(path=str(shot), full_page=full_page)
    Image.open(shot).convert("RGB").save(out, quality=80, optimize=True)
    shot.unlink()
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")


def studio(browser, weights: str, folder: str) -> None:
    argv = [sys.executable, "-m", "nst_jax", "serve", "--port", "0", "--folder", folder, "--weights", weights]
    run = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    assert run.stderr is not None
    url = next(line.split()[1] for line in run.stderr if line.startswith("studio: "))
    page = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900}).new_page()
    page.goto(url)
    page.wait_for_selector("#styles img")
    page.fill("#iters", "100")
    done = "document.querySelectorAll('#gallery .run').length == {n} && document.getElementById('status').textContent === 'done'"
    page.click("#start")
    page.wait_for_function(done.format(n=1), timeout=600_000)
    page.click("#styles img >> nth=2")  # (The Scream, and The Starry Night unticked)
    page.click("#styles img >> nth=0")
    twice = "e => { e.value = '0.30103'; e.dispatchEvent(new Event('input')); }"  # (10^0.3)
    page.eval_on_selector("#style-factor", twice)
    page.click("#start")
    page.wait_for_function(done.format(n=2), timeout=600_000)
    page.wait_for_timeout(2500)  # (the gallery's next refresh)
    for tick in page.locator("#gallery input[type=checkbox]").all():
        tick.check()
    page.wait_for_timeout(500)
    shoot(page, HERE / "web_studio.jpg")
    run.send_signal(2)
    run.wait(timeout=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        argv = [sys.executable, "-m", "nst_jax", "--size", "256", "--iters", "400", "--verbose", "--quiet"]
        argv += ["--weights", args.weights, "-o", f"{folder}/out.png", "--web", "0"]
        run = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        assert run.stderr is not None
        url = next(line.split()[1] for line in run.stderr if line.startswith("preview: "))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=[*ARGS, "--no-first-run"])
            page = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 800}).new_page()
            page.goto(url)
            page.wait_for_function(
                "Number(document.getElementById('image').dataset.picture) >= 12", timeout=600_000
            )
            page.wait_for_timeout(300)
            shoot(page, HERE / "web_preview.jpg")
            page.click("#stop")
            run.wait(timeout=300)
            studio(browser, args.weights, f"{folder}/studio")
            browser.close()


if __name__ == "__main__":
    main()

"""The README's screenshot of the `--web` preview: the bundled demo at 256 px (three
scales' worth of iterations at one scale), shown in headless chromium once the run has
gone some way, then stopped from the page.

    python docs/bench/web_screens.py --weights FILE [--chromium /usr/bin/chromium]

Writes docs/images/web_preview.jpg (the 1280x800 page, JPEG quality 88).
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parents[1] / "images"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


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
            shot = Path(folder) / "shot.png"
            page.screenshot(path=str(shot))
            page.click("#stop")
            run.wait(timeout=300)
            browser.close()
        out = HERE / "web_preview.jpg"
        Image.open(shot).convert("RGB").save(out, quality=88, optimize=True)
        print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()

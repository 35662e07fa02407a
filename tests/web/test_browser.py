"""The pages in a real browser: Debian's chromium (installed by .ci/run), headless,
driven by Playwright. `python -m nst_jax ... --web 0` runs in a subprocess as a user
would start it; the browser watches it and presses Stop.

Without chromium these skip, except in CI (CI set), where they fail: CI must run them."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from photos import photos
from PIL import Image

pytest.importorskip("aiohttp")
pytest.importorskip("playwright")

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",  # (as root in CI's containers)
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip(f"no {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def page(browser):
    # bypass_csp: Playwright's own waits evaluate script text, which the pages' policy forbids
    return browser.new_context(bypass_csp=True, viewport={"width": 1200, "height": 800}).new_page()


def start(argv, said="preview: "):
    """The command in a subprocess, and the URL it printed (on the line starting `said`)."""
    p = subprocess.Popen(
        [sys.executable, "-m", "nst_jax", *map(str, argv)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stderr is not None
    for line in p.stderr:
        if line.startswith(said):
            return p, line.split()[1]
    raise AssertionError(f"no {said!r} line; exit {p.wait()}: {p.stdout.read() if p.stdout else ''}")


def wait_picture(pg, number: int, timeout: int) -> None:
    pg.wait_for_function(
        f"Number(document.getElementById('image').dataset.picture) >= {number}", timeout=timeout
    )


def look(pg):
    """(the image's number, the plot's points, what the image and the plot look like)."""
    picture = int(pg.get_attribute("#image", "data-picture") or 0)
    points = int(pg.get_attribute("#plot", "data-points") or 0)
    return picture, points, pg.locator("#image").screenshot(), pg.locator("#plot").screenshot()


def test_the_preview_shows_the_run_and_stops_it(browser, small_vgg16, photo, painting, tmp_path):
    out = tmp_path / "out.png"
    run, url = start(
        [photo, painting, "--weights", small_vgg16, "--size", "40", "--iters", "100000", "--chunk", "5"]
        + ["--web", "0", "-o", out, "--quiet"]
    )
    try:
        one, two = page(browser), page(browser)  # two pages: both see the same run
        one.goto(url)
        two.goto(url)
        wait_picture(one, 2, 120_000)
        first = look(one)
        wait_picture(one, first[0] + 3, 60_000)
        later = look(one)
        assert later[1] > first[1] and later[2] != first[2] and later[3] != first[3]  # (changed, grown)
        wait_picture(two, later[0], 30_000)
        assert "40×" in one.inner_text("#scale") and "it/s" in one.inner_text("#speed")
        assert "plan:" in one.inner_text("#plan")
        assert "photo.png in the style of painting.png" in one.inner_text("#title")
        one.click("#stop")
        assert run.wait(timeout=120) == 130  # as after Ctrl-C
        assert out.exists()
        two.wait_for_function("document.getElementById('status').textContent.startsWith('interrupted')")
        assert "wrote" in two.inner_text("#message")
    finally:
        run.kill()
        run.wait()


def test_a_page_left_open_does_not_keep_the_command(browser, small_vgg16, photo, painting, tmp_path):
    """The run ends on its own with a page open: the page says so; the command exits 0."""
    out = tmp_path / "out.png"
    run, url = start(
        [photo, painting, "--weights", small_vgg16, "--size", "40", "--iters", "30"]
        + ["--web", "0", "-o", out, "--quiet"]
    )
    pg = page(browser)
    pg.goto(url)
    assert run.wait(timeout=120) == 0 and out.exists()
    t = time.perf_counter()
    pg.wait_for_function("document.getElementById('status').textContent.startsWith('done')", timeout=30_000)
    assert time.perf_counter() - t < 30
    assert "30 iterations" in pg.inner_text("#message")


def test_a_batch_shows_its_entries_and_their_images(browser, small_vgg16, painting, tmp_path):
    """`batch --web`: every entry with its state, a thumbnail once its image is written;
    Stop leaves the rest pending (the manifest says so) and exits 130."""
    contents = photos(tmp_path / "in", 4)
    out = tmp_path / "out"
    run, url = start(
        ["batch", *contents, "--style", painting, "-o", out, "--batch-size", "1", "--weights", small_vgg16]
        + ["--size", "32", "--iters", "300", "--chunk", "5", "--web", "0", "--quiet"]
    )
    try:
        pg = page(browser)
        pg.goto(url)
        pg.wait_for_function(
            "[...document.querySelectorAll('#items figure.done img')].some((i) => i.naturalWidth > 0)",
            timeout=120_000,
        )
        captions = pg.locator("#items figcaption").all_inner_texts()
        assert len(captions) == 4 and any(c.endswith(": done") for c in captions)
        assert "done" in pg.inner_text("#items-title")
        pg.click("#stop")
        assert run.wait(timeout=120) == 130
        manifest = json.loads((out / "manifest.json").read_text())
        states = [e["state"] for e in manifest["items"].values()]
        assert "done" in states and "pending" in states
    finally:
        run.kill()
        run.wait()


def test_the_studio_uploads_runs_and_offers_the_result(browser, small_vgg16, photo, painting, tmp_path):
    """`serve`: two images uploaded, a run started and seen to finish, a second page that
    sees the same run, the gallery's download; Ctrl-C ends the studio with 130."""
    studio, url = start(
        ["serve", "--port", "0", "--folder", tmp_path / "studio", "--weights", small_vgg16], "studio: "
    )
    try:
        pg = page(browser)
        pg.goto(url)
        pg.wait_for_selector("#contents img")
        pg.set_input_files("#upload-content", str(photo))
        pg.wait_for_function("document.querySelectorAll('#contents img').length == 5")
        pg.set_input_files("#upload-style", str(painting))
        pg.wait_for_function("document.querySelectorAll('#styles img.chosen').length == 2")
        pg.click("#styles img >> nth=0")  # (the example style unticked: the upload alone)
        pg.fill("#size", "40")
        pg.fill("#iters", "30")
        pg.click("#start")
        pg.wait_for_function("document.getElementById('status').textContent === 'done'", timeout=120_000)
        assert pg.inner_text("#title") == "photo.png in the style of painting.png"
        other = page(browser)  # (opened later: it watches the latest run)
        other.goto(url)
        other.wait_for_function("document.getElementById('status').textContent === 'done'")
        assert other.inner_text("#title") == pg.inner_text("#title")
        assert int(other.get_attribute("#plot", "data-points") or 0) == 31  # (iterations 0..30)
        with pg.expect_download() as download:
            pg.click("#gallery .run a:text('Download')")
        assert download.value.suggested_filename.startswith("nst_jax_")
        saved = tmp_path / "downloaded.png"
        download.value.save_as(saved)
        assert Image.open(saved).size == (40, 32)
        studio.send_signal(signal.SIGINT)
        assert studio.wait(timeout=60) == 130
    finally:
        studio.kill()
        studio.wait()

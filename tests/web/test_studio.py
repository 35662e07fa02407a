"""`serve`'s studio without a browser: uploads (good, hostile, oversized), requests that try
to leave the folder, options refused, runs queued one at a time with their results, logs
and scores, a queued run cancelled, a restarted studio finding its runs."""

import io
import json
import time

import numpy as np
import pytest
from PIL import Image
from test_preview import http

from nst_jax.cli import app as cli
from nst_jax.errors import NstError
from nst_jax.web import runs as rn
from nst_jax.web import server
from nst_jax.web.studio import StudioApp

pytest.importorskip("aiohttp")
POST = {server.HEADER: "1"}


def png(a: np.ndarray, mode=None) -> bytes:
    out = io.BytesIO()
    Image.fromarray(a, mode).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def studio(tmp_path, small_vgg16):
    """(the studio over tmp_path/studio, its URL), served on a free port of 127.0.0.1."""
    s = rn.Studio(tmp_path / "studio", str(small_vgg16))
    sock = server.bind(server.parse_address("0"))
    background = server.Background(StudioApp(s, str(small_vgg16)).make(None, True), sock)
    yield s, server.url(server.parse_address("0"), sock, None)
    s.close()
    background.close()


def upload(url, data: bytes, name="photo.jpg"):
    status, _, body = http(f"{url}api/uploads?name={name}", "POST", POST, data)
    return status, (json.loads(body) if status == 200 else body.decode())


def start(url, **asked):
    body = json.dumps(dict({"content": "example:chelsea.jpg", "styles": ["example:the_scream.jpg"]}, **asked))
    status, _, answer = http(
        url + "api/runs", "POST", dict(POST, **{"Content-Type": "application/json"}), body.encode()
    )
    return status, (json.loads(answer) if status == 200 else answer.decode())


def wait(url, key, states=rn.ENDED, seconds=120):
    t = time.perf_counter()
    while time.perf_counter() - t < seconds:
        run = next(r for r in json.loads(http(url + "api/runs")[2]) if r["id"] == key)
        if run["state"] in states:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {key} still {run['state']}")


def test_uploads_good_and_hostile(studio, tmp_path):
    s, url = studio
    rgb = np.random.default_rng(0).integers(0, 255, (30, 40, 3), np.uint8)
    status, kept = upload(url, png(rgb), name="../../etc/my%20photo.jpg")
    assert status == 200 and (kept["width"], kept["height"]) == (40, 30)
    assert kept["name"] == "my_photo.png"  # (its own name, safe characters only, in its own folder)
    assert (tmp_path / "studio" / "uploads" / kept["id"] / "my_photo.png").is_file()
    status, _, body = http(f"{url}api/uploads/{kept['id']}.png")
    assert status == 200 and np.array_equal(np.asarray(Image.open(io.BytesIO(body))), rgb)  # (lossless)
    # 16-bit and alpha: decoded as a file would be (16-bit scaled, alpha dropped)
    deep = (np.arange(1200, dtype=np.uint16).reshape(30, 40) * 50).astype(np.uint16)
    assert upload(url, png(deep))[0] == 200
    assert upload(url, png(np.zeros((8, 8, 4), np.uint8)))[0] == 200
    for data, why in [
        (b"GIF89a not really", "the upload is not an image Pillow can read"),
        (b"", "the upload"),
        (png(np.zeros((20_000, 20_000), bool)), "too large to decode"),  # (a bomb: 400 Mpx of 1 bit)
    ]:
        status, answer = upload(url, data)
        assert status == 400 and answer.count("\n") == 1 and "; " in answer and why in answer, answer
        assert "/" not in answer.split(";")[0], answer  # (no path of the server's)
    status, _, _ = http(f"{url}api/uploads?name=x", "POST", POST, b"\0" * (rn.UPLOAD_BYTES + 1))
    assert status == 413  # (too large: refused before it is read whole)
    assert len(list((tmp_path / "studio" / "uploads").iterdir())) == 3  # (nothing kept of the refused)


def test_no_request_leaves_the_folder(studio, tmp_path):
    s, url = studio
    (tmp_path / "secret.png").write_bytes(png(np.zeros((4, 4, 3), np.uint8)))
    for path in [
        "api/uploads/..%2F..%2Fsecret.png",
        "api/uploads/../../secret.png",
        "api/example/..%2F..%2Fconfig.py",
        "api/example/ATTRIBUTION.md",
        "api/runs/..%2F..%2Fsecret/output.png",
        "api/runs/20260101-000000-abcdef/output.png",
        "static/..%2Fruns.py",
    ]:
        assert http(url + path)[0] == 404, path
    for ref in ["../secret.png", str(tmp_path / "secret.png"), "example:../../config.py", "0" * 32]:
        status, answer = start(url, content=ref)
        assert status == 400 and "no image" in answer, (ref, answer)


def test_options_refused_in_one_line(studio):
    s, url = studio
    for asked, why in [
        (dict(options={"weights": "/etc/passwd"}), "unknown option"),
        (dict(options={"size": "huge"}), "not a number"),
        (dict(options={"size": 10_000}), "size 10000 and iters 200 must be"),
        (dict(options={"style_loss": "fancy"}), "style"),
        (dict(style_factor=1e9), "style weight factor"),
        (dict(styles=[]), "no STYLE image chosen"),
    ]:
        status, answer = start(url, **asked)
        assert status == 400 and answer.count("\n") == 1 and "; " in answer and why in answer, answer
    assert http(url + "api/runs", "POST", POST, b"{not json")[0] == 400
    assert s.listing() == []


def test_runs_queue_one_at_a_time_and_keep_their_results(studio, tmp_path):
    s, url = studio
    options = {"size": 32, "iters": 3}
    first = start(url, options=options)[1]
    second = start(url, options=options, styles=["example:the_scream.jpg", "example:shipwreck.jpg"])[1]
    long = start(url, options=dict(options, iters=10_000))[1]
    queued = start(url, options=options)[1]
    assert [r["state"] for r in s.listing()][1:] == ["queued"] * 3  # (one runs; the rest wait)
    assert http(f"{url}api/runs/{queued['id']}/stop", "POST", POST, b"")[0] == 200
    assert json.loads(http(f"{url}api/runs/{queued['id']}/state")[2])["status"] == "cancelled"
    wait(url, long["id"], ("running",))
    assert http(f"{url}api/runs/{long['id']}/stop", "POST", POST, b"")[0] == 200
    a, b, c = (wait(url, r["id"]) for r in (first, second, long))
    assert (
        wait(url, queued["id"])["state"] == "cancelled"
        and not (tmp_path / "studio/runs" / queued["id"] / "output.png").exists()
    )
    assert (a["state"], b["state"], c["state"]) == ("done", "done", "interrupted")
    assert a["ended"] <= b["started"] and b["ended"] <= c["started"]  # one at a time, in order
    assert (
        a["summary"]["iterations"] == 3
        and set(a["score"]) >= {"content", "style"}
        and b["names"][1:] == ["the_scream.jpg", "shipwreck.jpg"]
    )
    assert 0 < c["summary"]["iterations"] < 10_000
    status, headers, body = http(f"{url}api/runs/{a['id']}/output.png")
    assert status == 200 and f'filename="nst_jax_{a["id"]}.png"' in headers["Content-Disposition"]
    assert Image.open(io.BytesIO(body)).size[0] == 32
    log = json.loads(http(f"{url}api/runs/{a['id']}/log.json")[2])
    assert log["summary"]["score"] == a["score"] and len(log["history"]) == 4
    state = json.loads(http(f"{url}api/runs/{a['id']}/state")[2])
    assert state["status"] == "done" and state["picture"] > 0
    # the style weight: the slider's factor times the model's default at this size
    factor = start(url, options=options, style_factor=2.0)[1]
    assert factor["options"]["style_weight"] == pytest.approx(2 * a["options"]["style_weight"])
    wait(url, factor["id"])


def test_a_restarted_studio_finds_its_runs(tmp_path, small_vgg16):
    folder = tmp_path / "studio"
    s = rn.Studio(folder, str(small_vgg16))
    done = s.add("example:chelsea.jpg", ["example:the_scream.jpg"], {"size": 32, "iters": 2})
    queued = s.add("example:chelsea.jpg", ["example:the_scream.jpg"], {"size": 32, "iters": 2})
    while done.record["state"] != "done":
        time.sleep(0.05)
    s.close()  # (the queued one is cancelled, or stopped if it began)
    assert queued.record["state"] in ("cancelled", "interrupted", "done")
    record = json.loads((done.folder / "run.json").read_text())
    assert record["state"] == "done"
    (folder / "runs" / "20260101-000000-abcdef").mkdir()
    (folder / "runs" / "20260101-000000-abcdef" / "run.json").write_text(
        json.dumps(dict(record, id="20260101-000000-abcdef", state="running", created=0))
    )
    again = rn.Studio(folder, str(small_vgg16))
    states = {r["id"]: r["state"] for r in again.listing()}
    assert states == {
        "20260101-000000-abcdef": "interrupted",
        done.id: "done",
        queued.id: queued.record["state"],
    }
    again.close()


def test_serve_refuses_in_one_line(capsys, tmp_path, monkeypatch):
    def fails(argv, match):
        assert cli.main([str(a) for a in argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and match in err, err

    (tmp_path / "file").write_text("x")
    fails(["serve", "--folder", tmp_path / "file", "--port", "0"], "is a file; give a folder")
    fails(["serve", "--port", "eighty"], "--port expects [HOST:]PORT")
    fails(["serve", "--port", "0", "--folder", tmp_path / "s", "--weights", tmp_path / "none.h5"], "none.h5")
    monkeypatch.setitem(__import__("sys").modules, "aiohttp", None)
    fails(["serve", "--port", "0"], "pip install 'nst_jax[web]'")
    with pytest.raises(NstError, match="no image"):
        rn.image_source(tmp_path, "example:nothing.jpg")

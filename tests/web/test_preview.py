"""--web's server without a browser: the board's state and images over HTTP, the guards
(token, Host, POST header, static names), a page closed mid-run, the port in use, and a
tiny real run watched and stopped through the server."""

import io
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from nst_jax.cli import app as cli
from nst_jax.errors import NstError
from nst_jax.run.stylize import stylize
from nst_jax.web import server
from nst_jax.web.preview import preview

pytest.importorskip("aiohttp")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # (never a proxy for localhost)


def http(url, method="GET", headers=None, data=None, timeout=30):
    """(status, headers, body) of one request; errors are answers too."""
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with OPENER.open(request, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def state(url, **query):
    import json

    status, _, body = http(url + "state?" + "&".join(f"{k}={v}" for k, v in query.items()))
    assert status == 200, body
    return json.loads(body)


@pytest.fixture
def shown():
    """(board, its URL) served on a free port of 127.0.0.1."""
    with preview("0") as board:
        assert board is not None and board.url is not None
        yield board, board.url


def test_the_page_state_and_image(shown):
    board, url = shown
    status, headers, body = http(url)
    assert status == 200 and b"<canvas" in body and headers["Content-Type"].startswith("text/html")
    assert headers["X-Frame-Options"] == "DENY" and "default-src 'self'" in headers["Content-Security-Policy"]
    for name in ("preview.js", "plot.js", "style.css", "icon.svg"):
        assert http(url + "static/" + name)[0] == 200, name
    assert http(url + "image.jpg")[0] == 404  # (nothing shown yet)
    board.planned("plan: a line")
    board.start("a in the style of b", [[8, 6, 20]])
    x = np.zeros((6, 8, 3), np.float32)
    for i in range(1, 4):
        board.row({"iteration": i, "seconds": 0.1 * i, "total": 10.0 / i})
    board.show(3, x, lambda v: v + 200.0)
    x[:] = 7.0  # (the board kept a copy: the run may reuse its array)
    s = state(url)
    assert s["title"] == "a in the style of b" and s["plan"] == "plan: a line"
    assert s["iteration"] == 3 and s["picture"] == 1 and [r["total"] for r in s["rows"]] == [10, 5, 10 / 3]
    status, headers, body = http(url + "image.jpg")
    image = np.asarray(Image.open(io.BytesIO(body)))
    # JPEG is lossy: a flat image comes back within a few levels (quality 90)
    assert status == 200 and image.shape == (6, 8, 3) and np.abs(image.astype(int) - 200).max() <= 3
    # only the rows a page lacks; all of them again after a reset (the next image of a batch)
    assert state(url, epoch=s["epoch"], since=2)["rows"] == s["rows"][2:]
    board.start("the next", [[8, 6, 20]])
    later = state(url, epoch=s["epoch"], since=3)
    assert later["reset"] and later["rows"] == [] and later["epoch"] == s["epoch"] + 1


def test_a_waiting_request_answers_at_the_next_change(shown):
    board, url = shown
    v = state(url)["version"]
    threading.Timer(0.5, lambda: board.show(1, np.zeros((2, 2, 3)), lambda v: v)).start()
    t = time.perf_counter()
    s = state(url, after=v)
    # it waited for the change (0.5 s), not for the 20 s timeout
    assert s["version"] > v and s["picture"] == 1 and 0.3 < time.perf_counter() - t < 10


def test_a_page_closed_mid_request_harms_nothing(shown):
    board, url = shown
    port = int(url.rsplit(":", 1)[1].strip("/"))
    for _ in range(3):  # pages that ask for the next change, then go away
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET /state?after=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    board.show(1, np.zeros((2, 2, 3)), lambda v: v)
    assert state(url)["picture"] == 1 and http(url + "image.jpg")[0] == 200


def test_the_guards(shown):
    board, url = shown
    assert http(url + "static/../preview.py")[0] == 404  # (only the static folder's files, by name)
    assert http(url + "static/..%2Fpreview.py")[0] == 404
    assert http(url + "static/%2E%2E%2Fserver.py")[0] == 404
    assert http(url + "static/__init__.py")[0] == 404
    assert http(url + "state?after=x")[0] == 400
    # another site's page cannot post (no header without a CORS preflight, never granted)
    assert http(url + "stop", "POST", data=b"")[0] == 403 and not board.stop_asked
    assert http(url, headers={"Host": "evil.example:80"})[0] == 403  # (DNS rebinding)
    assert http(url + "stop", "POST", {server.HEADER: "1"}, b"")[0] == 200 and board.stop_asked
    assert state(url)["status"] == "stopping"


def test_a_token_when_bound_beyond_localhost():
    with preview("0.0.0.0:0") as board:
        assert board is not None and board.url is not None and "?token=" in board.url
        base, token = board.url.split("?token=")
        port = base.rsplit(":", 1)[1].strip("/")
        local = f"http://127.0.0.1:{port}/"
        assert http(local)[0] == 403 and http(local + "state")[0] == 403
        assert http(local + "?token=wrong")[0] == 403
        status, headers, _ = http(local + "?token=" + token)
        assert status == 200 and f"nst_jax_token={token}" in headers["Set-Cookie"]
        assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
        # the page's own requests carry the cookie instead
        assert http(local + "state", headers={"Cookie": f"nst_jax_token={token}"})[0] == 200
        assert http(local + "state", headers={"Cookie": "nst_jax_token=guess"})[0] == 403


def test_addresses_and_ports():
    assert server.parse_address("8080") == ("127.0.0.1", 8080)
    assert server.parse_address("0.0.0.0:80") == ("0.0.0.0", 80)
    assert server.parse_address("[::1]:0") == ("::1", 0)
    for bad in ("", "http", "70000", "host:", "-1"):
        with pytest.raises(NstError, match="expects \\[HOST:\\]PORT"):
            server.parse_address(bad)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            NstError, match=f"port {port} of 127.0.0.1 is in use; choose another, e.g. --web [0-9]+"
        ):
            server.bind(server.parse_address(str(port)))


def test_command_line_errors(capsys, monkeypatch, photo, painting):
    def fails(argv, match):
        assert cli.main([str(a) for a in argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and match in err, err

    fails([photo, painting, "--open"], "--open opens the --web page; give --web PORT too")
    fails([photo, painting, "--web", "localhost:http"], "--web expects [HOST:]PORT")
    monkeypatch.setitem(__import__("sys").modules, "aiohttp", None)  # (as if the extra were not installed)
    fails([photo, painting, "--web", "0"], "pip install 'nst_jax[web]'")


def test_a_run_watched_then_stopped_through_the_server(small_vgg16, photo, painting, tmp_path):
    """A tiny real run: the page's numbers grow chunk by chunk, each image differs, and
    the page's Stop ends it as Ctrl-C does: the result so far written."""
    seen, out = [], tmp_path / "out.png"

    def watch(url):
        s = {"version": -1}
        while len(seen) < 4 and s.get("status") not in ("done", "interrupted", "failed"):
            s = state(url, after=s["version"])
            if s["picture"] > (seen[-1][0] if seen else 0):
                body = http(url + "image.jpg")[2]
                seen.append((s["picture"], s["iteration"], len(s["rows"]), body))
        http(url + "stop", "POST", {server.HEADER: "1"}, b"")

    with preview("0") as board:
        assert board is not None
        watcher = threading.Thread(target=watch, args=(board.url,))
        watcher.start()
        options = dict(weights=small_vgg16, size=40, iters=10_000, chunk=3, progress=False)
        r = stylize(photo, painting, out, board=board, **options)
        watcher.join()
        end = board.snapshot()
    assert r.info["stop"] == "interrupted" and r.info["signal"] == "SIGINT" and out.exists()
    assert r.info["iterations"] < 10_000 and end["status"] == "interrupted" and "wrote" in end["message"]
    iterations = [it for _, it, _, _ in seen]
    assert len(seen) >= 3 and iterations == sorted(iterations) and iterations[0] < iterations[-1]
    assert len({body for *_, body in seen}) == len(seen)  # a new image each time
    # the last picture is the image written
    written = np.asarray(Image.open(out).convert("RGB"), np.float32)
    last = board.picture()[1]
    assert last is not None and np.array_equal(last, written.astype(np.uint8))

"""`--web [HOST:]PORT`: a page showing a run as it runs (style-transfer-pytorch's `--web`,
grown: every term plotted, the plan, the time left, a Stop button, a batch's entries).

    GET  /           the page: static/preview.html, .js, .css (no build step, no CDN)
    GET  /state      the run's board (run/board.py) as JSON; `?after=V` waits up to 20 s
                     for a change past version V (a long poll: the page learns of each
                     chunk at once, and nothing is sent while nothing changes);
                     `?epoch=E&since=N`: only the history rows the page lacks
    GET  /image.jpg  the latest image, as JPEG, converted here (never in the run's thread),
                     once per image, however many pages ask
    GET  /thumb/I.jpg  a batch's or film's entry I as written, small
    POST /stop       what Ctrl-C does: the chunk finishes, the result so far is written,
                     the command exits with 130

The run never waits for the page: it leaves its numbers and a copy of its array on the
board and goes on (`python -m nst_jax bench web` measures it).
"""

import contextlib
import io
import sys
import time
import webbrowser
from typing import Dict, Iterator, Optional, Tuple

from ..errors import NstError
from ..run.board import Board
from . import server

WAIT = 20.0  # seconds a /state request waits for a change (then answers anyway)
LINGER = 2.0  # seconds the server stays, at the end, for a watching page to fetch the last image


def encode(rgb, quality: int = 90) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=quality)
    return out.getvalue()


class Watch:
    """The preview's handlers over one board, and what the end waits for."""

    def __init__(self, board: Board):
        self.board = board
        self.pulse: server.Pulse  # (set by the app: the server's event loop)
        self.jpeg = (0, b"")  # (picture number, its JPEG): the last encoding
        self.thumbs: Dict[int, Tuple[int, bytes]] = {}  # entry -> (its number, its JPEG)
        self.last_request = 0.0  # time.monotonic() of the last request: is a page watching?

    def _picture(self):
        number, rgb = self.board.picture()
        if rgb is not None and self.jpeg[0] != number:
            self.jpeg = (number, encode(rgb))
        return self.jpeg

    async def page(self, request):
        self.last_request = time.monotonic()
        return server.static("preview.html")

    async def static(self, request):
        return server.static(request.match_info["name"])

    async def state(self, request):
        from aiohttp import web

        self.last_request = time.monotonic()
        q = request.query
        try:
            after, epoch, since = int(q.get("after", -1)), int(q.get("epoch", -1)), int(q.get("since", 0))
        except ValueError:
            raise web.HTTPBadRequest(text="after, epoch and since are integers\n") from None
        await self.pulse.wait(lambda: self.board.version > after, WAIT)
        return web.json_response(self.board.snapshot(since, epoch))

    async def image(self, request):
        from aiohttp import web

        self.last_request = time.monotonic()
        number, jpeg = await self.pulse.loop.run_in_executor(None, self._picture)
        if not jpeg:
            raise web.HTTPNotFound(text="no image yet\n")
        return web.Response(body=jpeg, content_type="image/jpeg", headers={"X-Picture": str(number)})

    def _thumb(self, index: int):
        number, rgb = self.board.thumbnail(index)
        if rgb is not None and self.thumbs.get(index, (0,))[0] != number:
            self.thumbs[index] = (number, encode(rgb, 85))
        return self.thumbs.get(index, (0, b""))

    async def thumb(self, request):
        from aiohttp import web

        index = request.match_info["index"]
        if not index.isdecimal():
            raise web.HTTPNotFound()
        _, jpeg = await self.pulse.loop.run_in_executor(None, self._thumb, int(index))
        if not jpeg:
            raise web.HTTPNotFound(text="no such image\n")
        # (its URL names its version: kept by the browser, fetched once)
        return web.Response(
            body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
        )

    async def stop(self, request):
        from aiohttp import web

        self.board.ask_stop()
        return web.json_response({"stopping": True})

    def linger(self) -> None:
        """At the end: while a page watched in the last minute, a moment for it to fetch the
        last image (the run is over; this is the server's last act)."""
        if time.monotonic() - self.last_request > 60:
            return
        until = time.monotonic() + LINGER
        while self.jpeg[0] < self.board.pictures and time.monotonic() < until:
            time.sleep(0.05)


def preview_app(watch: Watch, token: Optional[str], loopback: bool):
    """make_app(loop) for server.Background: the preview's routes over watch's board."""
    from aiohttp import web

    def make(loop):
        watch.pulse = server.Pulse(loop)
        watch.board.listen(watch.pulse)
        app = web.Application(middlewares=[server.guard(token, loopback)])
        app.router.add_get("/", watch.page)
        app.router.add_get("/static/{name}", watch.static)
        app.router.add_get("/state", watch.state)
        app.router.add_get("/image.jpg", watch.image)
        app.router.add_get("/thumb/{index}.jpg", watch.thumb)
        app.router.add_post("/stop", watch.stop)
        return app

    return make


@contextlib.contextmanager
def preview(
    where: Optional[str], open_browser: bool = False, kind: str = "image"
) -> Iterator[Optional[Board]]:
    """The board of a command's run, served at `where` ([HOST:]PORT) while the block runs;
    None (and nothing served) when `where` is None. Prints the URL; `open_browser`: opens
    it in the system's browser."""
    if where is None:
        if open_browser:
            raise NstError("--open opens the --web page; give --web PORT too (e.g. --web 8080 --open)")
        yield None
        return
    server.need_aiohttp()
    address = server.parse_address(where)
    sock = server.bind(address)
    token = server.new_token(address)
    board = Board(kind)
    watch = Watch(board)
    background = server.Background(preview_app(watch, token, address.loopback), sock)
    link = board.url = server.url(address, sock, token)
    print(f"preview: {link} (its Stop button does what Ctrl-C does)", file=sys.stderr, flush=True)
    if open_browser:
        webbrowser.open(link)
    try:
        yield board
    except BaseException as e:  # the page tells it too; the command line prints it
        if not board.ended:
            failed = isinstance(e, (NstError, MemoryError, OSError))
            board.end("failed" if failed else "interrupted", str(e) if failed else "stopped before the end")
        raise
    finally:
        watch.linger()
        background.close()

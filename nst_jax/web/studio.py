"""`python -m nst_jax serve`: the studio, a local page to choose images and options, start
runs, watch them (the preview's view, web/preview.py) and compare and download results.

    GET  /                            the page: static/studio.html, .js (and the preview's)
    GET  /api/setup                   the examples, the backbones whose weights are here,
                                      the choices and defaults of each option
    GET  /api/example/NAME            a bundled example image
    POST /api/uploads?name=N          an image (the request's body; at most runs.UPLOAD_BYTES)
    GET  /api/uploads/ID.png          an upload, as kept
    GET  /api/runs                    every run: state, options, summary, score
    POST /api/runs                    {content, styles, options, style_factor}: a run queued
    GET  /api/runs/ID/state           its board, as the preview's /state (long-polled)
    GET  /api/runs/ID/image.jpg       its latest image
    GET  /api/runs/ID/output.png      the result, as a download; log.json: its log
    POST /api/runs/ID/stop            a queued run cancelled, a running one stopped

The runs and the folder are runs.py; the server, its guards and token are server.py.
"""

import sys
import time
import webbrowser
from pathlib import Path
from typing import Dict, Optional

from ..config import SIZE, Config
from ..errors import NstError
from ..io import files, image_files, signals
from . import runs as rn
from . import server
from .preview import Watch


def setup(studio: rn.Studio) -> Dict:
    """What the page offers: the examples, the backbones (the weights' own first), each
    option's choices and default."""
    fields = Config.__dataclass_fields__
    names = ("style_loss", "preserve_colors", "optimizer", "model")
    return {
        "contents": [f"example:{n}" for n in rn.CONTENTS],
        "styles": [f"example:{n}" for n in rn.STYLES],
        "model": studio.model,  # (the weights found hold it; another needs its own file)
        "choices": {k: [c for c in fields[k].metadata["choices"] if c != "scipy-lbfgsb"] for k in names},
        "defaults": dict({k: fields[k].default for k in ("iters", "style_loss", "optimizer")}, size=SIZE),
        "upload_bytes": rn.UPLOAD_BYTES,
    }


class StudioApp:
    """The routes over a Studio."""

    def __init__(self, studio: rn.Studio, weights: Optional[str]):
        self.studio, self.weights = studio, weights
        self.watches: Dict[str, Watch] = {}  # run id -> its board's handlers
        self.pulse: server.Pulse

    def watch(self, request) -> Watch:
        run = self._run(request)
        if run.id not in self.watches:
            w = Watch(run.board)
            w.pulse = self.pulse
            run.board.listen(self.pulse)
            self.watches[run.id] = w
        return self.watches[run.id]

    def _run(self, request) -> rn.Run:
        from aiohttp import web

        try:
            return self.studio.get(request.match_info["id"])
        except NstError as e:
            raise web.HTTPNotFound(text=f"{e}\n") from None

    async def page(self, request):
        return server.static("studio.html")

    async def static(self, request):
        return server.static(request.match_info["name"])

    async def setup(self, request):
        from aiohttp import web

        return web.json_response(setup(self.studio))

    async def example(self, request):
        from aiohttp import web

        name = request.match_info["name"]
        if name not in rn.CONTENTS + rn.STYLES:
            raise web.HTTPNotFound()
        return web.FileResponse(image_files.DATA / name, headers={"Cache-Control": "max-age=86400"})

    async def upload(self, request):
        from aiohttp import web

        data = await request.read()  # (at most client_max_size: a larger body is 413)
        try:
            name = request.query.get("name", "")
            kept = await self.pulse.loop.run_in_executor(None, rn.keep_upload, self.studio.folder, data, name)
        except NstError as e:
            raise web.HTTPBadRequest(text=f"{e}\n") from None
        return web.json_response(kept)

    async def uploaded(self, request):
        from aiohttp import web

        try:
            return web.FileResponse(rn.image_source(self.studio.folder, request.match_info["id"]))
        except NstError:
            raise web.HTTPNotFound() from None

    async def listing(self, request):
        from aiohttp import web

        return web.json_response(self.studio.listing())

    async def start(self, request):
        from aiohttp import web

        try:
            asked = await request.json()
            run = self.studio.add(
                str(asked["content"]), [str(s) for s in asked["styles"]], dict(asked.get("options", {})),
                asked.get("style_factor", 1.0),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise web.HTTPBadRequest(text=f"a run needs JSON {{content, styles, options}} ({e})\n") from None
        except NstError as e:
            raise web.HTTPBadRequest(text=f"{e}\n") from None
        return web.json_response(run.view())

    async def state(self, request):
        return await self.watch(request).state(request)

    async def image(self, request):
        return await self.watch(request).image(request)

    async def result(self, request):
        from aiohttp import web

        run, name = self._run(request), request.match_info["file"]
        path = run.folder / name
        if name not in ("output.png", "log.json") or not path.is_file():
            raise web.HTTPNotFound(text="no such file (yet)\n")
        download = f"nst_jax_{run.id}{path.suffix}"
        return web.FileResponse(path, headers={"Content-Disposition": f'attachment; filename="{download}"'})

    async def stop(self, request):
        from aiohttp import web

        self.studio.stop(self._run(request).id)
        return web.json_response({"stopping": True})

    def make(self, token: Optional[str], loopback: bool):
        from aiohttp import web

        def make(loop):
            self.pulse = server.Pulse(loop)
            app = web.Application(
                middlewares=[server.guard(token, loopback)], client_max_size=rn.UPLOAD_BYTES
            )
            get, post = app.router.add_get, app.router.add_post
            get("/", self.page)
            get("/static/{name}", self.static)
            get("/api/setup", self.setup)
            get("/api/example/{name}", self.example)
            post("/api/uploads", self.upload)
            get("/api/uploads/{id}.png", self.uploaded)
            get("/api/runs", self.listing)
            post("/api/runs", self.start)
            get("/api/runs/{id}/state", self.state)
            get("/api/runs/{id}/image.jpg", self.image)
            get("/api/runs/{id}/{file}", self.result)
            post("/api/runs/{id}/stop", self.stop)
            return app

        return make


def serve(folder: str, where: str, weights: Optional[str], open_browser: bool) -> int:
    """The studio at `where` ([HOST:]PORT) over `folder` until Ctrl-C or SIGTERM; then the
    running run is stopped as Ctrl-C stops one (its image written), and 130 or 143."""
    server.need_aiohttp()
    address = server.parse_address(where, "--port")
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise NstError(f"--folder {files.show(out)} is a file; give a folder (made if missing)")
    sock = server.bind(address, "--port")
    token = server.new_token(address)
    studio = rn.Studio(out, weights)
    background = server.Background(StudioApp(studio, weights).make(token, address.loopback), sock)
    link = server.url(address, sock, token)
    print(
        f"studio: {link} (runs and results in {files.show(out)}; Ctrl-C to end)", file=sys.stderr, flush=True
    )
    if open_browser:
        webbrowser.open(link)
    try:
        while True:
            time.sleep(3600)
    except signals.Stopped as e:
        print(f"{e.name}: stopping the running run (its image is written), then ending", file=sys.stderr)
        studio.close()
        return e.status
    finally:
        background.close()

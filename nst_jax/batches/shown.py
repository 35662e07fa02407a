"""What a batch shows on a board (run/board.py; `batch --web`): every entry with its state
and, once written, its image; each batch's first image as it runs, with its rows; the
end's line. With no board, each of these does nothing."""

from typing import Callable, List, Optional

import numpy as np

from ..io import files
from ..run.board import Board, scales_of
from ..run.monitor import BatchMonitor
from ..run.stylize import as_shown
from .manifest import Item, Manifest


class Shown:
    def __init__(self, board: Optional[Board], template, manifest: Manifest, items: List[Item]):
        """Every entry on the board (the ones done before with their images), and each state
        the manifest records from now on."""
        self.board, self.folder = board, manifest.folder
        if board is None:
            return
        board.planned(template.describe())
        board.items(
            [it.name for it in items], ["done" if manifest.finished(it) else "pending" for it in items]
        )
        for it in items:
            if manifest.finished(it):
                board.item(it.name, "done", manifest.folder / it.name)
        manifest.on_set = lambda name, state: board.item(
            name, state, manifest.folder / name if state == "done" else None
        )

    def batch(self, names: List[str], job, real: int, flag, bar, items: int) -> Callable:
        """A batch of `real` images (`names`: this process's) starts: its entries running,
        its first image the one shown. Returns watch(k, steps, colors): scale k's monitor."""
        if self.board is not None:
            title = f"{names[0]}, the first of {real} in this batch" if names else ""
            self.board.start(title, scales_of(job))
            for name in names:
                self.board.item(name, "running")

        def watch(k: int, steps, colors) -> BatchMonitor:
            if self.board is None:
                return BatchMonitor(steps, flag, bar, items, real)
            self.board.scale(k)
            to_rgb = lambda xs: as_shown(job, np.asarray(xs)[0], colors)  # (a shard's; colours put back)
            return BatchMonitor(steps, flag, bar, items, real, to_rgb, self.board)

        return watch

    def end(self, done: List[str], failed, pending: List[str], signal: Optional[str]) -> None:
        if self.board is not None:
            line = (
                f"{len(done)} of {len(done) + len(failed) + len(pending)} images done, {len(failed)} failed, "
            )
            manifest = files.show(self.folder / "manifest.json")
            self.board.end("interrupted" if signal else "done", f"{line}{len(pending)} pending; {manifest}")

"""A film's output folder and its record: where the stylized frames go (checked before any
work) and what a rerun of the same command goes on from (OUTDIR/video.json)."""

import json
from pathlib import Path
from typing import Dict, List

from ..errors import NstError
from ..io import files
from .frames import is_gif, is_video, need_av

RECORD = "video.json"


def outputs(frames_in, output):
    """(the folder of stylized frames, the GIF or video file or None), checked before any
    work: not the input, a folder if it exists, PyAV at hand for a video."""
    src = Path(frames_in)
    kind = src.suffix if is_gif(src) or is_video(src) else ""  # (by default: what came in)
    out = Path(output) if output is not None else src.parent / f"{src.stem}_stylized{kind}"
    film = out if is_gif(out) or is_video(out) else None
    if film is not None:
        if is_video(film):
            need_av(film, "writing")
        files.check_output(film, "film", mode=None)
        out = film.parent / f"{film.stem}_frames"
    if out.exists() and not out.is_dir():
        raise NstError(
            f"{files.show(out)} is a file; give a folder (or a .gif or video file) for the stylized frames (-o)"
        )
    for mine in (film, out):
        if mine is not None and mine.resolve() == src.resolve():
            raise NstError(f"{files.show(mine)} is the input; give another -o for the stylized frames")
    return out, film


def resume(folder: Path, said: Dict) -> List[Dict]:
    """The records of the frames an earlier run of the same command wrote (none if new)."""
    path = folder / RECORD
    if not path.is_file():
        return []
    old = json.loads(path.read_text())
    frames = old.pop("frames", [])
    old.pop("pass_records", None)  # (--passes: the passes done)
    if json.loads(json.dumps(said)) != old:
        raise NstError(
            f"{files.show(folder)} holds frames made with other options; give another -o, or remove it to start again"
        )
    kept = []
    for r in frames:  # (in order: the frames up to the first one missing)
        if not (folder / r["file"]).is_file():
            break
        kept.append(r)
    return kept


def passes_record(folder: Path, said: Dict, kept: List[Dict], n: int) -> Dict:
    """With --passes: the record to go on from (the passes an earlier run finished, if it
    left every frame), or a new one."""
    if len(kept) < n:
        return dict(said)
    return dict(
        said, frames=kept, pass_records=json.loads((folder / RECORD).read_text()).get("pass_records", [])
    )

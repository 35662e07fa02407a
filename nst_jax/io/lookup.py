"""Where a network's weights come from: the lookup order, the checksum-verified download, resolve.

    --weights PATH, then $NST_JAX_WEIGHTS, then the repository's weights/ folder, then the
    user cache (weights.cache_dir), else a download of Keras' file into the user cache

(`python -m nst_jax weights` prints this list with what it finds). The package knows no
other place: the CI machines' shared folder reaches the tests through $NST_JAX_WEIGHTS.
"""

import os
import sys
import urllib.request
from pathlib import Path
from typing import List, Optional, Tuple

from ..errors import NstError
from ..paper.backbones import NAMES, get
from .files import StrPath, atomic_write, check_input
from .weights import Params, cache_dir, file_hash, load_weights

# each backbone's Keras *_notop.h5 file, where Keras downloads it, and its md5 (backbones.py)
FILENAMES = {m: get(m).filename for m in NAMES}
URLS = {m: get(m).url for m in NAMES}
MD5 = {m: get(m).md5 for m in NAMES}
REPO_WEIGHTS = Path(__file__).resolve().parent.parent.parent / "weights"  # the repository's weights/


def search_path(model: Optional[str] = None) -> List[Tuple[str, Path]]:
    """Where weights are looked for, in order (after --weights): [(what, file path)]."""
    models = [model] if model else list(NAMES)
    places = []
    if os.environ.get("NST_JAX_WEIGHTS"):
        places.append(("$NST_JAX_WEIGHTS", Path(os.environ["NST_JAX_WEIGHTS"])))
    for what, folder in (("repo weights/", REPO_WEIGHTS), ("user cache", cache_dir())):
        places += [(what, folder / FILENAMES[m]) for m in models]
    return places


def find_weights(explicit: Optional[StrPath] = None, model: Optional[str] = None) -> Optional[Path]:
    """--weights, then $NST_JAX_WEIGHTS, repo weights/, the user cache; else None."""
    if explicit is not None:
        return check_input(explicit, "weights file")
    for what, p in search_path(model):
        if what == "$NST_JAX_WEIGHTS":
            try:
                return check_input(p, "weights file")
            except NstError as e:
                why = str(e).split("; ")[0]
                raise NstError(f"NST_JAX_WEIGHTS is set, but {why}; fix or unset NST_JAX_WEIGHTS") from None
        if p.is_file():
            return p
    return None


def download(
    model: str,
    dest_dir: Optional[StrPath] = None,
    url: Optional[str] = None,
    expected_md5: Optional[str] = None,
    progress: bool = True,
) -> Path:
    """Fetch Keras' file to a temporary file, verify its md5, then rename it into place
    (files.atomic_write: an interrupted download leaves nothing)."""
    from tqdm import tqdm

    url = url or URLS[model]
    expected_md5 = expected_md5 or MD5[model]
    dest_dir = Path(dest_dir) if dest_dir else cache_dir()
    dest = dest_dir / FILENAMES[model]
    by_hand = URLS[model]  # what to do when the download fails: fetch it by hand
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NstError(
            f"cannot create {dest_dir} ({e.strerror}); download {by_hand} by hand, then pass --weights PATH"
        ) from None

    def fetch(tmp: str) -> None:  # into the temporary file, verified before the rename
        with urllib.request.urlopen(url, timeout=30) as r, open(tmp, "wb") as out:
            total = int(r.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                while block := r.read(1 << 20):
                    out.write(block)
                    bar.update(len(block))
        got = file_hash(tmp, "md5")
        if got != expected_md5:
            raise NstError(
                f"downloaded {dest.name} has md5 {got}, expected {expected_md5} (corrupt or changed); "
                f"download {by_hand} by hand, then pass --weights PATH"
            )

    try:
        atomic_write(dest, fetch)
    except NstError:
        raise
    except (OSError, ValueError) as e:  # URLError, timeouts, disk full, bad URL
        raise NstError(
            f"could not download {url} ({getattr(e, 'reason', e)}); download {by_hand} by hand, then pass --weights PATH"
        ) from None
    return dest


def resolve(
    explicit: Optional[StrPath] = None,
    model: Optional[str] = None,
    allow_download: bool = True,
    progress: bool = True,
) -> Tuple[str, Params, Path]:
    """The whole lookup: find (or download) a file, load it -> (model, params, path)."""
    path = find_weights(explicit, model)
    if path is None:
        want = model or NAMES[0]
        if not allow_download:
            raise NstError(
                f"no {want.upper()} weights found; pass --weights PATH (see `python -m nst_jax weights`)"
            )
        print(f"no weights found locally; downloading {want.upper()} to {cache_dir()}", file=sys.stderr)
        path = download(want, progress=progress)
    m, params = load_weights(path, model)
    return m, params, path

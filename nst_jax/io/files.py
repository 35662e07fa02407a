"""Every file nst_jax reads or writes, checked before the work and written atomically.

    check_input(path, what)            a regular file that exists and can be opened
    check_output(path, what, kind)     folder exists and is writable, name not too long,
                                       the format can be written (a 1x1 image encoded)
    check_apart(outputs, inputs)       no output is an input (resolved path and inode)
    check_outputs(outputs, inputs)     both, for every output of a command, and no two
                                       outputs the same file: what each command calls
    atomic_write(path, write)          write(tmp) then rename: the old file or the new one
    land(what, path, write)            an atomic write, or its result kept in a fallback
    write_kept(writes)                 file: None, or the problem naming where it is kept;
                                       write_kept raises one error for all that failed
    remove_temporaries(folder, names)  what atomic writes of these names left when killed
    tentative_folder(path)             a folder made for the checks, removed if they refuse

Errors are one-line `NstError`s: what is wrong with which path (`show`: quoted when it
holds a newline or other control character), then what to do.
"""

import contextlib
import errno
import io
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from ..errors import NstError

StrPath = Union[str, os.PathLike]  # a file's path
KINDS = {".json": "json", ".npz": "npz"}  # the non-image outputs, by extension
NAME_MAX = 255  # bytes per path component (Linux, macOS); os.pathconf is asked first


def show(path: Any) -> str:
    """A path as a message shows it: as is, or repr() when it holds control characters
    (a newline would split the one-line error)."""
    s = str(path)
    return repr(s) if any(ord(c) < 32 or ord(c) == 127 for c in s) else s


def exists(path: StrPath) -> bool:
    """Path.exists that says False, not OSError, to a name too long or a folder-less path."""
    try:
        os.stat(path)
        return True
    except (OSError, ValueError):
        return False


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder if folder.is_dir() else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        return NAME_MAX


def _check_name(p: Path, what: str) -> None:
    limit = _name_max(p.parent)
    for part in p.parts:
        if len(os.fsencode(part)) > limit:
            raise NstError(
                f"{what} {show(part[:40])}... is a file name of {len(os.fsencode(part))} bytes, "
                f"over the limit of {limit}; choose a shorter name"
            )


def _stat_error(e: OSError, p: Path, what: str) -> NstError:
    if e.errno == errno.ENAMETOOLONG:
        return NstError(f"{what} {show(str(p)[:40])}...: the path is too long; choose a shorter name")
    if e.errno in (errno.EACCES, errno.EPERM):
        return NstError(f"cannot read {what} {show(p)}: permission denied; check its permissions")
    if e.errno == errno.ENOTDIR:
        return NstError(f"{what} not found: {show(p)} (a folder in it is a file); check the path")
    if e.errno == errno.ELOOP:
        return NstError(f"{what} {show(p)} is a symbolic link loop; check the path")
    return NstError(f"cannot read {what} {show(p)} ({e.strerror}); check the path")


def check_input(path: StrPath, what: str = "image") -> Path:
    """`path` as a Path if it is a regular file (FIFOs and devices would block or never
    end); else a one-line NstError naming the problem."""
    p = Path(path)
    _check_name(p, what)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise NstError(f"{what} not found: {show(p)}; check the path") from None
    except OSError as e:
        raise _stat_error(e, p, what) from None
    if stat.S_ISDIR(st.st_mode):
        thing = what if what.endswith("file") else f"{what} file"  # an image file, a weights file
        thing = ("an " if thing[:1] in "aeiou" else "a ") + thing
        raise NstError(f"{show(p)} is a folder, not {thing}; give {thing}")
    if not stat.S_ISREG(st.st_mode):
        raise NstError(
            f"{what} {show(p)} is not a regular file (a pipe, socket or device); "
            "give a file on disk (copy a stream to a file first)"
        )
    return p


def check_output(path: StrPath, what: str = "output", mode: Optional[str] = "RGB") -> Path:
    """Fail before any work unless `path` can be written: its folder exists and is
    writable, its name is not too long, it is no folder or special file, and its
    format can be written (.json, .npz; an image: a 1x1 `mode` image is encoded;
    mode None: the caller checks the format)."""
    if not str(path).strip():
        raise NstError(f"{what} is an empty name; give a file name, e.g. out{'.png' if mode else '.json'}")
    p = Path(path)
    _check_name(p, what)
    try:
        st: Optional[os.stat_result] = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _stat_error(e, p, what) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise NstError(
            f"{what} {show(p)} is a folder; give a file name such as {show(p / ('out' + (p.suffix.lower() or '.png')))}"
        )
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise NstError(f"{what} {show(p)} is not a regular file (a pipe or device); choose another path")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise NstError(f"{what} folder {show(folder)} does not exist; create it or choose another path")
    try:  # a real probe: os.access says yes to root even on read-only folders
        fd, probe = tempfile.mkstemp(prefix=".nst_jax_probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise NstError(
            f"{what} folder {show(folder)} is not writable ({e.strerror}); choose another path"
        ) from None
    if mode is not None:
        _check_format(p, what, mode)
    return p


def _check_format(p: Path, what: str, mode: str) -> None:
    ext = p.suffix.lower()
    if ext in KINDS:
        return
    from PIL import Image

    fmt = Image.registered_extensions().get(ext)
    if fmt is None:
        raise NstError(
            f"cannot tell the image format of {what} {show(p)} from its extension; use .png or .jpg"
        )
    try:  # Pillow reads some formats it cannot write (.psd, .xbm in colour, .h5)
        Image.new(mode, (1, 1)).save(io.BytesIO(), format=fmt)
    except (KeyError, OSError, ValueError):
        alpha = " with an alpha channel (the content image has one)" if mode == "RGBA" else ""
        raise NstError(
            f"Pillow cannot write {ext} images{alpha}; write {what} {show(p.with_suffix('.png'))}"
        ) from None


def _identity(path: Path) -> Optional[Tuple[int, int]]:
    try:
        st = os.stat(path)
        return st.st_dev, st.st_ino
    except OSError:
        return None


def check_apart(outputs: Iterable[Tuple[str, Path]], inputs: Iterable[Tuple[str, Any]]) -> None:
    """No output (what, path) is an input (what, path; arrays and PIL images skipped),
    by resolved path or, for files that exist, by inode (hard and symbolic links)."""
    ins = [
        (what, Path(src), Path(src).resolve(), _identity(Path(src)))
        for what, src in inputs
        if isinstance(src, (str, os.PathLike)) and str(src)
    ]
    for out_what, out in outputs:
        resolved, ident = out.resolve(), _identity(out)
        for what, src, src_resolved, src_ident in ins:
            if resolved == src_resolved or (ident is not None and ident == src_ident):
                raise NstError(
                    f"{out_what} {show(out)} is the {what} {show(src)}; "
                    "refusing to overwrite it: choose another output path"
                )


def check_outputs(
    outputs: Sequence[Tuple[str, Optional[StrPath], Optional[str]]], inputs: Iterable[Tuple[str, Any]]
) -> List[Optional[Path]]:
    """The one check of a command's outputs, before any work: each (what, path, mode) given
    (path not None; an empty one is refused) passes check_output (mode None: any format,
    e.g. JSON), no two are the same file, and none is an input (check_apart). Returns the
    paths, in order."""
    checked = [None if path is None else check_output(path, what, mode) for what, path, mode in outputs]
    named = [(what, path) for (what, _, _), path in zip(outputs, checked) if path is not None]
    for k, (what, path) in enumerate(named):
        for other, earlier in named[:k]:
            ident = _identity(path)  # (hard links: one file, two names)
            if path.resolve() == earlier.resolve() or (ident is not None and ident == _identity(earlier)):
                raise NstError(f"{other} and {what} are both {show(path)}; give them different paths")
    check_apart(named, inputs)
    return checked


@contextlib.contextmanager
def tentative_folder(path: Path) -> Iterator[Path]:
    """Make the folder `path` (and its missing parents) for the checks that need it to
    exist; if they refuse (an exception leaves the block), remove the folders made here
    again, so that a refused command leaves no trace. Nothing is written inside meanwhile."""
    made, p = [], path
    while not exists(p) and p != p.parent:  # the missing ones, deepest first
        made.append(p)
        p = p.parent
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        for folder in made:
            try:
                folder.rmdir()  # (empty: never one the user had)
            except OSError:
                break
        raise


def atomic_write(path: StrPath, write: Callable[[str], Any]) -> None:
    """Call write(tmp_path) then rename onto `path`, so that a crash or a kill at any
    moment leaves the old file or the new one, never part of one."""
    p = Path(path)
    prefix, suffix = _temporary(p)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=p.parent or ".")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())  # on disk before the rename makes it visible
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _temporary(path: Path) -> Tuple[str, str]:  # atomic_write's temporary file: (prefix, suffix)
    return f".{path.name[:200]}.", ".tmp" + path.suffix


def remove_temporaries(folder: Path, names: Iterable[str]) -> None:
    """Remove what atomic_write left in `folder` for these names when killed (SIGKILL runs
    no cleanup); only while no other process writes them."""
    wanted = {_temporary(folder / n) for n in names}
    for p in folder.iterdir() if folder.is_dir() else []:
        if any(p.name.startswith(a) and p.name.endswith(b) and len(p.name) > len(a + b) for a, b in wanted):
            p.unlink(missing_ok=True)


def fallback_path(path: Path) -> Path:
    """Where a result whose write failed is kept: the temporary folder, a fresh name."""
    fd, tmp = tempfile.mkstemp(prefix=f"nst_jax.{path.stem[:100]}.", suffix=path.suffix)
    os.close(fd)
    return Path(tmp)


Write = Tuple[str, Path, Callable[[str], Any]]  # (what, path, write(tmp_path))


def json_writer(value: Any) -> Callable[[str], Any]:
    """write(tmp_path) of `value` as indented JSON (encoded now, so a bad value fails first)."""
    text = json.dumps(value, indent=1)
    return lambda tmp: Path(tmp).write_text(text)


def land(what: str, path: Path, write: Callable[[str], Any]) -> Optional[str]:
    """One atomic write; if it fails (a full disk), the result written to a fallback file
    instead. None when it landed, else the problem in words, naming where it is kept."""
    try:
        atomic_write(path, write)
        return None
    except OSError as e:
        reason = e.strerror or str(e)
    try:
        kept = fallback_path(path)
        atomic_write(kept, write)
        return f"could not write {what} {show(path)} ({reason}), kept it in {show(kept)}"
    except OSError as e:
        return f"could not write {what} {show(path)} ({reason}) nor a copy in {show(tempfile.gettempdir())} ({e.strerror})"


def write_kept(writes: Sequence[Write]) -> None:
    """Every write `land`ed; once all were tried, one NstError names each that failed and
    where it is kept."""
    problems = [p for what, path, write in writes if (p := land(what, path, write)) is not None]
    if problems:
        then = "move the kept files into place" if all("kept it in" in p for p in problems) else "run again"
        raise NstError(f"{'; '.join(problems)}; free some space, then {then}")

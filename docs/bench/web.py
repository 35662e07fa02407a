"""The README's `--web` table: does the preview slow a run? The same run three ways, in
turn, ROUNDS times: without `--web`; with `--web` and nobody watching; with `--web` and
a watcher asking as the page does (the next change of /state, long-polled, and each new
/image.jpg: every chunk's image converted and encoded in the server's thread).

    python docs/bench/web.py [--size 256] [--iters 100] [--rounds 3] [--weights FILE]

Each run is `python -m nst_jax` (the bundled demo pair) in a fresh process; the figure is
its loop's seconds as its log records them (`summary.seconds`: start-up, loading and
compilation left out), so that the comparison is of the iterations themselves.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def watch(url: str, done: threading.Event, counts: list) -> None:
    """What the page does: wait for each change, fetch each new image."""
    version, picture = -1, 0
    while not done.is_set():
        try:
            with OPENER.open(f"{url}state?after={version}&epoch=0&since=1000000", timeout=30) as r:
                s = json.load(r)
            version = s["version"]
            if s["picture"] > picture:
                picture = s["picture"]
                with OPENER.open(f"{url}image.jpg", timeout=30) as r:
                    counts.append(len(r.read()))
        except OSError:
            return


def run(args, web: bool, watched: bool, folder: Path) -> float:
    log = folder / "log.json"
    argv = [sys.executable, "-m", "nst_jax", "--size", str(args.size), "--iters", str(args.iters)]
    argv += ["--quiet", "-o", str(folder / "out.png"), "--log", str(log)]
    argv += ["--weights", args.weights] if args.weights else []
    argv += ["--web", "0"] if web else []
    p = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    done, counts = threading.Event(), []
    assert p.stderr is not None
    if web:
        url = next(line.split()[1] for line in p.stderr if line.startswith("preview: "))
        if watched:
            threading.Thread(target=watch, args=(url, done, counts), daemon=True).start()
    p.communicate()
    done.set()
    if p.returncode:
        raise SystemExit(f"{' '.join(argv)} exited {p.returncode}")
    if watched and not counts:
        raise SystemExit("the watcher saw no image")
    return json.loads(log.read_text())["summary"]["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--weights", default=None)
    args = ap.parse_args()
    ways = {
        "without --web": (False, False),
        "--web, nobody watching": (True, False),
        "--web, a page watching": (True, True),
    }
    seconds: dict = {way: [] for way in ways}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            for way, (web, watched) in ways.items():
                seconds[way].append(run(args, web, watched, Path(folder)))
    print(f"| {args.size} px, {args.iters} iterations | loop seconds: median (min-max) of {args.rounds} |")
    print("|---|---|")
    for way, s in seconds.items():
        print(f"| {way} | {statistics.median(s):.2f} ({min(s):.2f}-{max(s):.2f}) |")


if __name__ == "__main__":
    main()

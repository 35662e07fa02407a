"""The browser pages: a live preview of any run (`--web`), and the studio (`serve`).

    server.py   aiohttp on a thread of its own: the address, the port, the token, the guards
    preview.py  `--web [HOST:]PORT`: the run's board (run/board.py) as a page, with Stop
    runs.py     the studio's runs: uploads checked and kept, a queue, results under a folder
    studio.py   `serve`: the studio's routes, the page that starts, watches and compares runs
    static/     the pages themselves: plain HTML, JavaScript and CSS, no build step, no CDN

aiohttp is the optional extra `web` (pip install 'nst_jax[web]'); nothing here is
imported unless a page is asked for. May import: errors, config, paper, optimizers, io,
fast, run.
"""

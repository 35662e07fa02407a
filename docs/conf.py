"""Sphinx's configuration for the site `python docs/build.py` builds (see its docstring).

The sources are staged by build.py; what this file reads from the environment it sets:
NST_DOCS_CACHE (where executed chapters are cached, one folder per mode).
"""

import os

project = "nst_jax"
author = "the nst_jax authors"
copyright = "the nst_jax authors, MIT license"
# sphinx-mathjax-offline: MathJax served from the site itself, so the equations render
# without the network (a reader offline, the screenshots' headless chromium)
extensions = ["myst_nb", "sphinx-mathjax-offline"]
html_theme = "furo"
html_title = "nst_jax"
html_static_path = ["_static"]
html_css_files = ["annotated.css"]

# MyST: ::: fences (the annotated pages' columns), $math$ (the chapters' equations), and
# links to headings by their GitHub slugs, as the chapters and README write them
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 4

# the chapters are executed, and their outputs cached by the cells' sources: a rebuild
# reruns only the chapters that changed (build.py --fresh reruns all)
nb_execution_mode = os.environ.get("NST_DOCS_EXECUTE", "cache")  # build.py --no-run: "off"
nb_execution_cache_path = os.environ.get("NST_DOCS_CACHE", "_build/cache")
nb_execution_timeout = 3600  # a full-mode chapter runs minutes on a 2-core machine
nb_execution_raise_on_error = True  # a chapter that fails fails the build
nb_execution_show_tb = True
nb_merge_streams = True

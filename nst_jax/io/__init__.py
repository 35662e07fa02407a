"""Input and output: files written atomically, image files, weights files, signals.

    files.py        paths checked before the work, atomic writes, one-line file errors
    image_files.py  image files read as float RGB (EXIF, 16-bit, alpha) and written; the
                    reference set bundled in nst_jax/data
    weights.py      Keras HDF5 (Keras 3, legacy, v1) -> our params, checked against the network
    lookup.py       where a run's weights file is found, and the converted-weights cache
    signals.py      Ctrl-C and SIGTERM as a flag the loop reads between chunks

A new file format or source of weights goes here. May import: errors, paper.
"""

"""Many images through one vmapped optimiser: the batch run and its manifest.

    batch.py     `stylize_batch`: folders of photos x styles, grouped by shape, resumable
    manifest.py  the batch's record on disk: what is done, failed or pending, and why
    shown.py     what a batch shows on a board (`--web`): its entries, its first image

The devices and processes a batch is spread over are fast/mesh.py and fast/processes.py.
May import: errors, config, paper, optimizers, io, fast, run.
"""

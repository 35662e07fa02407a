"""The run: one image (or a batch) from its options to the written result.

    inputs.py   preparation: inputs read and checked, outputs checked, the plan, the memory
    scales.py   the scales of one image or a batch: targets, starts, history (run_scales)
    loop.py     the one loop: any optimiser's init/ask/tell, chunk by chunk
    programs.py its compiled pieces, built once per problem: chunks on host or device
    monitor.py  progress bar, history rows, intermediate images, the run's log
    board.py    what a run shows while it runs, for a watcher in another thread (--web)
    stylize.py  `stylize(content, style, **options)`: the scales, the public API
    score.py    `score`: a result's content and style terms at the analysis size

The options themselves are nst_jax/config.py. May import: errors, config, paper,
optimizers, io, fast.
"""

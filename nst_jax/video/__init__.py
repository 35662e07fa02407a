"""Films: a sequence of runs, each frame started from the last result warped into it and
held to it by one more loss term (Ruder, Dosovitskiy & Brox 2016).

    frames.py  frames in and out: a folder of images or an animated GIF
    video.py   `stylize_video`: every frame through the run layer, resumable frame by frame

The flow, the warping, the consistency weights and the temporal loss are the paper's
(paper/temporal.py); the loop, its compiled pieces and the targets are the run's.
May import: errors, config, paper, optimizers, io, fast, run.
"""

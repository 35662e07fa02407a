"""The optimisers of the image: small pure pieces (init/ask/tell), no loop and no logging.

    lbfgs.py  our L-BFGS (Nocedal & Wright, Alg. 7.4/7.5) with a strong-Wolfe line search
    average.py  the iterate average (`--ema`), a wrapper around any of them
    optim.py  every optimiser as init/ask/tell over a Problem: L-BFGS, Adam (optax),
              optax's L-BFGS, SciPy's L-BFGS-B (a driver that owns its loop)

Checked against SciPy in float64 and PyTorch's L-BFGS in tests/optimizers/. Like paper/,
nothing here asks which device runs it (tests/test_layout.py). A new optimiser goes
here; the run's loop (run/loop.py) drives it. May import: errors.
"""

"""What a run settled from its options, once, when the network is known.

The options (config.Config) are what the user gave: frozen, with their help texts,
checked by `Config.validate` and never rewritten. `resolve` settles the rest once the
weights file has named the network and the plan has chosen L-BFGS's pairs (inputs.py):

    model         the network: --model, else the one the weights hold
    sides         the output's longest side at each scale       (Config.sizes)
    iterations    the iterations at each scale                  (Config.iterations)
    style_weight  beta at the output's size: as given, else the network's default carried
                  to that size                                  (Config.beta)
    lbfgs_memory  the (s, y) pairs: as given, else the plan's   (fast/plan.py)
    optimizer     the optimiser as an optim.Spec: the loop builds it and knows it by
                  init/ask/tell (or as SciPy's driver), never by its name; and the space
                  it moves in (--param, --decorrelate: optimizers/spaces.py)

`steps(k)` is what the loop needs of scale k: its iterations and when Python looks.
Nothing here is validated again: the log's "config" is `to_dict`, the options with what
was settled written in.
"""

import dataclasses
from typing import Any, Callable, Dict, NamedTuple, Tuple

from ..config import Config
from ..optimizers import optim

# --optimizer's choices (config.OPTIMIZERS): the maker, and its arguments after the problem
# from the options and the pairs
OPTIMIZERS: Dict[str, Tuple[Callable, Callable[[Config, int], Tuple]]] = {
    "lbfgs": (optim.lbfgs, lambda o, pairs: (pairs, o.line_search, o.max_evals)),
    "adam": (optim.adam, lambda o, pairs: (o.lr, o.max_evals)),
    "optax-lbfgs": (optim.optax_lbfgs, lambda o, pairs: (pairs, o.max_evals)),
    "scipy-lbfgsb": (optim.scipy_lbfgsb, lambda o, pairs: (pairs, o.max_evals)),
}


class Steps(NamedTuple):
    """What the loop needs of one scale besides the optimiser."""

    iters: int  # iterations at this scale
    chunk: int  # iterations between Python's looks (progress, saves, Ctrl-C)
    save_every: int  # an intermediate image every N iterations (0: never)
    ema: float  # decay of the average of the iterates returned (0: the last iterate)


class Settings(NamedTuple):
    """What a run settled from its options, once (`resolve`); never validated again."""

    options: Config  # as the user gave them, checked
    model: str  # "vgg19" | "vgg16" | "resnet50"
    sides: Tuple[int, ...]  # the output's longest side at each scale; the last is the output's
    iterations: Tuple[int, ...]  # at each scale
    style_weight: float  # beta at the output's size
    lbfgs_memory: int  # (s, y) pairs of the L-BFGS optimisers
    optimizer: optim.Spec  # hashable: programs.py caches the compiled pieces on it

    def steps(self, k: int) -> Steps:
        o = self.options
        return Steps(self.iterations[k], o.chunk, o.save_every, o.ema)

    def to_dict(self) -> Dict[str, Any]:
        """The options with what was settled written in (the log's "config")."""
        settled = dict(model=self.model, size=self.sides[-1], style_weight=self.style_weight)
        return dict(dataclasses.asdict(self.options), **settled, lbfgs_memory=self.lbfgs_memory)


def resolve(options: Config, model: str, lbfgs_memory: int) -> Settings:
    """The settings of a run of `options` (validated, and checked against `model` by
    Config.check_model) with the plan's `lbfgs_memory` pairs."""
    make, args = OPTIMIZERS[options.optimizer]
    return Settings(
        options,
        model,
        options.sizes(),
        options.iterations(),
        options.beta(model),
        lbfgs_memory,
        optim.Spec(make, args(options, lbfgs_memory), (options.param, options.decorrelate)),
    )

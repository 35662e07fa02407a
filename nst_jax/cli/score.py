"""`python -m nst_jax score OUTPUT CONTENT STYLE`: a result's terms at one analysis size (run/score.py)."""

import typing

from ..errors import NstError
from ..io import files
from .flags import (
    Parser,
    add_config_options,
    add_outputs,
    check_outputs,
    inputs_of,
    names,
    write_json,
)


def main(argv: typing.List[str]) -> int:
    from ..config import Config
    from ..io import image_files
    from ..io import lookup as lk
    from ..paper.vgg import MIN_SIDE
    from ..run.score import ANALYSIS_SIZE, describe, score

    p = Parser(
        prog="python -m nst_jax score",
        description="The content and style terms of OUTPUT against CONTENT and STYLE with "
        "all three resized to one analysis size (and at OUTPUT's own size): a score that "
        "compares results of different sizes, settings and tools (nst_jax/run/score.py).",
    )
    p.add_argument("output", help="the stylized image scored")
    p.add_argument("content", help="the content photo it was made from")
    p.add_argument(
        "style", help="the style image, or several separated by commas (scored against their blend)"
    )
    p.add_argument(
        "--analysis-size", type=int, default=ANALYSIS_SIZE, help="longest side, px, all are scored at"
    )
    add_config_options(p, ("model", "weights", "pooling", "content_layers", "style_layers"))
    add_outputs(p, json="both scores as JSON")
    a = p.parse_args(argv)
    if a.analysis_size < MIN_SIDE:
        raise NstError(f"--analysis-size must be at least {MIN_SIDE} px, got {a.analysis_size}; e.g. 256")
    styles = [a.style] if files.exists(a.style) else list(names(a.style))
    scored = [("scored image", a.output), ("content image", a.content), *[("style image", s) for s in styles]]
    check_outputs(a, scored + inputs_of(a, images=False))
    images = [image_files.load_image(path)[0] for path in (a.output, a.content, *styles)]
    (h, w), (ph, pw) = images[0].shape[:2], images[1].shape[:2]
    if abs(h * pw - w * ph) > pw + ph:  # (more than a pixel of rounding per side: another aspect)
        raise NstError(
            f"the scored image is {w}x{h} px and the content photo {pw}x{ph} px, another aspect ratio "
            f"(the photo would be stretched to it); score {files.show(a.output)} against the photo it was made from, cropped alike"
        )
    options = dict(model=a.model, weights=a.weights, pooling=a.pooling)
    cfg = Config(**options, content_layers=a.content_layers, style_layers=a.style_layers).validate()
    model, params, _ = lk.resolve(cfg.weights, cfg.model, progress=False)
    ob = cfg.objective(model)
    at, own = (score(params, ob, images[0], images[1], images[2:], size=s) for s in (a.analysis_size, None))
    print(f"{files.show(a.output)}: {describe(at)} (analysis size); {describe(own)} (its own size)")
    write_json(a, "the scores", {"model": model, "analysis": at, "own_size": own})
    return 0

"""score.py: the size-free score is the objective evaluated at the analysis size; the
`score` command and the logged score; the default ladder end to end."""

import json

import numpy as np
import pytest
from PIL import Image

import nst_jax
from nst_jax import config
from nst_jax.cli import app as cli
from nst_jax.io import image_files
from nst_jax.io.weights import load_weights
from nst_jax.run.score import score


def test_score_is_the_objective_at_the_analysis_size(small_vgg16, photo, painting, tmp_path):
    """Against a direct evaluation by the run itself: `--size S --iters 0 --init RESULT`
    (the issue's own recipe) gives the terms of RESULT at S, in row 0 of its history."""
    result = np.random.default_rng(0).uniform(0, 255, (64, 80, 3)).astype(np.uint8)  # the photo's 5:4
    Image.fromarray(result).save(tmp_path / "result.png")
    model, params = load_weights(small_vgg16)
    ob = config.Config().validate().objective(model)
    s = score(
        params,
        ob,
        result.astype(np.float32),
        image_files.load_image(photo)[0],
        [image_files.load_image(painting)[0]],
        size=40,
    )
    direct = nst_jax.stylize(
        photo,
        painting,
        weights=str(small_vgg16),
        size=40,
        iters=0,
        init=str(tmp_path / "result.png"),
        progress=False,
    )
    row = direct.history[0]
    assert s["size"] == [40, 32]
    for term in ("content", "style", "tv"):
        # the same images resized by the same Lanczos, the same float32 objective: rounding only
        assert s[term] == pytest.approx(row[term], rel=1e-5), term
    own = score(
        params,
        ob,
        result.astype(np.float32),
        image_files.load_image(photo)[0],
        [image_files.load_image(painting)[0]],
        size=None,
    )
    assert own["size"] == [80, 64] and own["content"] > s["content"]  # more positions at 80 px


def test_score_command_and_the_logged_score(capsys, small_vgg16, photo, painting, tmp_path):
    out, log = tmp_path / "out.png", tmp_path / "log.json"
    argv = [photo, painting, "--weights", small_vgg16, "--size", "40", "--iters", "2", "--quiet"]
    assert cli.main([*map(str, argv), "-o", str(out), "--log", str(log)]) == 0
    logged = json.loads(log.read_text())["summary"]["score"]
    assert logged["analysis_size"] == 40 and logged["size"] == [40, 32]  # (smaller than 256: its own)
    capsys.readouterr()
    j = tmp_path / "score.json"
    args = ["score", out, photo, painting, "--weights", small_vgg16, "--analysis-size", "40", "--json", j]
    assert cli.main(list(map(str, args))) == 0
    printed = capsys.readouterr().out
    assert "at 40x32 px: content" in printed and "(its own size)" in printed
    scored = json.loads(j.read_text())["analysis"]
    for term in ("content", "style", "tv"):  # the written image scored again: the same
        assert scored[term] == pytest.approx(logged[term], rel=1e-5)
    assert cli.main(["score", str(out), str(photo), str(painting), "--analysis-size", "8"]) == 2


@pytest.mark.slow
def test_the_default_ladder_runs_end_to_end(small_vgg16, photo, painting, monkeypatch):
    """The default coarse-to-fine path at a tiny reference size: 3 scales for 4x the pixels,
    iters at the first and iters / 4 at the others, the size-aware beta at the output's."""
    monkeypatch.setattr(config, "REFERENCE_SIDE", 20)
    r = nst_jax.stylize(photo, painting, weights=str(small_vgg16), size=40, iters=8, progress=False)
    assert r.info["scales"] == [[20, 16], [28, 22], [40, 32]]
    assert r.info["iterations"] == 8 + 2 + 2 and [h["scale"] for h in r.history][-1] == 2
    assert r.info["config"]["style_weight"] == pytest.approx(config.STYLE_WEIGHT * 4)

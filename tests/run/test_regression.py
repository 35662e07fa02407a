"""The same command gives the same loss history as the code before issue 15's layout
change: fixed 64 px runs (real VGG16, bundled images) against histories kept in
tests/fixtures/histories_64px.json, made by tests/fixtures/make_histories.py from the
code of commit bc85674. A change meant to alter the arithmetic regenerates them."""

import base64
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
import make_histories  # noqa: E402

KEPT = json.loads((FIXTURES / "histories_64px.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", list(KEPT))
def test_history_is_unchanged(name, real_vgg16):
    kept, now = KEPT[name], make_histories.run(name, str(real_vgg16))
    assert json.loads(json.dumps(now["options"])) == kept["options"] and now["stop"] == kept["stop"]
    assert len(now["history"]) == len(kept["history"])
    for a, b in zip(now["history"], kept["history"]):
        # iteration, evaluation and scale counts are integers: exactly the same
        assert (a["iteration"], a["evaluations"], a["scale"]) == (
            b["iteration"],
            b["evaluations"],
            b["scale"],
        ), (a, b)
        # the terms: float32 rounding (the same operations, perhaps fused differently by
        # XLA: ~1e-7 relative per evaluation) amplified by up to 6 optimiser steps; 1e-4
        # relative, or 1e-4 of the run's first total for terms that are ~0 (the content
        # term at the content photo is exactly 0)
        scale = abs(kept["history"][0]["total"])
        for term in ("total", "content", "style", "tv"):
            assert a[term] == pytest.approx(b[term], rel=1e-4, abs=1e-9 * scale), (term, a, b)
    image = lambda text: np.asarray(Image.open(io.BytesIO(base64.b64decode(text))), np.int32)
    # the images, rounded to uint8 from float32 values equal to rounding: 1 level at most
    assert np.abs(image(now["image"]) - image(kept["image"])).max() <= 1

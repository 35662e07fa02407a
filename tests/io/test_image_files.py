"""io/image_files.py: every kind of image file users have read as RGB (+ alpha), one-line errors."""

import numpy as np
import pytest
from PIL import Image

from nst_jax import NstError
from nst_jax.io import image_files


@pytest.mark.parametrize("mode", ["L", "P", "RGB", "CMYK", "LA"])
def test_modes_become_rgb(tmp_path, mode):
    a = (np.arange(24 * 20 * 3) % 251).reshape(20, 24, 3).astype(np.uint8)
    img = Image.fromarray(a).convert(mode)
    path = tmp_path / ("x.png" if mode != "CMYK" else "x.jpg")
    img.save(path)
    rgb, alpha = image_files.load_image(path)
    assert rgb.shape == (20, 24, 3) and rgb.dtype == np.float32
    assert (alpha is not None) == (mode == "LA")
    if mode == "L":  # gray -> three equal channels
        assert np.array_equal(rgb[..., 0], rgb[..., 2])


def test_palette_with_transparency_keeps_alpha(tmp_path):
    img = Image.new("P", (20, 20))
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 10, 20))
    img.info["transparency"] = 0
    img.save(tmp_path / "p.png", transparency=0)
    rgb, alpha = image_files.load_image(tmp_path / "p.png")
    assert alpha is not None and alpha[:, :10].min() == 255 and alpha[:, 10:].max() == 0
    assert rgb[0, 0].tolist() == [255, 0, 0]


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    a = np.linspace(0, 65535, 16 * 16).reshape(16, 16).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    rgb, _ = image_files.load_image(tmp_path / "g16.png")
    # 65535 -> 255, 32767 -> ~127.5: a clipping conversion would make most pixels 255
    np.testing.assert_allclose(rgb[..., 0], a / 257.0, atol=1e-3)


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_dark_16_bit_image_stays_dark(tmp_path, ext):
    """A 16-bit photo whose values are all below 256 is dark, not an 8-bit image: the
    scale comes from the mode's bit depth, never from the values (issue 16, defect 7)."""
    a = np.arange(16 * 16).reshape(16, 16).astype(np.uint16)  # 0..255 of 65535
    Image.fromarray(a).save(tmp_path / f"dark.{ext}")
    rgb, _ = image_files.load_image(tmp_path / f"dark.{ext}")
    np.testing.assert_allclose(rgb[..., 0], a * (255.0 / 65535.0), atol=1e-4)  # at most 1.0
    assert rgb.max() <= 1.0


def test_rgba_returns_alpha(tmp_path):
    a = np.zeros((16, 18, 4), np.uint8)
    a[..., 0], a[..., 3] = 200, np.arange(18, dtype=np.uint8)[None, :] * 10
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    rgb, alpha = image_files.load_image(tmp_path / "a.png")
    assert rgb[0, 0, 0] == 200 and np.array_equal(alpha, a[..., 3].astype(np.float32))


def test_exif_orientation_is_respected(tmp_path):
    a = np.zeros((20, 40, 3), np.uint8)  # stored landscape 40x20, left half red
    a[:, :20, 0] = 255
    img = Image.fromarray(a)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    rgb, _ = image_files.load_image(tmp_path / "rot.jpg")
    assert rgb.shape == (40, 20, 3)  # displayed portrait
    assert rgb[5, 10, 0] > 200 and rgb[35, 10, 0] < 50  # red on top after the rotation


def test_arrays_and_pil_images():
    a = np.full((16, 16, 3), 0.5, np.float32)  # floats in 0..1
    assert image_files.load_image(a)[0].max() == pytest.approx(127.5)
    assert image_files.load_image(np.zeros((16, 16), np.uint8))[0].shape == (16, 16, 3)
    assert image_files.load_image(Image.new("RGB", (17, 16)))[0].shape == (16, 17, 3)
    with pytest.raises(NstError, match="shape"):
        image_files.load_image(np.zeros((16, 16, 2)))
    with pytest.raises(NstError, match="NaN"):
        image_files.load_image(np.full((16, 16, 3), np.nan))


@pytest.mark.parametrize(
    "case, match",
    [
        ("missing", "not found"),
        ("folder", "folder"),
        ("text", "not an image"),
        ("truncated", "truncated"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, photo, case, match):
    path = {
        "missing": tmp_path / "nope.png",
        "folder": tmp_path,
        "text": tmp_path / "notes.png",
        "truncated": tmp_path / "cut.jpg",
    }[case]
    if case == "text":
        path.write_text("this is not a picture")
    if case == "truncated":
        Image.open(photo).save(tmp_path / "full.jpg", quality=90)
        data = (tmp_path / "full.jpg").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NstError, match=match) as e:
        image_files.load_image(path)
    assert "\n" not in str(e.value)

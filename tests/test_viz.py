"""Tests of vidxai.viz: display helpers of papers 000 and 001."""
import numpy as np
import pytest

from vidxai.errors import ArgumentError, ArgumentTypeError
from vidxai.segment import grid
from vidxai.viz import frame_grid, keep_important, overlay, posneg, stretch, top_fraction


def readonly(x):
    x = np.array(x)
    x.setflags(write=False)
    return x


# --------------------------------------------------------------------------------- stretch
def test_stretch_linear_and_constant():
    np.testing.assert_allclose(stretch(readonly([2.0, 4.0, 6.0])), [0.0, 0.5, 1.0])
    flat = stretch(np.full((2, 3), 7.0))
    assert flat.shape == (2, 3) and not np.isnan(flat).any() and np.all(flat == 0)
    with pytest.raises(ArgumentError, match="x"):
        stretch(np.array([1.0, np.nan]))


# ---------------------------------------------------------------------------- top_fraction
def test_top_fraction_known_vector():
    w = readonly([0.1, -5.0, 3.0, 2.0, 0.0])  # total |w| = 10.1
    np.testing.assert_array_equal(top_fraction(w, 0.5), [0, -5.0, 3.0, 0, 0])  # 5 < 5.05
    np.testing.assert_array_equal(top_fraction(w, 0.3), [0, -5.0, 0, 0, 0])
    np.testing.assert_array_equal(top_fraction(w, 1.0), w)
    np.testing.assert_array_equal(w, [0.1, -5.0, 3.0, 2.0, 0.0])


def test_top_fraction_exact_threshold_stops():
    # 0.7 * 10 is reached exactly by 4 + 3 (despite float rounding): 2 and 1 dropped
    np.testing.assert_array_equal(top_fraction(np.array([1.0, 4.0, 2.0, 3.0]), 0.7),
                                  [0, 4.0, 0, 3.0])
    np.testing.assert_array_equal(top_fraction(np.array([1.0, 2.0, 3.0, 4.0]), 0.3), [0, 0, 0, 4.0])


def test_top_fraction_any_shape_and_zeros():
    m = np.array([[0.0, 1.0], [-8.0, 1.0]])
    out = top_fraction(m, 0.5)
    assert out.shape == (2, 2)
    np.testing.assert_array_equal(out, [[0, 0], [-8.0, 0]])
    np.testing.assert_array_equal(top_fraction(np.zeros(4)), np.zeros(4))


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_top_fraction_bad_fraction(fraction):
    with pytest.raises(ArgumentError, match="fraction"):
        top_fraction(np.ones(3), fraction)


# -------------------------------------------------------------------------------- overlays
def make_video(t=2, h=4, w=5, value=0.5):
    return readonly(np.full((t, h, w, 3), value, np.float32))


def test_overlay_shape_blend_and_inputs_untouched():
    video = make_video()
    sal = readonly(np.arange(2 * 4 * 5, dtype=np.float32).reshape(2, 4, 5))
    out = overlay(video, sal)
    assert out.shape == (2, 4, 5, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(overlay(video, sal, alpha=0.0), 128)
    grey = overlay(video, sal, cmap="gray", alpha=1.0)  # pure colormap of the stretched map
    np.testing.assert_allclose(grey[..., 0] / 255.0, stretch(sal), atol=1 / 255)
    assert grey[0, 0, 0, 0] == 0 and grey[-1, -1, -1, 0] == 255


def test_overlay_positive_only_clips_negatives():
    sal = np.zeros((2, 4, 5), np.float32)
    sal[0, 0, 0], sal[1, 1, 1] = -3.0, 1.0
    out = overlay(make_video(), sal, cmap="gray", alpha=1.0, positive_only=True)
    assert out[0, 0, 0, 0] == 0 and out[1, 1, 1, 0] == 255 and out[0, 2, 2, 0] == 0


def test_overlay_errors():
    with pytest.raises(ArgumentError, match="saliency"):
        overlay(make_video(), np.zeros((2, 4, 4)))
    with pytest.raises(ArgumentError, match="cmap"):
        overlay(make_video(), np.zeros((2, 4, 5)), cmap="no-such-map")
    with pytest.raises(ArgumentError, match="alpha"):
        overlay(make_video(), np.zeros((2, 4, 5)), alpha=2.0)
    with pytest.raises(ArgumentError, match="video"):
        overlay(make_video() * 3, np.zeros((2, 4, 5)))


def test_posneg_colours():
    sal = np.zeros((2, 4, 5), np.float32)
    sal[0, 1, 1], sal[1, 2, 3] = 2.0, -1.0
    out = posneg(make_video(), readonly(sal))
    assert out.shape == (2, 4, 5, 3) and out.dtype == np.uint8
    r, g, b = out[0, 1, 1].astype(int)
    assert r > 180 and g < 80 and b < 80  # strongest positive: red
    r, g, b = out[1, 2, 3].astype(int)
    assert b > r + 50 and b > g + 50  # negative: blue, half as strong
    np.testing.assert_array_equal(out[0, 0, 0], [128, 128, 128])  # unimportant: grey
    with pytest.raises(ArgumentError, match="saliency"):
        posneg(make_video(), np.zeros((3, 4, 5)))


def test_posneg_zero_map_is_grey_and_colour_becomes_grey():
    video = np.zeros((1, 2, 2, 3), np.float32)
    video[..., 0] = 1.0  # pure red video
    out = posneg(video, np.zeros((1, 2, 2)))
    np.testing.assert_array_equal(out, round(0.299 * 255))


def test_keep_important_darkens_exactly_the_others():
    video = make_video(t=2, h=4, w=4, value=0.8)
    seg = grid((2, 4, 4), (1, 2, 2))  # 4 segments: quadrants through time
    weights = readonly([5.0, 1.0, -3.0, 0.0])  # positive part: 5, 1 -> 0.5 keeps only 0
    out = keep_important(video, seg, weights, fraction=0.5, darken=0.2)
    assert out.shape == (2, 4, 4, 3) and out.dtype == np.uint8
    kept = seg.labels == 0
    assert np.all(out[kept] == round(0.8 * 255))
    assert np.all(out[~kept] == np.round(np.float32(0.8) * np.float32(0.2) * 255))
    both = keep_important(video, seg, weights, fraction=1.0, darken=0.0)
    assert np.all(both[seg.labels <= 1] == 204) and np.all(both[seg.labels >= 2] == 0)


def test_keep_important_errors():
    video = make_video(t=2, h=4, w=4)
    seg = grid((2, 4, 4), (1, 2, 2))
    with pytest.raises(ArgumentError, match="weights"):
        keep_important(video, seg, np.ones(3))
    with pytest.raises(ArgumentError, match="segmentation"):
        keep_important(make_video(t=2, h=4, w=5), seg, np.ones(4))
    with pytest.raises(ArgumentTypeError, match="segmentation"):
        keep_important(video, seg.labels, np.ones(4))
    with pytest.raises(ArgumentError, match="darken"):
        keep_important(video, seg, np.ones(4), darken=1.5)


# ------------------------------------------------------------------------------ frame_grid
def test_frame_grid_layout():
    rng = np.random.default_rng(0)
    frames = readonly(rng.integers(0, 200, size=(5, 4, 6, 3), dtype=np.uint8))
    image = frame_grid(frames, cols=3, pad=2)
    assert image.shape == (2 * 4 + 3 * 2, 3 * 6 + 4 * 2, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[2:6, 2:8], frames[0])
    np.testing.assert_array_equal(image[8:12, 10:16], frames[4])  # row 1, column 1
    assert np.all(image[8:12, 18:24] == 255)  # empty sixth cell is white
    assert np.all(image[:2] == 255) and np.all(image[:, 8:10] == 255)  # padding
    assert frame_grid(frames / 255.0).shape == image.shape  # default cols = ceil(sqrt(5)) = 3
    assert frame_grid(frames, cols=10, pad=0).shape == (4, 30, 3)
    with pytest.raises(ArgumentError, match="cols"):
        frame_grid(frames, cols=0)
    with pytest.raises(ArgumentError, match="frames"):
        frame_grid(frames[0])

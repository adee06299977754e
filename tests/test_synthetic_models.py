"""Synthetic videos, TIEM's white-box regressors and the small trained classifiers.

Checks that the generators are keyed and deterministic, that their ground-truth masks mark
exactly the drawn evidence (signature frames included, paper 002 Sec. 4.2), that the
white-box regressors of paper 002 Sec. 4.1 have the exact input gradient 2x on the target
set, and that the committed small models (the R(2+1)D / CNN-LSTM families of paper 004)
load, behave and still reach 95% on clips drawn from a fresh key.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import small, synthetic, whitebox
from models.base import Model
from vidxai.errors import ArgumentError, ArgumentTypeError

N = 64  # one batch size everywhere, so each generator compiles once


@pytest.fixture(scope="module", params=synthetic.KINDS)
def batch(request):
    return request.param, synthetic.make_dataset(request.param, jax.random.key(7), N)


# ----------------------------------------------------------------------------- generators
def test_generator_shapes_dtypes_ranges_and_balance(batch):
    kind, b = batch
    assert b.videos.shape == (N, 16, 64, 64, 3) and b.videos.dtype == jnp.float32
    assert b.labels.shape == (N,) and b.masks.shape == (N, 16, 64, 64) and b.frames.shape == (N, 16)
    assert b.masks.dtype == jnp.bool_ and b.frames.dtype == jnp.bool_
    v = np.asarray(b.videos)
    assert np.isfinite(v).all() and v.min() >= 0.0 and v.max() <= 1.0
    counts = np.bincount(np.asarray(b.labels), minlength=len(synthetic.CLASSES[kind]))
    assert counts.tolist() == [N // 4] * 4
    # every clip shows its evidence, and only in its evidence frames
    masks, frames = np.asarray(b.masks), np.asarray(b.frames)
    assert (masks.any(axis=(2, 3)) == frames).all()
    assert masks.sum(axis=(1, 2, 3)).min() > 0


def test_generator_is_deterministic_by_key_and_differs_across_keys(batch):
    kind, b = batch
    again = synthetic.make_dataset(kind, jax.random.key(7), N)
    for x, y in zip(b, again):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    other = synthetic.make_dataset(kind, jax.random.key(8), N)
    assert not np.array_equal(np.asarray(b.videos), np.asarray(other.videos))
    assert not np.array_equal(np.asarray(b.masks), np.asarray(other.masks))


def test_masks_mark_the_drawn_object(batch):
    """Mask pixels are saturated colour; the rest is grey background, noise or grey shapes."""
    kind, b = batch
    v, m = np.asarray(b.videos), np.asarray(b.masks)
    saturation = v.max(-1) - v.min(-1)
    assert saturation[m].mean() > 0.5
    assert np.quantile(saturation[~m], 0.999) < 0.35
    # background statistics: most non-mask pixels sit near the clip's median grey level
    level = np.median(v.mean(-1).reshape(N, -1), axis=1)[:, None, None, None]
    dev = np.abs(v.mean(-1) - level)
    assert np.median(dev[~m]) < 0.05 and np.median(dev[m]) > 0.1


def test_spatial_classes_are_different_shapes():
    b = synthetic.spatial(jax.random.key(3), N)
    area = np.asarray(b.masks).sum(axis=(2, 3)).mean(axis=1)  # mean object area per clip
    labels = np.asarray(b.labels)
    per_class = [area[labels == k] for k in range(4)]
    # same size parameter, different silhouettes: disc > square > cross > triangle in area
    square, disc, cross, triangle = [a.mean() for a in per_class]
    assert disc > 1.05 * square and square > 1.2 * cross and cross > 1.05 * triangle
    for a in per_class:  # the object stays whole (inside the frame) while it moves
        assert a.std() < 0.1 * a.mean()


def test_temporal_classes_are_the_direction_of_motion():
    b = synthetic.temporal(jax.random.key(4), N)
    m = np.asarray(b.masks).astype(np.float32)
    ys, xs = np.arange(64)[:, None], np.arange(64)[None, :]
    area = m.sum(axis=(2, 3))
    cy, cx = (m * ys).sum(axis=(2, 3)) / area, (m * xs).sum(axis=(2, 3)) / area
    dy, dx = cy[:, -1] - cy[:, 0], cx[:, -1] - cx[:, 0]
    expected = {0: (0, 1), 1: (0, -1), 2: (-1, 0), 3: (1, 0)}  # unit (dy, dx) of each class
    for label, d in zip(np.asarray(b.labels), np.stack([dy, dx], 1)):
        unit = np.array(expected[int(label)])
        along, across = d @ unit, d @ unit[::-1]
        assert along > 10 and abs(across) < 0.5  # >= 10 px along the class direction only
    # same shape in every class: the silhouettes have the same area
    assert np.ptp(area) <= 0.1 * area.mean()


def test_signature_frames_are_the_only_frames_with_the_signature_colour():
    b = synthetic.signature(jax.random.key(5), N)
    v, m, f = np.asarray(b.videos), np.asarray(b.masks), np.asarray(b.frames)
    saturation = v.max(-1) - v.min(-1)
    coloured = (saturation > 0.5).sum(axis=(2, 3))  # (N, T) count of strongly coloured pixels
    assert (coloured[~f] == 0).all()
    assert (coloured[f] > 50).all()
    lengths = f.sum(1)
    assert lengths.min() >= 3 and lengths.max() <= 5
    for i in range(N):
        idx = b.signature_frames(i)
        assert (np.diff(idx) == 1).all()  # consecutive
        colour = v[i][m[i]].mean(0)
        assert np.argmin(np.abs(synthetic.SIGNATURE_COLOURS - colour).sum(1)) == int(b.labels[i])


def test_generator_bad_input():
    key = jax.random.key(0)
    with pytest.raises(ArgumentError, match=r"^kind:"):
        synthetic.make_dataset("colour", key, 4)
    with pytest.raises(ArgumentError, match=r"^shape:"):
        synthetic.make_dataset("spatial", key, 4, shape=(2, 64, 64))
    with pytest.raises(ArgumentError, match=r"^shape:"):
        synthetic.make_dataset("spatial", key, 4, shape=(16, 64))
    with pytest.raises(ArgumentError, match=r"^n:"):
        synthetic.make_dataset("spatial", key, 0)
    with pytest.raises(ArgumentTypeError, match=r"^key:"):
        synthetic.make_dataset("spatial", 0, 4)


# ----------------------------------------------------------------------------- white-box regressors
def test_whitebox_gradient_is_exactly_2x_on_the_target_set():
    for kind in whitebox.KINDS:
        model = whitebox.whitebox(kind)
        assert isinstance(model, Model) and model.class_names == () and not model.is_classifier
        a = model.meta["target_set"]
        assert a.shape == (16, 112, 112) and a.dtype == bool
        x = whitebox.noise_video(jax.random.key(1))
        assert x.shape == (16, 112, 112, 3) and float(x.min()) >= 0 and float(x.max()) < 1
        out = model.apply(x[None])
        assert out.shape == (1,)
        np.testing.assert_allclose(float(out[0]), float((np.asarray(x) ** 2)[a].sum()), rtol=1e-5)
        g = np.asarray(jax.grad(lambda v: model.apply(v[None])[0])(x))
        inside = np.broadcast_to(a[..., None], g.shape)
        np.testing.assert_array_equal(g[inside], 2.0 * np.asarray(x)[inside])
        assert (g[~inside] == 0).all()


def test_whitebox_gentle_and_dynamic_differ_exactly_on_frames_7_and_8():
    gentle = whitebox.whitebox("gentle").meta["target_set"]
    dynamic = whitebox.whitebox("dynamic").meta["target_set"]
    differ = (gentle != dynamic).any(axis=(1, 2))
    assert np.flatnonzero(differ).tolist() == [7, 8]
    np.testing.assert_array_equal(dynamic[7:9], ~gentle[7:9])
    # the gentle rectangle moves diagonally down-right by one step per frame, same size,
    # from a margin of 112 / 8 = 14 px at the top-left to 14 px at the bottom-right
    sizes = gentle.sum(axis=(1, 2))
    assert (sizes == sizes[0]).all() and sizes[0] == 56 * 56  # half of 112
    tops = [np.flatnonzero(f.any(1))[0] for f in gentle]
    lefts = [np.flatnonzero(f.any(0))[0] for f in gentle]
    assert tops[0] == lefts[0] == 14 and tops[-1] == lefts[-1] == 112 - 56 - 14
    assert (np.diff(tops) > 0).all() and (np.diff(lefts) > 0).all()


def test_whitebox_target_size_and_paths():
    """16 x 48 x 64, target 5% of a frame: sides round(sqrt(.05) * 48) = 11 and
    round(sqrt(.05) * 64) = 14; margins 6 and 8 px, so the top-left corner ranges over rows
    6..31 (48 - 11 - 6) and columns 8..42 (64 - 14 - 8). static: centred at (6 + round(12.5),
    8 + round(17)) = (18, 25) (Python rounds the half to even);
    linear: from (6, 8) to (31, 42); jumping: corners top-left, bottom-right, top-right,
    bottom-left, 4 frames each. catches: the target read as a side, not an area; the paths
    swapped; a jump off by a frame."""
    def corners(kind, path):
        a = whitebox.target_set(kind, (16, 48, 64), target=0.05, path=path)
        assert (a.sum(axis=(1, 2))[[0, 5, 15]] == 11 * 14).all()
        return [(int(np.flatnonzero(f.any(1))[0]), int(np.flatnonzero(f.any(0))[0])) for f in a]
    assert set(corners("gentle", "static")) == {(18, 25)}
    lin = corners("gentle", "linear")
    assert lin[0] == (6, 8) and lin[-1] == (31, 42)
    jump = corners("gentle", "jumping")
    assert jump[:4] == [(6, 8)] * 4 and jump[4:8] == [(31, 42)] * 4
    assert jump[8:12] == [(6, 42)] * 4 and jump[12:] == [(31, 8)] * 4
    dynamic = whitebox.whitebox("dynamic", (16, 48, 64), target=0.05, path="jumping")
    assert dynamic.meta["target"] == 0.05 and dynamic.meta["path"] == "jumping"
    assert dynamic.meta["target_set"][7].sum() == 48 * 64 - 11 * 14
    np.testing.assert_array_equal(whitebox.target_set("gentle"),     # defaults unchanged
                                  whitebox.target_set("gentle", target=0.25, path="linear"))


def test_whitebox_bad_input():
    with pytest.raises(ArgumentError, match=r"^target:"):
        whitebox.whitebox("gentle", target=0.6)
    with pytest.raises(ArgumentError, match=r"^path:"):
        whitebox.whitebox("gentle", path="zigzag")
    with pytest.raises(ArgumentError, match=r"^kind:"):
        whitebox.whitebox("wild")
    with pytest.raises(ArgumentError, match=r"^shape:"):
        whitebox.whitebox("dynamic", shape=(8, 112, 112))  # frame 8 does not exist
    model = whitebox.whitebox("gentle", shape=(9, 16, 16))
    with pytest.raises(ArgumentError, match=r"^video:"):
        model.apply(jnp.zeros((1, 9, 16, 12, 3)))
    with pytest.raises(ArgumentError, match=r"^video:"):
        model.apply(jnp.zeros((9, 16, 16, 3)))  # unbatched
    with pytest.raises(ArgumentTypeError, match=r"^video:"):
        model.apply(jnp.zeros((1, 9, 16, 16, 3), jnp.int32))


# ----------------------------------------------------------------------------- small models
@pytest.fixture(scope="module", params=small.NAMES)
def trained(request):
    model = small.load_small(request.param)
    test = synthetic.make_dataset(model.meta["kind"], jax.random.key(20250), N)
    return model, test


def test_small_model_loads_and_is_accurate_on_fresh_clips(trained):
    model, test = trained
    assert model.is_classifier and model.differentiable and model.size == (64, 64)
    assert model.class_names == synthetic.CLASSES[model.meta["kind"]]
    logits = np.asarray(model.apply(test.videos))
    assert logits.shape == (N, 4) and np.isfinite(logits).all()
    np.testing.assert_array_equal(logits, np.asarray(model.apply(test.videos)))  # deterministic
    acc = (logits.argmax(1) == np.asarray(test.labels)).mean()
    assert acc >= 0.95, f"{model.name}: accuracy {acc:.3f} on fresh clips"
    assert model.meta["accuracy"] >= 0.95  # the training record agrees


def test_small_model_is_differentiable_wrt_the_input(trained):
    model, test = trained
    x = test.videos[:1]
    y = int(test.labels[0])
    g = np.asarray(jax.grad(lambda v: model.apply(v)[0, y])(x))
    assert g.shape == x.shape and np.isfinite(g).all() and np.abs(g).sum() > 0


def test_small_model_bad_input_and_missing_weights(tmp_path):
    with pytest.raises(ArgumentError, match=r"^name:"):
        small.load_small("resnet")
    with pytest.raises(FileNotFoundError, match=r"models\.train"):
        small.load_small("r2plus1d_temporal", directory=str(tmp_path))
    (tmp_path / "cnnlstm_signature.msgpack").write_bytes(
        open(small.weight_paths("r2plus1d_temporal")[0], "rb").read())
    with pytest.raises(small.WeightsMismatchError, match=r"cnnlstm_signature\.msgpack"):
        small.load_small("cnnlstm_signature", directory=str(tmp_path))
    model = small.load_small("r2plus1d_temporal")
    with pytest.raises(ArgumentError, match=r"^video:"):
        model.apply(jnp.zeros((1, 16, 32, 32, 3)))
    with pytest.raises(ArgumentError, match=r"^video:"):
        model.apply(jnp.zeros((16, 64, 64, 3)))
    with pytest.raises(ArgumentTypeError, match=r"^video:"):
        model.apply(np.zeros((1, 16, 64, 64, 3), np.uint8))

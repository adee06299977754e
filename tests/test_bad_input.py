"""Bad input is refused with a typed error whose message starts with the argument's name.

Every public stage (segmentation, sampling, removal, scoring, surrogate, explainers,
metrics, io, viz, Explanation) is fed wrong shapes, dtypes, ranges and values; each case
checks the exact exception class and that the message begins with ``<argument>:``. A last
group checks that no public method writes into the caller's (read-only) arrays.

The last group covers defects found once and fixed (regression tests).
"""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vidxai import (ArgumentError, ArgumentTypeError, Explanation, ScoreFunctionError,
                    Segmentation, VideoFileError, metrics, removal, sampling, segment, viz)
from vidxai.explain import kernel_shap, lime, loco, occlusion, rise, univariate
from vidxai.io import read_video, sample_video, write_video
from vidxai.scoring import score, score_coalitions as evaluate
from vidxai.surrogate import ridge

T, H, W = 4, 8, 8
VIDEO = np.random.default_rng(0).uniform(0.05, 0.95, (T, H, W, 3)).astype(np.float32)
VIDEO.setflags(write=False)
SEG = segment.grid(VIDEO, (2, 2, 2))  # 8 features
SAL = np.linspace(0.0, 1.0, T * H * W, dtype=np.float32).reshape(T, H, W)
SAL.setflags(write=False)
KEY = jax.random.key(0)
N = 8  # small sample budget: every case must stay cheap


def F(x):
    """A tiny pure-JAX score function (B, T, H, W, C) -> (B,)."""
    return x.mean(axis=(1, 2, 3, 4))


def classifier(x):
    """A fake 5-class model (B, T, H, W, C) -> (B, 5)."""
    m = x.mean(axis=(1, 2, 3, 4))
    return jnp.stack([m * k for k in range(5)], axis=1)


def names(arg):
    """Regex: the message starts with the argument's name followed by a colon."""
    return "^" + re.escape(arg) + ":"


def with_value(base, index, value):
    out = np.array(base)
    out[index] = value
    return out


def labels_with_gap():
    lab = np.zeros((T, H, W), np.int32)
    lab[:, :, 4:] = 1
    lab[2:] += 2  # values {0, 1, 2, 3} ...
    lab[lab == 2] = 1  # ... minus 2: {0, 1, 3}
    return lab


def labels_out_of_range():
    lab = np.array(SEG.labels)
    lab[0, 0, 0] = SEG.n  # one voxel labelled n with n features declared
    return lab


def wrong_fill(video, _seg):
    return jnp.zeros((2, 2))


def paths(tmp_path):
    text = tmp_path / "x.mp4"
    text.write_text("this is not a video\n")
    return text


# ------------------------------------------------------------------------------ the cases
# (id, call, error class, argument name)
CASES = [
    # ---- the video (checked by every stage) ----
    ("video-rank3", lambda: loco(F, VIDEO[0], SEG), ArgumentError, "video"),
    ("video-rank5", lambda: loco(F, VIDEO[None], SEG), ArgumentError, "video"),
    ("video-rank5-rise", lambda: rise(F, VIDEO[None], key=KEY, cells=(2, 2, 2), n_samples=N),
     ArgumentError, "video"),
    ("video-uint8", lambda: loco(F, (VIDEO * 255).astype(np.uint8), SEG),
     ArgumentTypeError, "video"),
    ("video-int64", lambda: lime(F, (VIDEO > 0.5).astype(np.int64), SEG, key=KEY, n_samples=N),
     ArgumentTypeError, "video"),
    ("video-bool", lambda: occlusion(F, VIDEO > 0.5), ArgumentTypeError, "video"),
    ("video-above-1", lambda: loco(F, VIDEO * 2.0, SEG), ArgumentError, "video"),
    ("video-below-0", lambda: univariate(F, VIDEO - 0.5, SEG), ArgumentError, "video"),
    ("video-0-255-float", lambda: kernel_shap(F, VIDEO * 255.0, SEG, key=KEY, n_samples=N),
     ArgumentError, "video"),
    ("video-nan", lambda: loco(F, with_value(VIDEO, (0, 0, 0, 0), np.nan), SEG),
     ArgumentError, "video"),
    ("video-inf", lambda: metrics.deletion(F, with_value(VIDEO, (1, 2, 3, 0), np.inf), SAL),
     ArgumentError, "video"),
    ("video-2-channels", lambda: loco(F, VIDEO[..., :2], SEG), ArgumentError, "video"),
    ("video-channels-first", lambda: loco(F, np.moveaxis(VIDEO, -1, 0), SEG),
     ArgumentError, "video"),
    ("video-empty", lambda: occlusion(F, VIDEO[:0]), ArgumentError, "video"),
    ("video-list", lambda: loco(F, VIDEO.tolist(), SEG), ArgumentTypeError, "video"),
    ("video-evaluate-rank3", lambda: evaluate(F, VIDEO[0], SEG, np.ones((2, 8), bool)),
     ArgumentError, "video"),
    ("video-slic-uint8", lambda: segment.slic((VIDEO * 255).astype(np.uint8)),
     ArgumentTypeError, "video"),
    ("video-overlay-nan", lambda: viz.overlay(with_value(VIDEO, 0, np.nan), SAL),
     ArgumentError, "video"),
    # ---- segmentation ----
    ("segmentation-shape-mismatch", lambda: loco(F, VIDEO, segment.grid((T, H, 4), (2, 2, 2))),
     ArgumentError, "segmentation"),
    ("segmentation-shape-mismatch-lime",
     lambda: lime(F, VIDEO, segment.grid((2 * T, H, W), (2, 2, 2)), key=KEY, n_samples=N),
     ArgumentError, "segmentation"),
    ("segmentation-shape-mismatch-evaluate",
     lambda: evaluate(F, VIDEO, segment.grid((T, 4, 4), (1, 1, 1)), np.ones((1, 1), bool)),
     ArgumentError, "segmentation"),
    ("segmentation-raw-labels", lambda: loco(F, VIDEO, np.array(SEG.labels)),
     ArgumentTypeError, "segmentation"),
    ("labels-with-gap", lambda: Segmentation(labels_with_gap(), 4), ArgumentError, "labels"),
    ("labels-out-of-range", lambda: Segmentation(labels_out_of_range(), SEG.n),
     ArgumentError, "labels"),
    ("labels-negative", lambda: Segmentation(np.array(SEG.labels) - 1, SEG.n),
     ArgumentError, "labels"),
    ("labels-float", lambda: Segmentation(np.array(SEG.labels, np.float32), SEG.n),
     ArgumentTypeError, "labels"),
    ("labels-rank2", lambda: Segmentation(np.array(SEG.labels)[0], SEG.n),
     ArgumentError, "labels"),
    ("segmentation-n-0", lambda: Segmentation(np.array(SEG.labels), 0), ArgumentError, "n"),
    ("segmentation-n-float", lambda: Segmentation(np.array(SEG.labels), 8.0),
     ArgumentTypeError, "n"),
    ("grid-cells-larger-than-video", lambda: segment.grid(VIDEO, (2, 16, 2)),
     ArgumentError, "cells[1]"),
    ("grid-cells-0", lambda: segment.grid(VIDEO, (0, 2, 2)), ArgumentError, "cells[0]"),
    ("grid-cells-pair", lambda: segment.grid(VIDEO, (2, 2)), ArgumentError, "cells"),
    ("grid-shape-pair", lambda: segment.grid((8, 8), (1, 1, 1)), ArgumentError, "shape"),
    ("slic-n-segments-0", lambda: segment.slic(VIDEO, n_segments=0),
     ArgumentError, "n_segments"),
    # ---- coalition sampling: n_samples, p, key ----
    ("n_samples-0", lambda: lime(F, VIDEO, SEG, key=KEY, n_samples=0), ArgumentError, "n_samples"),
    ("n_samples-negative-kshap", lambda: kernel_shap(F, VIDEO, SEG, key=KEY, n_samples=-3),
     ArgumentError, "n_samples"),
    ("n_samples-float", lambda: lime(F, VIDEO, SEG, key=KEY, n_samples=2.5),
     ArgumentTypeError, "n_samples"),
    ("n_samples-float-kshap", lambda: kernel_shap(F, VIDEO, SEG, key=KEY, n_samples=16.0),
     ArgumentTypeError, "n_samples"),
    ("n_samples-bool-rise", lambda: rise(F, VIDEO, key=KEY, cells=(2, 2, 2), n_samples=True),
     ArgumentTypeError, "n_samples"),
    ("p-0", lambda: lime(F, VIDEO, SEG, key=KEY, n_samples=N, p=0), ArgumentError, "p"),
    ("p-1", lambda: lime(F, VIDEO, SEG, key=KEY, n_samples=N, p=1), ArgumentError, "p"),
    ("p-1.5", lambda: lime(F, VIDEO, SEG, key=KEY, n_samples=N, p=1.5), ArgumentError, "p"),
    ("p-minus-0.1", lambda: lime(F, VIDEO, SEG, key=KEY, n_samples=N, p=-0.1),
     ArgumentError, "p"),
    ("p-nan", lambda: lime(F, VIDEO, SEG, key=KEY, n_samples=N, p=float("nan")),
     ArgumentError, "p"),
    ("p-str", lambda: lime(F, VIDEO, SEG, key=KEY, n_samples=N, p="0.5"),
     ArgumentTypeError, "p"),
    ("p-1-rise", lambda: rise(F, VIDEO, key=KEY, cells=(2, 2, 2), n_samples=N, p=1.0),
     ArgumentError, "p"),
    ("p-0-bernoulli", lambda: sampling.bernoulli(KEY, N, 4, p=0.0), ArgumentError, "p"),
    ("key-none", lambda: lime(F, VIDEO, SEG, key=None, n_samples=N), ArgumentTypeError, "key"),
    ("key-int", lambda: lime(F, VIDEO, SEG, key=0, n_samples=N), ArgumentTypeError, "key"),
    ("key-none-kshap", lambda: kernel_shap(F, VIDEO, SEG, key=None, n_samples=N),
     ArgumentTypeError, "key"),
    ("key-float-array-rise",
     lambda: rise(F, VIDEO, key=np.zeros(2, np.float32), cells=(2, 2, 2), n_samples=N),
     ArgumentTypeError, "key"),
    ("key-batch-of-keys", lambda: kernel_shap(F, VIDEO, SEG, key=jax.random.split(KEY, 2),
                                               n_samples=N), ArgumentError, "key"),
    ("bernoulli-n_features-0", lambda: sampling.bernoulli(KEY, N, 0), ArgumentError, "n_features"),
    ("leave_one_out-n-0", lambda: sampling.leave_one_out(0), ArgumentError, "n"),
    # ---- the score function f ----
    ("f-not-callable", lambda: lime(np.zeros(3), VIDEO, SEG, key=KEY, n_samples=N),
     ArgumentTypeError, "f"),
    ("f-not-callable-occlusion", lambda: occlusion("model", VIDEO), ArgumentTypeError, "f"),
    ("f-not-callable-evaluate", lambda: evaluate(None, VIDEO, SEG, np.ones((1, 8), bool)),
     ArgumentTypeError, "f"),
    ("f-not-callable-deletion", lambda: metrics.deletion(1.0, VIDEO, SAL), ArgumentTypeError, "f"),
    ("f-returns-B-by-K", lambda: loco(classifier, VIDEO, SEG), ScoreFunctionError, "f"),
    ("f-returns-scalar", lambda: loco(lambda x: x.mean(), VIDEO, SEG), ScoreFunctionError, "f"),
    ("f-returns-nan", lambda: loco(lambda x: jnp.full(x.shape[:1], jnp.nan), VIDEO, SEG),
     ScoreFunctionError, "f"),
    ("f-returns-nan-once", lambda: lime(lambda x: jnp.log(x.mean(axis=(1, 2, 3, 4)) - 0.3),
                                        VIDEO, SEG, key=KEY, n_samples=N),
     ScoreFunctionError, "f"),
    ("f-returns-inf-deletion", lambda: metrics.deletion(
        lambda x: 1.0 / (x.mean(axis=(1, 2, 3, 4)) * 0.0), VIDEO, SAL, steps=4),
     ScoreFunctionError, "f"),
    # ---- score(model, target, output) ----
    ("score-target-out-of-range", lambda: score(classifier, 7)(jnp.asarray(VIDEO[None])),
     ArgumentError, "target"),
    ("score-target-out-of-range-in-loco", lambda: loco(score(classifier, 7), VIDEO, SEG),
     ArgumentError, "target"),
    ("score-target-5-of-5", lambda: evaluate(score(classifier, 5, "logit"), VIDEO, SEG,
                                             np.ones((2, 8), bool)), ArgumentError, "target"),
    ("score-target-negative", lambda: score(classifier, -1), ArgumentError, "target"),
    ("score-target-float", lambda: score(classifier, 1.5), ArgumentTypeError, "target"),
    ("score-target-missing", lambda: score(classifier), ArgumentError, "target"),
    ("score-output-unknown", lambda: score(classifier, 0, output="proba"),
     ArgumentError, "output"),
    ("score-model-not-callable", lambda: score("i3d", 0), ArgumentTypeError, "model"),
    ("score-model-returns-rank3", lambda: loco(score(lambda x: jnp.zeros((x.shape[0], 2, 2)), 0),
                                               VIDEO, SEG), ScoreFunctionError, "model"),
    # ---- removal ----
    ("removal-string", lambda: loco(F, VIDEO, SEG, removal="black"),
     ArgumentTypeError, "removal"),
    ("removal-function", lambda: rise(F, VIDEO, key=KEY, cells=(2, 2, 2), n_samples=N,
                                      removal=removal.black), ArgumentTypeError, "removal"),
    ("removal-string-evaluate", lambda: evaluate(F, VIDEO, SEG, np.ones((1, 8), bool), "gray"),
     ArgumentTypeError, "removal"),
    ("removal-fill-wrong-shape", lambda: loco(F, VIDEO, SEG,
                                              removal=removal.Removal("bad", wrong_fill)),
     ArgumentError, "removal"),
    ("constant-2.0", lambda: removal.constant(value=2.0), ArgumentError, "value"),
    ("constant-negative", lambda: removal.constant(-0.5), ArgumentError, "value"),
    ("constant-pair", lambda: removal.constant((0.1, 0.2)), ArgumentError, "value"),
    ("constant-rgb-above-1", lambda: removal.constant((0.1, 0.2, 1.2)), ArgumentError, "value"),
    ("gray-1.5", lambda: removal.gray(1.5), ArgumentError, "value"),
    ("blur-sigma-0", lambda: removal.blur(sigma=0), ArgumentError, "sigma"),
    ("blur-sigma-negative", lambda: removal.blur(sigma=-2.0), ArgumentError, "sigma"),
    ("blur-sigma-nan", lambda: removal.blur(sigma=float("nan")), ArgumentError, "sigma"),
    ("black-edge_sigma-negative", lambda: removal.black(edge_sigma=-1.0),
     ArgumentError, "edge_sigma"),
    ("mean_color-without-segments-rise", lambda: rise(
        F, VIDEO, key=KEY, cells=(2, 2, 2), n_samples=N, removal=removal.mean_color()),
     ArgumentError, "segmentation"),
    # ---- surrogate hyper-parameters ----
    ("kernel_width-0", lambda: lime(F, VIDEO, SEG, key=KEY, n_samples=N, kernel_width=0),
     ArgumentError, "kernel_width"),
    ("kernel_width-negative", lambda: lime(F, VIDEO, SEG, key=KEY, n_samples=N,
                                           kernel_width=-0.25), ArgumentError, "kernel_width"),
    ("alpha-negative", lambda: lime(F, VIDEO, SEG, key=KEY, n_samples=N, alpha=-0.1),
     ArgumentError, "alpha"),
    ("ridge-alpha-negative", lambda: ridge(np.ones((4, 2)), np.ones(4), alpha=-1.0),
     ArgumentError, "alpha"),
    ("ridge-y-length", lambda: ridge(np.ones((4, 2)), np.ones(3)), ArgumentError, "y"),
    # ---- batch_size ----
    ("batch_size-0", lambda: loco(F, VIDEO, SEG, batch_size=0), ArgumentError, "batch_size"),
    ("batch_size-0-lime", lambda: lime(F, VIDEO, SEG, key=KEY, n_samples=N, batch_size=0),
     ArgumentError, "batch_size"),
    ("batch_size-negative-rise", lambda: rise(F, VIDEO, key=KEY, cells=(2, 2, 2), n_samples=N,
                                              batch_size=-1), ArgumentError, "batch_size"),
    ("batch_size-0-occlusion", lambda: occlusion(F, VIDEO, batch_size=0),
     ArgumentError, "batch_size"),
    ("batch_size-float-deletion", lambda: metrics.deletion(F, VIDEO, SAL, batch_size=8.0),
     ArgumentTypeError, "batch_size"),
    # ---- RISE cells, occlusion size / stride ----
    ("rise-cells-larger-than-video", lambda: rise(F, VIDEO, key=KEY, cells=(8, 2, 2),
                                                  n_samples=N), ArgumentError, "cells[0]"),
    ("rise-default-cells-on-2-frames", lambda: rise(F, VIDEO[:2], key=KEY, n_samples=N),
     ArgumentError, "cells[0]"),
    ("rise-cells-pair", lambda: rise(F, VIDEO, key=KEY, cells=(2, 2), n_samples=N),
     ArgumentError, "cells"),
    ("occlusion-size-larger-than-video", lambda: occlusion(F, VIDEO, size=(2, 9, 2)),
     ArgumentError, "size[1]"),
    ("occlusion-size-0", lambda: occlusion(F, VIDEO, size=(0, 2, 2)), ArgumentError, "size[0]"),
    ("occlusion-stride-0", lambda: occlusion(F, VIDEO, size=(2, 2, 2), stride=(1, 0, 1)),
     ArgumentError, "stride[1]"),
    # ---- evaluate's coalition matrix ----
    ("Z-wrong-width", lambda: evaluate(F, VIDEO, SEG, np.ones((2, 3), bool)), ArgumentError, "Z"),
    ("Z-empty", lambda: evaluate(F, VIDEO, SEG, np.ones((0, 8), bool)), ArgumentError, "Z"),
    ("Z-not-binary", lambda: evaluate(F, VIDEO, SEG, np.full((2, 8), 0.5)),
     ArgumentTypeError, "Z"),
    # ---- metrics ----
    ("saliency-wrong-shape", lambda: metrics.deletion(F, VIDEO, SAL[:, :4]),
     ArgumentError, "saliency"),
    ("saliency-with-channels", lambda: metrics.insertion(F, VIDEO, SAL[..., None]),
     ArgumentError, "saliency"),
    ("saliency-transposed", lambda: metrics.minimal_mask(F, VIDEO, SAL.T),
     ArgumentError, "saliency"),
    ("saliency-nan", lambda: metrics.insertion(F, VIDEO, with_value(SAL, (0, 0, 0), np.nan)),
     ArgumentError, "saliency"),
    ("unit-unknown", lambda: metrics.deletion(F, VIDEO, SAL, unit="voxel"),
     ArgumentError, "unit"),
    ("unit-segmentation-wrong-shape", lambda: metrics.insertion(
        F, VIDEO, SAL, unit=segment.grid((T, 4, 4), (1, 2, 2))), ArgumentError, "unit"),
    ("order-unknown", lambda: metrics.deletion(F, VIDEO, SAL, order="random"),
     ArgumentError, "order"),
    ("order-uppercase", lambda: metrics.insertion(F, VIDEO, SAL, order="MoRF"),
     ArgumentError, "order"),
    ("steps-0", lambda: metrics.deletion(F, VIDEO, SAL, steps=0), ArgumentError, "steps"),
    ("steps-float", lambda: metrics.insertion(F, VIDEO, SAL, steps=10.5),
     ArgumentTypeError, "steps"),
    ("patch-0", lambda: metrics.deletion(F, VIDEO, SAL, unit="patch", patch=0),
     ArgumentError, "patch"),
    ("removed-wrong-shape", lambda: metrics.deletion(F, VIDEO, SAL, removed=VIDEO[:, :4]),
     ArgumentError, "removed"),
    ("removed-uint8", lambda: metrics.insertion(F, VIDEO, SAL,
                                                removed=np.zeros((T, H, W, 3), np.uint8)),
     ArgumentTypeError, "removed"),
    ("minimal_mask-game-unknown", lambda: metrics.minimal_mask(F, VIDEO, SAL, game="both"),
     ArgumentError, "game"),
    ("minimal_mask-threshold-negative", lambda: metrics.minimal_mask(
        F, VIDEO, SAL, thresholds=(0.1, -0.2), steps=4), ArgumentError, "thresholds"),
    # ---- Explanation ----
    ("explanation-map-rank2", lambda: Explanation(np.zeros(8), SEG, np.zeros((H, W)), "x"),
     ArgumentError, "map"),
    ("explanation-weights-wrong-length", lambda: Explanation(np.zeros(7), SEG, SAL, "x"),
     ArgumentError, "weights"),
    ("explanation-weights-nan", lambda: Explanation(with_value(np.zeros(8), 3, np.nan), SEG,
                                                    SAL, "x"), ArgumentError, "weights"),
    ("explanation-segmentation-mismatch", lambda: Explanation(
        np.zeros(8), SEG, np.zeros((T, H, 4)), "x"), ArgumentError, "segmentation"),
    # ---- viz ----
    ("overlay-saliency-wrong-shape", lambda: viz.overlay(VIDEO, SAL[:2]),
     ArgumentError, "saliency"),
    ("overlay-alpha-1.5", lambda: viz.overlay(VIDEO, SAL, alpha=1.5), ArgumentError, "alpha"),
    ("overlay-cmap-unknown", lambda: viz.overlay(VIDEO, SAL, cmap="no-such-map"),
     ArgumentError, "cmap"),
    ("posneg-alpha-negative", lambda: viz.posneg(VIDEO, SAL, alpha=-0.1), ArgumentError, "alpha"),
    ("top_fraction-0", lambda: viz.top_fraction(np.ones(4), 0.0), ArgumentError, "fraction"),
    ("keep_important-weights-wrong-length", lambda: viz.keep_important(VIDEO, SEG, np.ones(3)),
     ArgumentError, "weights"),
    ("keep_important-not-a-segmentation", lambda: viz.keep_important(
        VIDEO, np.array(SEG.labels), np.ones(8)), ArgumentTypeError, "segmentation"),
    ("frame_grid-cols-0", lambda: viz.frame_grid(VIDEO, cols=0), ArgumentError, "cols"),
    ("frame_grid-rank3", lambda: viz.frame_grid(VIDEO[0]), ArgumentError, "frames"),
    # ---- io without files on disk ----
    ("sample_video-unknown-name", lambda: sample_video("cats"), ArgumentError, "name"),
    ("sample_video-not-a-str", lambda: sample_video(1), ArgumentTypeError, "name"),
    ("read_video-path-int", lambda: read_video(123), ArgumentTypeError, "path"),
    ("read_video-num_frames-0", lambda: read_video(sample_video("carphone"), num_frames=0),
     ArgumentError, "num_frames"),
    ("read_video-num_frames-float", lambda: read_video(sample_video("carphone"), num_frames=8.0),
     ArgumentTypeError, "num_frames"),
    ("read_video-stride-0", lambda: read_video(sample_video("carphone"), num_frames=4, stride=0),
     ArgumentError, "stride"),
    ("read_video-size-0", lambda: read_video(sample_video("carphone"), size=0),
     ArgumentError, "size"),
    ("read_video-size-triple", lambda: read_video(sample_video("carphone"), size=(1, 2, 3)),
     ArgumentError, "size"),
    ("read_video-crop-unknown", lambda: read_video(sample_video("carphone"), size=32, crop="left"),
     ArgumentError, "crop"),
    ("write_video-path-int", lambda: write_video(5, VIDEO), ArgumentTypeError, "path"),
]


@pytest.mark.parametrize("call, error, argument",
                         [pytest.param(c, e, a, id=i) for i, c, e, a in CASES])
def test_bad_argument_is_refused_with_its_name(call, error, argument):
    with pytest.raises(error, match=names(argument)) as info:
        call()
    assert type(info.value) is error  # the precise class, not merely a subclass of it


def test_case_ids_are_distinct_and_many():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 30


def test_typed_errors_keep_their_builtin_bases():
    # callers that catch ValueError / TypeError / OSError keep working
    with pytest.raises(ValueError):
        lime(F, VIDEO, SEG, key=KEY, n_samples=0)
    with pytest.raises(TypeError):
        lime(F, VIDEO, SEG, key=None, n_samples=N)
    with pytest.raises(RuntimeError):
        loco(classifier, VIDEO, SEG)
    with pytest.raises(OSError):
        read_video("/nonexistent/clip.mp4")


# ------------------------------------------------------------------ cases that need files
@pytest.fixture(scope="module")
def carphone():
    return sample_video("carphone")


def test_carphone_is_120_frames(carphone):
    # the num_frames / stride cases below rely on this length
    assert read_video(carphone, num_frames=120, size=(8, 8)).shape == (120, 8, 8, 3)


FILE_CASES = [
    ("read_video-missing-file", lambda tmp, clip: read_video(tmp / "missing.mp4"),
     VideoFileError, "path"),
    ("read_video-text-file-named-mp4", lambda tmp, clip: read_video(paths(tmp)),
     VideoFileError, "path"),
    ("read_video-directory", lambda tmp, clip: read_video(tmp), VideoFileError, "path"),
    ("read_video-num_frames-larger-than-clip", lambda tmp, clip: read_video(clip, num_frames=121),
     ArgumentError, "num_frames"),
    ("read_video-stride-window-larger-than-clip",
     lambda tmp, clip: read_video(clip, num_frames=60, stride=3), ArgumentError, "stride"),
    ("write_video-unknown-suffix", lambda tmp, clip: write_video(tmp / "out.avi", VIDEO),
     ArgumentError, "path"),
    ("write_video-no-suffix", lambda tmp, clip: write_video(tmp / "out", VIDEO),
     ArgumentError, "path"),
    ("write_video-missing-directory",
     lambda tmp, clip: write_video(tmp / "no" / "such" / "dir" / "out.gif", VIDEO),
     VideoFileError, "path"),
    ("write_video-fps-0", lambda tmp, clip: write_video(tmp / "out.gif", VIDEO, fps=0),
     ArgumentError, "fps"),
    ("write_video-int32-frames",
     lambda tmp, clip: write_video(tmp / "out.gif", np.zeros((T, H, W, 3), np.int32)),
     ArgumentTypeError, "frames"),
    ("write_video-frames-above-1", lambda tmp, clip: write_video(tmp / "out.mp4", VIDEO * 3),
     ArgumentError, "frames"),
    ("write_video-uint8-rank3",
     lambda tmp, clip: write_video(tmp / "out.gif", np.zeros((H, W, 3), np.uint8)),
     ArgumentError, "frames"),
    ("explanation-load-missing-file", lambda tmp, clip: Explanation.load(tmp / "none.npz"),
     VideoFileError, "path"),
    ("explanation-save-missing-directory",
     lambda tmp, clip: Explanation(np.zeros(8), SEG, SAL, "x").save(tmp / "no" / "e.npz"),
     VideoFileError, "path"),
]


@pytest.mark.parametrize("call, error, argument",
                         [pytest.param(c, e, a, id=i) for i, c, e, a in FILE_CASES])
def test_bad_file_argument_is_refused(call, error, argument, tmp_path, carphone):
    with pytest.raises(error, match=names(argument)) as info:
        call(tmp_path, carphone)
    assert type(info.value) is error
    assert not list(tmp_path.glob("out*"))  # nothing half-written


# ------------------------------------------------------------ inputs are never modified
def _frozen(x):
    x = np.array(x, copy=True)
    x.setflags(write=False)
    return x


METHODS = [
    ("lime", lambda v, s, seg: lime(F, v, seg, key=KEY, n_samples=16)),
    ("kernel_shap", lambda v, s, seg: kernel_shap(F, v, seg, key=KEY, n_samples=16)),
    ("rise", lambda v, s, seg: rise(F, v, key=KEY, cells=(2, 2, 2), n_samples=16)),
    ("loco", lambda v, s, seg: loco(F, v, seg)),
    ("univariate", lambda v, s, seg: univariate(F, v, seg)),
    ("occlusion", lambda v, s, seg: occlusion(F, v, size=(2, 4, 4))),
    ("insertion", lambda v, s, seg: metrics.insertion(F, v, s, steps=8)),
    ("deletion", lambda v, s, seg: metrics.deletion(F, v, s, steps=8, unit=seg)),
]


@pytest.mark.parametrize("method", [pytest.param(m, id=i) for i, m in METHODS])
def test_inputs_are_never_modified_in_place(method):
    video = _frozen(VIDEO)
    saliency = _frozen(np.random.default_rng(1).normal(size=(T, H, W)).astype(np.float32))
    labels = _frozen(SEG.labels)
    seg = segment.grid(video, (2, 2, 2))
    video_copy, saliency_copy, labels_copy = video.copy(), saliency.copy(), labels.copy()
    result = method(video, saliency, seg)
    assert result is not None
    np.testing.assert_array_equal(video, video_copy)
    np.testing.assert_array_equal(saliency, saliency_copy)
    np.testing.assert_array_equal(seg.labels, labels_copy)
    assert not video.flags.writeable and not saliency.flags.writeable


# ---------------------------------------------- regressions: defects found and fixed
@pytest.mark.parametrize("method", [
    pytest.param(lambda: lime(F, VIDEO, None, key=KEY, n_samples=N), id="lime"),
    pytest.param(lambda: kernel_shap(F, VIDEO, None, key=KEY, n_samples=N), id="kernel_shap"),
    pytest.param(lambda: loco(F, VIDEO, None), id="loco"),
    pytest.param(lambda: univariate(F, VIDEO, None), id="univariate"),
])
def test_missing_segmentation_is_a_typed_error(method):
    with pytest.raises(ArgumentTypeError, match=names("segmentation")):
        method()


@pytest.mark.parametrize("seg", [pytest.param(None, id="none"),
                                 pytest.param(np.array(SEG.labels), id="raw-labels")])
def test_evaluate_checks_segmentation_type(seg):
    with pytest.raises(ArgumentTypeError, match=names("segmentation")):
        evaluate(F, VIDEO, seg, np.ones((2, 8), bool))


def test_constant_nan_is_refused():
    with pytest.raises(ArgumentError, match=names("value")):
        removal.constant(float("nan"))


def test_constant_non_numeric_is_a_typed_error():
    with pytest.raises(ArgumentTypeError, match=names("value")):
        removal.constant("red")


def test_empty_labels_are_refused():
    with pytest.raises(ArgumentError, match=names("labels")):
        Segmentation(np.zeros((0, 4, 4), np.int32), 1)


def test_removal_with_non_callable_fill_is_refused():
    with pytest.raises(ArgumentTypeError, match=names("fill")):
        loco(F, VIDEO, SEG, removal=removal.Removal("x", None))


def test_non_numeric_saliency_is_a_typed_error():
    with pytest.raises(ArgumentTypeError, match=names("saliency")):
        metrics.deletion(F, VIDEO, np.full((T, H, W), "a"))


@pytest.mark.parametrize("kind", ["text-file", "npz-without-info"])
def test_explanation_load_of_a_foreign_file_is_a_typed_error(kind, tmp_path):
    path = tmp_path / "e.npz"
    if kind == "text-file":
        path.write_text("not an explanation\n")
    else:
        np.savez(path, a=np.zeros(3))
    with pytest.raises((VideoFileError, ArgumentError), match=names("path")):
        Explanation.load(path)


class CountingScore:
    """Eager score function that counts its calls (one call per batch of videos)."""

    vidxai_eager = True

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return np.asarray(x).mean(axis=(1, 2, 3, 4))


@pytest.mark.parametrize("call", [
    pytest.param(lambda f: lime(f, VIDEO, SEG, key=KEY, n_samples=N, kernel_width=0),
                 id="lime-kernel_width"),
    pytest.param(lambda f: lime(f, VIDEO, SEG, key=KEY, n_samples=N, alpha=-1.0),
                 id="lime-alpha"),
    pytest.param(lambda f: metrics.minimal_mask(f, VIDEO, SAL, thresholds=(-0.1,), steps=4),
                 id="minimal_mask-thresholds"),
])
def test_hyper_parameters_are_checked_before_the_model_runs(call):
    f = CountingScore()
    with pytest.raises(ArgumentError):
        call(f)
    assert f.calls == 0

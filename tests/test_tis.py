"""Time importance scores of TIEM (paper 002, Eq. 1-4): window maskings, theta, valid sizes.

Known answers: a model that reads only frames 5-8 gives a TIS that peaks there; a model
that ignores the video hits the vanishing-sum guard and returns a uniform, finite TIS; a
4-frame additive model worked by hand (windows, theta, valid sizes, TIS as fractions); and
the paper's Eq. 1-4 written as plain loops on 5 random frames.
"""
from fractions import Fraction

import jax.numpy as jnp
import numpy as np
import pytest

from vidxai import ArgumentError, ArgumentTypeError, removal
from vidxai.explain.extremal import TimeImportance, time_importance
from vidxai.explain.extremal.windows import importance_from_scores

T, H, W = 16, 6, 6
VIDEO = np.random.default_rng(0).uniform(0.1, 0.9, (T, H, W, 3)).astype(np.float32)
VIDEO.setflags(write=False)


def frames_5_to_8(x):
    """Mean of the video over frames 5..8 (0-based): only those frames matter."""
    return x[:, 5:9].mean(axis=(1, 2, 3, 4))


def ignores_video(x):
    return 0.0 * x.sum(axis=(1, 2, 3, 4)) + 0.7


@pytest.fixture(scope="module")
def result():
    return time_importance(frames_5_to_8, VIDEO, batch_size=40)


def test_tis_peaks_on_the_frames_the_model_reads(result):
    assert isinstance(result, TimeImportance)
    assert result.tis.shape == (T,)
    assert 5 <= int(np.argmax(result.tis)) <= 8
    assert result.tis[5:9].sum() > 0.5
    np.testing.assert_allclose(result.tis.sum(), 1.0, rtol=1e-5)
    assert np.all(np.isfinite(result.tis))


def test_window_table_shape_rows_and_zeros(result):
    win = result.windows
    assert win.shape == (T, T)
    for w in range(1, T + 1):
        n = T - w + 1
        np.testing.assert_allclose(win[w - 1, :n].sum(), 1.0, rtol=1e-5)  # Eq. 2 normalised
        assert np.all(win[w - 1, n:] == 0)                               # no such window
    # Single frames outside 5..8 do not matter at all; inside they share the drop.
    np.testing.assert_allclose(win[0, [0, 1, 2, 3, 4, 9, 15]], 0.0, atol=1e-6)
    assert np.all(win[0, 5:9] > 0.15)


def test_theta_valid_sizes_and_evaluation_count(result):
    assert result.theta.shape == (T,)
    assert result.theta[T - 1] == 0.0           # w = T has a single start
    assert len(result.valid_sizes) >= 1
    assert all(isinstance(w, int) and 1 <= w <= T for w in result.valid_sizes)
    assert result.alpha == 0.8
    assert result.n_evals == T * (T + 1) // 2 + 1


HALF = np.full((4, 2, 2, 3), 0.5, np.float32)


def additive_frames(c):
    """f(x) = sum_t c_t * mean(x_t): blacking out a window drops exactly its frames' terms."""
    c = jnp.asarray(c, jnp.float32)
    return lambda x: jnp.sum(x.mean(axis=(2, 3, 4)) * c, axis=1)


@pytest.mark.parametrize("alpha,valid,tis", [
    (0.8, (1,), np.array([1 / 6, 1 / 2, 1 / 3, 0.0])),
    (0.4, (1, 2), np.array([105, 174, 128, 36]) / 443)])
def test_hand_worked_four_frames(alpha, valid, tis):
    """T = 4, c = (1, 3, 2, 0), every frame 0.5, so a window's drop is 0.5 * (sum of its c):
    w=1: drops (.5, 1.5, 1, 0), sum 3 -> p = (1/6, 1/2, 1/3, 0), theta = 1/3 + 1/6 + 1/3 = 5/6;
    w=2: drops (2, 2.5, 1), sum 5.5 -> p = (4/11, 5/11, 2/11), theta = 1/11 + 3/11 = 4/11;
    w=3: drops (3, 2.5) -> p = (6/11, 5/11), theta = 1/11; w=4: p = (1), theta = 0.
    alpha 0.8 (threshold 2/3): C = {1}, l = p^1. alpha 0.4 (threshold 1/3 < 4/11): C = {1, 2};
    l_t = mean of p over the valid windows holding t = (35/132, 29/66, 32/99, 1/11), times
    396/443 to sum to 1. catches: theta from raw drops, l as a sum over windows, windows
    normalised by their max."""
    res = time_importance(additive_frames([1.0, 3.0, 2.0, 0.0]), HALF, alpha=alpha)
    windows = np.zeros((4, 4))
    windows[0] = [1 / 6, 1 / 2, 1 / 3, 0]
    windows[1, :3] = [4 / 11, 5 / 11, 2 / 11]
    windows[2, :2] = [6 / 11, 5 / 11]
    windows[3, 0] = 1
    np.testing.assert_allclose(res.windows, windows, atol=1e-6)
    np.testing.assert_allclose(res.theta, [5 / 6, 4 / 11, 1 / 11, 0], atol=1e-6)
    assert res.valid_sizes == valid
    np.testing.assert_allclose(res.tis, tis, atol=1e-6)


def paper_tis(phi, video, alpha):
    """Paper 002 Eq. 1-4 with loops: black out [t', t'+w), p = phi(X) - phi(O), p / sum over
    starts, theta = total variation, C = {w: theta > alpha max theta}, l_t = mean of p over
    valid windows holding t, l / sum(l). (Drops are positive here: no guard needed.)"""
    t = video.shape[0]
    p = {}
    theta = np.zeros(t)
    for w in range(1, t + 1):
        row = []
        for start in range(t - w + 1):
            hidden = video.copy()
            hidden[start:start + w] = 0.0
            row.append(phi(video) - phi(hidden))
        row = np.array(row) / np.sum(row)
        p[w] = row
        theta[w - 1] = sum(abs(row[i + 1] - row[i]) for i in range(len(row) - 1))
    valid = [w for w in range(1, t + 1) if theta[w - 1] > alpha * theta.max()]
    l = np.zeros(t)
    for frame in range(t):
        held = [p[w][s] for w in valid for s in range(t - w + 1) if s <= frame < s + w]
        l[frame] = np.mean(held)
    return l / l.sum(), theta, tuple(valid)


@pytest.mark.parametrize("alpha,n_valid", [(0.0, 4), (0.2, 3), (0.8, 1)])
def test_matches_the_paper_loops_on_random_frames(alpha, n_valid):
    """Five random frames, c = (0.5, 2, 0.2, 1.1, 0.7): the library vs the loops above;
    theta = (1.04, 0.23, 0.24, 0.03, 0), so alpha 0 keeps every size but w = T (theta 0).
    catches: window off by one frame, normalisation by max or by a wrong count, >= for >."""
    video = np.random.default_rng(3).uniform(0.1, 0.9, (5, 3, 3, 3))
    c = np.array([0.5, 2.0, 0.2, 1.1, 0.7])
    phi = lambda v: float(np.sum(v.mean(axis=(1, 2, 3)) * c))
    tis, theta, valid = paper_tis(phi, video, alpha)
    res = time_importance(additive_frames(c), video.astype(np.float32), alpha=alpha)
    np.testing.assert_allclose(res.theta, theta, atol=1e-5)
    assert res.valid_sizes == valid and len(valid) == n_valid
    np.testing.assert_allclose(res.tis, tis, atol=1e-5)


def test_deterministic(result):
    again = time_importance(frames_5_to_8, VIDEO, batch_size=7)
    np.testing.assert_allclose(again.tis, result.tis, atol=1e-6)
    np.testing.assert_allclose(again.windows, result.windows, atol=1e-6)
    assert again.valid_sizes == result.valid_sizes


def test_alpha_zero_uses_every_varying_size():
    res = time_importance(frames_5_to_8, VIDEO, alpha=0.0)
    assert res.valid_sizes == tuple(int(w) + 1 for w in np.flatnonzero(res.theta > 0))


def test_model_ignoring_the_video_gives_uniform_tis():
    res = time_importance(ignores_video, VIDEO)
    np.testing.assert_allclose(res.tis, np.full(T, 1.0 / T), rtol=1e-6)
    assert res.valid_sizes == ()
    assert np.all(np.isfinite(res.windows)) and np.all(res.theta == 0)
    for w in range(1, T + 1):
        np.testing.assert_allclose(res.windows[w - 1, :T - w + 1], 1.0 / (T - w + 1), rtol=1e-6)


def test_negative_drops_shift_rule_does_not_flip():
    """negative_drops="shift" (vidxai 0.2's rule): hiding frames 5..8 *raises* the score; the
    ranking must not flip (no division by a negative sum) and nothing is NaN."""
    res = time_importance(lambda x: -frames_5_to_8(x), VIDEO, negative_drops="shift")
    assert np.all(np.isfinite(res.tis)) and np.all(np.isfinite(res.windows))
    np.testing.assert_allclose(res.tis.sum(), 1.0, rtol=1e-5)
    assert np.all(res.windows >= 0) and np.all(res.tis >= 0)
    # Shifted rows: the windows that raise the score are the least important.
    assert res.windows[0, 5:9].max() < res.windows[0, 0] - 1e-3
    assert res.tis[5:9].max() < res.tis.max()


def test_negative_drops_clip_by_default():
    """Default "clip": drops below 0 count as 0, the positive drops keep their proportions.
    T = 5, c = (2, 0, -4, 0, 2), every frame 0.5: single-frame drops (1, 0, -2, 0, 1) ->
    clip (1, 0, 0, 0, 1) / 2; shift would give (3, 2, 0, 2, 3) / 10 (irrelevant frames 1
    and 3 lifted to 1/5); signed (1, 0, -2, 0, 1) / 0 -> not positive -> falls back to clip
    and lists w = 1 as guarded. catches: shift applied by default; a signed row divided by
    a vanishing sum."""
    half = np.full((5, 2, 2, 3), 0.5, np.float32)
    f = additive_frames([2.0, 0.0, -4.0, 0.0, 2.0])
    clip = time_importance(f, half)
    np.testing.assert_allclose(clip.windows[0, :5], [0.5, 0, 0, 0, 0.5], atol=1e-6)
    shift = time_importance(f, half, negative_drops="shift")
    np.testing.assert_allclose(shift.windows[0, :5], [0.3, 0.2, 0, 0.2, 0.3], atol=1e-6)
    signed = time_importance(f, half, negative_drops="signed")
    np.testing.assert_allclose(signed.windows[0, :5], [0.5, 0, 0, 0, 0.5], atol=1e-6)
    assert 1 in signed.guarded and 1 not in clip.guarded
    assert clip.negative_drops == "clip" and clip.window_span == "w"


@pytest.mark.parametrize("negative", ["clip", "signed", "shift"])
def test_cancelling_sum_guard_is_finite(negative):
    """Drops [+1, -1, +1, -1]: the signed sum is 0. clip -> [1, 0, 1, 0] / 2; shift -> [2, 0,
    2, 0] / 4, the same; signed cannot divide by 0 and falls back to clip (guarded).
    catches: a division by the vanishing signed sum (inf / NaN)."""
    tis, windows, theta, valid, guarded = importance_from_scores(
        0.0, np.array([-1.0, 1.0, -1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]), 4, 0.8,
        negative_drops=negative)
    np.testing.assert_allclose(windows[0], [0.5, 0.0, 0.5, 0.0])
    assert np.all(np.isfinite(tis)) and np.all(np.isfinite(theta))
    np.testing.assert_allclose(tis.sum(), 1.0)
    assert valid == (1,) and (1 in guarded) == (negative == "signed")


def test_algorithm_1_by_hand_six_frames():
    """window_span="w+1", negative_drops="signed": paper 002's Algorithm 1 (appendix A) worked
    by hand. T = 6, frames 1..6 (1-based as in the pseudocode) all 0.5, f = sum_t c_t mean(x_t)
    with c = (1, 0, 2, -1, 0, 3): hiding a set S of frames drops f by (1/2) sum_{t in S} c_t.
    Lines 6-10 hide frames t .. t + w (inclusive, w + 1 frames; past frame 6 clipped):
      w=1: starts 1..6 hide {1,2} {2,3} {3,4} {4,5} {5,6} {6}: drops 1/2, 1, 1/2, -1/2, 3/2, 3/2,
           sum 9/2 -> p^1 = (1/9, 2/9, 1/9, -1/9, 1/3, 1/3) (line 13, signed);
           theta^1 = 1/9 + 1/9 + 2/9 + 4/9 + 0 = 8/9 (line 16)
      w=2: {1,2,3} {2,3,4} {3,4,5} {4,5,6} {5,6}: 3/2, 1/2, 1/2, 1, 3/2, sum 5
           -> (3/10, 1/10, 1/10, 1/5, 3/10), theta 1/5 + 0 + 1/10 + 1/10 = 2/5
      w=3: {1-4} {2-5} {3-6} {4-6}: 1, 1/2, 2, 1, sum 9/2 -> (2/9, 1/9, 4/9, 2/9), theta 2/3
      w=4: {1-5} {2-6} {3-6}: 1, 2, 2 -> (1/5, 2/5, 2/5), theta 1/5
      w=5: {1-6} {2-6}: 5/2, 2 -> (5/9, 4/9), theta 1/9;  w=6: {1-6} -> (1), theta 0.
    Line 18 with alpha = 1/2: threshold 4/9, C = {1, 3} (2/5 < 4/9).
    Lines 19-26 credit p^{w,i} to frames i .. i + w (clipped), counting them in lambda:
      w=1: frame 1 gets 1/9; 2: 1/9 + 2/9; 3: 2/9 + 1/9; 4: 1/9 - 1/9; 5: -1/9 + 1/3;
           6: 1/3 + 1/3; counts (1, 2, 2, 2, 2, 2)
      w=3: frame 1: 2/9; 2: 2/9 + 1/9; 3: 2/9 + 1/9 + 4/9; 4: 2/9 + 1/9 + 4/9 + 2/9;
           5: 1/9 + 4/9 + 2/9; 6: 4/9 + 2/9; counts (1, 2, 3, 4, 3, 2)
      l = (1/3, 2/3, 10/9, 1, 1, 4/3), lambda = (2, 4, 5, 6, 5, 4),
      l / lambda = (1/6, 1/6, 2/9, 1/6, 1/5, 1/3), sum 113/90 (line 27 read as Eq. 4)
      -> TIS = (15, 15, 20, 15, 18, 30) / 113.
    catches: the w+1 span ignored in the masking or in the crediting; signed rows shifted
    or clipped; the last window not clipped at the last frame."""
    half = np.full((6, 2, 2, 3), 0.5, np.float32)
    f = additive_frames([1.0, 0.0, 2.0, -1.0, 0.0, 3.0])
    res = time_importance(f, half, alpha=0.5, window_span="w+1", negative_drops="signed")
    fr = Fraction
    rows = [[fr(1, 9), fr(2, 9), fr(1, 9), fr(-1, 9), fr(1, 3), fr(1, 3)],
            [fr(3, 10), fr(1, 10), fr(1, 10), fr(1, 5), fr(3, 10)],
            [fr(2, 9), fr(1, 9), fr(4, 9), fr(2, 9)], [fr(1, 5), fr(2, 5), fr(2, 5)],
            [fr(5, 9), fr(4, 9)], [fr(1)]]
    windows = np.zeros((6, 6))
    for w, row in enumerate(rows):
        windows[w, :len(row)] = [float(x) for x in row]
    np.testing.assert_allclose(res.windows, windows, atol=1e-6)
    np.testing.assert_allclose(res.theta, [8 / 9, 2 / 5, 2 / 3, 1 / 5, 1 / 9, 0], atol=1e-6)
    assert res.valid_sizes == (1, 3) and res.guarded == ()
    np.testing.assert_allclose(res.tis, np.array([15, 15, 20, 15, 18, 30]) / 113, atol=1e-6)
    # the defaults (w frames, clipped drops) give another answer on the same model
    assert np.abs(time_importance(f, half, alpha=0.5).tis - res.tis).max() > 0.01


def test_removed_state_accepts_removal_or_video(result):
    a = time_importance(frames_5_to_8, VIDEO, removed=removal.constant(0.0))
    b = time_importance(frames_5_to_8, VIDEO, removed=np.zeros(VIDEO.shape, np.float32))
    np.testing.assert_allclose(a.tis, result.tis, atol=1e-6)
    np.testing.assert_allclose(b.tis, result.tis, atol=1e-6)
    # Grey removal: drops of both signs (frames darker or brighter than grey); still a
    # finite, non-negative TIS summing to 1.
    grey = time_importance(frames_5_to_8, VIDEO, removed=removal.constant(0.5))
    assert np.all(np.isfinite(grey.tis)) and np.all(grey.tis >= 0)
    np.testing.assert_allclose(grey.tis.sum(), 1.0, rtol=1e-5)
    assert np.all(np.abs(grey.windows) <= 1.0 + 1e-6)


@pytest.mark.parametrize("kwargs, error, argument", [
    (dict(f=None), ArgumentTypeError, "f"),
    (dict(video=np.zeros((4, 4, 3), np.float32)), ArgumentError, "video"),
    (dict(video=np.zeros((4, 4, 4, 3), np.uint8)), ArgumentTypeError, "video"),
    (dict(alpha=1.0), ArgumentError, "alpha"),
    (dict(alpha=-0.1), ArgumentError, "alpha"),
    (dict(alpha="0.8"), ArgumentTypeError, "alpha"),
    (dict(removed=np.zeros((2, H, W, 3), np.float32)), ArgumentError, "removed"),
    (dict(batch_size=0), ArgumentError, "batch_size"),
    (dict(window_span="w+2"), ArgumentError, "window_span"),
    (dict(negative_drops=None), ArgumentError, "negative_drops"),
])
def test_bad_input_names_the_argument(kwargs, error, argument):
    args = dict(f=frames_5_to_8, video=VIDEO)
    args.update(kwargs)
    f, video = args.pop("f"), args.pop("video")
    with pytest.raises(error, match=rf"^{argument}:"):
        time_importance(f, video, **args)


def test_jax_array_video_is_accepted():
    res = time_importance(frames_5_to_8, jnp.asarray(VIDEO[:10]))
    assert res.tis.shape == (10,) and res.n_evals == 10 * 11 // 2 + 1


def test_evaluation_count_is_the_number_of_rows_scored():
    seen = []

    def counting(x):
        x = np.asarray(x)
        seen.append(x.shape[0])
        return x[:, 2:4].mean(axis=(1, 2, 3, 4))

    counting.vidxai_eager = True
    t = 6
    res = time_importance(counting, VIDEO[:t], batch_size=t * (t + 1) // 2 + 1)
    assert sum(seen) == res.n_evals == t * (t + 1) // 2 + 1
    assert 2 <= int(np.argmax(res.tis)) <= 3

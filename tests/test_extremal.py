"""Extremal-perturbation methods: EP-3D, STEP, TIEM (vidxai.explain.extremal)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.whitebox import noise_video, whitebox
from vidxai import masks as M
from vidxai.errors import ArgumentError
from vidxai.explain.extremal import objective as opt
from vidxai.explain import extremal as E
from vidxai.explain import time_importance
from vidxai.scoring import score

SHAPE = (6, 16, 16)
SMALL = dict(seed_stride=4, sigma=3)


def frames_reader(first, last):
    """White-box regressor that reads only frames first..last (inclusive): sum of x^2."""
    def f(x):
        return jnp.sum(x[:, first:last + 1] ** 2, axis=(1, 2, 3, 4))
    return f


@pytest.fixture(scope="module")
def video():
    return np.asarray(noise_video(jax.random.key(0), SHAPE))


def method_configs():
    ones = np.ones((1, SHAPE[0]), np.float32)
    return {"ep3d": (opt.Config(SHAPE, **SMALL), ones),
            "step": (opt.Config(SHAPE, kernel=(3, 5, 5), kernel_stride=(1, 5, 5), **SMALL), ones),
            "tiem": (opt.Config(SHAPE, per_frame=True, **SMALL), ones * 0.3)}


@pytest.mark.parametrize("name", ["ep3d", "step", "tiem"])
def test_gradient_only_where_it_should_be(video, name):
    """Reward only (lambdas 0): the seed gradient lives on frames the model reads; the
    mask-level reward gradient of a white-box regressor lives exactly on its target set."""
    cfg, areas_t = method_configs()[name]
    cfg = opt.Config(**{**cfg.__dict__, "lambda1": 0.0, "lambda2": 0.0, "reward": "linear"})
    pyr = M.blur_pyramid(jnp.asarray(video))
    grid = M.seed_grid_shape(SHAPE[1:], 4, 3)
    seeds = jnp.full((1, SHAPE[0]) + grid, 0.7)
    g, _ = jax.grad(opt._loss, has_aux=True)(seeds, frames_reader(2, 3), pyr, jnp.asarray([0.3]),
                                            jnp.asarray(areas_t), jnp.asarray(200), cfg)
    per_frame = np.abs(np.asarray(g))[0].sum(axis=(1, 2))
    assert np.all(per_frame[[2, 3]] > 0) and np.all(per_frame[[0, 1, 4, 5]] == 0)
    # with L_S on (above its area), frames the model ignores get only positive gradients
    cfg_on = opt.Config(**{**cfg.__dict__, "lambda1": 300.0})
    g_on, _ = jax.grad(opt._loss, has_aux=True)(seeds, frames_reader(2, 3), pyr,
                                               jnp.asarray([0.05]), jnp.asarray(areas_t) * 0.1,
                                               jnp.asarray(200), cfg_on)
    assert np.asarray(g_on)[0, [0, 1, 4, 5]].min() >= 0 and np.asarray(g_on).max() > 0


def test_whitebox_mask_gradient_on_target_set():
    shape = (9, 16, 16)
    model = whitebox("dynamic", shape)
    f = score(model, output="raw")
    video = noise_video(jax.random.key(1), shape)
    pyr = M.blur_pyramid(video)
    g = jax.grad(lambda m: -f(M.apply_pyramid(pyr, m)[None]).sum())(jnp.full(shape, 0.6))
    nonzero = np.asarray(g) != 0
    np.testing.assert_array_equal(nonzero, model.meta["target_set"])


def test_ep3d_result_and_compiles_once(video):
    f = frames_reader(2, 3)
    before = opt._scan._cache_size()
    r = E.ep3d(f, video, areas=(0.05, 0.1, 0.15, 0.2), iterations=3, **SMALL)
    r2 = E.ep3d(f, video, areas=(0.06, 0.12, 0.18, 0.3), iterations=3, **SMALL)
    assert opt._scan._cache_size() - before == 1  # one compilation for two 4-area runs
    assert r.masks.shape == (4,) + SHAPE and r.history.shape == (3, 4)
    assert r.scores.shape == (4,) and r.map.shape == SHAPE
    assert r.map.max() == pytest.approx(1.0) and r.masks.min() >= 0 and r.masks.max() <= 1
    assert r2.areas == (0.06, 0.12, 0.18, 0.3)
    a, m = E.smallest_area(r, -1.0)
    assert a == 0.05 and m.shape == SHAPE
    assert E.smallest_area(r, 1e9) == (None, None)


def test_eager_path_matches_scan(video):
    f = frames_reader(1, 4)

    def g(x):
        return f(x)
    g.vidxai_eager = True
    r1 = E.step(f, video, areas=(0.1,), iterations=4, kernel=(3, 5, 5), lambda2_start=2, **SMALL)
    r2 = E.step(g, video, areas=(0.1,), iterations=4, kernel=(3, 5, 5), lambda2_start=2, **SMALL)
    assert r2.meta["eager"] and not r1.meta["eager"]
    np.testing.assert_allclose(r1.masks, r2.masks, atol=1e-4)
    np.testing.assert_allclose(r1.history, r2.history, rtol=1e-4)


def test_tiem_per_frame_areas_follow_tis(video):
    """With a flat model only the per-frame area loss acts: kept areas track a * l_t * T."""
    def flat(x):
        return 1e-6 * jnp.mean(x, axis=(1, 2, 3, 4))
    tis = np.array([0.0, 0.1, 0.4, 0.3, 0.2, 0.0], np.float32)
    r = E.tiem(flat, video, areas=(0.15,), tis=tis, iterations=300, **SMALL)
    np.testing.assert_allclose(r.areas_t[0], np.clip(0.15 * tis * 6, 0, 1), rtol=1e-6)
    kept = r.masks[0].mean(axis=(1, 2))
    # frames without area keep nothing; the others keep areas in exactly the order of a l_t T
    assert kept[0] < 0.01 and kept[5] < 0.01
    np.testing.assert_array_equal(np.argsort(kept[1:5]), np.argsort(r.areas_t[0, 1:5]))
    # L_S counts the frame (the default since issue 17): each frame keeps about a_t of its
    # pixels; with area_on="full" (the reference code) it counts the uncropped mask (frame
    # + 3-px border, 21x21 = 441 px for a 16x16 frame), so every frame keeps more.
    # catches: the area measured on the wrong mask, or area_on ignored.
    # (within 0.035 here: 300 iterations, and on a 16x16 frame the bumps' soft fringe is a
    # large share of a frame)
    np.testing.assert_allclose(kept, r.areas_t[0], atol=0.035)
    full = E.tiem(flat, video, areas=(0.15,), tis=tis, iterations=300, area_on="full",
                  **SMALL)
    assert np.all(full.masks[0].mean(axis=(1, 2))[1:5] > r.areas_t[0, 1:5] + 0.045)


def test_tiem_areas_come_from_time_importance(video):
    """TIEM's per-frame areas are a * l_t * T clipped to [0, 1] with l = time_importance's
    TIS (paper 002 Eq. 7); passing those scores gives the same run, other scores another.
    catches: areas_t not from the TIS, not multiplied by T, not clipped, or unused."""
    f = frames_reader(2, 3)
    ti = time_importance(f, video)
    r = E.tiem(f, video, areas=(0.1, 0.5), iterations=2, **SMALL)
    np.testing.assert_allclose(r.tis, ti.tis, rtol=1e-6)
    np.testing.assert_array_equal(r.windows, ti.windows)
    want = np.clip(np.array([[0.1], [0.5]]) * ti.tis[None, :] * 6, 0.0, 1.0)
    np.testing.assert_allclose(r.areas_t, want, rtol=1e-6)
    assert (want == 1.0).any() and (want[1] < 1.0).any()    # a = 0.5 clips frames 2-3 only
    given = E.tiem(f, video, areas=(0.1, 0.5), iterations=2, tis=ti, **SMALL)
    np.testing.assert_array_equal(given.masks, r.masks)
    np.testing.assert_array_equal(given.history, r.history)
    flat_tis = E.tiem(f, video, areas=(0.1, 0.5), iterations=2, tis=np.ones(6), **SMALL)
    np.testing.assert_allclose(flat_tis.areas_t, [[0.1] * 6, [0.5] * 6], rtol=1e-6)
    assert np.abs(flat_tis.history[0] - r.history[0]).min() > 1e-3  # areas_t enter the loss


def test_default_linear_reward_localises_a_regressor(video):
    """A regressor reading only frames 2-3: the 10% EP-3D mask lies in those frames, and the
    linear reward is -10 f / f(X) per area (its gain scales the reward exactly).
    catches: the gain or the 1 / |f(X)| normalisation not applied. (The gain's value, 10, is
    chosen on the white-box benchmark: since issue 17 even gain 0.1 localises this tiny
    case, so the README's measurements carry the choice, not this test.)"""
    f = frames_reader(2, 3)
    r = E.ep3d(f, video, areas=(0.1,), iterations=300, **SMALL)
    hi = r.masks[0] > 0.5
    base = float(f(jnp.asarray(video)[None])[0])
    assert r.meta["reward_scale"] == pytest.approx(10 / base) and r.meta["reward"] == "linear"
    assert hi.sum() > 0 and hi[2:4].sum() / hi.sum() > 0.9
    h = [E.ep3d(f, video, areas=(0.1,), iterations=1, reward_scale=c / base,
                **SMALL).history[0, 0] for c in (1.0, 2.0, 3.0)]
    # the same initial mask every time: the objective falls by f(M (x) X) / f(X) per unit
    slope = h[1] - h[0]
    assert h[2] - h[1] == pytest.approx(slope, rel=1e-4) and -1.0 <= slope < -0.5


def test_reward_scale_multiplies_the_log_reward(video):
    """``reward_scale`` also applies to ``-log p``: at iteration 0 (same seeds, same area
    terms) the objective moves by exactly one reward per unit of scale."""
    def prob(x):
        return jax.nn.sigmoid(jnp.mean(x[:, 2:4], axis=(1, 2, 3, 4)) - 0.5)
    h = [E.ep3d(prob, video, areas=(0.1,), iterations=1, output="prob", reward_scale=c,
                **SMALL).history[0, 0] for c in (1.0, 2.0, 3.0)]
    assert h[1] - h[0] > 0.1   # -log p of a probability near 1/2 is about 0.7
    assert h[2] - h[1] == pytest.approx(h[1] - h[0], rel=1e-4)


def test_bad_inputs(video):
    f = frames_reader(0, 1)
    for areas in ((0.0,), (1.0,), (0.1, 1.5), ()):
        with pytest.raises(ArgumentError, match="areas"):
            E.ep3d(f, video, areas=areas, iterations=1, **SMALL)
    with pytest.raises(ArgumentError, match="kernel"):
        E.step(f, video, kernel=(8, 11, 11), iterations=1, **SMALL)
    with pytest.raises(ArgumentError, match="iterations"):
        E.ep3d(f, video, iterations=0, **SMALL)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ArgumentError, match="reward_scale"):
            E.ep3d(f, video, reward_scale=bad, iterations=1, **SMALL)

    def nd(x):
        return f(x)
    nd.differentiable = False
    with pytest.raises(ArgumentError, match="^f:"):
        E.ep3d(nd, video, iterations=1, **SMALL)

    def host(x):  # leaves JAX: no gradient
        return jnp.asarray(np.asarray(x).sum(axis=(1, 2, 3, 4)))
    with pytest.raises(ArgumentError, match="^f:"):
        E.ep3d(host, video, iterations=1, **SMALL)

"""Protocols, areas and tie handling of the insertion / deletion games, checked against
closed forms and direct references written here (paper 004 "Spatio-Temporal Perturbations for
Video Attribution", Eq. 12-19 and its code; paper 001's code for the level schedule)."""
import jax.numpy as jnp
import numpy as np
import pytest

from vidxai import ArgumentError, Segmentation, metrics, removal


def linear(w):
    """A score linear in the input (so additive over any set of units): the JAX function
    for the library and the same numbers in numpy for the references."""
    wj = jnp.asarray(w, jnp.float32)
    return (lambda x: (x * wj).sum(axis=(1, 2, 3, 4)),
            lambda x: float((np.asarray(x, np.float64) * w).sum()))


def noise(shape, seed):
    return np.random.RandomState(seed).rand(*shape, 3).astype(np.float32)


# ------------------------------------------------------------------------------------ auc
@pytest.mark.parametrize("L", [4, 10, 128])
def test_auc_of_a_linear_curve(L):
    """catches: the trapezoid rule missing its end halves, or Eq. 19 including step 0."""
    line = np.arange(L + 1) / L
    assert metrics.auc(line) == pytest.approx(0.5)
    assert metrics.auc(line, rule="right") == pytest.approx((L + 1) / (2 * L))


@pytest.mark.parametrize("k", [1, 3, 7])
def test_auc_of_a_step_curve_and_batched_shapes(k):
    """catches: a normalisation by L + 1 instead of L, or a wrong axis on batches."""
    L = 8
    step = (np.arange(L + 1) >= k).astype(float)
    assert metrics.auc(step) == pytest.approx((L - k + 0.5) / L)
    assert metrics.auc(step, rule="right") == pytest.approx((L - k + 1) / L)
    batch = np.stack([[step, 2 * step, np.zeros(L + 1)]] * 2)          # (2, 3, L + 1)
    out = metrics.auc(batch, rule="right")
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out[1], [(L - k + 1) / L, 2 * (L - k + 1) / L, 0.0])


@pytest.mark.parametrize("bad, name", [("simpson", "rule"), ("Right", "rule")])
def test_auc_unknown_rule_is_named(bad, name):
    """catches: an unknown rule silently falling back to the trapezoid."""
    with pytest.raises(ArgumentError, match=f"^{name}:.*simpson|^{name}:.*Right"):
        metrics.auc(np.ones(5), rule=bad)
    with pytest.raises(ArgumentError, match="^curves:"):
        metrics.auc(np.ones(1))


# ---------------------------------------------------------------------------------- units
def test_16x16_cells_at_112_px_are_7x7_pixel_patches():
    """catches: 'cells' read as a pixel size (16-px patches) instead of a 16 x 16 grid."""
    labels, n = metrics.unit_labels("cells", (2, 112, 112))
    assert n == 2 * 256
    expected = (np.arange(2)[:, None, None] * 16 + (np.arange(112) // 7)[None, :, None]) * 16 \
        + (np.arange(112) // 7)[None, None, :]
    np.testing.assert_array_equal(labels, expected)
    assert set(np.bincount(labels.ravel())) == {49}
    patch, n_patch = metrics.unit_labels("patch", (2, 112, 112))
    assert n_patch == 2 * 49  # the 16-px patch is a different (coarser) unit


def test_frame_segment_units_are_ranked_by_their_sum():
    """catches: superpixel units ranked by the mean, or segments not split by frame."""
    labels = np.zeros((2, 4, 4), np.int32)
    labels[:, :, 2:] = 1
    labels[:, 3, :] = 2          # segment 2: a 4-pixel row per frame
    seg = Segmentation(labels, 3)
    sal = np.zeros((2, 4, 4), np.float32)
    sal[labels == 0] = 1.0                   # 6 px per frame: sum 6, mean 1
    sal[labels == 1] = 2.0                   # 6 px: sum 12, mean 2
    sal[labels == 2] = 4.0                   # 4 px: sum 16, mean 4
    sal[1] *= 0.5                            # frame 1 halves everything
    units = [(t, s) for t in range(2) for s in range(3)]
    sums = {u: float(sal[u[0]][labels[u[0]] == u[1]].sum()) for u in units}
    ranked = sorted(units, key=lambda u: -sums[u])  # (0,2), (0,1), (1,2), (0,0)=(1,1), (1,0)
    video = noise((2, 4, 4), 1)
    f, f_np = linear(np.random.RandomState(2).rand(2, 4, 4, 3))
    curve = metrics.protocol("step", unit=seg, steps=6, ties="stable").curve(
        f, video, sal, "insertion")
    removed = np.broadcast_to(np.asarray(metrics.STEP_MEAN_RGB, np.float32), video.shape)
    for i in range(7):
        shown = np.zeros((2, 4, 4), bool)
        for t, s in ranked[:i]:
            shown[t] |= labels[t] == s
        expected = f_np(np.where(shown[..., None], video, removed))
        assert curve.scores[i] == pytest.approx(expected, rel=1e-5, abs=1e-5)
    assert curve.meta["n_units"] == 6


# ----------------------------------------------------------------------------------- ties
def segment_map(seed=0):
    """4 segments of 2 x 6 x 6 voxels with distinct constant values (pixel units tie)."""
    labels = np.zeros((2, 6, 6), np.int32)
    labels[:, :3, 3:] = 1
    labels[:, 3:, :2] = 2
    labels[1, 3:, 2:] = 3
    values = np.array([0.3, 0.9, 0.6, 0.1])
    return labels, values[labels].astype(np.float32)


@pytest.mark.parametrize("game", ["insertion", "deletion"])
@pytest.mark.parametrize("steps", [5, 16, 72])
def test_group_ties_put_points_only_at_segment_boundaries(game, steps):
    """catches: tied voxels split across steps (raster order) under ties='group'."""
    labels, sal = segment_map()
    sizes = np.bincount(labels.ravel())
    order = np.argsort(-np.array([0.3, 0.9, 0.6, 0.1]))
    bounds = np.concatenate([[0], np.cumsum(sizes[order])]) / labels.size
    video = noise(labels.shape, 3)
    f, f_np = linear(np.random.RandomState(4).rand(*labels.shape, 3))
    curve = getattr(metrics, game)(f, video, sal, steps=steps, ties="group")
    assert all(np.isclose(bounds, x).any() for x in curve.x)
    stable = getattr(metrics, game)(f, video, sal, steps=steps, ties="stable")
    assert any(not np.isclose(bounds, x).any() for x in stable.x)  # raster order splits them
    for x, s in zip(curve.x, curve.scores):  # each point is the whole-segment state
        first = np.isin(labels, order[:int(np.flatnonzero(np.isclose(bounds, x))[0])])
        shown = first if game == "insertion" else ~first
        assert s == pytest.approx(f_np(np.where(shown[..., None], video, 0.0)), rel=1e-5)


@pytest.mark.parametrize("game", ["insertion", "deletion"])
def test_random_ties_equal_the_mean_over_random_tie_orders(game):
    """On a linear model (where the documented definition is exact): the 'random' curve is
    the mean over random orders inside tie groups, within sampling error.
    catches: the interpolation weight or x taken from the wrong end of the tie group."""
    labels, sal = segment_map()
    n, steps = sal.size, 10
    video = noise(labels.shape, 5)
    w = np.random.RandomState(6).rand(*labels.shape, 3)
    f, _ = linear(w)
    contrib = (video.astype(np.float64) * w).sum(-1).ravel()   # each voxel's additive part
    rng = np.random.default_rng(7)
    targets = np.round(np.arange(steps + 1) * n / steps).astype(int)
    draws = []
    for _ in range(2000):
        order = np.lexsort((rng.random(n), -sal.ravel()))      # value first, random in ties
        moved = np.concatenate([[0], np.cumsum(contrib[order])])[targets]
        draws.append(moved if game == "insertion" else contrib.sum() - moved)
    draws = np.array(draws)
    curve = getattr(metrics, game)(f, video, sal, steps=steps, ties="random")
    sem = draws.std(axis=0) / np.sqrt(len(draws))
    assert np.all(np.abs(curve.scores - draws.mean(axis=0)) <= 5 * sem + 1e-4)
    assert np.any(sem > 0.01)  # some targets really fall inside tie groups
    np.testing.assert_allclose(curve.x, targets / n, atol=1e-12)  # expected voxel fraction
    assert curve.meta["model_calls"] <= 5  # only whole-group states were scored


def test_without_ties_deletion_lerf_is_insertion_morf_reversed():
    """Paper 004: Insertion+MoRF and Deletion+LeRF are the same procedure run backwards:
    deletion-LeRF step i shows the n - k_i most relevant units = insertion-MoRF step L - i
    (exact when L divides n). catches: LeRF not the exact reverse ranking, or the deletion
    mask off by one unit."""
    shape = (2, 6, 8)
    sal = np.random.RandomState(8).permutation(np.prod(shape)).reshape(shape).astype(np.float32)
    video = noise(shape, 9)
    f, _ = linear(np.random.RandomState(10).rand(*shape, 3))
    for ties in ("stable", "group", "random"):
        ins = metrics.insertion(f, video, sal, steps=12, order="morf", ties=ties)
        dele = metrics.deletion(f, video, sal, steps=12, order="lerf", ties=ties)
        np.testing.assert_allclose(dele.scores, ins.scores[::-1], rtol=1e-5)
        np.testing.assert_allclose(dele.x, 1 - ins.x[::-1], atol=1e-12)
        assert metrics.auc(dele) == pytest.approx(metrics.auc(ins), rel=1e-6)


# ------------------------------------------------------------------------------ protocols
def test_step_preset_settings_and_overrides():
    """catches: a preset drifting from paper 004 (steps, colour, unit, ties, rule)."""
    p = metrics.protocol("step")
    assert (p.steps, p.unit, p.cells, p.ties, p.rule, p.order, p.schedule) == \
        (128, "cells", 16, "group", "trapezoid", "morf", "units")
    assert p.games == ("insertion", "deletion") and p.paper == "004"
    fill = np.asarray(p.removal.removed(np.zeros((1, 2, 2, 3), np.float32)))
    np.testing.assert_allclose(fill[0, 0, 0], [0.43216, 0.394666, 0.37645], rtol=1e-6)
    q = metrics.protocol("step", rule="right", unit="superpixel", ties="random")
    assert (q.rule, q.unit, q.ties) == ("right", "superpixel", "random")
    r = metrics.protocol("revex")
    assert (r.steps, r.schedule, r.ties, r.unit, r.top, r.minimal, r.paper) == \
        (200, "levels", "group", "pixel", 0.3, "change", "001")


def test_revex_levels_follow_the_stretched_map_thresholds():
    """Paper 001's code: point i moves the voxels whose stretched value is >= 1 - i/L.
    catches: levels on the raw (unstretched) map, or '>' where the code uses '>='."""
    shape = (1, 4, 5)
    sal = (np.arange(20, dtype=np.float32).reshape(shape) * 0.5 + 3.0)  # stretched: k / 19
    video = noise(shape, 11)
    f, _ = linear(np.random.RandomState(12).rand(*shape, 3))
    L = 10
    curve = metrics.protocol("revex", top=None, steps=L).curve(f, video, sal, "deletion")
    s = (sal.ravel() - sal.min()) / (sal.max() - sal.min())
    expected = [0] + [int((s >= 1 - i / L - 1e-12).sum()) for i in range(1, L)] + [20]
    np.testing.assert_allclose(curve.x, np.array(expected) / 20)
    assert metrics.protocol("revex").area(curve) == curve.auc


def test_minimal_mask_levels_change_and_absolute():
    """catches: the code's absolute levels read as changes (or the reverse)."""
    x = np.linspace(0, 1, 5)
    dele = metrics.Curve("deletion", "morf", x, np.array([0.9, 0.85, 0.6, 0.3, 0.1]), 0.0)
    fr, reached = dele.minimal_fraction([0.1, 0.5], levels="change")   # score <= 0.8, <= 0.4
    np.testing.assert_array_equal(fr, [0.5, 0.75])
    fr, reached = dele.minimal_fraction([0.8, 0.05], levels="absolute")  # score <= 0.8, 0.05
    np.testing.assert_array_equal(fr, [0.5, 1.0])
    assert reached.tolist() == [True, False]


def whitebox_case():
    """A linear white-box score reading only a bright region A; the true map is A."""
    shape = (2, 32, 32)
    truth = np.zeros(shape, bool)
    truth[:, 6:18, 10:26] = True
    video = np.random.RandomState(13).rand(*shape, 3).astype(np.float32) * 0.5
    video[truth] = 0.95
    f = lambda x: (x * jnp.asarray(truth[..., None], jnp.float32)).sum(axis=(1, 2, 3, 4)) / truth.sum()  # noqa: E731
    return video, truth, f


@pytest.mark.parametrize("name, overrides", [
    ("step", {}), ("step", {"unit": "superpixel"}), ("step", {"ties": "random", "rule": "right"}),
    ("revex", {}), ("revex", {"removal": removal.blur(8.0)}),
])
def test_true_map_beats_a_random_map_under_every_protocol(name, overrides):
    """catches: a protocol ranking units backwards or scoring the wrong state."""
    video, truth, f = whitebox_case()
    true_map = truth.astype(np.float32) + 0.01 * np.random.RandomState(14).rand(*truth.shape)
    random_map = np.random.RandomState(15).rand(*truth.shape).astype(np.float32)
    p = metrics.protocol(name, **overrides)
    good, bad = p.evaluate(f, video, true_map), p.evaluate(f, video, random_map)
    ends = good["insertion"].curve.scores[[0, -1]]
    # a twentieth of the score's whole range (revex keeps only the top 30% of the map, so
    # everything after it moves as one tie group and the margin there is about 0.12)
    margin = 0.05 * float(ends[1] - ends[0])
    assert margin > 0
    assert good["insertion"].value > bad["insertion"].value + margin
    assert good["deletion"].value < bad["deletion"].value - margin


@pytest.mark.parametrize("call, name", [
    (lambda: metrics.protocol("road"), "protocol"),
    (lambda: metrics.protocol("step", rule="simpson"), "rule"),
    (lambda: metrics.protocol("step", ties="arbitrary"), "ties"),
    (lambda: metrics.protocol("step", unit="voxel"), "unit"),
    (lambda: metrics.protocol("step", colour=1), "colour"),
    (lambda: metrics.protocol("revex", ties="stable"), "ties"),
    (lambda: metrics.insertion(lambda x: x.sum((1, 2, 3, 4)), noise((1, 4, 4), 0),
                               np.ones((1, 4, 4)), ties="Group"), "ties"),
])
def test_bad_protocol_settings_are_named(call, name):
    """catches: an unknown protocol or setting silently ignored."""
    with pytest.raises(ArgumentError, match=f"^{name}:"):
        call()


def test_games_of_several_maps_equal_separate_curves_in_one_engine_pass():
    """catches: maps batched together reading each other's rank map or counts (a row routed
    to the wrong map), or results split back in the wrong order."""
    rng = np.random.default_rng(3)
    video = rng.uniform(0, 1, (4, 16, 16, 3)).astype(np.float32)
    w = jnp.asarray(rng.normal(size=video.shape), jnp.float32)

    def f(x):
        return jnp.tanh(jnp.sum(x * w, axis=(1, 2, 3, 4)) / 30.0)
    maps = [rng.uniform(size=(4, 16, 16)).astype(np.float32) for _ in range(3)]
    maps.append(np.round(maps[0] * 3).astype(np.float32))          # many ties
    for game in ("insertion", "deletion"):
        for ties in ("stable", "group", "random"):
            together = metrics.games(game, f, video, maps, steps=10, unit="cells", cells=4,
                                     ties=ties, batch_size=7)
            for m, curve in zip(maps, together):
                alone = getattr(metrics, game)(f, video, m, steps=10, unit="cells", cells=4,
                                               ties=ties, batch_size=5)
                np.testing.assert_allclose(curve.scores, alone.scores, rtol=1e-5, atol=1e-6)
                np.testing.assert_allclose(curve.x, alone.x)

"""Independent references for the extremal-perturbation maths (papers 004 and 002).

Every expected value here is computed in this file from the definitions in REFERENCE.md
("Extremal perturbation", "TIEM"), with numpy, never with a vidxai helper:

* L_S and TIEM's per-frame L_S as the *sorted* definition (np.sort ascending against a
  template of zeros then ones, mean squared error), on masks whose values are tied across the
  threshold, and their gradients (the library gives tied values an equal share of the
  template's ones: the average of the sorted form's gradients over all ways to break the tie);
* L_K from a strided valid correlation written as loops and a literal top-k;
* the smooth-max generator, per pixel, for the frame geometry the extremal runs below use;
* TIEM with STEP's L_K through the torch bridge on a tiny conv net, against the same net
  written in JAX; the optimised objectives (EP-3D's, TIEM + L_K's) term by term, read from the
  history of runs whose seeds never move (optax.sgd(0.0)); a user regulariser and a custom
  optax optimiser with exactly predicted effects (Adam's first step moves every seed by lr).
"""
import itertools
import math
from fractions import Fraction

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from vidxai import masks as M
from vidxai.bridge import from_torch
from vidxai.explain import extremal as E
from vidxai.scoring import score


# ----------------------------------------------------------------------- sorted definitions

def np_sorted_loss(values, ones, size=None):
    """L_S by its definition: ascending sort vs (n - ones) zeros then ``ones`` ones, the
    squared error summed and divided by ``size`` (default n: the mean)."""
    v = np.sort(np.asarray(values, np.float64).ravel())
    template = np.zeros(v.size)
    template[v.size - int(ones):] = 1.0
    return float(np.sum((v - template) ** 2) / (v.size if size is None else size))


def np_per_frame_loss(mask, areas):
    """TIEM's loss: each frame against its own template of round(a_t * HW) ones, mean over t."""
    mask = np.asarray(mask, np.float64)
    hw = mask[0].size
    a = np.clip(np.asarray(areas, np.float64), 0.0, 1.0)
    return float(np.mean([np_sorted_loss(m, round(x * hw)) for m, x in zip(mask, a)]))


def tie_averaged_gradient(values, ones):
    """Gradient of the sorted form, averaged over every way to hand the template's ones to
    the values tied at the threshold (enumerated with itertools, no formula for the share)."""
    x = np.asarray(values, np.float64).ravel()
    n = x.size
    tau = np.sort(x)[n - ones]
    above = np.flatnonzero(x > tau)
    tied = np.flatnonzero(x == tau)
    m = ones - above.size
    grads = []
    for chosen in itertools.combinations(tied, m):
        t = np.zeros(n)
        t[above] = 1.0
        t[list(chosen)] = 1.0
        grads.append(2.0 * (x - t) / n)
    return np.mean(grads, axis=0).reshape(np.shape(values))


def straddling_mask():
    """100 values: 10 at 7/8, 20 tied at 3/8, 70 distinct below 1/4 (exact in float32)."""
    rest = (np.arange(70) / 280.0)[np.random.default_rng(0).permutation(70)]
    values = np.concatenate([np.full(10, 0.875), np.full(20, 0.375), rest])
    values = values[np.random.default_rng(1).permutation(100)]
    return values.reshape(4, 5, 5).astype(np.float32)


def test_straddling_ties_by_hand():
    """catches: every voxel tied at the threshold given a full 1 in the template."""
    mask = straddling_mask()
    rest = np.sort(mask.ravel())[:70].astype(np.float64)
    # area 0.17: 17 ones = the 10 values at 7/8 plus 7 of the 20 tied at 3/8
    by_hand = (10 * 0.125 ** 2 + 7 * 0.625 ** 2 + 13 * 0.375 ** 2 + np.sum(rest ** 2)) / 100
    assert np_sorted_loss(mask, 17) == pytest.approx(by_hand, rel=1e-12)
    assert float(M.sorted_area_loss(jnp.asarray(mask), 0.17)) == pytest.approx(by_hand, rel=1e-5)


@pytest.mark.parametrize("area", [0.09, 0.1, 0.11, 0.17, 0.29, 0.3, 0.31])
def test_sorted_area_loss_with_ties_straddling_the_threshold(area):
    """catches: ties all templated to 1 / to 0; k-th largest off by one; area rounded the
    wrong way (0.1 and 0.3 put the threshold exactly at the end of a block of ties)."""
    mask = straddling_mask()
    got = float(M.sorted_area_loss(jnp.asarray(mask), area))
    assert got == pytest.approx(np_sorted_loss(mask, round(area * 100)), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("area", [0.05, 0.5, 0.85, 0.95])
def test_sorted_area_loss_ties_at_zero_and_one(area):
    """30 exact zeros and 10 exact ones (a clamped mask): the threshold falls inside the run
    of ones (0.05), of zeros (0.85, 0.95) or between distinct values (0.5).
    catches: the tie share computed for the wrong value or with the wrong count."""
    vals = np.concatenate([np.zeros(30), np.ones(10), np.linspace(0.05, 0.95, 60)])
    mask = vals[np.random.default_rng(2).permutation(100)].reshape(4, 5, 5).astype(np.float32)
    got = float(M.sorted_area_loss(jnp.asarray(mask), area))
    assert got == pytest.approx(np_sorted_loss(mask, round(area * 100)), rel=1e-5, abs=1e-7)


def test_gradient_with_ties_is_the_average_over_tie_breaks():
    """Documented convention: the m template ones left for k tied values are shared equally,
    each gets m/k: the mean of the sorted form's gradient over all C(k, m) tie-breaks.
    catches: share m/n instead of m/k; the tied values' gradient dropped; template not 0/1."""
    vals = np.concatenate([np.linspace(0.9, 0.6, 10), np.full(6, 0.5), np.linspace(0.4, 0.0, 84)])
    x = vals[np.random.default_rng(8).permutation(100)].reshape(4, 5, 5).astype(np.float32)
    for ones in (10, 12, 14, 16):  # none, 2, 4 and all 6 of the tied 0.5 values get a 1
        got = np.asarray(jax.grad(M.sorted_area_loss)(jnp.asarray(x), ones / 100))
        np.testing.assert_allclose(got, tie_averaged_gradient(x, ones), atol=1e-7)


def test_gradient_without_ties_is_the_sorted_form_gradient():
    """No ties: d/dx_i = 2 (x_i - template[rank_i]) / n exactly, and a central difference
    (exact for a quadratic piece) agrees. catches: gradient scaled by n or missing the 2."""
    x = np.random.default_rng(3).permutation(np.linspace(0.01, 0.99, 100)).astype(np.float32)
    x = x.reshape(4, 5, 5)
    ones = 13
    rank = np.argsort(np.argsort(x.ravel()))
    template = (rank >= x.size - ones).astype(np.float64)
    want = (2.0 * (x.ravel() - template) / x.size).reshape(x.shape)
    loss = lambda m: M.sorted_area_loss(m, ones / x.size)
    np.testing.assert_allclose(np.asarray(jax.grad(loss)(jnp.asarray(x))), want, atol=1e-7)
    eps = 3e-3                                  # values are ~0.0099 apart: no rank changes
    for i in (0, 17, 33, 87):
        e = np.zeros(x.size, np.float32)
        e[i] = eps
        e = e.reshape(x.shape)
        fd = (float(loss(jnp.asarray(x + e))) - float(loss(jnp.asarray(x - e)))) / (2 * eps)
        assert fd == pytest.approx(want.ravel()[i], abs=1e-4)


def per_frame_mask():
    """4 frames of 5x6: frame 0 ties at 0.5 across its threshold, frame 1 ties at 0, frames
    2-3 distinct values."""
    rng = np.random.default_rng(4)
    f0 = np.concatenate([np.linspace(0.6, 0.95, 5), np.full(8, 0.5), np.linspace(0.0, 0.4, 17)])
    f1 = np.concatenate([np.linspace(0.1, 0.9, 20), np.zeros(10)])
    frames = [rng.permutation(f) for f in (f0, f1, np.linspace(0.01, 0.99, 30),
                                           np.linspace(0.0, 0.58, 30))]
    return np.stack(frames).reshape(4, 5, 6).astype(np.float32)


def test_per_frame_area_loss_with_straddling_ties():
    """catches: one global template instead of one per frame; sum instead of mean over frames;
    tied values all templated to 1; areas above 1 not clipped."""
    mask = per_frame_mask()
    areas = np.array([0.3, 0.9, 0.0, 1.4], np.float32)     # 9 = 5 + 4 of 8 ties; 27 = 20 + 7
    got = float(M.per_frame_area_loss(jnp.asarray(mask), jnp.asarray(areas)))
    assert got == pytest.approx(np_per_frame_loss(mask, areas), rel=1e-5)
    # by hand for frame 0: 5 values x in (0.6..0.95) -> (1-x)^2, 4 ties -> 0.25, 4 ties -> 0.25
    f0 = np.sort(mask[0].ravel().astype(np.float64))
    hand0 = (np.sum((1 - f0[-5:]) ** 2) + 8 * 0.25 + np.sum(f0[:17] ** 2)) / 30
    assert np_sorted_loss(mask[0], 9) == pytest.approx(hand0, rel=1e-12)


def test_per_frame_area_loss_gradient_shares_ties_per_frame():
    """catches: the per-frame tie share or the 1/(T*HW) scaling wrong in the gradient."""
    mask = per_frame_mask()
    areas = np.array([0.3, 0.9, 0.0, 1.0], np.float32)
    got = np.asarray(jax.grad(M.per_frame_area_loss)(jnp.asarray(mask), jnp.asarray(areas)))
    frames, hw = mask.shape[0], mask[0].size
    for t, ones in enumerate((9, 27, 0, 30)):
        if ones == 0:
            want = 2.0 * mask[t] / hw
        else:    # frame 1: 7 ones for 10 tied zeros -> tie_averaged enumerates C(10, 7) = 120
            want = tie_averaged_gradient(mask[t], ones)
        np.testing.assert_allclose(got[t], want / frames, atol=1e-7)


# ----------------------------------------------------------------------- L_K by loops

CROSS = np.zeros((3, 3, 3))          # the (3, 3, 3) ellipsoid: centre + its 6 face neighbours
CROSS[1, 1, :] = CROSS[1, :, 1] = CROSS[:, 1, 1] = 1.0


def np_kernel_loss(mask, kernel, stride, top_k):
    kernel = kernel / kernel.sum()
    (tk, hk, wk), (st, sh, sw) = kernel.shape, stride
    resp = []
    for t in range(0, mask.shape[0] - tk + 1, st):
        for y in range(0, mask.shape[1] - hk + 1, sh):
            for x in range(0, mask.shape[2] - wk + 1, sw):
                resp.append(np.sum(mask[t:t + tk, y:y + hk, x:x + wk] * kernel))
    return np_sorted_loss(np.asarray(resp), min(top_k, len(resp)))


@pytest.mark.parametrize("area,top_k", [(0.3, 10), (0.05, 2), (0.9, 29)])
def test_kernel_smoothness_loss_by_loops(area, top_k):
    """5x9x10 mask, the 7-voxel cross kernel, stride (1, 3, 3): 3x3x3 = 27 responses;
    k = ceil(area * 450 / int(27 * 0.5236) = 14): 0.3 -> 10, 0.05 -> 2, 0.9 -> 29 (> 27, all).
    catches: kernel not normalised, stride ignored, k by round or without the int()."""
    mask = np.random.default_rng(5).uniform(size=(5, 9, 10)).astype(np.float32)
    assert float(M.kernel_top_k(area, mask.shape, CROSS.shape)) == top_k
    np.testing.assert_array_equal(M.ellipsoid_kernel(3, 3, 3) > 0, CROSS > 0)
    got = float(M.kernel_smoothness_loss(jnp.asarray(mask), jnp.asarray(CROSS, jnp.float32),
                                         area, stride=(1, 3, 3)))
    assert got == pytest.approx(np_kernel_loss(mask, CROSS, (1, 3, 3), top_k), rel=1e-5)


# ----------------------------------------------------------------------- generator, per pixel

FRAME, STEP, SIGMA = 12, 4, 3      # the extremal runs below: P = 3, R = 2, 5x5 taps
GRID, FULL = 3, 17                 # ceil(12/4) seeds; full mask 4 * (3 + 6 - 4) - 3 = 17


def np_smooth_max(seeds, size, step, sigma):
    """REFERENCE.md's smooth max, vectorised over pixels: (..., gh, gw) -> (..., size, size)."""
    pad, radius = 1 + math.ceil(2 * sigma / step), 1 + math.ceil(sigma / step)
    k = np.arange(2 * radius + 1)
    u = np.arange(size)
    idx = u[:, None] // step + k[None, :] - pad                      # (size, taps)
    delta = u[:, None] - (sigma + step * idx)
    dist = np.sqrt(delta[:, None, :, None] ** 2 + delta[None, :, None, :] ** 2)
    weight = np.exp(-2 * np.maximum(dist / sigma - 0.5, 0.0) ** 2)
    gh, gw = seeds.shape[-2:]
    iy, ix = idx[:, None, :, None], idx[None, :, None, :]
    inside = (iy >= 0) & (iy < gh) & (ix >= 0) & (ix < gw)
    seed = np.asarray(seeds, np.float64)[..., np.clip(iy, 0, gh - 1), np.clip(ix, 0, gw - 1)]
    v = (seed * inside * weight).reshape(seed.shape[:-2] + (-1,))
    e = np.exp(20 * (v - v.max(-1, keepdims=True)))
    return np.clip((v * e).sum(-1) / e.sum(-1), 0.0, 1.0)


def crop(full):
    return full[..., SIGMA:SIGMA + FRAME, SIGMA:SIGMA + FRAME]


def test_generator_matches_the_per_pixel_formula_on_the_run_geometry():
    """catches: wrong crop offset, wrong tap weights or seed padding at the run geometry."""
    seeds = np.random.default_rng(6).uniform(size=(2, GRID, GRID)).astype(np.float32)
    full, mask = M.smooth_max_upsample(jnp.asarray(seeds), (FRAME, FRAME), step=STEP, sigma=SIGMA)
    chex.assert_shape(full, (2, FULL, FULL))
    ref = np_smooth_max(seeds, FULL, STEP, SIGMA)
    np.testing.assert_allclose(np.asarray(full), ref, atol=1e-5)
    np.testing.assert_allclose(np.asarray(mask), crop(ref), atol=1e-5)


# ----------------------------------------------------------------------- extremal runs

T = 4
KERNEL = (3, 11, 11)    # stride (1, 11, 11) on 4x12x12: 2 responses; k = ceil(a * 576 / 190)
AREAS = (0.1, 0.8)      # -> k = 1 and 3 (of 2 responses: all)
TOP_K = (1, 3)
ITERS = 4
RUN = dict(iterations=ITERS, seed_stride=STEP, sigma=SIGMA)
TIEM_LK = dict(kernel=KERNEL, lambda2_start=1, **RUN)


def np_ellipsoid(t, h, w):
    """Paper 004 Eq. 9-10 with exact rational arithmetic (the rim points sit exactly on 1)."""
    k = np.zeros((t, h, w))
    for idx in itertools.product(range(t), range(h), range(w)):
        r = sum((Fraction(2 * i, n - 1) - 1) ** 2 for i, n in zip(idx, (t, h, w)))
        k[idx] = 1.0 if r <= 1 else 0.0
    return k / k.sum()


def test_ellipsoid_reference_disc():
    """The (3, 11, 11) kernel: the full 11x11 disc in the middle plane, one voxel above and
    below; 81 + 2 = 83 voxels (the library agrees). catches: rim points such as
    (-0.6)^2 + 0.8^2 = 1 lost to float rounding."""
    k = np_ellipsoid(*KERNEL)
    assert (k > 0).sum() == 83 and (k[0] > 0).sum() == 1 and (k[1] > 0).sum() == 81
    np.testing.assert_allclose(M.ellipsoid_kernel(*KERNEL), k, atol=1e-7)


class TinyNet(torch.nn.Module):
    """Conv3d (2x3x3) -> tanh -> dropout (inactive in eval mode) -> mean -> linear, 3 classes."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 4, (2, 3, 3))
        self.drop = torch.nn.Dropout(0.5)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):                      # x: (B, T, H, W, C)
        h = self.drop(torch.tanh(self.conv(x.permute(0, 4, 1, 2, 3))))
        return self.fc(h.mean(dim=(2, 3, 4)))


@pytest.fixture(scope="module")
def nets():
    """(torch score, JAX twin score with the same weights), both P(class 1)."""
    torch.manual_seed(0)
    net = TinyNet().eval()
    w = jnp.asarray(net.conv.weight.detach().numpy())
    b = jnp.asarray(net.conv.bias.detach().numpy())
    fw = jnp.asarray(net.fc.weight.detach().numpy())
    fb = jnp.asarray(net.fc.bias.detach().numpy())

    def twin(x):
        y = jax.lax.conv_general_dilated(x, w, (1, 1, 1), "VALID",
                                         dimension_numbers=("NDHWC", "OIDHW", "NDHWC"))
        return jnp.tanh(y + b).mean(axis=(1, 2, 3)) @ fw.T + fb

    return score(from_torch(net), 1, "prob"), score(twin, 1, "prob")


@pytest.fixture(scope="module")
def video():
    return np.random.default_rng(7).uniform(0.05, 0.95, (T, FRAME, FRAME, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def mask0():
    """Initial (full, cropped) mask: all seeds 1, per the per-pixel formula."""
    full = np_smooth_max(np.ones((T, GRID, GRID)), FULL, STEP, SIGMA)
    return full, crop(full)


@pytest.fixture(scope="module")
def tiem_torch(nets, video):
    """TIEM + STEP's L_K through the torch bridge (eager loop), default optimizer."""
    return E.tiem_lk(nets[0], video, areas=AREAS, **TIEM_LK)


@pytest.fixture(scope="module")
def frozen(nets, video):
    """The same run with optax.sgd(0.0): the seeds never move (same compiled loop)."""
    return E.tiem_lk(nets[0], video, areas=AREAS, optimizer=optax.sgd(0.0), **TIEM_LK)


def test_twin_is_the_same_model(nets, video):
    """Precondition of the comparison below: value and input gradient agree."""
    x = jnp.asarray(video)[None]
    torch_f, twin = nets
    np.testing.assert_allclose(np.asarray(torch_f(x)), np.asarray(twin(x)), rtol=1e-5)
    g_t = jax.grad(lambda v: torch_f(v).sum())(x)
    g_j = jax.jit(jax.grad(lambda v: twin(v).sum()))(x)
    np.testing.assert_allclose(np.asarray(g_t), np.asarray(g_j), rtol=1e-4, atol=1e-7)


def test_tiem_and_step_kernel_through_the_bridge_equal_the_jax_twin(nets, video, tiem_torch,
                                                                     mask0):
    """TIEM with STEP's L_K (TIS through torch, per-frame L_S, L_K from iteration 1), 4
    iterations: torch's eager loop (torch autograd) vs the JAX twin's jitted scan.
    catches: a wrong VJP through the bridge; TIS, L_S or L_K different for a torch model."""
    r_t, r_j = tiem_torch, E.tiem_lk(nets[1], video, areas=AREAS, **TIEM_LK)
    assert r_t.method == "tiem+lk" and r_t.meta["eager"] and not r_j.meta["eager"]
    chex.assert_shape([r_t.masks, r_j.masks], (2, T, FRAME, FRAME))
    assert np.abs(r_t.masks - mask0[1]).max() > 0.02        # the masks did move
    np.testing.assert_allclose(r_t.tis, r_j.tis, atol=1e-6)
    np.testing.assert_allclose(r_t.areas_t, r_j.areas_t, atol=1e-6)
    np.testing.assert_allclose(r_t.masks, r_j.masks, atol=1e-5)
    np.testing.assert_allclose(r_t.history, r_j.history, rtol=1e-5)
    np.testing.assert_allclose(r_t.scores, r_j.scores, rtol=1e-5)


def test_custom_optimizer_sgd_zero_keeps_the_initial_mask(frozen, tiem_torch, mask0):
    """catches: the optimizer argument ignored (the default SGD moves the seeds)."""
    for m in frozen.masks:
        np.testing.assert_allclose(m, mask0[1], atol=1e-5)
    assert np.abs(tiem_torch.masks - frozen.masks).max() > 0.02


def np_huber(gap, delta=0.01):
    """The mean-area penalty's shape: gap^2 within 1 point of the area; beyond it the
    tangent line of gap^2 at +-delta (same value and slope there)."""
    gap = np.abs(np.asarray(gap, np.float64))
    return np.where(gap <= delta, gap ** 2, delta ** 2 + 2 * delta * (gap - delta))


def np_frame_area_loss(full, areas, frame=FRAME):
    """L_S with the area counted on the frame (paper 002 Eq. 7, |m_t| = H W): per frame, the
    sorted uncropped values (frame + generator border) against round(a_t H W) ones, the
    squared error divided by H W; the mean over frames."""
    full = np.asarray(full, np.float64)
    hw = frame * frame
    a = np.clip(np.asarray(areas, np.float64), 0.0, 1.0)
    return float(np.mean([np_sorted_loss(m, round(x * hw), hw) for m, x in zip(full, a)]))


def test_tiem_history_is_the_objective_of_paper_002_and_004(frozen, mask0):
    """Frozen seeds, so every iteration sees the initial mask: history[i] =
    -log p + 300 * 1.0008668^i * (per-frame L_S(areas_t) + [i >= 2] 100 L_mean)
    + [i >= 1] 300 * L_K, L_S by the sorted definition per frame with the area counted on
    the 12x12 frame (a_t * 144 ones) and the 17x17 uncropped values sorted (full of ties),
    L_mean = the mean over frames of huber(frame mean - a_t) (paper 004 Eq. 3's area, per
    frame; squared within 1 point, linear beyond), from half the iterations on, L_K by
    loops with the exact ellipsoid and a literal top-k.
    catches: lambda1 growth / lambda2 start wrong; per-frame areas not a * l_t * T clipped;
    L_K fed the wrong area or mask; regularisation terms summed into the wrong area; the
    mean-area term on the uncropped mask, over the volume, unweighted, unbounded or from
    iteration 0."""
    np.testing.assert_allclose(frozen.areas_t, np.clip(np.array(AREAS)[:, None] * frozen.tis * T,
                                                       0.0, 1.0), rtol=1e-6)
    assert frozen.areas_t.max() == 1.0                       # a = 0.8 clips some frame
    ls = np.array([np_frame_area_loss(mask0[0], a_t) for a_t in frozen.areas_t])
    lk = np.array([np_kernel_loss(mask0[1], np_ellipsoid(*KERNEL), (1, 11, 11), k)
                   for k in TOP_K])
    assert float(M.kernel_top_k(AREAS[0], (T, FRAME, FRAME), KERNEL)) == TOP_K[0]
    it = np.arange(ITERS)[:, None]
    frame_means = np.asarray(mask0[1], np.float64).mean(axis=(1, 2))
    lm = np.array([np.mean(np_huber(frame_means - a_t)) for a_t in frozen.areas_t])
    assert frozen.meta["mean_area_start"] == ITERS // 2 == 2
    want = (-np.log(frozen.scores)[None, :]
            + 300.0 * 1.0008668 ** it * (ls[None, :] + np.where(it >= 2, 100.0, 0.0) * lm)
            + np.where(it >= 1, 300.0, 0.0) * lk[None, :])
    np.testing.assert_allclose(frozen.history, want, rtol=1e-5)


def flat(x):
    """A regressor blind to the video: its reward has no gradient."""
    return 0.0 * jnp.sum(x, axis=(1, 2, 3, 4)) + 1.0


def frozen_ep3d(video, area_on):
    """EP-3D, blind model, sgd(0): every iteration sees the initial mask (scan path)."""
    return E.ep3d(flat, video, areas=AREAS, optimizer=optax.sgd(0.0), iterations=3,
                  seed_stride=STEP, sigma=SIGMA, area_on=area_on)


@pytest.fixture(scope="module")
def ep3d_frozen(video):
    return frozen_ep3d(video, "frame")


def test_ep3d_history_is_reward_plus_growing_lambda1_times_ls(video, mask0):
    """With area_on="full" (the STEP / TorchRay code): history[i] = -10 (linear reward of a
    constant 1) + 300 * 1.0008668^i * (L_S + [i >= 1] 100 L_mean), L_S by the sorted
    definition on the whole 4x17x17 uncropped mask, round(a * 1156) ones, the mean over 1156
    values; L_mean = huber(mean of the same 1156 values - a) from iteration 3 // 2 = 1 on.
    catches: L_S per frame instead of over the volume; the growth applied wrongly; the
    mean-area term per frame, on the crop under area_on="full", or missing."""
    n = mask0[0].size
    ls = np.array([np_sorted_loss(mask0[0], round(a * n)) for a in AREAS])
    lm = np.array([np_huber(np.asarray(mask0[0], np.float64).mean() - a) for a in AREAS])
    it = np.arange(3)[:, None]
    want = -10.0 + 300.0 * 1.0008668 ** it * (ls[None, :] + np.where(it >= 1, 100.0, 0.0) * lm)
    full = frozen_ep3d(video, "full")
    np.testing.assert_allclose(full.history, want, rtol=1e-5)
    for m in full.masks:
        np.testing.assert_allclose(m, mask0[1], atol=1e-5)


def test_area_loss_is_measured_on_the_frame_by_default(ep3d_frozen, mask0):
    """The papers' area is over the frame (|M| = T H W; REFERENCE.md). By default the
    template has round(a * 576) ones for the 4x12x12 frame and the squared error is divided
    by 576; the sorted values are the uncropped 4x17x17 mask's, so the generator's border
    (no part of the video) counts as not kept. catches: the area counted on the uncropped
    mask (the reference code's 1156 voxels) or normalised by it.

    (Issue 17's first version of this test sorted the cropped values only; that is
    area_on="crop", checked below. It is not the default: with the border free, seeds whose
    bumps reach past the frame edge are pushed down less than the others and the masks settle
    along the frame edges; TIEM on the dynamic white-box regressor at 56 px then scored a
    pointing game of -46 instead of 99.)"""
    n_frame = mask0[1].size
    ls = np.array([np_sorted_loss(mask0[0], round(a * n_frame), n_frame) for a in AREAS])
    np.testing.assert_allclose(ep3d_frozen.history[0], -10.0 + 300.0 * ls, rtol=1e-5)
    assert ep3d_frozen.meta["area_on"] == "frame"


def test_area_on_crop_sorts_the_frame_alone(video, mask0):
    """area_on="crop": L_S = the cropped 4x12x12 values against round(a * 576) ones, mean.
    catches: the crop switch reading the uncropped mask."""
    crop_run = frozen_ep3d(video, "crop")
    n = mask0[1].size
    ls = np.array([np_sorted_loss(mask0[1], round(a * n)) for a in AREAS])
    np.testing.assert_allclose(crop_run.history[0], -10.0 + 300.0 * ls, rtol=1e-5)


def test_regulariser_and_adam_first_step(video, mask0):
    """lambda1 = 0, a blind model, regulariser 5 * mean(mask): the only gradient is the
    regulariser's, positive for every seed, so Adam's first step (lr * g / (|g| + eps)) moves
    every seed from 1 to exactly 1 - lr; without the regulariser nothing would move.
    history[0] = -10 (linear reward of a constant 1) + 5 * mean(initial mask).
    catches: regularisers dropped, given the uncropped mask, or not differentiated; the
    optimizer ignored (the default SGD's first step is 0.005 * g, not 0.05)."""
    reg = lambda m: 5.0 * jnp.mean(m)
    r = E.ep3d(flat, video, areas=(0.2,), lambda1=0.0, regularizers=[reg],
               optimizer=optax.adam(0.05), iterations=1, seed_stride=STEP, sigma=SIGMA)
    np.testing.assert_allclose(r.history[0, 0], -10.0 + 5.0 * mask0[1].mean(), atol=2e-5)
    moved = crop(np_smooth_max(np.full((T, GRID, GRID), 0.95), FULL, STEP, SIGMA))
    np.testing.assert_allclose(r.masks[0], moved, atol=1e-5)
    assert r.masks[0].mean() < mask0[1].mean() - 0.02        # pushed down, as predicted

"""Extremal-perturbation masks for video: EP-3D, STEP (paper 004) and TIEM (paper 002).

All three optimise, for each area level ``v``, a smooth preservation mask ``M`` that keeps
the score ``Phi(M (x) X)`` high while keeping about ``v`` of the video (blur perturbation):

* :func:`ep3d`: reward + lambda1 L_S over the whole volume (Fong et al. 2019 in 3-D);
* :func:`step`: EP-3D + lambda2 L_K with an ellipsoid kernel (paper 004 Eq. 11);
* :func:`tiem`: reward + lambda1 times the per-frame area loss with frame areas ``a l_t T``
  from the time importance scores ``l`` (paper 002 Eq. 5-7); ``kernel=`` adds L_K (the
  hybrid paper 002 names as future work).

Defaults follow the STEP reference code: SGD, lr 0.05, momentum 0.9, dampening 0.9, written
in optax as ``optax.sgd(lr * (1 - 0.9), momentum=0.9)``. This matches torch's SGD except on
its first step, where torch does not dampen (its momentum buffer starts at the raw gradient,
so its first step is ``1/(1-dampening) = 10`` times larger, and that larger first gradient
then decays in the buffer); ours dampens every step. lambda1 = 300 growing x1.0008668 per
iteration, lambda2 = 0 until iteration 100 then 300, 1200 iterations, seeds start at 1 and are
clamped to [0, 1] after every step.

Reward: ``output="prob"`` uses ``-log p`` (STEP); for logits and regressors (``"logit"``,
``"raw"``) we use ``-10 score / |Phi(X)|``, the linear reward of paper 002 Eq. 7 in units
of a tenth of the unmasked score (a log is undefined for non-positive scores). The division
makes the balance with the area loss independent of the score's range and of the video
size (both the per-voxel reward and the per-voxel area penalty shrink as ``1 / voxels``);
the gain :data:`LINEAR_REWARD_GAIN` = 10 was set on TIEM's white-box regressors
(``benchmarks/whitebox.py``): with gain 1 the area loss wins and masks stay where the sort's
tie-breaking first put them (pointing game below 0), with gain 300 the reward wins and masks
outgrow the 10% area (about 37), gains 10-30 give about 90. ``reward_scale=c`` multiplies
either reward by ``c`` instead of the default factor (1 for ``-log p``, ``10 / |Phi(X)|``
for the linear reward). ``output=None`` reads ``f.output`` when the score
function has it, else assumes ``"raw"`` (so pass ``output="prob"`` for a probability score
function without it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import masks as M
from .._filters import gaussian_filter
from ..errors import (ArgumentError, ArgumentTypeError, ScoreFunctionError, VidxaiError,
                      check_float, check_int, check_video, describe)
from ..scoring import is_eager
from . import _extremal_opt as opt

MAP_SIGMA = 10.0
_DEFAULT_OPTIMIZERS: dict = {}


def default_optimizer(lr: float = 0.05, momentum: float = 0.9, dampening: float = 0.9):
    """torch-style SGD(lr, momentum, dampening) as optax (see the module note on step one)."""
    key = (float(lr), float(momentum), float(dampening))
    if key not in _DEFAULT_OPTIMIZERS:  # one object per setting, so compilations are reused
        _DEFAULT_OPTIMIZERS[key] = optax.sgd(lr * (1.0 - dampening), momentum=momentum)
    return _DEFAULT_OPTIMIZERS[key]


@dataclass(frozen=True, eq=False)
class ExtremalResult:
    """Masks and summary of an extremal-perturbation run.

    ``masks (A, T, H, W)``: the optimised masks, one per area in ``areas``; ``map (T, H, W)``:
    their sum, blurred per frame by a Gaussian of sigma 10 px, divided by its max;
    ``scores (A,)``: ``Phi(M_a (x) X)``, the preserved score per area; ``base_score``:
    ``Phi(X)``; ``history (iterations, A)``: the loss per iteration and area; for TIEM
    ``tis (T,)``, ``areas_t (A, T)`` (per-frame areas) and ``windows (T, T)``.
    """

    masks: np.ndarray
    map: np.ndarray
    areas: tuple
    scores: np.ndarray
    base_score: float
    history: np.ndarray
    method: str
    target: int | None = None
    tis: np.ndarray | None = None
    areas_t: np.ndarray | None = None
    windows: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def save(self, path):
        """Write every array and the metadata to one ``.npz``."""
        arrays = {k: np.asarray(v) for k, v in (
            ("masks", self.masks), ("map", self.map), ("areas", np.asarray(self.areas)),
            ("scores", self.scores), ("history", self.history), ("tis", self.tis),
            ("areas_t", self.areas_t), ("windows", self.windows)) if v is not None}
        np.savez_compressed(path, method=np.array(self.method), **arrays)
        return path


def _check_areas(areas) -> tuple:
    try:
        items = tuple(float(a) for a in np.atleast_1d(np.asarray(areas, dtype=float)))
    except (TypeError, ValueError):
        raise ArgumentTypeError("areas", "a sequence of numbers in (0, 1)", describe(areas))
    if not items:
        raise ArgumentError("areas", "at least one area in (0, 1)", areas)
    for a in items:
        if not 0.0 < a < 1.0:
            raise ArgumentError("areas", "areas strictly inside (0, 1)", areas)
    return items


LINEAR_REWARD_GAIN = 10.0  # linear reward in units of |Phi(X)| / 10 (module docstring)


def _check_kernel(kernel, shape):
    if kernel is None:
        return None
    try:
        kernel = tuple(int(k) for k in kernel)
    except (TypeError, ValueError):
        raise ArgumentTypeError("kernel", "a (T_K, H_K, W_K) triple of integers", describe(kernel))
    if len(kernel) != 3 or min(kernel) < 1:
        raise ArgumentError("kernel", "a (T_K, H_K, W_K) triple of positive integers", kernel)
    if any(k > n for k, n in zip(kernel, shape)):
        raise ArgumentError("kernel", f"a kernel no larger than the video {tuple(shape)}", kernel)
    M.ellipsoid_kernel(*kernel)
    return kernel


def _check_f(f, video, eager: bool):
    """f must be differentiable: declared so, and a vector-Jacobian product must work."""
    if not callable(f):
        raise ArgumentTypeError("f", "a score function (B, T, H, W, C) -> (B,)", describe(f))
    if getattr(f, "differentiable", True) is False:
        raise ArgumentError("f", "a differentiable score function (f.differentiable is False)")
    batch = jnp.asarray(video)[None]
    try:
        if eager:
            out, vjp = jax.vjp(f, batch)
            vjp(jnp.ones_like(out))
        else:
            out = jax.eval_shape(f, batch)
            jax.eval_shape(jax.grad(lambda x: jnp.sum(f(x))), batch)
    except VidxaiError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure of the gradient is the user's f
        raise ArgumentError("f", "a score function that JAX can differentiate",
                            f"{type(err).__name__}: {err}") from err
    if tuple(out.shape) != (1,):
        raise ScoreFunctionError(f"f: expected scores of shape (1,), got {tuple(out.shape)}")


def _final_map(masks: np.ndarray) -> np.ndarray:
    total = gaussian_filter(jnp.asarray(masks).sum(0), MAP_SIGMA, axes=(1, 2), mode="reflect")
    total = np.asarray(total)
    peak = total.max()
    return total / peak if peak > 0 else total


def _run(method, f, video, areas, *, areas_t=None, kernel=None, per_frame=False,
         iterations=1200, step=7, sigma=11, lr=0.05, optimizer=None, lambda1=300.0,
         lambda1_growth=1.0008668, lambda2=300.0, lambda2_start=100, regularizers=(),
         output=None, reward_scale=None, progress=False, **extra):
    video = check_video(video)
    areas = _check_areas(areas)
    iterations = check_int(iterations, "iterations", minimum=1)
    step = check_int(step, "step", minimum=1)
    sigma = check_float(sigma, "sigma", 0.0, open_low=True)
    shape = video.shape[:3]
    kernel = _check_kernel(kernel, shape)
    output = getattr(f, "output", None) if output is None else output
    output = "raw" if output is None else output
    if output not in ("prob", "logit", "raw"):
        raise ArgumentError("output", "one of 'prob', 'logit', 'raw'", repr(output))
    regs = tuple(regularizers)
    if not all(callable(r) for r in regs):
        raise ArgumentTypeError("regularizers", "a list of functions mask -> scalar", regs)
    optimizer = default_optimizer(lr) if optimizer is None else optimizer
    if not isinstance(optimizer, optax.GradientTransformation):
        raise ArgumentTypeError("optimizer", "an optax.GradientTransformation", describe(optimizer))
    eager = is_eager(f, (len(areas),) + video.shape)
    _check_f(f, video, eager)

    cfg = opt.Config(shape=tuple(shape), step=step, sigma=sigma, iterations=iterations,
                     lambda1=float(lambda1), lambda1_growth=float(lambda1_growth),
                     lambda2=float(lambda2), lambda2_start=int(lambda2_start), kernel=kernel,
                     per_frame=per_frame, reward="log" if output == "prob" else "linear",
                     regularizers=regs)
    grid = M.seed_grid_shape(shape[1:], step, sigma)
    seeds = jnp.ones((len(areas), shape[0]) + grid, jnp.float32)  # STEP starts from all ones
    pyramid = M.blur_pyramid(jnp.asarray(video))
    areas_arr = jnp.asarray(areas, jnp.float32)
    if areas_t is None:
        areas_t = np.repeat(np.asarray(areas, np.float32)[:, None], shape[0], axis=1)
    base = float(np.asarray(f(jnp.asarray(video)[None]))[0])
    if reward_scale is None:
        scale = 1.0 if output == "prob" else max(abs(base), 1e-12) / LINEAR_REWARD_GAIN
    else:
        scale = 1.0 / check_float(reward_scale, "reward_scale", 0.0, open_low=True)
    run = opt.optimise_eager if eager else opt.optimise_jax
    seeds, history = run(f, seeds, pyramid, areas_arr, jnp.asarray(areas_t, jnp.float32), cfg,
                         optimizer, progress=progress, scale=scale)
    _, masks = opt.masks_from_seeds(seeds, cfg)
    perturbed = M.apply_pyramid(pyramid, masks)
    scores = np.asarray(f(perturbed), np.float32)
    masks = np.asarray(masks, np.float32)
    meta = {"iterations": iterations, "step": step, "sigma": sigma, "kernel": kernel,
            "output": output, "lambda1": lambda1, "lambda2": lambda2, "eager": eager,
            "reward_scale": 1.0 / scale}
    return ExtremalResult(masks=masks, map=_final_map(masks), areas=areas, scores=scores,
                          base_score=base, history=history, method=method,
                          target=getattr(f, "target", None), areas_t=np.asarray(areas_t),
                          meta=meta, **extra)


def ep3d(f, video, *, areas=(0.05, 0.1, 0.15, 0.2), **options) -> ExtremalResult:
    """EP-3D: extremal perturbation with one whole-volume area loss (paper 004 Eq. 5-6).

    ``options``: ``iterations`` (1200), ``step``/``sigma`` of the seed grid (7/11; STEP uses
    sigma 23 above 112 px), ``lr`` (0.05) or any optax ``optimizer``, ``lambda1`` (300),
    ``lambda1_growth``, ``regularizers`` (functions ``mask (T,H,W) -> scalar`` added to the
    objective), ``output`` and ``reward_scale`` (reward, see the module docstring),
    ``progress``.
    """
    return _run("ep3d", f, video, areas, **options)


def step(f, video, *, areas=(0.05, 0.1, 0.15, 0.2), kernel=(8, 11, 11),
         iterations=1200, **options) -> ExtremalResult:
    """STEP: EP-3D plus the spatio-temporal smoothness loss L_K (paper 004 Eq. 7-11).

    ``kernel``: ellipsoid shape ``(T_K, H_K, W_K)``; lambda2 (300) starts at ``lambda2_start``
    (100). Other options as :func:`ep3d`.
    """
    if kernel is None:
        raise ArgumentError("kernel", "a (T_K, H_K, W_K) ellipsoid for STEP (use ep3d without)")
    return _run("step", f, video, areas, kernel=kernel, iterations=iterations, **options)


def tiem(f, video, *, areas=(0.1,), alpha=0.8, kernel=None, tis=None, removed=None,
         batch_size=32, **options) -> ExtremalResult:
    """TIEM: extremal perturbation with TIS-aware per-frame areas (paper 002 Eq. 5-7).

    The time importance scores ``l`` (paper 002 Eq. 1-4, :func:`vidxai.explain.tis.
    time_importance` with ``alpha``, ``removed``, ``batch_size``) set frame ``t``'s area to
    ``a * l_t * T`` clipped to [0, 1], i.e. frame ``t`` keeps ``a l_t T H W`` pixels (at most
    ``H W``). ``tis`` may pass precomputed scores (a ``TimeImportance`` or a ``(T,)`` array).
    ``kernel=(8, 11, 11)`` adds STEP's L_K (the TIEM + L_K hybrid). Other options as
    :func:`ep3d`.
    """
    video = check_video(video)
    areas = _check_areas(areas)
    alpha = check_float(alpha, "alpha", 0.0, 1.0)
    windows = None
    if tis is None:
        from .tis import time_importance
        tis = time_importance(f, video, alpha=alpha, removed=removed, batch_size=batch_size,
                              progress=options.get("progress", False))
    if hasattr(tis, "tis"):
        windows = np.asarray(tis.windows, np.float32)
        tis = tis.tis
    tis = np.asarray(tis, np.float32)
    t = video.shape[0]
    if tis.shape != (t,) or not np.all(np.isfinite(tis)) or tis.min() < 0 or tis.sum() <= 0:
        raise ArgumentError("tis", f"({t},) non-negative finite scores with a positive sum",
                            describe(tis))
    tis = tis / tis.sum()
    areas_t = np.clip(np.asarray(areas, np.float32)[:, None] * tis[None, :] * t, 0.0, 1.0)
    return _run("tiem" if kernel is None else "tiem+lk", f, video, areas, areas_t=areas_t,
                kernel=kernel, per_frame=True, tis=tis, windows=windows, **options)


def smallest_area(result: ExtremalResult, phi0: float):
    """``(a*, M_a*)``: the smallest area whose preserved score reaches ``phi0`` (paper 004
    Eq. 4; paper 002 Eq. 6), or ``(None, None)`` when no area does."""
    if not isinstance(result, ExtremalResult):
        raise ArgumentTypeError("result", "an ExtremalResult", describe(result))
    phi0 = check_float(phi0, "phi0")
    for i in np.argsort(result.areas):
        if result.scores[i] >= phi0:
            return result.areas[i], result.masks[i]
    return None, None


__all__ = ["ExtremalResult", "default_optimizer", "ep3d", "step", "tiem", "smallest_area"]

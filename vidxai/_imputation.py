"""Noisy linear imputation of removed voxels (ROAD, extended to space-time).

"A Consistent and Efficient Evaluation Strategy for Attribution Methods" (Rong, Leemann,
Borisov, Kasneci, Kasneci; ICML 2022, Sec. 4, "noisy linear imputation") fills each removed
pixel with the weighted mean of its neighbours: the removed values ``y`` solve one sparse
linear system in which every removed pixel equals the weighted mean of its neighbours, known
(kept) neighbours entering the right-hand side; small Gaussian noise is then added to the
filled pixels. Here the neighbourhood is spatio-temporal:

* ``neighbours=6``: the face neighbours (t +- 1, h +- 1, w +- 1), weight 1 each;
* ``neighbours=26``: the whole 3 x 3 x 3 cube, weight ``1 / m`` for an offset with ``m``
  non-zero components (faces 1, edges 1/2, corners 1/3).

When ``T = 1`` the temporal neighbours do not exist, so the system is exactly the 2-D one of
a single frame: 4 neighbours, or with 26 the 8 in-frame ones weighted 1 and 1/2, i.e. ROAD's
own 2-D weights 1/6 and 1/12 after normalisation.

Borders: a neighbour outside the volume is absent; a voxel's value is the mean over the
neighbours that exist (its degree counts only those). Channels are solved independently.

The system ``(D - W) y = W_kept x`` on the removed voxels (``D`` the degree, ``W`` the
symmetric neighbour weights) is symmetric positive definite whenever every connected set of
removed voxels touches a kept voxel. It is solved matrix-free with
``jax.scipy.sparse.linalg.cg`` (the operator is a stencil over the whole volume: kept voxels
carry the identity, so shapes stay static), with a Jacobi preconditioner, in one jitted call
per video shape (a curve's steps do not compile again). ROAD's own code solves the 2-D system
directly; CG on a large hole needs many iterations (about its diameter), so the starting point
comes from the same system on coarser grids (``H / 2 x W / 2``, up to :data:`LEVELS` times,
each removed where all its 2 x 2 children are, the coarsest started from ``x0``): only the
start changes, the fine system and its tolerance do not. A removed set with no kept neighbour
at all is singular; its voxels keep their starting value (about the mean kept colour, or
``x0`` where given, block-averaged), which CG never changes because the residual there is zero.

Tolerance: ``||b - A y|| <= tol ||b||`` with ``tol = 1e-4`` by default (:data:`TOL`). The
pixels are 8-bit (one level is 1 / 255, about 4e-3) and ROAD adds noise of standard deviation
0.01 to the filled voxels; at 1e-4 the filled values of a 16 x 224 x 224 video with half of it
removed differ from the 1e-6 solution by at most about 2e-3 (half a level, a fifth of the
noise), at several times less work. float32 CG stalls near a relative residual of 1e-5
anyway; ask for ``tol=1e-6`` where exactness matters (the tests' exact recoveries).

Preconditioner (:data:`PRECONDITIONER`): ``"jacobi"`` (the diagonal) by default, or
``"multigrid"``, one symmetric geometric V-cycle per CG step: damped Jacobi (:data:`OMEGA`,
:data:`SWEEPS` sweeps before and the same after each coarse correction), prolongation that
copies a coarse voxel to the removed voxels of its 2 x 2 (x 2 in T when T is even) block,
restriction its transpose (a block sum), coarse operator ``SCALE * P^T A P`` built from the
mask as a variable-coefficient stencil (Galerkin keeps every level symmetric, diagonally
dominant and exact about which couplings cross the hole's border; a piecewise-constant ``P``
makes it about twice too stiff for smooth errors, hence ``SCALE = 0.7``, the best of 0.5,
0.6, 0.7, 1 measured), recursion while H, W are even and at least ``2 * COARSEST``,
:data:`COARSE_SWEEPS` Jacobi sweeps on the coarsest grid. It is a fixed symmetric positive
definite linear map, so the system, the tolerance and the answer are CG's as before.
Measured at 16 x 224 x 224 (bikes clip, ROAD's MoRF masks of a smooth random map, fractions
0.1 .. 0.9, flat start, tol 1e-4): Jacobi-PCG needs 93 .. 321 iterations, the V-cycle 9 .. 11.
It is not the default because on XLA:CPU a chain of three or more stencil passes in one
program runs about 5 times slower per pass than the same pass in a loop body (17 vs 2-4 ms),
so a V-cycle step cost ~150 ms and a solve 1.6-2.1 s against Jacobi's 1.0-2.7 s; re-measure
on an accelerator, where the iteration count should decide.
"""
from __future__ import annotations

import functools
import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .errors import (ArgumentError, ArgumentTypeError, check_float, check_int, check_key,
                     check_video, describe)

__all__ = ["NEIGHBOURS", "TOL", "Imputed", "MaskFill", "impute", "fill", "settings",
           "offsets"]

NEIGHBOURS = (6, 26)
TOL = 1e-4        # default CG tolerance: ||b - A y|| <= TOL ||b|| (see the module docstring)
LEVELS = 3        # coarse grids below the video's for the starting point
COARSEST = 8      # no grid coarser than 8 x 8 pixels
PRECONDITIONER = "jacobi"   # or "multigrid" (a V-cycle; see the module docstring)
SWEEPS = 1        # damped Jacobi sweeps before and after each coarse correction
COARSE_SWEEPS = 32  # damped Jacobi sweeps on the coarsest multigrid level
OMEGA = 0.8       # Jacobi damping (< 1: the stencils are diagonally dominant)
SCALE = 0.7       # coarse operator = SCALE * P^T A P (see the module docstring)


class Imputed(NamedTuple):
    """An imputed video: ``video`` (T, H, W, C) float32 (kept voxels untouched, removed ones
    filled), the solver's relative ``residual`` ``||b - A y|| / ||b||`` (before the noise) and
    ``solution``, the noise-free filled video, to warm-start the next solve."""

    video: np.ndarray
    residual: float
    solution: jax.Array


def offsets(neighbours: int) -> tuple:
    """``((dt, dh, dw), weight)`` pairs of a neighbourhood (see the module docstring)."""
    if isinstance(neighbours, bool) or neighbours not in NEIGHBOURS:
        raise ArgumentError("neighbours", "6 or 26", repr(neighbours))
    found = []
    for off in itertools.product((-1, 0, 1), repeat=3):
        m = sum(o != 0 for o in off)
        if m == 0 or (neighbours == 6 and m > 1):
            continue
        found.append((off, 1.0 / m))
    return tuple(found)


def _neighbour_sum(x, offs):
    """``sum_o w_o x[i + o]`` over the first three axes, absent (outside) neighbours 0: one
    zero pad and a static slice per offset (half the time of padding per offset)."""
    t, h, w = x.shape[:3]
    padded = jnp.pad(x, [(1, 1)] * 3 + [(0, 0)] * (x.ndim - 3))
    return sum(wt * padded[1 + dt:1 + dt + t, 1 + dh:1 + dh + h, 1 + dw:1 + dw + w]
               for (dt, dh, dw), wt in offs)


def _shift(x, off):
    """``x[i + off]`` over the first three axes, 0 outside the volume."""
    t, h, w = x.shape[:3]
    dt, dh, dw = off
    padded = jnp.pad(x, [(1, 1)] * 3 + [(0, 0)] * (x.ndim - 3))
    return padded[1 + dt:1 + dt + t, 1 + dh:1 + dh + h, 1 + dw:1 + dw + w]


def _system(video, r, offs):
    """``(operator, b, diagonal)`` of the masked system on one grid: removed rows
    ``degree y - sum w y_removed``, kept rows the identity (``r`` (T, H, W, 1) in {0, 1})."""
    kept = 1.0 - r
    degree = _neighbour_sum(jnp.ones(video.shape[:3] + (1,), jnp.float32), offs)

    def operator(y):
        return r * (degree * y - _neighbour_sum(r * y, offs)) + kept * y

    return operator, r * _neighbour_sum(kept * video, offs), r * degree + kept


def _factors(shape):
    """How a multigrid level coarsens (T, H, W): 2 where the axis halves, else 1; ``None``
    at the coarsest level (H or W odd or below ``2 * COARSEST``)."""
    t, h, w = shape
    if h % 2 or w % 2 or min(h, w) < 2 * COARSEST:
        return None
    return (2 if t % 2 == 0 else 1, 2, 2)


def _coarsen(r, diag, coeffs, f):
    """Galerkin coarse level ``SCALE * P^T A P`` of a masked stencil level.

    ``A y = diag y - sum_o c_o y[i + o] + (1 - r) y`` with ``c_o`` already zero unless both
    ends are removed; ``P`` copies a coarse value to the removed children of its block (``f``
    per axis), so a coarse voxel is removed where any child is. Per fine coupling: inside a
    block it cancels out of the diagonal, across blocks it becomes a coarse coupling."""
    t, h, w = r.shape[:3]
    block = lambda a, c: a.reshape(t // f[0], f[0], h // f[1], f[1], w // f[2], f[2], 1)[
        :, c[0], :, c[1], :, c[2]]
    children = list(itertools.product(*(range(k) for k in f)))
    coarse = {}
    inner = sum(block(diag, c) for c in children)
    for o, co in coeffs.items():
        for c in children:
            big = tuple((ci + oi) // fi for ci, oi, fi in zip(c, o, f))
            if big == (0, 0, 0):
                inner = inner - block(co, c)
            else:
                coarse[big] = coarse.get(big, 0.0) + block(co, c)
    rc = (sum(block(r, c) for c in children) > 0).astype(jnp.float32)
    return rc, SCALE * inner, {o: SCALE * c for o, c in coarse.items()}


def _hierarchy(r, offs):
    """The multigrid levels of a mask: per level ``dict(r, diag, coeffs, f)`` (removed,
    diagonal on removed voxels, coupling arrays by offset, coarsening factors or ``None``)."""
    degree = _neighbour_sum(jnp.ones(r.shape, jnp.float32), offs)
    coeffs = {o: wt * r * _shift(r, o) for o, wt in offs}
    levels = [dict(r=r, diag=r * degree, coeffs=coeffs, f=_factors(r.shape[:3]))]
    while levels[-1]["f"] is not None:
        last = levels[-1]
        rc, diag, co = _coarsen(last["r"], last["diag"], last["coeffs"], last["f"])
        levels.append(dict(r=rc, diag=diag, coeffs=co, f=_factors(rc.shape[:3])))
    return levels


def _vcycle(levels, offs, v):
    """One symmetric V-cycle ``M v`` of the masked system (see the module docstring): damped
    Jacobi, ``SWEEPS`` before and after each coarse correction, piecewise-constant
    prolongation to the removed children, its transpose as restriction, ``COARSE_SWEEPS``
    Jacobi sweeps on the coarsest grid. A fixed linear map, symmetric and positive definite,
    so CG's convergence theory and its tolerance still hold."""
    r = levels[0]["r"]

    def apply(k, y):
        lv = levels[k]
        if k == 0:
            return lv["diag"] * y - r * _neighbour_sum(r * y, offs) + (1.0 - r) * y
        return (lv["diag"] * y - sum(c * _shift(y, o) for o, c in lv["coeffs"].items())
                + (1.0 - lv["r"]) * y)

    def sweeps(k, b, x, n):
        d = levels[k]["diag"] + 1.0 - levels[k]["r"]
        if x is None:
            x, n = OMEGA * b / d, n - 1
        step = lambda _, x: x + OMEGA * (b - apply(k, x)) / d
        return jax.lax.fori_loop(0, n, step, x) if n > 0 else x

    def cycle(k, b):
        if k == len(levels) - 1:
            return sweeps(k, b, None, COARSE_SWEEPS)
        rk, f = levels[k]["r"], levels[k]["f"]
        x = sweeps(k, b, None, SWEEPS)
        res = rk * (b - apply(k, x))
        t, h, w = res.shape[:3]
        coarse = res.reshape(t // f[0], f[0], h // f[1], f[1], w // f[2], f[2], -1).sum((1, 3, 5))
        e = cycle(k + 1, coarse)
        for axis, fk in enumerate(f):
            e = jnp.repeat(e, fk, axis=axis) if fk > 1 else e
        return sweeps(k, b, x + rk * e, SWEEPS)

    return r * cycle(0, r * v) + (1.0 - r) * v


def _cg(video, r, x0, offs, tol, maxiter):
    """Preconditioned CG on one level: ``(filled video, relative residual)``."""
    operator, b, diagonal = _system(video, r, offs)
    if PRECONDITIONER == "multigrid":
        precondition = functools.partial(_vcycle, _hierarchy(r, offs), offs)
    else:
        precondition = lambda v: v / diagonal
    y, _ = jax.scipy.sparse.linalg.cg(operator, b, x0=r * x0, tol=tol, maxiter=maxiter,
                                      M=precondition)
    norm = jnp.maximum(jnp.linalg.norm(b), 1e-30)
    residual = jnp.linalg.norm(b - operator(y)) / norm
    return (1.0 - r) * video + r * y, residual


def _halve(a):
    """Sum over 2 x 2 blocks in (H, W)."""
    t, h, w = a.shape[:3]
    return a.reshape((t, h // 2, 2, w // 2, 2) + a.shape[3:]).sum((2, 4))


def _coarse_to_fine(video, r, x0, offs, tol, maxiter, levels):
    """Solve on the (H/2, W/2) grid first (recursively, ``levels`` deep while H, W are even
    and >= :data:`COARSEST`) and start the fine CG from its solution, repeated 2 x 2. Only
    the starting point changes, not the system: the fine solve still runs to ``tol``. A
    coarse voxel is removed when all four of its children are; a kept one has the mean of its
    kept children."""
    h, w = video.shape[1:3]
    if levels > 0 and h % 2 == 0 and w % 2 == 0 and min(h, w) >= 2 * COARSEST:
        count = _halve(1.0 - r)
        coarse_video = _halve((1.0 - r) * video) / jnp.maximum(count, 1.0)
        coarse, _ = _coarse_to_fine(coarse_video, (count == 0).astype(jnp.float32),
                                    _halve(x0) / 4.0, offs, tol, maxiter, levels - 1)
        x0 = jnp.repeat(jnp.repeat(coarse, 2, axis=1), 2, axis=2)
    return _cg(video, r, x0, offs, tol, maxiter)


@functools.partial(jax.jit, static_argnames=("neighbours", "tol", "maxiter", "levels"))
def _solve(video, removed, x0, *, neighbours, tol, maxiter, levels=LEVELS):
    """One compilation per shape and settings (all curve steps of a video share it)."""
    r = removed[..., None].astype(jnp.float32)
    return _coarse_to_fine(video, r, x0, offsets(neighbours), tol, maxiter, levels)


@functools.partial(jax.jit, static_argnames=("noise",))
def _noisy(solution, removed, key, *, noise):
    return _add_noise(solution, removed, key, noise)


def _add_noise(solution, removed, key, noise):
    """ROAD's noise: N(0, noise^2) added to the ``removed`` (T, H, W) voxels, clipped to
    [0, 1]."""
    eps = jax.random.normal(key, solution.shape, jnp.float32)
    return jnp.clip(solution + noise * eps * removed[..., None], 0.0, 1.0)


def impute(video, removed, *, neighbours: int = 6, noise: float = 0.01, key=None, x0=None,
           tol: float = TOL, maxiter: int = 2000) -> Imputed:
    """Fill the ``removed`` voxels of ``video`` by noisy linear imputation (ROAD, space-time).

    Args:
      video: float ``(T, H, W, C)`` in [0, 1]; never modified.
      removed: bool ``(T, H, W)``, ``True`` = removed (to be imputed).
      neighbours: 6 (faces) or 26 (the 3 x 3 x 3 cube); see the module docstring.
      noise: standard deviation of the Gaussian noise added to the filled voxels (ROAD's
        code: 0.01); 0 for the plain linear imputation. The result is clipped to [0, 1].
      key: a ``jax.random`` key (required when ``noise > 0``).
      x0: warm start, a video ``(T, H, W, C)`` (e.g. the previous curve step's
        ``solution``); default: every removed voxel at the mean colour of the kept ones.
      tol, maxiter: conjugate-gradient tolerance (relative to the right-hand side, default
        :data:`TOL` = 1e-4, see the module docstring) and iteration cap per grid level.

    Returns an :class:`Imputed` (video, residual, solution).
    """
    video = check_video(video)
    noise, tol, maxiter = settings(neighbours, noise, tol, maxiter)
    if noise > 0:
        key = check_key(key)
    if x0 is not None:
        x0 = jnp.asarray(x0, jnp.float32)
        if x0.shape != video.shape:
            raise ArgumentError("x0", f"a warm start of the video's shape {video.shape}",
                                describe(x0))
    return fill(jnp.asarray(video), removed, x0, neighbours=int(neighbours), noise=noise,
                key=key, tol=tol, maxiter=maxiter)


def _kept_colour(video, kept):
    """The mean colour of the kept voxels (``kept`` (T, H, W, 1) in {0, 1}), 0.5 when none."""
    count = kept.sum((0, 1, 2))
    return jnp.where(count > 0, (kept * video).sum((0, 1, 2)) / jnp.maximum(count, 1.0), 0.5)


@jax.tree_util.register_pytree_node_class
class MaskFill:
    """Removed values that depend on the mask: what the evaluation engine composes with each
    perturbed video when the removal is :func:`vidxai.removal.imputed` (ROAD's noisy linear
    imputation of the removed voxels, solved for every mask of a chunk, vmapped).

    A voxel is removed where its mask is below 0.5 (soft masks: RISE's grids, softened
    edges, are then blended with the imputed video as with any fill). Each mask's noise comes
    from ``key`` folded with a hash of its removed set, so one coalition always gets the same
    video (the game stays a function of the coalition) whatever the chunking. A pytree: the
    key is its leaf, the solver settings its static part (one compilation per settings).
    """

    def __init__(self, key, neighbours: int, noise: float, tol: float, maxiter: int):
        self.key, self.neighbours, self.noise = key, neighbours, noise
        self.tol, self.maxiter = tol, maxiter

    def tree_flatten(self):
        return (self.key,), (self.neighbours, self.noise, self.tol, self.maxiter)

    @classmethod
    def tree_unflatten(cls, static, leaves):
        return cls(leaves[0], *static)

    def __call__(self, video, masks):
        """Imputed videos ``(B, T, H, W, C)`` for ``masks`` ``(B, T, H, W)`` (1 = kept)."""
        stamp = jax.random.bits(jax.random.key(0x524F4144), video.shape[:3], jnp.uint32)
        offs = offsets(self.neighbours)

        def one(mask):
            r = (mask < 0.5)[..., None].astype(jnp.float32)
            x0 = jnp.broadcast_to(_kept_colour(video, 1.0 - r), video.shape)
            solution, _ = _coarse_to_fine(video, r, x0, offs, self.tol, self.maxiter, LEVELS)
            if self.noise <= 0:
                return solution
            digest = jnp.sum(jnp.where(r[..., 0] > 0, stamp, jnp.uint32(0)), dtype=jnp.uint32)
            return _add_noise(solution, r[..., 0], jax.random.fold_in(self.key, digest),
                              self.noise)

        return jax.vmap(one)(masks)


def settings(neighbours, noise, tol, maxiter) -> tuple:
    """Validated ``(noise, tol, maxiter)`` (and ``neighbours``) of :func:`impute`."""
    offsets(neighbours)
    return (check_float(noise, "noise", 0.0), check_float(tol, "tol", 0.0, open_low=True),
            check_int(maxiter, "maxiter", minimum=1))


def fill(video: jax.Array, removed, x0, *, neighbours: int, noise: float, key, tol: float,
         maxiter: int) -> Imputed:
    """:func:`impute` on a validated float32 ``video`` already on the device (the curve loop
    of :func:`vidxai.metrics.road_curves.road` checks the video and settings once); only the
    mask is checked here. ``x0`` a device array of the video's shape or ``None``."""
    mask = np.asarray(removed)
    if mask.shape != video.shape[:3]:
        raise ArgumentError("removed", f"a boolean mask of shape {video.shape[:3]}",
                            describe(mask))
    if mask.dtype != bool:
        raise ArgumentTypeError("removed", "a boolean mask (True = removed)", describe(mask))
    removed = jnp.asarray(mask)
    if x0 is None:
        kept = (~removed)[..., None].astype(jnp.float32)
        x0 = jnp.broadcast_to(_kept_colour(video, kept), video.shape)
    solution, residual = _solve(video, removed, x0, neighbours=neighbours, tol=tol,
                                maxiter=maxiter)
    out = solution if noise <= 0 else _noisy(solution, removed, key, noise=noise)
    return Imputed(np.asarray(out), float(residual), solution)

"""The extremal-perturbation objective and its optimisation loops (papers 004 and 002).

The objective of one area level is a sum of terms (paper 004 Eq. 11; paper 002 Eq. 7):

    reward(Phi(M (x) X)) + lambda1_i * L_S + lambda2_i * L_K + sum of user regularisers(M)

with ``lambda1_i = lambda1 * growth**i`` and ``lambda2_i = 0`` before ``lambda2_start`` and
``lambda2`` after (STEP reference code). The mask ``M`` is the smooth-max upsampling of a seed
grid (:func:`vidxai.masks.smooth_max_upsample`); the seeds are the optimised parameters,
clamped to [0, 1] after each optimiser step. Area levels are independent problems solved
together: the masks are vmapped and the ``A`` perturbed videos form one batch for ``f``.

With a pure-JAX ``f`` the whole optimisation is one ``jax.lax.scan`` inside one ``jax.jit``,
compiled once per (shapes, configuration); with an eager ``f`` (the torch bridge) a Python
loop calls the jitted mask/loss parts and ``jax.vjp`` through ``f``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from .. import masks as M
from ..scoring import bar_disabled

_TRACES = {"count": 0}
_COMPILED: dict = {}


def trace_count() -> int:
    """How many times the optimisation scan has been traced (compiled) in this process."""
    return _TRACES["count"]


@dataclass(frozen=True)
class Config:
    """Static settings of one optimisation (hashable: part of the compilation cache key)."""

    shape: tuple          # (T, H, W)
    step: int = 7
    sigma: float = 11.0
    levels: int = 8
    max_sigma: float = 20.0
    iterations: int = 1200
    lambda1: float = 300.0
    lambda1_growth: float = 1.0008668
    lambda2: float = 300.0
    lambda2_start: int = 100
    kernel: tuple | None = None     # (T_K, H_K, W_K) ellipsoid for L_K, or None
    kernel_stride: tuple = (1, 11, 11)
    per_frame: bool = False         # TIEM's per-frame area loss instead of the volume L_S
    reward: str = "log"             # "log": -log p; "linear": -score
    regularizers: tuple = ()


def reward(scores, kind: str, scale=1.0):
    """Reward term per area: ``-log p`` for probabilities, ``-score`` otherwise, divided by
    ``scale`` (the caller's ``1 / reward_scale``: 1 for ``-log p`` and ``|Phi(X)| / 10`` for
    the linear reward by default, so the default lambdas balance any score range)."""
    if kind == "log":
        return -jnp.log(jnp.maximum(scores, 1e-30)) / scale
    return -scores / scale


def masks_from_seeds(seeds, cfg: Config):
    """``seeds (..., T, gh, gw)`` -> ``(full, mask)`` via the smooth-max generator."""
    return M.smooth_max_upsample(seeds, cfg.shape[1:], step=cfg.step, sigma=cfg.sigma)


def regularisation(full, mask, area, areas_t, i, cfg: Config):
    """lambda1_i L_S + lambda2_i L_K + user regularisers for ONE area level (vmap it)."""
    lam1 = cfg.lambda1 * jnp.power(cfg.lambda1_growth, i.astype(jnp.float32))
    if cfg.per_frame:
        total = lam1 * M.per_frame_area_loss(full, areas_t)
    else:
        total = lam1 * M.sorted_area_loss(full, area)
    if cfg.kernel is not None:
        lam2 = jnp.where(i >= cfg.lambda2_start, cfg.lambda2, 0.0)
        kernel = jnp.asarray(M.ellipsoid_kernel(*cfg.kernel))
        total = total + lam2 * M.kernel_smoothness_loss(mask, kernel, area,
                                                        stride=tuple(cfg.kernel_stride))
    for reg in cfg.regularizers:
        total = total + reg(mask)
    return total


def _parts(seeds, pyramid, areas, areas_t, i, cfg: Config):
    """Perturbed batch ``(A, T, H, W, C)`` and per-area regularisation ``(A,)``."""
    full, mask = masks_from_seeds(seeds, cfg)
    reg = jax.vmap(regularisation, in_axes=(0, 0, 0, 0, None, None))(
        full, mask, areas, areas_t, i, cfg)
    return M.apply_pyramid(pyramid, mask), reg


def _loss(seeds, f, pyramid, areas, areas_t, i, cfg: Config, scale=1.0):
    perturbed, reg = _parts(seeds, pyramid, areas, areas_t, i, cfg)
    per_area = reward(f(perturbed), cfg.reward, scale) + reg
    return jnp.sum(per_area), per_area


def _clamped_update(optimizer, grads, opt_state, seeds):
    updates, opt_state = optimizer.update(grads, opt_state, seeds)
    return jnp.clip(optax.apply_updates(seeds, updates), 0.0, 1.0), opt_state


def _scan_fn(f, cfg: Config, optimizer, progress: bool):
    key = (f, cfg, optimizer, progress)
    if key in _COMPILED:
        return _COMPILED[key]

    def run(seeds, pyramid, areas, areas_t, scale):
        _TRACES["count"] += 1
        grad_fn = jax.grad(_loss, has_aux=True)

        def body(carry, i):
            seeds, opt_state = carry
            grads, per_area = grad_fn(seeds, f, pyramid, areas, areas_t, i, cfg, scale)
            seeds, opt_state = _clamped_update(optimizer, grads, opt_state, seeds)
            if progress:
                jax.debug.callback(_tick, i)
            return (seeds, opt_state), per_area

        (seeds, _), history = jax.lax.scan(body, (seeds, optimizer.init(seeds)),
                                           jnp.arange(cfg.iterations))
        return seeds, history

    _COMPILED[key] = jax.jit(run)
    if len(_COMPILED) > 32:
        _COMPILED.pop(next(iter(_COMPILED)))
    return _COMPILED[key]


_BAR: list = []


def _tick(i):
    if _BAR:
        _BAR[-1].update(1)


def optimise_jax(f, seeds, pyramid, areas, areas_t, cfg: Config, optimizer, progress=False,
                 scale=1.0):
    """The whole optimisation as one jitted ``lax.scan``. Returns ``(seeds, history (I, A))``."""
    hidden = bar_disabled(progress)
    run = _scan_fn(f, cfg, optimizer, not hidden)  # no host callbacks for a hidden bar
    with tqdm(total=cfg.iterations, desc="extremal iterations", disable=hidden,
              leave=False) as bar:
        _BAR.append(bar)
        try:
            seeds, history = run(seeds, pyramid, areas, areas_t, jnp.float32(scale))
            seeds = jax.block_until_ready(seeds)
        finally:
            _BAR.pop()
    return seeds, np.asarray(history)


@jax.jit
def _jit_parts(seeds, pyramid, areas, areas_t, i, cfg_holder):
    return _parts(seeds, pyramid, areas, areas_t, i, cfg_holder.cfg)


class _Holder:
    """Hashable static wrapper so a Config can ride through jit as a static pytree node."""

    def __init__(self, cfg):
        self.cfg = cfg

    def __hash__(self):
        return hash(self.cfg)

    def __eq__(self, other):
        return isinstance(other, _Holder) and other.cfg == self.cfg


jax.tree_util.register_pytree_node(_Holder, lambda h: ((), h.cfg), lambda cfg, _: _Holder(cfg))


@jax.jit
def _jit_backward(seeds, g_pert, pyramid, areas, areas_t, i, cfg_holder):
    """Seed gradient from the gradient w.r.t. the perturbed batch, plus the regulariser's."""
    _, vjp = jax.vjp(lambda s: _parts(s, pyramid, areas, areas_t, i, cfg_holder.cfg), seeds)
    return vjp((g_pert, jnp.ones(areas.shape, seeds.dtype)))[0]


def optimise_eager(f, seeds, pyramid, areas, areas_t, cfg: Config, optimizer, progress=False,
                   scale=1.0):
    """Python loop for an eager ``f`` (torch bridge): jitted mask/loss parts, ``jax.vjp``
    through ``f``. Same updates as :func:`optimise_jax`. Returns ``(seeds, history)``."""
    holder = _Holder(cfg)
    opt_state = optimizer.init(seeds)
    update = jax.jit(lambda g, st, s: _clamped_update(optimizer, g, st, s))
    history = np.zeros((cfg.iterations, len(areas)), np.float32)
    hidden = bar_disabled(progress)
    for it in tqdm(range(cfg.iterations), desc="extremal iterations", disable=hidden,
                   leave=False):
        i = jnp.asarray(it, jnp.int32)
        perturbed, reg = _jit_parts(seeds, pyramid, areas, areas_t, i, holder)
        scores, f_vjp = jax.vjp(f, perturbed)
        rew, r_vjp = jax.vjp(lambda s: reward(s, cfg.reward, scale), scores)
        g_pert = f_vjp(r_vjp(jnp.ones_like(rew))[0])[0]
        grads = _jit_backward(seeds, g_pert, pyramid, areas, areas_t, i, holder)
        seeds, opt_state = update(grads, opt_state, seeds)
        history[it] = np.asarray(rew + reg)
    return seeds, history

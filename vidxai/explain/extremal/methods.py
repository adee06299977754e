"""Extremal-perturbation masks for video: EP-2D, EP-3D, STEP (paper 004) and TIEM (paper 002).

Each method optimises, for each area level ``a``, a smooth preservation mask ``M`` that keeps
the score ``Phi(M (x) X)`` high while keeping about ``a`` of the video (blur perturbation):

* :func:`ep2d`: reward + lambda1 times the per-frame area loss, every frame keeping ``a``;
* :func:`ep3d`: reward + lambda1 L_S over the whole volume (paper 004 Eq. 5-6);
* :func:`step`: EP-3D + lambda2 L_K with an ellipsoid kernel (paper 004 Eq. 7-11);
* :func:`tiem`: reward + lambda1 times the per-frame area loss with frame areas ``a l_t T``
  from the time importance scores ``l`` (paper 002 Eq. 1-7);
* :func:`tiem_lk`: TIEM + STEP's L_K (the hybrid paper 002 names as future work).

Defaults follow the STEP reference code: SGD, lr 0.05, momentum 0.9, dampening 0.9, written
in optax as ``optax.sgd(lr * (1 - 0.9), momentum=0.9)``. This matches torch's SGD except on
its first step, where torch does not dampen (its momentum buffer starts at the raw gradient,
so its first step is ``1/(1-dampening) = 10`` times larger, and that larger first gradient
then decays in the buffer); ours dampens every step. lambda1 = 300 growing x1.0008668 per
iteration, lambda2 = 0 until iteration 100 then 300, 1200 iterations, seeds start at 1 and are
clamped to [0, 1] after every step.

Pixel settings (seed stride, sigma, the L_K kernel and its stride, the blur pyramid, the
map's blur) default to ``None``: derived from the video's ``(T, H, W)`` so that each keeps the
size it has in STEP at 16 x 112 x 112, where they equal the paper's constants
(:mod:`vidxai.explain._extremal_defaults`); the values used are in ``meta`` and the derived
ones in ``meta["derived"]``. Given explicitly, a value is used as is.

Area: L_S counts the mask on the frame (``area_on="frame"``): papers 004 (Eq. 3, 6) and 002
(Eq. 5, 7) constrain ``||m||_1 = a T H W`` over the frame. The STEP / TorchRay code sorts the
uncropped generator output, frame plus a sigma-wide border that the optimisation leaves near
0, so the frame keeps ``a |full| / |frame|`` (1.43 a at 112 px, about 2 a at 48-64 px);
``area_on="full", mean_area_weight=0`` restores it. ``meta["kept_area"]`` is the mean of
each mask.

Mean-area term: L_S's template is binary, the generator's masks are soft (each blob falls
off over about one ``sigma``), and the squared template error charges a faint tail ``v^2``
where the area ``||M||_1`` counts it ``v``: with L_S alone the masks keep 1-1.6 points more
than asked at 10% (white-box benchmark, README). From half the iterations on (the mask is
localised by then) ``lambda1_i * mean_area_weight * huber(mean(M) - a)`` is added, per frame
for per-frame areas: paper 004 Eq. 3's constraint ``||M||_1 = a T H W`` itself, quadratic
within 1 point and linear beyond so that its uniform push never outweighs L_S. The kept area
then lands within 0.1 point. ``mean_area_weight=0`` is the papers' objective exactly.

Reward: papers 004 (Eq. 5) and 002 (Eq. 7) are linear in the score, ``-Phi(M (x) X)``
(``reward="linear"``, the paper-faithful choice, scaled as below); the STEP code minimises
``-log p``. ``reward=None`` keeps ``-log p`` for probabilities (``output="prob"``): it is what
the default lambdas were tuned with in the STEP code, and its gradient ``-grad p / p`` does not
vanish when the preserved probability is small, where the linear reward's does. Logits and
regressors (``"logit"``, ``"raw"``) always get the linear reward ``-10 score / |Phi(X)|``
(a log is undefined for non-positive scores), in units of a tenth of the unmasked score. The
division makes the balance with the area loss independent of the score's range and of the
video size (both the per-voxel reward and the per-voxel area penalty shrink as ``1 /
voxels``). The gain :data:`LINEAR_REWARD_GAIN` = 10 was chosen on TIEM's white-box regressors
(``benchmarks/whitebox.py``; the measurements are in the README): too small a gain and the
area loss wins, so the masks stay where the sort's tie-breaking first put them; too large
and the reward wins, so the masks outgrow their area. ``reward="linear"`` with
``output="prob"`` uses the same ``-10 p / p(X)``. ``reward_scale=c`` multiplies either
reward by ``c`` instead of the default factor (1 for ``-log p``, ``10 / |Phi(X)|`` for the
linear reward). ``output=None`` reads ``f.output`` when the score function has it, else
assumes ``"raw"`` (so pass ``output="prob"`` for a probability score function without it).
A non-finite score of the video or of a masked video is an error naming ``f``.
"""
from __future__ import annotations

import textwrap

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, check_float, describe
from . import _extremal_run as run
from . import tis as time_importance_scores
from ._extremal_opt import default_optimizer
from ._extremal_run import LINEAR_REWARD_GAIN, MAP_SIGMA
from .extremal_result import ExtremalResult
from .registry import PAPERS

FONG_2019 = ("R. Fong, M. Patrick, A. Vedaldi. Understanding Deep Networks via Extremal "
             "Perturbations and Smooth Masks. IEEE/CVF International Conference on Computer "
             "Vision (ICCV), 2019.")


# ---------------------------------------------------------------------------- docstrings
SETTINGS_DOC = """
    ``iterations``: optimiser steps (1200).
    ``seed_stride``: pixels between two seeds of the smooth-max mask generator; ``None``
    derives it from the frame: ``round(7 s)`` with ``s = sqrt(H W) / 112`` (7 at 112 px).
    ``sigma``: radius in pixels of each seed's bump; ``None``: ``11 s`` (11 at 112 px).
    ``blur_sigma``: sigma in pixels of the most blurred level of the perturbation's blur
    pyramid; ``None``: ``20 s`` (20 at 112 px).
    ``map_sigma``: sigma in pixels of the Gaussian that smooths the summed masks into
    ``map``; ``None``: ``10 s`` (paper 004's 10 px at 112 px).
    ``area_on``: where the area loss counts the mask: ``"frame"`` (default; the papers'
    ``|M| = T H W``, so the frame keeps the requested area) or ``"full"`` (the STEP and
    TorchRay code: the uncropped mask with its sigma-wide border, which keeps 1.4-2x more;
    the mean-area term then counts the uncropped mask too: add ``mean_area_weight=0``).
    ``mean_area_weight``: weight ``w`` of the mean-area term ``lambda1_i w huber(mean(M) -
    a)`` (per frame for per-frame areas; module docstring), paper 004 Eq. 3's ``||M||_1 =
    a T H W``, which the sorted template alone misses by 1-1.6 points with soft masks (100;
    ``0`` is the papers' objective exactly, L_S alone).
    ``mean_area_start``: the iteration it counts from (``None``: half the iterations; from
    the all-ones start it would dim the whole mask).
    ``lr``: learning rate of :func:`default_optimizer` (0.05); unused with ``optimizer``.
    ``optimizer``: any ``optax.GradientTransformation`` instead of the default SGD.
    ``lambda1``: weight of the area loss at iteration 0 (300).
    ``lambda1_growth``: factor applied to ``lambda1`` after every iteration (1.0008668).
    ``regularizers``: functions ``mask (T, H, W) -> scalar`` added to each area's objective.
    ``output``: ``"prob"``, ``"logit"`` or ``"raw"``: what ``f`` returns; ``None`` reads
    ``f.output``, else ``"raw"``.
    ``reward``: ``"log"`` (``-log p``, the STEP code) or ``"linear"`` (``-score``, papers
    002 Eq. 7 and 004 Eq. 5); ``None``: ``"log"`` for ``output="prob"``, else ``"linear"``
    (module docstring).
    ``reward_scale``: factor on the reward (default 1 for ``-log p``, ``10 / |Phi(X)|``
    for the linear reward).
    ``progress``: show a progress bar of the iterations (and of TIEM's window maskings).
    Every derived value is listed in ``meta["derived"]``; an explicit value always wins.
"""
KERNEL_DOC = """
    ``kernel``: the ellipsoid ``(T_K, H_K, W_K)`` of L_K (paper 004 Eq. 9-10); ``None``
    derives it: ``(round(8 T / 16), round(11 s), round(11 s))``, STEP's 8 x 11 x 11 at 16 x
    112 x 112 (at most the video's size).
    ``kernel_stride``: stride of L_K's convolution; ``None``: ``(1, H_K, W_K)`` (STEP's
    (1, 11, 11)).
    ``lambda2``: weight of L_K (300) from iteration ``lambda2_start`` (100) on, 0 before.
"""
TIS_DOC = """
    ``alpha``: window-size filter ratio of the TIS in [0, 1) (paper 002 Eq. 3; 0.8).
    ``window_span``, ``negative_drops``: the TIS switches of
    :func:`~vidxai.explain.tis.time_importance` (``"w"`` and ``"clip"``; the paper's
    Algorithm 1 is ``"w+1"`` and ``"signed"``).
    ``tis``: precomputed time importance scores (a ``TimeImportance`` or a ``(T,)`` array)
    instead of computing them; ``removed`` (default black) and ``batch_size`` (32) are
    what hidden frames show and the chunk size of the window maskings.
"""
SHARED = ("iterations", "seed_stride", "sigma", "blur_sigma", "map_sigma", "area_on",
          "mean_area_weight", "mean_area_start", "lr",
          "optimizer", "lambda1", "lambda1_growth", "regularizers", "output", "reward",
          "reward_scale")


def _shared(values: dict) -> dict:
    """The settings every extremal method passes on unchanged, from its ``locals()``."""
    return {name: values[name] for name in SHARED}


def _documented(*blocks, papers=("004",), others=()):
    """Fill a docstring's ``{settings}`` with ``blocks`` and ``{references}`` with papers."""
    def attach(fn):
        refs = "".join("\n" + textwrap.fill(text, 92, initial_indent="    * ",
                                             subsequent_indent="      ")
                       for text in [PAPERS[p] for p in papers] + list(others))
        fn.__doc__ = (fn.__doc__.replace("\n    {settings}\n", "".join(blocks))
                      .replace("{references}", "References:\n" + refs))
        return fn
    return attach


# ---------------------------------------------------------------------------- the methods
@_documented(SETTINGS_DOC, others=(FONG_2019,))
def ep2d(f, video, *, areas=(0.05, 0.1, 0.15, 0.2), iterations=1200, seed_stride=None,
         sigma=None, blur_sigma=None, map_sigma=None, area_on="frame", mean_area_weight=100.0,
         mean_area_start=None, lr=0.05, optimizer=None,
         lambda1=300.0, lambda1_growth=1.0008668, regularizers=(), output=None, reward=None,
         reward_scale=None, progress=False) -> ExtremalResult:
    """EP-2D: extremal perturbation frame by frame, every frame keeping the same area.

    The 2-D extremal perturbation of Fong et al. applied to each frame, as in the STEP code
    base: paper 004 Eq. 5 with the sorted area loss L_S (Eq. 6) taken frame by frame and
    averaged, i.e. paper 002 Eq. 7's per-frame templates with uniform time importance
    ``l_t = 1 / T``, so that every frame keeps ``a H W`` pixels. No time importance is
    computed.

    ``areas``: the area levels ``a`` in (0, 1), one mask each.
    {settings}

    {references}
    """
    problem = run.prepare(f, video, areas, per_frame=True, **_shared(locals()))
    same_area = np.repeat(np.asarray(problem.areas, np.float32)[:, None], problem.cfg.shape[0], 1)
    return run.solve("ep2d", f, problem, progress, same_area)


@_documented(SETTINGS_DOC, others=(FONG_2019,))
def ep3d(f, video, *, areas=(0.05, 0.1, 0.15, 0.2), iterations=1200, seed_stride=None,
         sigma=None, blur_sigma=None, map_sigma=None, area_on="frame", mean_area_weight=100.0,
         mean_area_start=None, lr=0.05, optimizer=None,
         lambda1=300.0, lambda1_growth=1.0008668, regularizers=(), output=None, reward=None,
         reward_scale=None, progress=False) -> ExtremalResult:
    """EP-3D: extremal perturbation with one whole-volume area loss (paper 004 Eq. 5-6).

    Fong et al.'s extremal perturbation with the mask extended to the whole video: the
    reward of the preserved score (Eq. 5) plus ``lambda1`` times the sorted area loss L_S
    over all ``T H W`` mask values (Eq. 6).

    ``areas``: the area levels ``a`` in (0, 1), one mask each.
    {settings}

    {references}
    """
    problem = run.prepare(f, video, areas, per_frame=False, **_shared(locals()))
    return run.solve("ep3d", f, problem, progress)


@_documented(KERNEL_DOC, SETTINGS_DOC)
def step(f, video, *, areas=(0.05, 0.1, 0.15, 0.2), kernel=None, kernel_stride=None,
         lambda2=300.0, lambda2_start=100, iterations=1200, seed_stride=None, sigma=None,
         blur_sigma=None, map_sigma=None, area_on="frame", mean_area_weight=100.0,
         mean_area_start=None, lr=0.05, optimizer=None,
         lambda1=300.0, lambda1_growth=1.0008668, regularizers=(), output=None, reward=None,
         reward_scale=None, progress=False) -> ExtremalResult:
    """STEP: EP-3D plus the spatio-temporal smoothness loss L_K (paper 004 Eq. 7-11).

    The objective of Eq. 11: the reward, ``lambda1`` L_S (Eq. 6) and ``lambda2`` L_K, the
    loss that pulls the ``k`` largest responses of the mask to the ellipsoid kernel (Eq.
    7-10) to 1 and the rest to 0.

    ``areas``: the area levels ``a`` in (0, 1), one mask each.
    {settings}

    {references}
    """
    problem = run.prepare(f, video, areas, per_frame=False, kernel=kernel,
                          kernel_stride=kernel_stride, lambda2=lambda2,
                          lambda2_start=lambda2_start, **_shared(locals()))
    return run.solve("step", f, problem, progress)


@_documented(TIS_DOC, SETTINGS_DOC, papers=("002",))
def tiem(f, video, *, areas=(0.1,), alpha=0.8, window_span="w", negative_drops="clip", tis=None,
         removed=None, batch_size=32, iterations=1200, seed_stride=None, sigma=None,
         blur_sigma=None, map_sigma=None, area_on="frame", mean_area_weight=100.0,
         mean_area_start=None, lr=0.05, optimizer=None,
         lambda1=300.0, lambda1_growth=1.0008668, regularizers=(), output=None, reward=None,
         reward_scale=None, progress=False) -> ExtremalResult:
    """TIEM: extremal perturbation with TIS-aware per-frame areas (paper 002 Eq. 5-7).

    The time importance scores ``l`` (Eq. 1-4, :func:`~vidxai.explain.tis.time_importance`)
    set frame ``t``'s area to ``a l_t T`` clipped to [0, 1], i.e. frame ``t`` keeps
    ``a l_t T H W`` pixels (at most ``H W``); the objective is Eq. 7: the reward plus
    ``lambda1`` times the per-frame sorted area losses.

    ``areas``: the area levels ``a`` in (0, 1), one mask each.
    {settings}

    {references}
    """
    alpha = time_importance_scores.check_alpha(alpha)
    switches = time_importance_scores.check_switches(window_span, negative_drops)
    problem = run.prepare(f, video, areas, per_frame=True, **_shared(locals()))
    return run.solve_tiem("tiem", f, problem, progress, alpha=alpha, tis=tis, removed=removed,
                          batch_size=batch_size, window_span=switches[0],
                          negative_drops=switches[1])


@_documented(TIS_DOC, KERNEL_DOC, SETTINGS_DOC, papers=("002", "004"))
def tiem_lk(f, video, *, areas=(0.1,), alpha=0.8, window_span="w", negative_drops="clip",
            tis=None, removed=None, batch_size=32, kernel=None, kernel_stride=None,
            lambda2=300.0, lambda2_start=100, iterations=1200, seed_stride=None, sigma=None,
            blur_sigma=None, map_sigma=None, area_on="frame", mean_area_weight=100.0,
            mean_area_start=None, lr=0.05, optimizer=None,
            lambda1=300.0, lambda1_growth=1.0008668, regularizers=(), output=None, reward=None,
            reward_scale=None, progress=False) -> ExtremalResult:
    """TIEM + L_K: TIEM's objective (paper 002 Eq. 7) plus STEP's ``lambda2`` L_K (paper 004
    Eq. 7-10), the combination paper 002 names as future work.

    ``areas``: the area levels ``a`` in (0, 1), one mask each.
    {settings}

    {references}
    """
    alpha = time_importance_scores.check_alpha(alpha)
    switches = time_importance_scores.check_switches(window_span, negative_drops)
    problem = run.prepare(f, video, areas, per_frame=True, kernel=kernel,
                          kernel_stride=kernel_stride, lambda2=lambda2,
                          lambda2_start=lambda2_start, **_shared(locals()))
    return run.solve_tiem("tiem+lk", f, problem, progress, alpha=alpha, tis=tis,
                          removed=removed, batch_size=batch_size, window_span=switches[0],
                          negative_drops=switches[1])


@_documented(papers=("004", "002"))
def smallest_area(result: ExtremalResult, phi0: float):
    """``(a*, M_a*)``: the smallest area whose preserved score reaches ``phi0`` (paper 004
    Eq. 4; paper 002 Eq. 6), or ``(None, None)`` when no area does.

    {references}
    """
    if not isinstance(result, ExtremalResult):
        raise ArgumentTypeError("result", "an ExtremalResult", describe(result))
    phi0 = check_float(phi0, "phi0")
    for i in np.argsort(result.areas):
        if result.scores[i] >= phi0:
            return result.areas[i], result.masks[i]
    return None, None


__all__ = ["ExtremalResult", "default_optimizer", "ep2d", "ep3d", "step", "tiem", "tiem_lk",
           "smallest_area", "LINEAR_REWARD_GAIN", "MAP_SIGMA"]

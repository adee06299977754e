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
(:mod:`.settings`, where every setting is defined once); the values used are in ``meta``
and the derived ones in ``meta["derived"]``. Given explicitly, a value is used as is.

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

import functools
import inspect
import textwrap
from dataclasses import fields

import numpy as np

from ...errors import ArgumentTypeError, check_float, describe
from ..registry import PAPERS
from . import solver
from .result import ExtremalResult
from .settings import LINEAR_REWARD_GAIN, MAP_SIGMA, Settings, default_optimizer

__all__ = ["ExtremalResult", "default_optimizer", "ep2d", "ep3d", "step", "tiem", "tiem_lk",
           "smallest_area", "LINEAR_REWARD_GAIN", "MAP_SIGMA"]

FONG_2019 = ("R. Fong, M. Patrick, A. Vedaldi. Understanding Deep Networks via Extremal "
             "Perturbations and Smooth Masks. IEEE/CVF International Conference on Computer "
             "Vision (ICCV), 2019.")
_DEFAULTS = {f.name: f.default for f in fields(Settings)}


def _references(papers, others=()) -> str:
    return "References:\n" + "".join(
        "\n" + textwrap.fill(text, 92, initial_indent="    * ", subsequent_indent="      ")
        for text in [PAPERS[p] for p in papers] + list(others))


def _method(name: str, *, areas, papers=("004",), others=()):
    """Make the public function of the method ``name`` (a row of :data:`solver.SPECS`) from
    a function that holds only its docstring: the keyword arguments are the fields of
    :class:`~.settings.Settings` in the method's groups, with their defaults (``areas``:
    this method's), and the docstring's ``{settings}`` / ``{references}`` are filled from
    their documentation and the cited papers."""
    groups = solver.SPECS[name].groups
    kind = inspect.Parameter.KEYWORD_ONLY
    signature = inspect.Signature(
        [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in ("f", "video")]
        + [inspect.Parameter(n, kind, default={**_DEFAULTS, "areas": areas}[n])
           for n in Settings.names(groups)], return_annotation="ExtremalResult")

    def make(documented):
        @functools.wraps(documented)
        def method(*args, **options) -> ExtremalResult:
            bound = signature.bind(*args, **options)
            bound.apply_defaults()
            values = dict(bound.arguments)
            f, video = values.pop("f"), values.pop("video")
            return solver.explain(name, f, video, Settings(**values))

        del method.__wrapped__
        method.__signature__ = signature
        method.__doc__ = (documented.__doc__.replace("    {settings}", Settings.doc(groups))
                          .replace("{references}", _references(papers, others)))
        return method
    return make


# ---------------------------------------------------------------------------- the methods
@_method("ep2d", areas=_DEFAULTS["areas"], others=(FONG_2019,))
def ep2d():
    """EP-2D: extremal perturbation frame by frame, every frame keeping the same area.

    The 2-D extremal perturbation of Fong et al. applied to each frame, as in the STEP code
    base: paper 004 Eq. 5 with the sorted area loss L_S (Eq. 6) taken frame by frame and
    averaged, i.e. paper 002 Eq. 7's per-frame templates with uniform time importance
    ``l_t = 1 / T``, so that every frame keeps ``a H W`` pixels. No time importance is
    computed.

    {settings}

    {references}
    """


@_method("ep3d", areas=_DEFAULTS["areas"], others=(FONG_2019,))
def ep3d():
    """EP-3D: extremal perturbation with one whole-volume area loss (paper 004 Eq. 5-6).

    Fong et al.'s extremal perturbation with the mask extended to the whole video: the
    reward of the preserved score (Eq. 5) plus ``lambda1`` times the sorted area loss L_S
    over all ``T H W`` mask values (Eq. 6).

    {settings}

    {references}
    """


@_method("step", areas=_DEFAULTS["areas"])
def step():
    """STEP: EP-3D plus the spatio-temporal smoothness loss L_K (paper 004 Eq. 7-11).

    The objective of Eq. 11: the reward, ``lambda1`` L_S (Eq. 6) and ``lambda2`` L_K, the
    loss that pulls the ``k`` largest responses of the mask to the ellipsoid kernel (Eq.
    7-10) to 1 and the rest to 0.

    {settings}

    {references}
    """


@_method("tiem", areas=(0.1,), papers=("002",))
def tiem():
    """TIEM: extremal perturbation with TIS-aware per-frame areas (paper 002 Eq. 5-7).

    The time importance scores ``l`` (Eq. 1-4, :func:`~vidxai.explain.time_importance`)
    set frame ``t``'s area to ``a l_t T`` clipped to [0, 1], i.e. frame ``t`` keeps
    ``a l_t T H W`` pixels (at most ``H W``); the objective is Eq. 7: the reward plus
    ``lambda1`` times the per-frame sorted area losses.

    {settings}

    {references}
    """


@_method("tiem_lk", areas=(0.1,), papers=("002", "004"))
def tiem_lk():
    """TIEM + L_K: TIEM's objective (paper 002 Eq. 7) plus STEP's ``lambda2`` L_K (paper 004
    Eq. 7-10), the combination paper 002 names as future work.

    {settings}

    {references}
    """


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


smallest_area.__doc__ = smallest_area.__doc__.replace("{references}",
                                                      _references(("004", "002")))

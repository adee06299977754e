"""Activation baselines of paper 004 (Sec. V-A): Grad-CAM (Eq. 28) and Excitation Backprop.

Both read a named intermediate layer of the model behind ``f`` (a score function built by
:func:`vidxai.score` on a zoo model, a flax module wrapped by
:func:`vidxai.layers.flax_model`, or a torch model bridged with
:func:`vidxai.bridge.from_torch`; see :mod:`vidxai.layers`). ``layer`` names it the way the
model's framework does (``"Mixed_5c"`` for I3D, ``"temporal2"`` for the small (2+1)D model, a
``named_modules()`` name for torch); ``None`` takes the last layer whose activation has a
spatial grid larger than 1 x 1, paper 004's "last convolutional layer". The layer-resolution
map ``(T', H', W')`` is kept in ``attributions`` and up-sampled (trilinear) to the video's
``(T, H, W)`` as ``map``.

References
----------
Z. Li, W. Wang, Z. Li, Y. Huang, Y. Sato. Spatio-Temporal Perturbations for Video
Attribution. IEEE TCSVT, 2021 (paper 004).
R. R. Selvaraju, M. Cogswell, A. Das, R. Vedantam, D. Parikh, D. Batra. Grad-CAM: Visual
Explanations from Deep Networks via Gradient-based Localization. ICCV, 2017.
J. Zhang, S. A. Bargal, Z. Lin, J. Brandt, X. Shen, S. Sclaroff. Top-down Neural Attention by
Excitation Backprop. IJCV, 2018.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ... import scoring
from ...errors import ArgumentError, ArgumentTypeError, ScoreFunctionError, check_video, describe
from ...layers import FlaxModel, choose_layer, layer_access
from . import excitation
from . import engine as run
from .result import GradientResult

__all__ = ["grad_cam", "excitation_backprop", "upsample"]


def upsample(layer_map, shape) -> np.ndarray:
    """A ``(T', H', W')`` layer map up-sampled to ``(T, H, W)`` (trilinear, half-pixel
    centres): paper 004 up-samples Grad-CAM and EB maps in time and space."""
    return np.asarray(jax.image.resize(jnp.asarray(layer_map, jnp.float32), tuple(shape),
                                       method="linear"))


def _layer_gradient(tapped, head, x, zeros):
    """Score, the layer's activation and the score's gradient with respect to it."""
    def score(delta):
        out, act = tapped(x, delta)
        s = head(out)
        return s.sum(), (act, s)

    grads, (act, s) = jax.grad(score, has_aux=True)(zeros)
    return grads, act, s


_layer_gradient_jit = jax.jit(_layer_gradient, static_argnames=("tapped", "head"))


def _setup(f, video, target, layer):
    f = run.with_target(f, target)
    video = check_video(video)
    model, head = layer_access(f)
    info = choose_layer(model.layers(video.shape), layer)
    return f, video, model, head, info


def grad_cam(f, video, *, layer: str | None = None, target=None) -> GradientResult:
    """Grad-CAM (paper 004 Eq. 28): ``ReLU(sum_k alpha_k A_k)`` on a layer's activation
    ``A (T', H', W', K)``, ``alpha_k`` = the mean over the layer's spatio-temporal positions
    of ``dPhi_c / dA_k`` (``Phi_c`` = the score ``f``, e.g. the softmax probability).

    Returns a :class:`GradientResult`: ``attributions`` the ``(T', H', W')`` map, ``map`` it
    up-sampled to the video, ``meta``: ``layer``, ``layer_shape``, ``score``. One forward and
    backward pass (``n_evals`` = 1); with a torch model the tap runs eagerly.

    References: Selvaraju et al., ICCV 2017; paper 004 (Li et al., TCSVT 2021).
    """
    f, video, model, head, info = _setup(f, video, target, layer)
    tapped = model.tap(info.name)
    x, zeros = jnp.asarray(video)[None], jnp.zeros((1,) + info.shape, jnp.float32)
    eager = scoring.is_eager(f, x.shape)
    grads, act, s = (_layer_gradient if eager else _layer_gradient_jit)(tapped, head, x, zeros)
    if tuple(s.shape) != (1,):
        raise ScoreFunctionError(f"f: expected scores of shape (1,), got {tuple(s.shape)}")
    alpha = jnp.mean(grads[0], axis=(0, 1, 2))                           # (K,)
    cam = np.asarray(jax.nn.relu(jnp.einsum("thwk,k->thw", act[0], alpha)))
    meta = {"layer": info.name, "layer_shape": list(info.shape)}
    setup = run.Setup(f, video, float(s[0]), eager)
    return run.result("grad_cam", setup, upsample(cam, video.shape[:3]), cam, 1, **meta)


@partial(jax.jit, static_argnames=("tapped",))
def _activation(tapped, x, zeros):
    return tapped(x, zeros)


def _top(out, target):
    """The output neuron Excitation Backprop starts from: the target's logit."""
    if out.ndim == 1:
        return out[0]
    if target is None:
        raise ArgumentError("target", "a class index: Excitation Backprop starts from the "
                            "target's output neuron", None)
    return out[0, target]


def excitation_backprop(f, video, *, layer: str | None = None, target=None) -> GradientResult:
    """Excitation Backprop (marginal winning probabilities, MWP) at a layer, summed over its
    channels and up-sampled to the video.

    Probability 1 starts at the target's output neuron (the model's logit, before any
    softmax; a regressor's output) and flows down by the excitation rule (see
    :mod:`.excitation`): the MWP at the layer is non-negative and sums to
    at most 1 (``meta["mwp_total"]``; less where a unit's positive input is 0).

    Where it applies: JAX (flax) models, ReLU networks between ``layer`` and the output
    built of convolutions, dense layers, ReLU / ReLU6, batch norm in inference mode, sum,
    average and max pooling, residual sums and reshapes (3-D CNNs, (2+1)D CNNs, I3D). It
    refuses, naming the step, a ``tanh`` / sigmoid / exponential, a product of activations,
    a loop (an LSTM's ``scan``: paper 004's EB for RNNs is not implemented), or a layer whose
    output feeds negative values into a linear map; torch models are refused (the rule
    runs on the model's jaxpr). The contrastive variant (c-MWP) is not implemented.

    References: Zhang et al., IJCV 2018; paper 004 (Li et al., TCSVT 2021).
    """
    f, video, model, head, info = _setup(f, video, target, layer)
    if not isinstance(model, FlaxModel):
        raise ArgumentTypeError("f", "a score function on a JAX (flax) model: Excitation "
                                "Backprop runs on the model's jaxpr (torch models are not "
                                "supported)", describe(model))
    x, zeros = jnp.asarray(video)[None], jnp.zeros((1,) + info.shape, jnp.float32)
    out, act = _activation(model.tap(info.name), x, zeros)
    target = getattr(f, "target", None)
    replaced = model.tap(info.name, replace=True)
    mwp = excitation.marginal_winning_probability(
        lambda a: _top(replaced(x, a)[0], target), act)
    layer_map = np.asarray(jnp.sum(mwp[0], axis=-1))
    meta = {"layer": info.name, "layer_shape": list(info.shape),
            "mwp_total": float(layer_map.sum())}
    setup = run.Setup(f, video, float(np.asarray(head(out))[0]), False)
    return run.result("excitation_backprop", setup, upsample(layer_map, video.shape[:3]),
                      layer_map, 1, **meta)

"""Torch bridge: use a PyTorch video model as a JAX function (model-behaviour stage).

:func:`from_torch` wraps a torch module (or any torch callable) that maps a batch tensor to
outputs in a :class:`TorchFunction` ``g``: ``g(x)`` takes a float32 JAX batch
``(B, T, H, W, C)`` in pixel space and returns ``(B, K)`` (or ``(B,)``, whatever the module
returns per sample), always float32.

Two execution paths
-------------------
*Eager* (``x`` is a concrete ``jax.Array``): the batch goes to torch with DLPack
(:func:`to_torch`), the module runs under ``torch.no_grad()``, and the result comes back with
DLPack (:func:`to_jax`). When JAX and torch share a device the batch is not copied: on a GPU
the tensors alias the same device memory, on the CPU the torch tensor aliases the JAX buffer.
This is the fast path; the evaluation engine calls ``g`` (``g.vidxai_eager``), or a score
function that calls ``g`` (:func:`vidxai.scoring.is_eager`), outside ``jax.jit`` for that
reason (the perturbation itself stays jitted).

*Traced* (``g`` is called under ``jax.jit``, ``jax.vmap`` or another transformation that hands
it abstract values): the call becomes a ``jax.pure_callback``. XLA copies the batch to the host,
the callback runs the module, and the result is copied back to the JAX device: on a GPU, two
device-host transfers of the batch per call (forward) and per gradient (backward). The output
shape is found by running the module once on a zero batch of one sample (cached per
per-sample shape and device). With ``device=None`` the callback runs the module where its
parameters live (its input is a host array, with no device of its own to match).

Gradients
---------
Under a transformation ``g`` calls ``g.jax_function``, a ``jax.custom_vjp`` function, so
``jax.grad``, ``jax.vjp`` and optax loops work through the torch model. The forward pass
keeps no torch graph: the backward pass runs the module again with grad enabled on the input
and calls ``torch.autograd.grad(out, x, grad_outputs=cotangent)`` (chunked like the
forward). Gradient w.r.t. ``x`` therefore costs one no-grad forward plus one
forward-and-backward; memory for the torch graph is held only during the backward call.
Forward-mode differentiation (``jax.jvp``) is not supported.

Intermediate layers
-------------------
``g.layers(sample_shape)`` lists the module's submodules whose output is a video-shaped
activation (one probe forward pass with a forward hook on every submodule, cached), named as
``named_modules()`` names them; ``g.tap(name)`` is a ``jax.custom_vjp`` function
``(x, delta) -> (outputs, activation)`` whose forward hook adds ``delta`` to that
submodule's output and whose backward runs torch autograd on ``x`` and ``delta`` (eager
only; see :mod:`vidxai.layers`). Grad-CAM reads layers this way.

Caller's responsibilities (we do not change them)
-------------------------------------------------
* Train/eval mode: ``from_torch`` never calls ``module.eval()``. Call it yourself; in training
  mode dropout makes the recomputed backward forward differ from the forward, and batch-norm
  updates its running statistics on every call (twice per gradient).
* The module and ``preprocess`` must not modify their input in place: on the eager path that
  input is the caller's JAX buffer itself. An in-place change is detected after the call and
  raises :class:`~vidxai.errors.ScoreFunctionError` (the caller's array is already changed by
  then); during the gradient pass torch itself refuses it.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import torch

from . import _bridge_layers
from ._bridge_tensors import (_check_input, _flat_batch, _fmt_devices, _identity, _is_traced,
                              _module_tensors, _norm_device, _own_memory)
from .errors import ArgumentError, ArgumentTypeError, ScoreFunctionError, check_int, describe
from .scoring import note_host_call

__all__ = ["TorchFunction", "from_torch", "to_torch", "to_jax"]


# ----------------------------------------------------------------------------- DLPack helpers

def to_torch(x) -> torch.Tensor:
    """A torch tensor sharing ``x``'s memory (DLPack), on the torch device matching ``x``'s.

    ``x`` is a single-device ``jax.Array`` (or anything exporting ``__dlpack__``, e.g. a
    writable numpy array). No copy is made: do not modify the result in place, JAX assumes
    its arrays are immutable.
    """
    if isinstance(x, jax.core.Tracer):
        raise ArgumentTypeError("x", "a concrete jax.Array (not a traced value inside jit)",
                                type(x).__name__)
    if isinstance(x, jax.Array) and len(x.devices()) != 1:
        raise ArgumentError("x", "an array on a single device (DLPack cannot export a sharded "
                            "array)", f"an array on {len(x.devices())} devices")
    if not hasattr(x, "__dlpack__"):
        raise ArgumentTypeError("x", "a jax.Array (or another DLPack exporter)", describe(x))
    return torch.from_dlpack(x)


def to_jax(t: torch.Tensor) -> jax.Array:
    """A ``jax.Array`` sharing ``t``'s memory (DLPack), on the JAX device matching ``t``'s.

    ``t`` is detached first, and made contiguous when it is a strided view (that one case
    copies, on ``t``'s device). On the CPU, JAX also copies when the buffer is not aligned
    as XLA requires. Do not modify ``t`` in place afterwards: the JAX array would see it.
    """
    if not isinstance(t, torch.Tensor):
        raise ArgumentTypeError("t", "a torch.Tensor", describe(t))
    t = t.detach().resolve_conj().resolve_neg().contiguous()
    return jax.dlpack.from_dlpack(t)


# ----------------------------------------------------------------------------- small helpers

def _host_tensor(a) -> torch.Tensor:
    """A pure_callback argument as a torch tensor: jax >= 0.5 passes CPU jax.Arrays (shared,
    no copy); older versions pass numpy arrays, maybe read-only (DLPack refuses): copied."""
    if isinstance(a, jax.Array):
        return to_torch(a)
    return torch.from_numpy(np.array(a, dtype=np.float32, copy=True))


# ----------------------------------------------------------------------------- the bridge

class TorchFunction:
    """A torch model as a JAX function ``(B, T, H, W, C) float32 -> (B, ...) float32``.

    Built by :func:`from_torch` (arguments, attributes and errors are documented there). A
    call on a concrete array runs the eager forward at once (no transformation can be
    watching it); a call on a traced value (``jit``, ``grad``, ``vmap``, ``eval_shape``) goes
    through ``jax_function``, the ``jax.custom_vjp`` whose forward and VJP run torch.
    """

    differentiable = True
    vidxai_eager = True

    def __init__(self, module, *, batch_size: int | None = None, device=None, preprocess=None,
                 dtype: torch.dtype = torch.float32):
        if not callable(module):
            raise ArgumentTypeError("module", "a torch.nn.Module or a callable on torch tensors",
                                    describe(module))
        if preprocess is not None and not callable(preprocess):
            raise ArgumentTypeError("preprocess", "a callable on torch tensors or None",
                                    describe(preprocess))
        if batch_size is not None:
            batch_size = check_int(batch_size, "batch_size", minimum=1)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ArgumentTypeError("dtype", "a floating torch dtype such as torch.float32",
                                    describe(dtype))
        self.module, self.preprocess, self.batch_size, self.dtype = (module, preprocess,
                                                                     batch_size, dtype)
        self._prep = preprocess if preprocess is not None else _identity
        self._held = None  # (first tensor's device, devices of all of them), see _held_devices
        self.device = None if device is None else self._explicit_device(device)
        self._probe = functools.lru_cache(maxsize=64)(self._output_tail)
        self._layer_probe = functools.lru_cache(maxsize=16)(
            lambda shape, where: _bridge_layers.probe(self, shape))
        self._taps = functools.lru_cache(maxsize=32)(
            functools.partial(_bridge_layers.make_tap, self, to_torch, to_jax))
        self.jax_function = jax.custom_vjp(self._primal)
        self.jax_function.defvjp(self._primal_and_input, self._vjp)
        name = getattr(module, "__name__", type(module).__name__)
        self.__name__ = self.__qualname__ = f"from_torch({name})"
        self.__doc__ = (f"JAX view of the torch model {name}: (B, T, H, W, C) float32 -> "
                        f"(B, ...) float32, differentiable via torch autograd. See "
                        f"vidxai.bridge.from_torch.")

    def __call__(self, x):
        _check_input(x)
        if isinstance(x, np.ndarray):
            x = jnp.asarray(x)  # a host copy onto JAX's default device
        if _is_traced(x):
            return self.jax_function(x)
        return self._eager_forward(x)

    # ---- intermediate layers (forward hooks, see vidxai/_bridge_layers.py)

    def layers(self, sample_shape) -> dict:
        """The module's readable layers ``{name: vidxai.layers.LayerInfo}`` for videos of
        ``sample_shape``, named as ``named_modules()`` names them, in call order (one probe
        forward pass with hooks per shape and device, cached)."""
        return self._layer_probe(tuple(int(s) for s in sample_shape), str(self._host_target()))

    def tap(self, layer: str):
        """``g(x, delta) -> (outputs, activation (B, T', H', W', C))`` with ``delta`` added to
        the output of submodule ``layer`` by a forward hook; differentiable in ``x`` and
        ``delta`` (torch autograd); eager only (see :mod:`vidxai.layers`)."""
        return self._taps(layer)

    # ---- devices

    def _explicit_device(self, device) -> torch.device:
        try:
            device = _norm_device(device)
        except (RuntimeError, TypeError, ValueError) as err:
            raise ArgumentError("device", "a torch device such as 'cpu' or 'cuda:0'",
                                repr(device)) from err
        held = self._held_devices()
        if held and device not in held:
            raise ArgumentError("device", f"the device holding the module's parameters "
                                f"({_fmt_devices(held)})", str(device))
        return device

    def _held_devices(self) -> set[torch.device]:
        """Devices of the module's parameters and buffers, rescanned only when the first of
        them has moved (``module.to(...)``), not on every call."""
        first = next(_module_tensors(self.module), None)
        where = None if first is None else first.device
        if self._held is None or self._held[0] != where:
            self._held = (where, {_norm_device(p.device) for p in _module_tensors(self.module)})
        return self._held[1]

    def _check_devices(self, target: torch.device) -> None:
        held = self._held_devices()
        if held and target not in held:
            how = ("device" if self.device is not None else
                   f"the input's device {target} (device=None follows the input)")
            raise ArgumentError(
                "device", f"{how} to hold the module's parameters; they are on "
                f"{_fmt_devices(held)}: move the module with module.to(...) or pass "
                f"device=... (inputs are then copied)", str(target))

    def _eager_target(self, t: torch.Tensor) -> torch.device:
        """Where an eager call runs: ``device``, else the input's own device."""
        target = self.device if self.device is not None else _norm_device(t.device)
        self._check_devices(target)
        return target

    def _host_target(self) -> torch.device:
        """Where a callback runs: ``device``, else where the module's first tensor lives
        (the callback's input is a host array with no device of its own to match)."""
        if self.device is not None:
            target = self.device
        else:
            first = next(_module_tensors(self.module), None)
            target = torch.device("cpu") if first is None else _norm_device(first.device)
        self._check_devices(target)
        return target

    # ---- torch calls (chunked)

    def _spans(self, n: int) -> list[tuple[int, int]]:
        step = self.batch_size or n
        return [(i, min(i + step, n)) for i in range(0, n, step)]

    def _call_module(self, t: torch.Tensor) -> torch.Tensor:
        """Module on one chunk (already on the target device); returns its checked output."""
        n = t.shape[0]
        out = self.module(self._prep(t.to(self.dtype)))
        if not isinstance(out, torch.Tensor):
            raise ScoreFunctionError(
                f"module must return a torch.Tensor of shape (B, K) or (B,), got "
                f"{type(out).__name__} (wrap the module to select e.g. the logits)")
        if out.ndim < 1 or out.shape[0] != n:
            raise ScoreFunctionError(
                f"module output must have the batch size {n} as first dimension, got shape "
                f"{tuple(out.shape)}")
        if not out.is_floating_point():
            raise ScoreFunctionError(f"module output must be floating point, got {out.dtype}")
        return out

    def _forward_torch(self, t: torch.Tensor, target: torch.device) -> torch.Tensor:
        """Chunked no-grad forward; float32 result in a fresh buffer on ``t``'s device."""
        version = t._version
        with torch.no_grad():
            outs = [self._call_module(t[i:j].to(target)).float()
                    for i, j in self._spans(t.shape[0])]
        if t._version != version:
            raise ScoreFunctionError(
                "module or preprocess modified its input in place; on the eager path that "
                "input is the caller's JAX buffer (shared through DLPack). Use out-of-place "
                "operations (e.g. inplace=False).")
        return _own_memory(outs).to(t.device)

    def _backward_torch(self, t: torch.Tensor, ct: torch.Tensor,
                        target: torch.device) -> torch.Tensor:
        """Vector-Jacobian product by torch autograd: recompute each chunk with grad on."""
        grads = []
        with torch.enable_grad():
            for i, j in self._spans(t.shape[0]):
                leaf = t[i:j].to(target).detach().requires_grad_(True)
                out = self._call_module(leaf).float()
                cot = ct[i:j].to(device=out.device, dtype=out.dtype)
                if cot.shape != out.shape:
                    raise ScoreFunctionError(
                        f"module output shape {tuple(out.shape)} changed between calls "
                        f"(expected {tuple(cot.shape)})")
                if not out.requires_grad:
                    raise ScoreFunctionError(
                        "module output does not depend differentiably on its input (no "
                        "autograd graph); cannot compute gradients through it")
                (grad,) = torch.autograd.grad(out, leaf, grad_outputs=cot, allow_unused=True)
                grads.append(torch.zeros_like(leaf) if grad is None else grad.detach())
        # autograd's gradient is a fresh tensor (or a view of the immutable cotangent): a
        # single chunk needs no concatenation, which would copy a whole batch of videos.
        grad = grads[0] if len(grads) == 1 else torch.cat(grads, 0)
        return grad.to(device=t.device, dtype=torch.float32)

    # ---- eager path (concrete jax arrays): DLPack both ways, no host copy

    def _eager_forward(self, x: jax.Array) -> jax.Array:
        t = to_torch(x)
        return to_jax(self._forward_torch(t, self._eager_target(t)))

    def _eager_backward(self, x: jax.Array, ct: jax.Array) -> jax.Array:
        t = to_torch(x)
        return to_jax(self._backward_torch(t, to_torch(ct), self._eager_target(t)))

    # ---- traced path (under jit / vmap): pure_callback, the batch goes through the host

    def _output_tail(self, sample_shape: tuple[int, ...], target: str) -> tuple[int, ...]:
        """Per-sample output shape, from one call on a zero batch of one sample (cached)."""
        zeros = torch.zeros((1,) + sample_shape, dtype=torch.float32)
        return tuple(self._forward_torch(zeros, torch.device(target)).shape[1:])

    def _host_forward(self, rank: int, a) -> np.ndarray:
        t, lead = _flat_batch(_host_tensor(a), rank)
        out = self._forward_torch(t, self._host_target())
        return out.reshape(lead + tuple(out.shape[1:])).numpy()

    def _host_backward(self, rank: int, ct_rank: int, a, c) -> np.ndarray:
        t, lead = _flat_batch(_host_tensor(a), rank)
        cot, _ = _flat_batch(_host_tensor(c), ct_rank)
        grad = self._backward_torch(t, cot, self._host_target())
        return grad.reshape(lead + tuple(grad.shape[1:])).numpy()

    def _traced_forward(self, x) -> jax.Array:
        note_host_call()  # the engine then runs a score function built on this eagerly
        tail = self._probe(tuple(x.shape[1:]), str(self._host_target()))
        spec = jax.ShapeDtypeStruct((x.shape[0],) + tail, jnp.float32)
        return jax.pure_callback(functools.partial(self._host_forward, x.ndim), spec, x,
                                 vmap_method="broadcast_all")

    def _traced_backward(self, x, ct) -> jax.Array:
        host = functools.partial(self._host_backward, x.ndim, ct.ndim)
        return jax.pure_callback(host, jax.ShapeDtypeStruct(x.shape, jnp.float32), x, ct,
                                 vmap_method="broadcast_all")

    # ---- the custom_vjp rules

    def _primal(self, x):
        return self._traced_forward(x) if _is_traced(x) else self._eager_forward(x)

    def _primal_and_input(self, x):
        return self._primal(x), x  # residual: the input itself, for the recomputing backward

    def _vjp(self, x, ct):
        if _is_traced(x, ct):
            return (self._traced_backward(x, ct),)
        return (self._eager_backward(x, ct),)


def from_torch(module, *, batch_size: int | None = None, device=None, preprocess=None,
               dtype: torch.dtype = torch.float32) -> TorchFunction:
    """Wrap a torch model as a JAX function ``g(x: (B, T, H, W, C) float32) -> (B, K)``.

    Args:
      module: a ``torch.nn.Module`` or any callable mapping a torch batch to a tensor whose
        first dimension is the batch (``(B, K)`` logits or ``(B,)`` scores).
      batch_size: if given, the torch calls (forward and backward) are split into chunks of
        at most this many samples and the results concatenated, bounding torch memory.
      device: torch device to run on. ``None`` uses the device of the input array (``cuda:N``
        for a JAX array on GPU N, ``cpu`` otherwise); the module's parameters must live
        there. An explicit device must hold the module's parameters; inputs elsewhere are
        copied to it and results copied back to the input's device.
      preprocess: optional torch function applied to each torch batch before the module
        (layout permute to ``(B, C, T, H, W)``, normalisation, resizing...). Default: identity.
        It receives the batch already cast to ``dtype``; it must not modify it in place.
      dtype: torch dtype the batch is cast to before ``preprocess`` (e.g. ``torch.float16``
        for a half-precision model). Outputs and gradients are returned as float32.

    Returns:
      ``g``, a :class:`TorchFunction`: called like a ``jax.custom_vjp`` function (its
      :attr:`~TorchFunction.jax_function`), with the attributes ``g.module`` (the wrapped
      module), ``g.preprocess``, ``g.batch_size``, ``g.device``, ``g.differentiable = True``
      and ``g.vidxai_eager = True`` (call it outside ``jax.jit`` for the zero-copy path; a
      score function such as ``lambda x: jax.nn.softmax(g(x))[:, t]`` is detected by
      :func:`vidxai.scoring.is_eager` and run eagerly too). See the module docstring for
      eager vs traced calls and for how gradients are computed. The module's train/eval
      mode is left untouched.

    Raises:
      ArgumentTypeError: ``module``/``preprocess`` not callable, bad ``dtype`` or
        ``batch_size`` type; at call time, ``x`` not a float32 array.
      ArgumentError: ``batch_size < 1``; ``device`` not holding the module's parameters (at
        construction or, with ``device=None``, when the input lives elsewhere).
      ScoreFunctionError: at call time, the module returns a non-tensor, a non-floating
        tensor, a tensor whose first dimension is not the batch size, or modifies its input.
    """
    return TorchFunction(module, batch_size=batch_size, device=device, preprocess=preprocess,
                         dtype=dtype)

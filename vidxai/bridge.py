"""Torch bridge: use a PyTorch video model as a JAX function (model-behaviour stage).

:func:`from_torch` wraps a torch module (or any torch callable) that maps a batch tensor to
outputs, and returns ``g(x) -> jax.Array``: ``x`` is a float32 JAX batch ``(B, T, H, W, C)``
in pixel space, the result is ``(B, K)`` (or ``(B,)``, whatever the module returns per sample),
always float32.

Two execution paths
-------------------
*Eager* (``x`` is a concrete ``jax.Array``): the batch goes to torch with DLPack
(:func:`to_torch`), the module runs under ``torch.no_grad()``, and the result comes back with
DLPack (:func:`to_jax`). When JAX and torch share a device nothing is copied through the host:
on a GPU the tensors alias the same device memory, and on the CPU the torch tensor aliases the
JAX buffer (and the JAX result aliases torch's output buffer). This is the fast path; the
evaluation engine reads ``g.vidxai_eager`` and calls ``g`` outside ``jax.jit`` for that reason
(the perturbation itself stays jitted).

*Traced* (``g`` is called under ``jax.jit``, ``jax.vmap`` or another transformation that hands
it abstract values): the call becomes a ``jax.pure_callback``. XLA copies the batch to the host,
the callback runs the module, and the result is copied back to the JAX device. On a GPU this
costs two device-host transfers of the batch per call (forward) and per gradient (backward);
on the CPU it costs one copy of the result. The output shape is found by running the module
once on a zero batch of one sample; that probe is cached per per-sample shape and device. In
this path, with ``device=None``, the module runs where its parameters live (the callback's
input is a host array, so it has no device of its own to match).

Gradients
---------
``g`` is a ``jax.custom_vjp`` function, so ``jax.grad``, ``jax.vjp`` and optax loops work
through the torch model. The forward pass keeps no torch graph: the backward pass runs the
module again with grad enabled on the input and calls ``torch.autograd.grad(out, x,
grad_outputs=cotangent)`` (chunked like the forward). Gradient w.r.t. ``x`` therefore costs
one no-grad forward plus one forward-and-backward; memory for the torch graph is held only
during the backward call. Forward-mode differentiation (``jax.jvp``) is not supported.

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
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import torch

from .errors import ArgumentError, ArgumentTypeError, ScoreFunctionError, check_int, describe

__all__ = ["from_torch", "to_torch", "to_jax"]


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

def _norm_device(dev) -> torch.device:
    """``torch.device`` with the index filled in for CUDA, so equal devices compare equal."""
    dev = torch.device(dev)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device() if torch.cuda.is_available() else 0)
    return dev


def _module_devices(module) -> set[torch.device]:
    """Devices holding the module's parameters and buffers (empty for plain callables)."""
    if not isinstance(module, torch.nn.Module):
        return set()
    tensors = itertools.chain(module.parameters(), module.buffers())
    return {_norm_device(p.device) for p in tensors}


def _fmt_devices(devs) -> str:
    return ", ".join(sorted(str(d) for d in devs))


def _check_input(x):
    """Validate ``g``'s argument (works for concrete arrays and tracers alike)."""
    if not (isinstance(x, (jax.Array, np.ndarray))):
        raise ArgumentTypeError("x", "a float32 jax.Array of shape (B, T, H, W, C)", describe(x))
    if np.dtype(x.dtype) != np.float32:
        raise ArgumentTypeError("x", "a float32 array (pixel values in [0, 1])", describe(x))
    if x.ndim < 1 or x.shape[0] < 1:
        raise ArgumentError("x", "a non-empty batch with a leading batch dimension", describe(x))


# ----------------------------------------------------------------------------- the bridge

def from_torch(module, *, batch_size: int | None = None, device=None, preprocess=None,
               dtype: torch.dtype = torch.float32):
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
      ``g``, a ``jax.custom_vjp`` function with the attributes ``g.module`` (the wrapped
      module), ``g.differentiable = True`` and ``g.vidxai_eager = True`` (call it outside
      ``jax.jit`` for the zero-copy path). See the module docstring for eager vs traced calls
      and for how gradients are computed. The module's train/eval mode is left untouched.

    Raises:
      ArgumentTypeError: ``module``/``preprocess`` not callable, bad ``dtype`` or
        ``batch_size`` type; at call time, ``x`` not a float32 array.
      ArgumentError: ``batch_size < 1``; ``device`` not holding the module's parameters (at
        construction or, with ``device=None``, when the input lives elsewhere).
      ScoreFunctionError: at call time, the module returns a non-tensor, a non-floating
        tensor, a tensor whose first dimension is not the batch size, or modifies its input.
    """
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
    if device is not None:
        try:
            device = _norm_device(device)
        except (RuntimeError, TypeError, ValueError) as err:
            raise ArgumentError("device", "a torch device such as 'cpu' or 'cuda:0'",
                                repr(device)) from err
        held = _module_devices(module)
        if held and device not in held:
            raise ArgumentError("device", f"the device holding the module's parameters "
                                f"({_fmt_devices(held)})", str(device))
    prep = preprocess if preprocess is not None else (lambda t: t)

    def check_devices(target: torch.device, explicit: bool) -> None:
        held = _module_devices(module)
        if held and target not in held:
            how = ("device" if explicit else
                   f"the input's device {target} (device=None follows the input)")
            raise ArgumentError(
                "device", f"{how} to hold the module's parameters; they are on "
                f"{_fmt_devices(held)}: move the module with module.to(...) or pass "
                f"device=... (inputs are then copied)", str(target))

    def chunks(n: int):
        step = batch_size or n
        return [(i, min(i + step, n)) for i in range(0, n, step)]

    def call_module(t: torch.Tensor) -> torch.Tensor:
        """Module on one chunk (already on the target device, float32); returns its output."""
        n = t.shape[0]
        out = module(prep(t.to(dtype)))
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

    def forward_torch(t: torch.Tensor, target: torch.device) -> torch.Tensor:
        """Chunked no-grad forward; float32 result in a fresh buffer on ``t``'s device."""
        version = t._version
        with torch.no_grad():
            outs = [call_module(t[i:j].to(target)).float() for i, j in chunks(t.shape[0])]
            # torch.cat always allocates: the result never aliases the input, a parameter, or
            # an output buffer the module reuses on its next call (e.g. CUDA graphs).
            out = torch.cat(outs, 0).to(t.device)
        if t._version != version:
            raise ScoreFunctionError(
                "module or preprocess modified its input in place; on the eager path that "
                "input is the caller's JAX buffer (shared through DLPack). Use out-of-place "
                "operations (e.g. inplace=False).")
        return out

    def backward_torch(t: torch.Tensor, ct: torch.Tensor, target: torch.device) -> torch.Tensor:
        """Vector-Jacobian product by torch autograd: recompute each chunk with grad on."""
        grads = []
        with torch.enable_grad():
            for i, j in chunks(t.shape[0]):
                leaf = t[i:j].to(target).detach().requires_grad_(True)
                out = call_module(leaf).float()
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
        return torch.cat(grads, 0).to(device=t.device, dtype=torch.float32)

    # ---- eager path (concrete jax arrays): DLPack both ways, no host copy

    def eager_forward(x: jax.Array) -> jax.Array:
        t = to_torch(x)
        target = device if device is not None else _norm_device(t.device)
        check_devices(target, device is not None)
        return to_jax(forward_torch(t, target))

    def eager_backward(x: jax.Array, ct: jax.Array) -> jax.Array:
        t = to_torch(x)
        target = device if device is not None else _norm_device(t.device)
        check_devices(target, device is not None)
        return to_jax(backward_torch(t, to_torch(ct), target))

    # ---- traced path (under jit / vmap): pure_callback, the batch goes through the host

    def host_device() -> torch.device:
        if device is not None:
            return device
        if isinstance(module, torch.nn.Module):
            first = next(itertools.chain(module.parameters(), module.buffers()), None)
            if first is not None:
                return _norm_device(first.device)  # where the module's first layer lives
        return torch.device("cpu")

    def host_tensor(a) -> torch.Tensor:
        # jax >= 0.5 passes CPU jax.Arrays to callbacks (zero-copy here); older versions pass
        # numpy arrays that may be read-only, which DLPack cannot export, hence the copy.
        if isinstance(a, jax.Array):
            return to_torch(a)
        return torch.from_numpy(np.array(a, dtype=np.float32, copy=True))

    @functools.lru_cache(maxsize=64)
    def probe(sample_shape: tuple[int, ...], target_str: str) -> tuple[int, ...]:
        """Per-sample output shape, from one call on a zero batch of one sample."""
        zeros = torch.zeros((1,) + sample_shape, dtype=torch.float32)
        return tuple(forward_torch(zeros, torch.device(target_str)).shape[1:])

    def flat_batch(t: torch.Tensor, rank: int) -> tuple[torch.Tensor, tuple[int, ...]]:
        # Under vmap the callback sees extra leading axes; fold them into the batch.
        lead = tuple(t.shape[: t.ndim - rank + 1])
        return t.reshape((-1,) + tuple(t.shape[t.ndim - rank + 1:])), lead

    def traced_forward(x) -> jax.Array:
        target = host_device()
        check_devices(target, device is not None)
        out_tail = probe(tuple(x.shape[1:]), str(target))
        rank = x.ndim

        def host(a):
            t, lead = flat_batch(host_tensor(a), rank)
            check_devices(target, device is not None)
            out = forward_torch(t, target)
            return out.reshape(lead + tuple(out.shape[1:])).numpy()

        spec = jax.ShapeDtypeStruct((x.shape[0],) + out_tail, jnp.float32)
        return jax.pure_callback(host, spec, x, vmap_method="broadcast_all")

    def traced_backward(x, ct) -> jax.Array:
        target = host_device()
        rank, ct_rank = x.ndim, ct.ndim

        def host(a, c):
            t, lead = flat_batch(host_tensor(a), rank)
            cot, _ = flat_batch(host_tensor(c), ct_rank)
            check_devices(target, device is not None)
            grad = backward_torch(t, cot, target)
            return grad.reshape(lead + tuple(grad.shape[1:])).numpy()

        spec = jax.ShapeDtypeStruct(x.shape, jnp.float32)
        return jax.pure_callback(host, spec, x, ct, vmap_method="broadcast_all")

    # ---- the custom_vjp function

    def is_traced(*arrays) -> bool:
        return any(isinstance(a, jax.core.Tracer) for a in arrays)

    def primal(x):
        return traced_forward(x) if is_traced(x) else eager_forward(x)

    bridged = jax.custom_vjp(primal)

    def bridged_fwd(x):
        return primal(x), x  # residual: the input itself, for the recomputing backward

    def bridged_bwd(x, ct):
        grad = traced_backward(x, ct) if is_traced(x, ct) else eager_backward(x, ct)
        return (grad,)

    bridged.defvjp(bridged_fwd, bridged_bwd)

    def g(x):
        _check_input(x)
        if isinstance(x, np.ndarray):
            x = jnp.asarray(x)  # a host copy onto JAX's default device
        return bridged(x)

    name = getattr(module, "__name__", type(module).__name__)
    g.__name__ = g.__qualname__ = f"from_torch({name})"
    g.__doc__ = (f"JAX view of the torch model {name}: (B, T, H, W, C) float32 -> (B, ...) "
                 f"float32, differentiable via torch autograd. See vidxai.bridge.from_torch.")
    g.module = module
    g.preprocess = preprocess
    g.batch_size = batch_size
    g.device = device
    g.differentiable = True
    g.vidxai_eager = True
    return g

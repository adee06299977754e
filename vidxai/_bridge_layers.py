"""Intermediate layers of a bridged torch model: forward hooks on named submodules.

The layer half of :class:`vidxai.bridge.TorchFunction` (its ``layers`` and ``tap`` methods
call these). A probe forward pass with a hook on every submodule lists the layers whose
output is a readable activation (:mod:`vidxai.layers`); a tap is a ``jax.custom_vjp``
function ``(x, delta) -> (outputs, activation)`` whose forward runs the module with one hook
adding ``delta`` to the layer's output, and whose backward reruns it with torch autograd on
both ``x`` and ``delta``. Taps run eagerly (DLPack both ways), outside ``jax.jit`` and
``jax.vmap``; the whole batch goes through the module at once.
"""
from __future__ import annotations

import jax
import torch

from .errors import ArgumentError, ArgumentTypeError, ScoreFunctionError
from .layers import from_video, readable_layers, to_video


def probe(fn, sample_shape: tuple) -> dict:
    """The readable layers of ``fn.module`` for one video of ``sample_shape``."""
    if not isinstance(fn.module, torch.nn.Module):
        return {}
    records, hooks = [], []

    def record(name):
        def hook(module, inputs, output):
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
            records.append((name, shape))
        return hook

    for name, sub in fn.module.named_modules():
        if name:
            hooks.append(sub.register_forward_hook(record(name)))
    try:
        zeros = torch.zeros((1,) + tuple(sample_shape), dtype=torch.float32)
        fn._forward_torch(zeros, fn._host_target())
    finally:
        for hook in hooks:
            hook.remove()
    return readable_layers(records, 1, channels_last=False)


def make_tap(fn, to_torch, to_jax, layer: str):
    """``g(x, delta) -> (outputs, activation)`` for the submodule named ``layer``;
    ``to_torch`` / ``to_jax`` are the bridge's DLPack converters."""
    modules = dict(fn.module.named_modules()) if isinstance(fn.module, torch.nn.Module) else {}
    if not layer or layer not in modules:
        raise ArgumentError("layer", f"one of the model's layers {[n for n in modules if n]}",
                            repr(layer))
    sub = modules[layer]

    def layout_of(x):
        info = fn.layers(tuple(x.shape[1:])).get(layer)
        if info is None:
            raise ArgumentError("layer", "a layer whose output is a video-shaped activation "
                                f"{list(fn.layers(tuple(x.shape[1:])))}", repr(layer))
        return info.layout

    def run(t, d, layout):
        """Module on ``t`` with ``d`` (video layout) added to the layer's output."""
        acts = []

        def hook(module, inputs, output):
            output = output + from_video(d, layout).to(device=output.device, dtype=output.dtype)
            acts.append(output)
            return output

        handle = sub.register_forward_hook(hook)
        try:
            out = fn._call_module(t.to(fn._eager_target(t))).float()
        finally:
            handle.remove()
        if len(acts) != 1:
            raise ScoreFunctionError(f"layer {layer!r} ran {len(acts)} times in one forward "
                                     "pass; a tapped layer must run once")
        return out, to_video(acts[0], layout, t.shape[0]).float()

    def forward(x, delta):
        _check_concrete(x, delta)
        t = to_torch(x)
        with torch.no_grad():
            out, act = run(t, to_torch(delta), layout_of(x))
        return to_jax(out.to(t.device)), to_jax(act.to(t.device))

    def forward_with_residuals(x, delta):
        return forward(x, delta), (x, delta)

    def backward(residuals, cotangents):
        x, delta = residuals
        _check_concrete(x, delta)
        t = to_torch(x)
        with torch.enable_grad():
            leaf_x = t.detach().requires_grad_(True)
            leaf_d = to_torch(delta).detach().clone().requires_grad_(True)
            out, act = run(leaf_x, leaf_d, layout_of(x))
            cts = [to_torch(c).to(device=o.device, dtype=o.dtype)
                   for c, o in zip(cotangents, (out, act))]
            gx, gd = torch.autograd.grad([out, act], [leaf_x, leaf_d], grad_outputs=cts,
                                         allow_unused=True)
        gx = torch.zeros_like(leaf_x) if gx is None else gx
        gd = torch.zeros_like(leaf_d) if gd is None else gd
        return to_jax(gx.float().to(t.device)), to_jax(gd.float().to(t.device))

    tapped = jax.custom_vjp(forward)
    tapped.defvjp(forward_with_residuals, backward)
    return tapped


def _check_concrete(*arrays):
    if any(isinstance(a, jax.core.Tracer) for a in arrays):
        raise ArgumentTypeError("x", "concrete arrays: a torch layer tap runs eagerly, outside "
                                "jax.jit and jax.vmap", "a traced value")

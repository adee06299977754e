"""Layer-by-layer re-initialisation of a model's parameters, on copies (the sanity checks').

A :class:`Randomiser` takes what the user explains and lists its *layer groups* in forward
order; ``randomised(names)`` returns a new object of the same kind with those groups
re-initialised and everything else shared with the original, which is never modified.

Kinds and their layer groups:

* a flax parameter pytree (``{"params": {...}, ...}`` or the ``params`` dict itself): the
  top-level keys of ``params``. Forward order = the dict's order: flax builds the dict at
  ``init`` in the order the submodules are first called, so a tree straight from
  ``module.init`` (or restored into such a template) lists them in call order. A tree that went
  through ``jax.tree_util`` (which sorts dict keys) has lost that order: pass ``layers=``.
  Fresh values: each leaf drawn ``N(0, s^2)`` with ``s`` the leaf's own standard deviation
  (a constant leaf, e.g. a zero bias, stays as it is), or ``init(key, leaf)``.
* a :class:`vidxai.layers.FlaxModel` (and a zoo model whose ``apply`` is one): the top-level
  submodules, in the order one abstract forward pass on the video calls them; fresh values
  from the module's own initialisers (``module.init``), the re-initialisation of "Sanity Checks
  for Saliency Maps" (Adebayo et al., NeurIPS 2018, Sec. 3.1).
* a ``torch.nn.Module``: its top-level children that hold parameters, in registration order;
  a bridged model (:func:`vidxai.bridge.from_torch`, or a zoo model whose ``apply`` is one):
  the same children in the order a forward pass on the video calls them (forward hooks).
  Fresh values: a deep copy whose submodules run ``reset_parameters()`` under a torch seed
  drawn from the key (parameters of modules without one: ``N(0, s^2)`` as above); the global
  torch RNG state is restored afterwards.

The fresh values of a group depend only on the key and the group, never on which other groups
are randomised with it, so a cascade is reproducible from the key and its steps nest.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, describe

__all__ = ["Randomiser", "KINDS"]

KINDS = ("pytree", "flax", "torch", "bridge")
WHAT = ("a flax parameter pytree, a vidxai.layers.FlaxModel, a torch.nn.Module, a bridged torch "
        "model (vidxai.bridge.from_torch) or a zoo model built on one of these")


def _is_torch_module(obj) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _is_bridge(obj) -> bool:
    if "torch" not in sys.modules:
        return False
    from ..bridge import TorchFunction

    return isinstance(obj, TorchFunction)


def _scale_init(key, leaf):
    """``N(0, s^2)`` with ``s`` the leaf's standard deviation; a constant leaf is kept."""
    arr = jnp.asarray(leaf)
    s = jnp.std(arr) if arr.size > 1 else jnp.zeros((), arr.dtype)
    fresh = (jax.random.normal(key, arr.shape, jnp.float32) * s).astype(arr.dtype)
    return jnp.where(s > 0, fresh, arr)


@functools.partial(jax.jit, static_argnums=0)
def _init_params(program, key, x):
    """Fresh parameters from the module's own initialisers (one compilation per module)."""
    return program.module.init(key, program.preprocess(x))["params"]


def _unwrap(obj):
    """``(inner, rewrap)``: a zoo model's ``apply`` and how to put a new one back."""
    from ..layers import FlaxModel

    inner = getattr(obj, "apply", None)
    if dataclasses.is_dataclass(obj) and (isinstance(inner, FlaxModel) or _is_bridge(inner)):
        def rewrap(new):
            meta = {k: v for k, v in (obj.meta or {}).items() if k != "frame_value"}
            return dataclasses.replace(obj, apply=new, meta=meta)

        return inner, rewrap
    return obj, lambda new: new


class Randomiser:
    """Layer groups of ``model_or_params`` and copies with some of them re-initialised (see
    the module docstring). ``video`` ``(T, H, W, C)`` is needed to find the forward order of
    flax models and bridged torch models; ``init(key, leaf) -> leaf`` overrides the fresh
    values of pytrees (and of torch parameters without ``reset_parameters``)."""

    def __init__(self, model_or_params, key, video=None, *, init=None):
        from ..layers import FlaxModel

        if init is not None and not callable(init):
            raise ArgumentTypeError("init", "a function (key, leaf) -> leaf or None", describe(init))
        self.original = model_or_params
        self.key = key
        self.init = init or _scale_init
        self.sample_shape = None if video is None else tuple(np.shape(video))
        inner, self._rewrap = _unwrap(model_or_params)
        self.inner = inner
        if isinstance(inner, FlaxModel):
            self.kind = "flax"
            self._params = inner.variables["params"]
            self.groups = self._flax_order(inner, video)
        elif _is_bridge(inner):
            self.kind = "bridge"
            self.groups = self._torch_order(inner, video)
        elif _is_torch_module(inner):
            self.kind = "torch"
            self.groups = self._torch_order(inner, None)
        elif hasattr(inner, "keys") and hasattr(inner, "__getitem__"):
            self.kind = "pytree"
            self._params = inner["params"] if "params" in inner else inner
            if not hasattr(self._params, "keys") or not list(self._params.keys()):
                raise ArgumentError("model_or_params", "a parameter tree with at least one layer "
                                    "group", describe(inner))
            self.groups = tuple(self._params.keys())
        else:
            raise ArgumentTypeError("model_or_params", WHAT, describe(model_or_params))
        self._fresh = None

    # ------------------------------------------------------------------ forward order
    def _flax_order(self, model, video):
        import flax.linen as nn

        names = list(self._params.keys())
        if video is None:
            return tuple(names)
        seen = []

        def record(next_fun, args, kwargs, context):
            path = context.module.path
            if path and path[0] in names and path[0] not in seen:
                seen.append(path[0])
            return next_fun(*args, **kwargs)

        def run(x):
            with nn.intercept_methods(record):
                return model.program.apply(model.variables, x)

        jax.eval_shape(run, jax.ShapeDtypeStruct((1,) + tuple(video.shape), jnp.float32))
        return tuple(seen + [n for n in names if n not in seen])

    def _torch_order(self, bridge_or_module, video):
        module = bridge_or_module.module if self.kind == "bridge" else bridge_or_module
        names = [n for n, child in module.named_children()
                 if any(True for _ in child.parameters())]
        if not names:
            raise ArgumentError("model_or_params", "a torch module with parameters in its "
                                "top-level children", describe(module))
        if video is None or self.kind != "bridge":
            return tuple(names)
        seen, handles = [], []
        for n in names:
            def hook(_m, _i, _o, n=n):
                if n not in seen:
                    seen.append(n)
            handles.append(module.get_submodule(n).register_forward_hook(hook))
        try:
            bridge_or_module(jnp.asarray(video)[None])
        finally:
            for h in handles:
                h.remove()
        return tuple(seen + [n for n in names if n not in seen])

    # ------------------------------------------------------------------ fresh values
    def check_layers(self, layers) -> tuple:
        """``layers`` (names of groups, in forward order) validated; ``None`` = all groups."""
        if layers is None:
            return self.groups
        if isinstance(layers, str) or not hasattr(layers, "__iter__"):
            raise ArgumentTypeError("layers", "a sequence of layer-group names", describe(layers))
        layers = tuple(layers)
        if not layers:
            raise ArgumentError("layers", "at least one layer-group name", "()")
        for name in layers:
            if name not in self.groups:
                raise ArgumentError("layers", f"names of the model's layer groups "
                                    f"{list(self.groups)}", repr(name))
        return layers

    def _fresh_values(self):
        if self._fresh is not None:
            return self._fresh
        if self.kind == "flax":
            x = jnp.zeros((1,) + self._sample_shape(), jnp.float32)
            self._fresh = _init_params(self.inner.program, self.key, x)
        elif self.kind == "pytree":
            fresh = {}
            for gi, name in enumerate(self.groups):
                leaves, tree = jax.tree_util.tree_flatten(self._params[name])
                keys = jax.random.split(jax.random.fold_in(self.key, gi), max(len(leaves), 1))
                fresh[name] = jax.tree_util.tree_unflatten(
                    tree, [self.init(k, leaf) for k, leaf in zip(keys, leaves)])
            self._fresh = fresh
        else:
            self._fresh = self._torch_fresh()
        return self._fresh

    def _sample_shape(self):
        shape = getattr(self, "sample_shape", None)
        if shape is None:
            raise ArgumentError("video", "the video, to initialise the flax model's layers", None)
        return shape

    def _torch_fresh(self):
        import torch

        module = self.inner.module if self.kind == "bridge" else self.inner
        fresh = copy.deepcopy(module)
        seed = int(jax.random.randint(jax.random.fold_in(self.key, 7), (), 0, 2 ** 31 - 1))
        devices = sorted({p.device.index for p in fresh.parameters()
                          if p.device.type == "cuda"})
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(seed)
            for i, sub in enumerate(fresh.modules()):
                if callable(getattr(sub, "reset_parameters", None)):
                    sub.reset_parameters()
                    continue
                for j, p in enumerate(sub.parameters(recurse=False)):
                    k = jax.random.fold_in(jax.random.fold_in(self.key, 100003 + i), j)
                    new = self.init(k, jnp.asarray(p.detach().cpu().numpy()))
                    p.copy_(torch.as_tensor(np.asarray(new), dtype=p.dtype, device=p.device))
        return fresh

    # ------------------------------------------------------------------ copies
    def randomised(self, layers):
        """A copy of the original with the groups ``layers`` re-initialised."""
        layers = self.check_layers(layers)
        fresh = self._fresh_values()
        if self.kind in ("pytree", "flax"):
            params = dict(self._params)
            for name in layers:
                params[name] = fresh[name]
            params = type(self._params)(params) if type(self._params) is not dict else params
            if self.kind == "flax":
                m = self.inner
                variables = dict(m.variables)
                variables["params"] = params
                if type(m.variables) is not dict:
                    variables = type(m.variables)(variables)
                # same module: the copy reuses the original's compiled forward pass
                return self._rewrap(m.with_variables(variables))
            if "params" in self.inner:
                tree = dict(self.inner)
                tree["params"] = params
                return type(self.inner)(tree) if type(self.inner) is not dict else tree
            return params
        import torch

        module = self.inner.module if self.kind == "bridge" else self.inner
        out = copy.deepcopy(module)
        with torch.no_grad():
            for name in layers:
                src = dict(fresh.get_submodule(name).named_parameters())
                for pname, p in out.get_submodule(name).named_parameters():
                    p.copy_(src[pname])
        if self.kind == "torch":
            return out
        from ..bridge import from_torch

        g = self.inner
        return self._rewrap(from_torch(out, batch_size=g.batch_size, device=g.device,
                                       preprocess=g.preprocess, dtype=g.dtype))

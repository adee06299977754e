"""Intermediate layers of a model (model-behaviour stage): name them, read them, tap them.

Grad-CAM and Excitation Backprop (paper 004, Sec. V-A) read a named intermediate layer. A
*layered* model exposes two methods:

``layers(sample_shape) -> {name: LayerInfo}``
    every layer whose output can be read as a video-shaped activation, in call order, named
    the way the model's framework names it (a flax module path such as ``"Mixed_5c"`` or
    ``"spatial2/conv"``; a torch ``named_modules()`` name such as ``"features.3"``).
``tap(layer) -> g(x, delta) -> (outputs, activation)``
    the model with ``delta`` added to the layer's output: ``activation`` is that output, in
    the common layout ``(B, T', H', W', C)``, and the gradient of anything with respect to
    ``delta`` (at ``delta = 0``) is its gradient with respect to the activation.

:class:`FlaxModel` (:func:`flax_model`) gives a flax module this interface without
rewriting it: the tap intercepts module calls with ``flax.linen.intercept_methods``, the
mechanism behind flax's ``capture_intermediates``. Torch models get it from the bridge
(:class:`vidxai.bridge.TorchFunction`, forward hooks). A score function built by
:func:`vidxai.score` on such a model reaches it through ``f.model`` (:func:`layer_access`).

Layouts: activations are brought to ``(B, T', H', W', C)``: flax outputs
``(B, T', H', W', C)`` as they are, per-frame 2-D outputs ``(B * T', H', W', C)`` unfolded,
sequences ``(B, T', C)`` as ``(B, T', 1, 1, C)``; torch outputs ``(B, C, T', H', W')`` and
``(B * T', C, H', W')`` channels-first. Other outputs (vectors, tuples) are not listed.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .errors import ArgumentError, ArgumentTypeError, ScoreFunctionError, describe

__all__ = ["LayerInfo", "FlaxModel", "flax_model", "layer_access", "choose_layer",
           "readable_layers", "to_video", "from_video"]

LAYERS_NEEDED = ("a score function built by vidxai.score(model, target) on a model with named "
                 "layers: a zoo model, a flax module wrapped by vidxai.layers.flax_model("
                 "module, variables), or a torch model bridged with vidxai.bridge.from_torch")


class LayerInfo(NamedTuple):
    """One readable layer: its ``name``, ``layout`` code and activation ``shape``
    ``(T', H', W', C)`` per video."""

    name: str
    layout: str
    shape: tuple


# ----------------------------------------------------------------------------- layouts

def _layout(native: tuple, batch: int, channels_last: bool) -> str | None:
    """Layout code of an output of shape ``native`` for a batch of ``batch`` videos."""
    if not native or native[0] % batch:
        return None
    rank = len(native)
    if rank == 5 and native[0] == batch:
        return "5cl" if channels_last else "5cf"
    if rank == 4:
        return "4cl" if channels_last else "4cf"
    if rank == 3 and native[0] == batch and channels_last:
        return "3"
    return None


def _permute(a, dims):
    return a.permute(*dims) if hasattr(a, "permute") else jnp.transpose(a, dims)


def to_video(a, layout: str, batch: int):
    """An activation (jax or torch) in its native layout -> ``(B, T', H', W', C)``."""
    if layout == "5cf":
        return _permute(a, (0, 2, 3, 4, 1))
    if layout == "4cf":
        a = _permute(a, (0, 2, 3, 1))
    if layout in ("4cl", "4cf"):
        return a.reshape((batch, a.shape[0] // batch) + tuple(a.shape[1:]))
    if layout == "3":
        return a.reshape((a.shape[0], a.shape[1], 1, 1, a.shape[2]))
    return a


def from_video(a, layout: str):
    """The inverse of :func:`to_video`: ``(B, T', H', W', C)`` -> the native layout."""
    b, t, h, w, c = a.shape
    if layout == "5cf":
        return _permute(a, (0, 4, 1, 2, 3))
    if layout in ("4cl", "4cf"):
        a = a.reshape((b * t, h, w, c))
        return _permute(a, (0, 3, 1, 2)) if layout == "4cf" else a
    if layout == "3":
        return a.reshape((b, t, c))
    return a


def readable_layers(records, batch: int, channels_last: bool) -> dict[str, LayerInfo]:
    """``{name: LayerInfo}`` from the ``(name, output shape or None)`` calls of one probe
    forward pass on ``batch`` videos, in call order: layers called once whose array output
    has a readable layout."""
    counts: dict[str, int] = {}
    for name, _ in records:
        counts[name] = counts.get(name, 0) + 1
    found = {}
    for name, shape in records:
        layout = None if shape is None else _layout(tuple(shape), batch, channels_last)
        if name and counts[name] == 1 and layout is not None:
            found[name] = LayerInfo(name, layout, to_video(_Shape(shape), layout, batch).shape[1:])
    return found


class _Shape:
    """A stand-in array with only a shape, for computing layouts without data."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def reshape(self, shape):
        return _Shape(shape)

    def permute(self, *dims):
        return _Shape(tuple(self.shape[d] for d in dims))


def choose_layer(layers: dict[str, LayerInfo], layer) -> LayerInfo:
    """The layer named ``layer``, or by default (``None``) the last layer in call order whose
    activation has a spatial grid larger than 1 x 1 (the last convolutional layer); an
    unknown name lists the valid ones."""
    if layer is None:
        spatial = [info for info in layers.values() if info.shape[1] * info.shape[2] > 1]
        if not spatial:
            raise ArgumentError("layer", "a model with a layer of spatial size above 1x1; "
                                f"readable layers: {list(layers)}", None)
        return spatial[-1]
    if not isinstance(layer, str):
        raise ArgumentTypeError("layer", "a layer name (str)", describe(layer))
    if layer not in layers:
        raise ArgumentError("layer", f"one of the model's layers {list(layers)}", repr(layer))
    return layers[layer]


def layer_access(f):
    """``(layered model, head)`` behind a score function built by :func:`vidxai.score`:
    ``f.model`` (or its ``apply``) has ``layers`` and ``tap``; ``f.head`` maps the model's
    outputs to the scores. Any other ``f`` is refused with a typed error naming ``f``."""
    model, head = getattr(f, "model", None), getattr(f, "head", None)
    for candidate in (model, getattr(model, "apply", None)):
        if callable(getattr(candidate, "tap", None)) and callable(getattr(candidate, "layers", None)):
            if callable(head):
                return candidate, head
    raise ArgumentTypeError("f", LAYERS_NEEDED, describe(f))


# ----------------------------------------------------------------------------- flax

def _identity(x):
    return x


class _Program(NamedTuple):
    """What a :class:`FlaxModel` computes, apart from its variables: hashable (a jit key), so
    two models with the same module and preprocessing (e.g. a model and its randomised
    copies) share one compiled forward pass, the variables being an argument."""

    module: object
    preprocess: object

    def apply(self, variables, x):
        return self.module.apply(variables, self.preprocess(x))


@functools.partial(jax.jit, static_argnums=0)
def _forward(program, variables, x):
    """The forward pass of every :class:`FlaxModel` (one compilation per module and shape)."""
    return program.apply(variables, x)


def _abstract(variables):
    """A hashable key of a variable tree's structure, shapes and dtypes (not its values)."""
    leaves, tree = jax.tree_util.tree_flatten(variables)
    return tree, tuple((tuple(a.shape), jnp.dtype(a.dtype)) for a in leaves)


@functools.lru_cache(maxsize=64)
def _probe(program, abstract, sample_shape):
    """The readable layers of ``program`` on videos of ``sample_shape`` (one abstract pass;
    depends on the variables' shapes only, so a model's randomised copies share it)."""
    import flax.linen as nn

    tree, leaves = abstract
    variables = jax.tree_util.tree_unflatten(
        tree, [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in leaves])
    records = []

    def record(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if context.method_name == "__call__":
            shape = tuple(out.shape) if hasattr(out, "dtype") else None
            records.append(("/".join(context.module.path), shape))
        return out

    def run(v, x):
        with nn.intercept_methods(record):
            return program.apply(v, x)

    jax.eval_shape(run, variables, jax.ShapeDtypeStruct((2,) + sample_shape, jnp.float32))
    return readable_layers(records, 2, channels_last=True)


@jax.tree_util.register_pytree_node_class
class _Tap:
    """``g(x, delta) -> (outputs, activation)`` of :meth:`FlaxModel.tap`. A pytree whose only
    leaves are the model's variables (module, layer and checks are static data), so a caller
    that passes it to ``jax.jit`` as an argument compiles once for all copies of a model
    with other variables; hashed by identity when used as a static argument."""

    def __init__(self, program, check, layer, replace, variables):
        self.program, self.check, self.layer, self.replace = program, check, layer, replace
        self.variables = variables

    def tree_flatten(self):
        return (self.variables,), (self.program, self.check, self.layer, self.replace)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*aux, children[0])

    def __call__(self, x, delta):
        import flax.linen as nn

        layer = self.layer
        found = _probe(self.program, _abstract(self.variables), tuple(x.shape[1:]))
        info = found.get(layer)
        if info is None:
            raise ArgumentError("layer", f"one of the model's layers {list(found)}", repr(layer))
        seen = []

        def intercept(next_fun, args, kwargs, context):
            hit = context.method_name == "__call__" and "/".join(context.module.path) == layer
            if not hit:
                return next_fun(*args, **kwargs)
            native = from_video(delta, info.layout)
            out = native if self.replace else next_fun(*args, **kwargs) + native
            seen.append(to_video(out, info.layout, x.shape[0]))
            return out

        if self.check is not None:
            self.check(x)
        with nn.intercept_methods(intercept):
            out = self.program.apply(self.variables, x)
        if len(seen) != 1:
            raise ScoreFunctionError(f"layer {layer!r} ran {len(seen)} times in one "
                                     "forward pass; a tapped layer must run once")
        return out, seen[0]


class FlaxModel:
    """A flax module with its variables as a model ``(B, T, H, W, C) -> (B, K)`` (jitted)
    whose layers can be listed and tapped without rewriting the module.

    ``preprocess`` (traceable) maps the pixel-space batch to the module's input (e.g.
    ``lambda x: 2 * x - 1``); ``check`` (traceable, shape checks) validates the batch first.
    The compiled forward pass is shared by every model with the same module and
    ``preprocess`` (the variables are its argument): :meth:`with_variables` copies, such as
    the sanity checks' randomised models, do not compile again.
    """

    differentiable = True

    def __init__(self, module, variables, *, preprocess=None, check=None):
        import flax.linen as nn

        if not isinstance(module, nn.Module):
            raise ArgumentTypeError("module", "a flax.linen.Module", describe(module))
        if not hasattr(variables, "keys"):
            raise ArgumentTypeError("variables", "the module's variables (a dict, e.g. from "
                                    "module.init)", describe(variables))
        for name, fn in (("preprocess", preprocess), ("check", check)):
            if fn is not None and not callable(fn):
                raise ArgumentTypeError(name, "a function of the batch or None", describe(fn))
        self.module, self.variables = module, variables
        self.preprocess = preprocess or _identity
        self.check = check
        self.program = _Program(module, self.preprocess)
        self._taps = functools.lru_cache(maxsize=32)(self._make_tap)
        self.__name__ = self.__qualname__ = f"flax_model({type(module).__name__})"

    def __call__(self, x):
        if self.check is not None:
            self.check(x)
        return _forward(self.program, self.variables, x)

    def _apply(self, variables, x):
        return self.program.apply(variables, x)

    def with_variables(self, variables) -> "FlaxModel":
        """The same module, preprocessing and checks with other ``variables`` (same tree and
        shapes): shares this model's compiled forward pass and layer listing."""
        return FlaxModel(self.module, variables, preprocess=self.preprocess, check=self.check)

    def layers(self, sample_shape) -> dict[str, LayerInfo]:
        """The readable layers for videos of ``sample_shape`` ``(T, H, W, C)``, in call
        order (one abstract forward pass per module and shape, cached)."""
        return _probe(self.program, _abstract(self.variables),
                      tuple(int(s) for s in sample_shape))

    def tap(self, layer: str, *, replace: bool = False):
        """``g(x, delta) -> (outputs, activation)`` with ``delta`` added to ``layer``'s output
        (``replace=True``: the output is ``delta`` itself, the layer's own computation is
        skipped). The same function object for the same arguments (jit caches stay warm);
        ``g`` is a pytree of the variables (see :class:`_Tap`)."""
        return self._taps(layer, bool(replace))

    def _make_tap(self, layer, replace):
        return _Tap(self.program, self.check, layer, replace, self.variables)


def flax_model(module, variables, *, preprocess=None, check=None) -> FlaxModel:
    """A flax module and its variables as a layered, jitted model (see :class:`FlaxModel`);
    ``vidxai.score(flax_model(module, variables), target)`` is then a score function whose
    layers Grad-CAM and Excitation Backprop can read."""
    return FlaxModel(module, variables, preprocess=preprocess, check=check)

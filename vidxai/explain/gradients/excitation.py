"""Excitation Backprop's top-down pass, run on the jaxpr of a JAX model's upper layers.

Excitation Backprop (Zhang et al., IJCV 2018) passes a *marginal winning probability*
(MWP) ``P`` from the output neuron down to a layer. Through a linear map ``z = W a + b`` of
non-negative inputs ``a`` (ReLU activations) the excitation rule gives
``P(a_j) = a_j sum_i w+_ij P(z_i) / sum_j' w+_ij' a_j'`` (``w+`` the positive weights), which
keeps the total probability. We apply it to the computation from the layer to the output
neuron as JAX traced it, primitive by primitive:

* convolutions and matrix products with a constant weight, sums and sum-pooling: the
  excitation rule (``P_in = a (.) W+^T (P_out / W+ a)``); a sum of values that may be
  negative (I3D averages its per-time-step logits) shares ``P`` in proportion to their
  positive parts;
* ReLU (``max`` / ``min`` with a constant), bias addition, scaling by a constant (batch
  norm in inference mode, the mean's division): ``P`` passes through unchanged;
* the sum of two activations (a residual connection): ``P`` split in proportion to the
  positive parts;
* max and max-pooling: winner takes all (the ordinary gradient);
* reshaping, slicing, padding, concatenation, transposition, broadcasting, selection:
  ``P`` follows the values (the ordinary transpose of these 0/1 maps);
* nested calls (``jit``, ``custom_jvp`` such as ``jax.nn.relu``) are entered.

Anything else on the path (``tanh``, ``exp``, products of two activations, loops such as an
LSTM's ``scan``, negative inputs to a linear map) is outside the rule's assumptions and
raises :class:`~vidxai.errors.ArgumentError` naming the primitive. Values that do not
depend on the layer (the computation below it, weights) are constants; eqns that do not
contribute to the output are not evaluated.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.extend import core as jcore

from ...errors import ArgumentError

__all__ = ["marginal_winning_probability"]

CALLS = {"pjit", "jit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call",
         "custom_vjp_call_jaxpr", "remat", "checkpoint", "remat2"}
FOLLOW = {"reshape", "transpose", "broadcast_in_dim", "squeeze", "expand_dims", "slice",
          "dynamic_slice", "gather", "concatenate", "pad", "rev", "copy", "copy_p",
          "convert_element_type", "reduce_precision", "select_n", "reduce_max",
          "reduce_window_max"}
PASS = {"add", "add_any", "sub", "mul", "div", "max", "min"}
EXCITE = {"conv_general_dilated", "dot_general", "reduce_sum", "reduce_window_sum"}
TOLERANCE = 1e-6


class _Node:
    """A value of the traced computation and whether it depends on the layer."""

    __slots__ = ("value", "dep")

    def __init__(self, value, dep):
        self.value, self.dep = value, dep


def _inner(eqn):
    """``(jaxpr, consts)`` of a call-like eqn, else ``None``."""
    if eqn.primitive.name not in CALLS:
        return None
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        sub = eqn.params.get(key)
        if isinstance(sub, jcore.ClosedJaxpr):
            return sub.jaxpr, sub.consts
        if isinstance(sub, jcore.Jaxpr):
            return sub, ()
    return None


def _needed(jaxpr) -> set:
    """Indices of the eqns that contribute to the outputs."""
    live = {v for v in jaxpr.outvars if isinstance(v, jcore.Var)}
    keep = set()
    for i in reversed(range(len(jaxpr.eqns))):
        eqn = jaxpr.eqns[i]
        if any(v in live for v in eqn.outvars if isinstance(v, jcore.Var)):
            keep.add(i)
            live.update(v for v in eqn.invars if isinstance(v, jcore.Var))
    return keep


def _forward(jaxpr, consts, args, tape):
    """Evaluate ``jaxpr`` on ``args`` (nodes); record every eqn touching the layer."""
    env = dict(zip(jaxpr.constvars, (_Node(c, False) for c in consts)))
    env.update(zip(jaxpr.invars, args))

    def read(v):
        return _Node(v.val, False) if isinstance(v, jcore.Literal) else env[v]

    keep = _needed(jaxpr)
    for i, eqn in enumerate(jaxpr.eqns):
        if i not in keep:
            continue
        ins = [read(v) for v in eqn.invars]
        sub = _inner(eqn)
        if sub is not None:
            outs = _forward(sub[0], sub[1], ins, tape)
        else:
            params = eqn.primitive.get_bind_params(eqn.params)
            subfuns, params = params if isinstance(params, tuple) else ((), params)
            vals = eqn.primitive.bind(*subfuns, *[n.value for n in ins], **params)
            vals = vals if eqn.primitive.multiple_results else [vals]
            dep = any(n.dep for n in ins)
            # a comparison's boolean result carries no probability: a constant mask
            outs = [_Node(v, dep and jnp.issubdtype(jnp.result_type(v), jnp.floating))
                    for v in vals]
            if dep:
                tape.append((eqn.primitive, params, ins, outs))
        env.update((v, n) for v, n in zip(eqn.outvars, outs) if isinstance(v, jcore.Var))
    return [read(v) for v in jaxpr.outvars]


def _refuse(name, why):
    raise ArgumentError("f", "a ReLU network between the layer and the output for Excitation "
                        "Backprop (convolutions, dense layers, ReLU, pooling, sums, "
                        f"reshapes); found {name}: {why}")


def _bind(prim, params, ins, values):
    """The primitive on ``ins`` with the layer-dependent ones replaced by ``values``."""
    it = iter(values)
    args = [next(it) if n.dep else n.value for n in ins]
    return prim.bind(*args, **params)


def _follow(prim, params, ins, p_out):
    """``P`` along a selection / copy map: the ordinary vector-Jacobian product."""
    deps = [n.value for n in ins if n.dep]
    _, vjp = jax.vjp(lambda *v: _bind(prim, params, ins, v), *deps)
    return list(vjp(p_out))


def _excite(prim, params, ins, p_out):
    """The excitation rule through a linear map with a constant (positive part) weight."""
    name = prim.name
    deps = [n for n in ins if n.dep]
    if len(deps) != 1:
        _refuse(name, "both of its operands depend on the layer")
    a = deps[0].value
    if name in ("conv_general_dilated", "dot_general"):
        if float(jnp.min(a)) < -TOLERANCE * max(float(jnp.max(jnp.abs(a))), 1.0):
            _refuse(name, "its input has negative values (the rule needs non-negative, "
                    "ReLU-like activations)")
        positive = [n.value if n.dep else jnp.maximum(n.value, 0) for n in ins]

        def linear(v):
            return prim.bind(*[v if n.dep else w for n, w in zip(ins, positive)], **params)
    else:
        a = jnp.maximum(a, 0)   # a sum (e.g. logits averaged over time): positive parts

        def linear(v):
            return prim.bind(v, **params)
    z, vjp = jax.vjp(linear, a)
    ratio = jnp.where(z > 0, p_out / jnp.where(z > 0, z, 1.0), 0.0)
    (back,) = vjp(ratio)
    return [a * back]


def _pass(prim, params, ins, outs, p_out):
    """``P`` through an element-wise step: ReLU, bias, constant scaling, residual sums."""
    name = prim.name
    first, second = ins
    shape = outs[0].value.shape
    if first.dep and second.dep:
        if name not in ("add", "add_any"):
            _refuse(name, "a product or difference of two activations")
        a, b = jnp.maximum(first.value, 0), jnp.maximum(second.value, 0)
        total = jnp.where(a + b > 0, a + b, 1.0)
        return [p_out * a / total, p_out * b / total]
    dep = first if first.dep else second
    if dep.value.shape != shape or (name in ("sub", "div") and not first.dep):
        _refuse(name, "a constant minus or divided by an activation, or a broadcast activation")
    if name == "max":
        return [p_out * (dep.value >= outs[0].value)]
    if name == "min":
        return [p_out * (dep.value <= outs[0].value)]
    return [p_out]


def _rule(prim, params, ins, outs, p_out):
    name = prim.name
    if name in FOLLOW:
        return _follow(prim, params, ins, p_out)
    if name in EXCITE:
        return _excite(prim, params, ins, p_out)
    if name in PASS and len(ins) == 2:
        return _pass(prim, params, ins, outs, p_out)
    _refuse(name, "a step outside the excitation rule (non-linear or a loop)")


def marginal_winning_probability(fn, activation):
    """MWP at ``activation`` for the scalar output of ``fn(activation)`` (which starts with
    probability 1): Excitation Backprop's top-down pass through ``fn``'s jaxpr."""
    closed = jax.make_jaxpr(fn)(activation)
    tape = []
    start = _Node(activation, True)
    (top,) = _forward(closed.jaxpr, closed.consts, [start], tape)
    if not top.dep or jnp.shape(top.value) != ():
        raise ArgumentError("layer", "a layer the explained output depends on", None)
    mwp = {id(top): jnp.ones_like(top.value)}
    for prim, params, ins, outs in reversed(tape):
        p_outs = [mwp.pop(id(n), None) for n in outs]
        if all(p is None for p in p_outs):
            continue
        if len(outs) != 1:
            _refuse(prim.name, "a step with several outputs")
        grads = iter(_rule(prim, params, ins, outs, p_outs[0]))
        for n in ins:
            if n.dep:
                g = next(grads)
                mwp[id(n)] = mwp[id(n)] + g if id(n) in mwp else g
    return mwp.get(id(start), jnp.zeros_like(activation))

"""Exact selection without sorting, for the sorted area losses of :mod:`vidxai.masks`
(paper 004 Eq. 6-8 and paper 002 Eq. 7 need the k-th largest mask value, not the full order).
"""
from __future__ import annotations

import jax.numpy as jnp
from jax import lax


def _order_key(values):
    """Order-preserving map of float32 values to uint32 (IEEE sign-magnitude -> unsigned)."""
    bits = lax.bitcast_convert_type(values.astype(jnp.float32), jnp.uint32)
    return jnp.where(bits >> 31 == 1, ~bits, bits | jnp.uint32(1 << 31))


def _from_order_key(key):
    """Inverse of :func:`_order_key`."""
    bits = jnp.where(key >> 31 == 0, ~key, key & jnp.uint32(0x7FFFFFFF))
    return lax.bitcast_convert_type(bits, jnp.float32)


def kth_largest(values, k):
    """The ``k``-th largest entry along the last axis, exactly, without sorting.

    Builds the answer's 32-bit order key one bit at a time from the top: a bit is kept when
    at least ``k`` entries have a key at or above the candidate. 32 counting passes replace
    an ``O(n log n)`` sort (much faster than a sort on a CPU; see the README). ``k`` has the batch
    shape and is clipped to ``[1, n]``. Values are ordered as float32 (wider floats are
    rounded first).
    """
    key = _order_key(values)
    k = jnp.clip(jnp.asarray(k), 1, values.shape[-1])
    found = jnp.zeros(values.shape[:-1], jnp.uint32)
    for bit in range(31, -1, -1):
        candidate = found | jnp.uint32(1 << bit)
        count = jnp.sum(key >= candidate[..., None], axis=-1)
        found = jnp.where(count >= k, candidate, found)
    return _from_order_key(found).astype(values.dtype)

"""Local-device sharding of the engines' batches (``jax.sharding``, a 1-D mesh ``"batch"``).

The evaluation engine (:func:`vidxai.scoring.score_stream`), the gradient engine
(:func:`vidxai.explain.gradients.engine.accumulate`) and the extremal optimisation
(:func:`vidxai.explain.extremal.objective.optimise_jax`) spread the rows of their fixed-size
chunks (perturbations, path points or noise samples, area levels) over ``jax.devices()``
when there is more than one: the chunk's rows are placed with ``NamedSharding(mesh,
PartitionSpec("batch"))``, the video and everything else the step reads are replicated, and
the jitted step runs as one SPMD program over the mesh. Every row is computed as on one
device, so the scores are the same; sums over rows (the gradient engine's) differ only by
float32 rounding (the partial sums are added in another order).

With one device :func:`plan` returns None and the engines run their single-device code
unchanged. Eager (torch-bridged or host) score functions are never sharded. This follows
the design's "Beyond one machine": one explanation's batches over the local accelerators.

:func:`placements` reports, per engine, the sharding of the last chunk it placed and of
the last array its step returned (what a test or a benchmark inspects).
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["AXIS", "Plan", "plan", "rows_for", "placements", "forget_placements"]

AXIS = "batch"

_PLACED: dict = {}   # engine name -> {"chunk": sharding, "result": sharding}


class Plan(NamedTuple):
    """How one engine run spreads its chunks: ``rows`` per chunk (a multiple of the device
    count), the row-split and the replicated sharding over the same mesh."""

    devices: int
    rows: int
    split: NamedSharding
    replicated: NamedSharding

    def split_rows(self, tree, engine: str | None = None):
        """``tree``'s leaves padded to :attr:`rows` rows by repeating the last row (as the
        engines pad their last chunk), then placed split over the devices (recorded for
        :func:`placements` under ``engine``)."""
        def put(a):
            a = jnp.asarray(a)
            if a.shape[0] < self.rows:
                a = jnp.concatenate([a, jnp.repeat(a[-1:], self.rows - a.shape[0], axis=0)])
            return jax.device_put(a, self.split)
        placed = jax.tree_util.tree_map(put, tree)
        if engine is not None:
            _PLACED.setdefault(engine, {})["chunk"] = _sharding_of(placed)
        return placed

    def replicate(self, tree):
        """``tree``'s leaves copied to every device."""
        return jax.tree_util.tree_map(lambda a: jax.device_put(jnp.asarray(a), self.replicated),
                                      tree)

    def note(self, engine: str, result):
        """Record the sharding of ``engine``'s step ``result`` (for :func:`placements`) and
        return ``result``."""
        _PLACED.setdefault(engine, {})["result"] = _sharding_of(result)
        return result


def _sharding_of(tree):
    leaves = jax.tree_util.tree_leaves(tree)
    return getattr(leaves[0], "sharding", None) if leaves else None


@functools.lru_cache(maxsize=4)
def _mesh(devices: tuple) -> Mesh:
    return Mesh(np.array(devices, dtype=object), (AXIS,))


def rows_for(batch_size: int, devices: int) -> int:
    """``batch_size`` rounded up to a multiple of ``devices`` (every device gets as many)."""
    return -(-int(batch_size) // devices) * devices


def plan(batch_size: int) -> Plan | None:
    """The sharding of chunks of ``batch_size`` rows over ``jax.devices()``, or None with a
    single device (nothing changes then)."""
    devices = tuple(jax.devices())
    if len(devices) < 2:
        return None
    mesh = _mesh(devices)
    return Plan(len(devices), rows_for(batch_size, len(devices)),
                NamedSharding(mesh, PartitionSpec(AXIS)), NamedSharding(mesh, PartitionSpec()))


def placements() -> dict:
    """Per engine (``"scoring"``, ``"gradients"``, ``"extremal"``) the shardings of the last
    sharded run: ``{"chunk": ..., "result": ...}`` (``jax.sharding`` objects; their
    ``device_set`` says which devices held the rows). Empty until a run was sharded."""
    return {name: dict(seen) for name, seen in _PLACED.items()}


def forget_placements() -> None:
    """Clear what :func:`placements` reports."""
    _PLACED.clear()

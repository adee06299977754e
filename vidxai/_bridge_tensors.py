"""Small tensor and device helpers of :mod:`vidxai.bridge` (no state, no DLPack)."""
from __future__ import annotations

import itertools

import jax
import numpy as np
import torch

from .errors import ArgumentError, ArgumentTypeError, describe


def _identity(t):
    return t


def _norm_device(dev) -> torch.device:
    """``torch.device`` with the index filled in for CUDA, so equal devices compare equal."""
    dev = torch.device(dev)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device() if torch.cuda.is_available() else 0)
    return dev


def _module_tensors(module):
    """The module's parameters and buffers (nothing for plain callables)."""
    if not isinstance(module, torch.nn.Module):
        return iter(())
    return itertools.chain(module.parameters(), module.buffers())


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


def _own_memory(parts: list[torch.Tensor]) -> torch.Tensor:
    """The chunk outputs as one contiguous tensor in a buffer of its own: never the input, a
    parameter, or an output buffer the module reuses on its next call (e.g. CUDA graphs)."""
    if len(parts) == 1:
        return parts[0].clone(memory_format=torch.contiguous_format)
    return torch.cat(parts, 0)


def _flat_batch(t: torch.Tensor, rank: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Fold the extra leading axes a callback sees under ``vmap`` into the batch axis."""
    lead = tuple(t.shape[: t.ndim - rank + 1])
    return t.reshape((-1,) + tuple(t.shape[t.ndim - rank + 1:])), lead


def _is_traced(*arrays) -> bool:
    return any(isinstance(a, jax.core.Tracer) for a in arrays)

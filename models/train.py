"""Train the small synthetic-video classifiers of :mod:`models.small` and save their weights.

    python -m models.train                      # every model in models.small.NAMES
    python -m models.train --name cnnlstm_signature --steps 400

Each step draws a fresh batch of synthetic clips (:mod:`models.synthetic`) from
``fold_in(split(key(TRAIN_SEED))[1], step)``, so the training stream is fixed and never repeats a
clip; Adam (optax) with a cosine-decayed learning rate minimises the cross-entropy. The
model is then scored on a held-out set drawn from a different key (``EVAL_SEED``) and
``models/weights/<name>.msgpack`` (flax.serialization) plus ``<name>.json`` (accuracy,
steps, keys, shape, classes, time) are written. These models serve the STEP (paper 004)
and TIEM (paper 002) experiments of the zoo.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization

from models import small
from models.synthetic import CLASSES, DEFAULT_SHAPE, make_dataset

TRAIN_SEED = 0
EVAL_SEED = 1_000_003
N_EVAL = 512
BATCH = 32
LEARNING_RATE = 3e-3
DEFAULT_STEPS = {"r2plus1d_temporal": 300, "cnnlstm_signature": 300, "cnnlstm_spatial": 1000}


def count_params(variables) -> int:
    return int(sum(np.size(v) for v in jax.tree_util.tree_leaves(variables)))


def accuracy(module, variables, kind: str, key: jax.Array, n: int, shape=DEFAULT_SHAPE,
             chunk: int = 128) -> float:
    """Top-1 accuracy of ``module`` on ``n`` fresh clips of ``kind`` drawn from ``key``."""
    forward = jax.jit(module.apply)
    correct = 0
    for i, start in enumerate(range(0, n, chunk)):
        m = min(chunk, n - start)
        batch = make_dataset(kind, jax.random.fold_in(key, i), chunk, shape)
        pred = np.asarray(forward(variables, batch.videos).argmax(-1))[:m]
        correct += int((pred == np.asarray(batch.labels)[:m]).sum())
    return correct / n


def train(name: str, steps: int | None = None, batch: int = BATCH, lr: float = LEARNING_RATE,
          shape=DEFAULT_SHAPE, log_every: int = 50, out_dir: str | None = None) -> dict:
    """Train model ``name``, evaluate it on held-out clips, write its weights; return the record."""
    name = small.check_name(name)
    steps = DEFAULT_STEPS[name] if steps is None else int(steps)
    arch, kind = small.SPECS[name]
    module = small.build(name)
    init_key, train_key = jax.random.split(jax.random.key(TRAIN_SEED))
    variables = small.init_variables(name, init_key, shape)
    schedule = optax.cosine_onecycle_schedule(steps, lr, pct_start=0.1) if steps > 1 else lr
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))
    opt_state = tx.init(variables)

    @jax.jit
    def step(variables, opt_state, i):
        data = make_dataset(kind, jax.random.fold_in(train_key, i), batch, shape)

        def loss_fn(v):
            logits = module.apply(v, data.videos)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, data.labels).mean()
            return loss, (logits.argmax(-1) == data.labels).mean()

        (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(variables)
        updates, opt_state = tx.update(grads, opt_state, variables)
        return optax.apply_updates(variables, updates), opt_state, loss, acc

    print(f"[{name}] {arch} on '{kind}' clips {shape}, {count_params(variables)} parameters, "
          f"{steps} steps of {batch}", flush=True)
    t0 = time.time()
    for i in range(steps):
        variables, opt_state, loss, acc = step(variables, opt_state, i)
        if (i + 1) % log_every == 0 or i + 1 == steps:
            print(f"[{name}] step {i + 1:5d}  loss {float(loss):.4f}  batch acc {float(acc):.3f}"
                  f"  ({time.time() - t0:.0f} s)", flush=True)
    train_seconds = time.time() - t0
    acc = accuracy(module, variables, kind, jax.random.key(EVAL_SEED), N_EVAL, shape)
    print(f"[{name}] held-out accuracy {acc:.4f} on {N_EVAL} clips (key {EVAL_SEED}); "
          f"trained in {train_seconds:.0f} s", flush=True)

    record = {
        "name": name, "architecture": arch, "kind": kind, "classes": list(CLASSES[kind]),
        "shape": list(shape), "accuracy": acc, "n_eval": N_EVAL, "eval_key": EVAL_SEED,
        "train_key": TRAIN_SEED, "steps": steps, "batch_size": batch, "learning_rate": lr,
        "optimizer": "adam, cosine one-cycle schedule, global-norm clip 1.0",
        "n_params": count_params(variables), "train_seconds": round(train_seconds, 1),
        "jax": jax.__version__,
    }
    path, record_path = small.weight_paths(name, out_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(serialization.to_bytes(jax.device_get(variables)))
    with open(record_path, "w") as fh:
        json.dump(record, fh, indent=2)
        fh.write("\n")
    print(f"[{name}] wrote {path} ({os.path.getsize(path) / 1024:.0f} KiB) and {record_path}")
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.train", description=__doc__.split("\n")[0])
    parser.add_argument("--name", choices=small.NAMES, action="append",
                        help="model to train (repeatable; default: all)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default per model)")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--lr", type=float, default=LEARNING_RATE)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--out-dir", default=None, help="where to write (default models/weights)")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        parser.error("--steps must be >= 1")
    for name in args.name or small.NAMES:
        train(name, args.steps, args.batch, args.lr, log_every=args.log_every, out_dir=args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

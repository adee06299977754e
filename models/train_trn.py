"""Train the heads of the TRN-style model (:mod:`models.trn`) and save its weights.

    python -m models.train_trn [--steps 1500] [--clips 8192]

The frozen encoder's features of ``--clips`` training clips (:mod:`models.order_data`, 8
frames) are computed once. Each Adam (optax) step takes a batch of clips and, for every scale
``s = 1..8``, one random ordered subsequence of ``s`` frames per clip; the loss is the sum over
scales of head ``f^s``'s cross-entropy against the clip label (TRN-style training of every
scale on sampled frame subsets). The model ``f^ms`` (paper 003, Eq. 8) is then scored on
held-out clips from another key, and ``models/weights/trn_order.{msgpack,json}`` are written.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import optax
from flax import serialization

from models import trn
from models.order_data import CLASSES, make_order_dataset

TRAIN_SEED, EVAL_SEED = 0, 1_000_003
N_EVAL = 1024


def _features(key, n, chunk=1024):
    feats, labels = [], []
    for i, start in enumerate(range(0, n, chunk)):
        batch = make_order_dataset(jax.random.fold_in(key, i), min(chunk, n - start),
                                   num_frames=trn.NUM_FRAMES, size=trn.SIZE)
        feats.append(trn.encode(batch.videos))
        labels.append(batch.labels)
    return jnp.concatenate(feats), jnp.concatenate(labels)


def accuracy(params, key, n=N_EVAL) -> float:
    feats, labels = _features(key, n)
    pred = jax.jit(trn.multiscale_logits)(params, feats).argmax(-1)
    return float((pred == labels).mean())


def train(steps: int = 1500, clips: int = 8192, batch: int = 256, lr: float = 3e-3,
          out_dir: str | None = None, log_every: int = 250) -> dict:
    t0 = time.time()
    k_init, k_data, k_steps = jax.random.split(jax.random.key(TRAIN_SEED), 3)
    feats, labels = _features(k_data, clips)
    params = trn.init_params(k_init)
    tx = optax.adam(optax.cosine_decay_schedule(lr, steps))
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, i):
        k_batch, k_sub = jax.random.split(jax.random.fold_in(k_steps, i))
        rows = jax.random.choice(k_batch, feats.shape[0], (batch,), replace=False)
        x, y = feats[rows], labels[rows]
        order = jnp.argsort(jax.random.uniform(k_sub, (batch, trn.NUM_FRAMES)), axis=1)

        def loss_fn(p):
            total = 0.0
            for s in range(1, trn.N_MAX + 1):
                idx = jnp.sort(order[:, :s], axis=1)
                sub = jnp.take_along_axis(x, idx[..., None], axis=1)
                logits = trn.head_logits(p, s, sub)
                total += optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            return total

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    for i in range(steps):
        params, opt_state, loss = step(params, opt_state, i)
        if log_every and (i % log_every == 0 or i == steps - 1):
            print(f"step {i:5d}  summed loss {float(loss):.3f}", flush=True)
    acc = accuracy(params, jax.random.key(EVAL_SEED))
    eval_feats, eval_labels = _features(jax.random.key(EVAL_SEED), N_EVAL)
    top = eval_feats[:, jnp.arange(trn.NUM_FRAMES)]
    acc8 = float((trn.head_logits(params, trn.N_MAX, top).argmax(-1) == eval_labels).mean())
    record = {"model": trn.NAME, "heldout_accuracy_fms": acc, "heldout_accuracy_f8": acc8,
              "n_eval": N_EVAL, "steps": steps, "train_clips": clips, "batch": batch, "lr": lr,
              "train_seed": TRAIN_SEED, "eval_seed": EVAL_SEED, "classes": list(CLASSES),
              "num_frames": trn.NUM_FRAMES, "size": trn.SIZE, "n_max": trn.N_MAX,
              "prior": [1 / len(CLASSES)] * len(CLASSES),
              "seconds": round(time.time() - t0, 1)}
    path, record_path = trn.weight_paths(out_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(serialization.to_bytes(params))
    with open(record_path, "w") as fh:
        json.dump(record, fh, indent=2)
    print(json.dumps(record, indent=2))
    return record


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--clips", type=int, default=8192)
    ap.add_argument("--out-dir", default=None)
    args = ap.parse_args(argv)
    train(args.steps, args.clips, out_dir=args.out_dir)


if __name__ == "__main__":
    main()

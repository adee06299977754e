"""Speed of the extremal-perturbation optimisation (issue 4, deliverable 6).

Prints one optimisation iteration's wall time divided by the wall time of one forward +
backward pass of the same small flax model on the same 16x112x112 input (goal <= 1.3), for
1 area (batch 1) and 4 areas (batch 4), and the number of compilations of a 4-area run
(goal 1). Per-iteration time = (time of a 12-iteration run - time of a 2-iteration run) / 10,
both already compiled, so compilation and set-up cancel out.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import small_model, timed
from vidxai import masks as M
from vidxai.explain import _extremal_opt as opt
from vidxai.explain import extremal as E


def main(shape=(16, 112, 112)):
    apply, video = small_model(shape)
    f = jax.jit(lambda x: jax.nn.softmax(apply(x), axis=-1)[:, 0])
    pyramid = M.blur_pyramid(jnp.asarray(video))
    grid = M.seed_grid_shape(shape[1:])
    for n_areas in (1, 4):
        areas = jnp.linspace(0.05, 0.2, n_areas)
        areas_t = jnp.repeat(areas[:, None], shape[0], axis=1)
        seeds = jnp.ones((n_areas, shape[0]) + grid)
        batch = jnp.asarray(np.repeat(np.asarray(video)[None], n_areas, axis=0))
        fb = jax.jit(jax.value_and_grad(lambda x: jnp.sum(-jnp.log(f(x)))))
        timed(lambda: fb(batch))
        model_t = timed(lambda: fb(batch), repeat=3)
        times = {}
        for its in (2, 12):
            cfg = opt.Config(tuple(shape), iterations=its, kernel=(8, 11, 11))
            run = lambda: opt.optimise_jax(f, seeds, pyramid, areas, areas_t, cfg,  # noqa: E731
                                           E.default_optimizer())[0]
            timed(run)
            times[its] = timed(run, repeat=2)
        per_it = (times[12] - times[2]) / 10
        print(f"STEP, {n_areas} area(s): iteration {per_it * 1e3:.1f} ms, model fwd+bwd "
              f"(batch {n_areas}) {model_t * 1e3:.1f} ms, ratio {per_it / model_t:.2f} (goal <= 1.3)")
    before = opt.trace_count()
    E.step(f, np.asarray(video), areas=(0.05, 0.1, 0.15, 0.2), iterations=3, output="prob")
    E.step(f, np.asarray(video), areas=(0.06, 0.1, 0.14, 0.3), iterations=3, output="prob")
    print(f"compilations for two 4-area runs: {opt.trace_count() - before} (goal 1)")


if __name__ == "__main__":
    main()

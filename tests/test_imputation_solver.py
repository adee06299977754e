"""The multigrid preconditioner of the space-time ROAD imputation solver (Rong et al., "A
Consistent and Efficient Evaluation Strategy for Attribution Methods", ICML 2022, Sec. 4)."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg

from vidxai import _imputation as imp


def _holes(shape=(4, 16, 16)):
    removed = np.zeros(shape, bool)
    removed[1:3, 3:10, 4:11] = True          # interior block
    removed[:, 0:4, 12:16] = True             # touches the border (corner of every frame)
    removed[2, 13, 5] = True                # one voxel, all 26 neighbours kept
    return removed


def _reference_3d(video, removed, neighbours):
    """The ROAD system written from the definition: for each removed voxel i,
    sum_j w_ij (y_i - y_j) = 0 over in-volume neighbours j (w = 1 / #non-zero offsets,
    faces only for 6), kept y_j moved to the right-hand side; solved directly."""
    shape = removed.shape
    index = -np.ones(shape, int)
    index[removed] = np.arange(removed.sum())
    a = scipy.sparse.lil_matrix((removed.sum(), removed.sum()))
    b = np.zeros((removed.sum(), video.shape[-1]))
    for i, k in zip(np.argwhere(removed), index[removed]):
        for off in itertools.product((-1, 0, 1), repeat=3):
            m = sum(o != 0 for o in off)
            if m == 0 or (neighbours == 6 and m > 1):
                continue
            j = tuple(int(x) for x in i + np.array(off))
            if not all(0 <= x < s for x, s in zip(j, shape)):
                continue
            a[k, k] += 1.0 / m
            if removed[j]:
                a[k, index[j]] -= 1.0 / m
            else:
                b[k] += video[j] / m
    out = video.astype(np.float64).copy()
    out[removed] = scipy.sparse.linalg.spsolve(a.tocsc(), b)
    return out


@pytest.mark.parametrize("neighbours", [6, 26])
def test_vcycle_is_symmetric_and_positive(neighbours):
    """catches: a preconditioner CG cannot use: restriction not the transpose of the
    prolongation, unequal pre- and post-smoothing, a coarse operator that is not symmetric
    (x^T M y must equal y^T M x), or a V-cycle that is not positive (x^T M x > 0)."""
    removed = _holes()
    r = jnp.asarray(removed[..., None], jnp.float32)
    offs = imp.offsets(neighbours)
    levels = imp._hierarchy(r, offs)
    assert len(levels) >= 2                  # the test must exercise a coarse level
    m = jax.jit(lambda v: imp._vcycle(levels, offs, v))
    rng = np.random.RandomState(1)
    for _ in range(3):
        x, y = (jnp.asarray(rng.randn(*removed.shape, 2), jnp.float32) for _ in range(2))
        xmy, ymx = float(jnp.vdot(x, m(y))), float(jnp.vdot(y, m(x)))
        scale = float(jnp.linalg.norm(x) * jnp.linalg.norm(m(y)))
        assert abs(xmy - ymx) <= 1e-5 * scale
        assert float(jnp.vdot(x, m(x))) > 0


@pytest.mark.parametrize("neighbours", [6, 26])
def test_multigrid_solve_equals_a_direct_solve(neighbours, monkeypatch):
    """catches: a preconditioner that changes the answer (coarse values leaking into the
    solution, kept voxels moved) or breaks CG's convergence: at tol 1e-7 the multigrid-
    preconditioned solve must equal a direct sparse solve of the system written from the
    definition, with holes in the interior, at the border and a single 26-neighbour voxel."""
    monkeypatch.setattr(imp, "PRECONDITIONER", "multigrid")
    removed = _holes()
    video = np.random.RandomState(2).rand(*removed.shape, 3).astype(np.float32)
    r = jnp.asarray(removed[..., None], jnp.float32)
    x0 = jnp.full(video.shape, 0.5, jnp.float32)
    solve = jax.jit(lambda v, rr, s: imp._coarse_to_fine(v, rr, s, imp.offsets(neighbours),
                                                          1e-7, 500, imp.LEVELS))
    out, residual = solve(jnp.asarray(video), r, x0)
    np.testing.assert_allclose(np.asarray(out), _reference_3d(video, removed, neighbours),
                               atol=1e-5)
    assert float(residual) < 1e-6
    assert np.array_equal(np.asarray(out)[~removed], video[~removed])


def test_all_removed_keeps_its_start(monkeypatch):
    """catches: a preconditioner that moves a removed set with no kept neighbour (the
    singular case: every voxel removed) away from its start, or turns it into NaN: the
    residual there is zero, so the start (the flat 0.5 when nothing is kept) must stay."""
    monkeypatch.setattr(imp, "PRECONDITIONER", "multigrid")
    video = np.random.RandomState(3).rand(2, 16, 16, 3).astype(np.float32)
    r = jnp.ones((2, 16, 16, 1), jnp.float32)
    x0 = jnp.broadcast_to(imp._kept_colour(jnp.asarray(video), 1.0 - r), video.shape)
    out, _ = jax.jit(lambda v, s: imp._coarse_to_fine(v, r, s, imp.offsets(6), 1e-6, 200,
                                                       imp.LEVELS))(jnp.asarray(video), x0)
    np.testing.assert_array_equal(np.asarray(out), np.full(video.shape, 0.5, np.float32))

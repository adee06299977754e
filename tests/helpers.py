"""Analytic test models whose explanations are known in closed form."""
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from vidxai import segment


def toy_video(shape=(4, 12, 12), seed=0):
    return (np.random.RandomState(seed).rand(*shape, 3) * 0.8 + 0.1).astype(np.float32)


def segment_means(video, seg):
    """Per-segment mean intensity (channel mean) of a video: (n,)."""
    grey = np.asarray(video).mean(-1)
    return np.bincount(seg.labels.ravel(), grey.ravel(), seg.n) / seg.sizes()


def additive_model(seg, weights):
    """f(x) = sum_j w_j * mean(x over segment j): black removal zeroes a segment's term."""
    labels = jnp.asarray(seg.labels).ravel()
    sizes = jnp.asarray(seg.sizes(), jnp.float32)
    w = jnp.asarray(weights, jnp.float32)

    def f(x):
        grey = x.mean(-1).reshape(x.shape[0], -1)
        means = jax.vmap(lambda r: jax.ops.segment_sum(r, labels, seg.n))(grey) / sizes
        return means @ w

    return f


def interaction_model(seg, weights):
    """Non-additive: f(x) = (sum_j w_j m_j)^2 + m_0 * m_1 (pairwise interactions)."""
    base = additive_model(seg, weights)
    first_two = additive_model(seg, np.eye(seg.n)[0]), additive_model(seg, np.eye(seg.n)[1])

    def f(x):
        return base(x) ** 2 + first_two[0](x) * first_two[1](x)

    return f


def coalition_value(f, video, seg, kept):
    """f on the video with the segments not in ``kept`` blacked out, computed directly."""
    mask = np.isin(seg.labels, np.flatnonzero(kept))[..., None]
    return float(f(jnp.asarray(video * mask)[None])[0])


def brute_force_shapley(f, video, seg):
    """Shapley values by the subset formula over all 2^n coalitions."""
    n = seg.n
    value = {}
    for bits in itertools.product([False, True], repeat=n):
        value[bits] = coalition_value(f, video, seg, np.array(bits))
    phi = np.zeros(n)
    for i in range(n):
        for bits, v in value.items():
            if bits[i]:
                continue
            s = sum(bits)
            with_i = list(bits)
            with_i[i] = True
            weight = math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
            phi[i] += weight * (value[tuple(with_i)] - v)
    return phi


def region_reader(region):
    """White-box score: mean intensity inside a boolean (T, H, W) region, nothing else."""
    r = jnp.asarray(region, jnp.float32)

    def f(x):
        return (x.mean(-1) * r).sum(axis=(1, 2, 3)) / r.sum()

    return f


def relu_conv_net(features=4, classes=3, kernel=(3, 3, 3), strides=(1, 1, 1)):
    """A flax 3-D conv net: conv ("conv") -> ReLU (a module "act", so its output is a named
    layer) -> mean over (T, H, W) -> dense logits ("head"). Layer methods read it."""
    import flax.linen as nn

    class Act(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.relu(x)

    class ReluConvNet(nn.Module):
        @nn.compact
        def __call__(self, x):
            z = nn.Conv(features, kernel, strides=strides, padding="SAME", name="conv")(x)
            return nn.Dense(classes, name="head")(Act(name="act")(z).mean(axis=(1, 2, 3)))

    return ReluConvNet()


def conv_zoo_model(shape, name="conv", classes=("x", "y", "z")):
    """A zoo-style model on :func:`relu_conv_net` (readable layer ``act``: Grad-CAM, EB; layer
    groups: randomisation) for clips ``shape = (T, H, W)``, with a frame-value game (ESV,
    frame discarding) that averages the net's logits of each frame shown alone (the frame
    repeated over the clip)."""
    from models.base import Model
    from vidxai.explain import frame_average_value
    from vidxai.layers import flax_model

    t, h, w = shape
    net = relu_conv_net(4, len(classes))
    layered = flax_model(net, net.init(jax.random.key(0), jnp.zeros((1, t, h, w, 3))))

    def frame_value(video):
        per_frame = jnp.stack([layered(jnp.repeat(video[None, i:i + 1], t, axis=1))[0]
                               for i in range(video.shape[0])])
        return frame_average_value(per_frame), np.full(len(classes), 1 / len(classes))

    return Model(name, layered, num_frames=t, size=(h, w), class_names=classes,
                 meta={"frame_value": frame_value})


def small_grid(video, cells=(2, 2, 2)):
    return segment.grid(video, cells)


# ---- h2: readers of written output files (CLI tests) ------------------------------------
def noise_clip(folder, side, frames=16, fps=8, seed=0):
    """A ``frames``-frame mp4 of uniform noise, ``side`` x ``side`` px, written in ``folder``."""
    from vidxai.io import write_video
    rng = np.random.RandomState(seed)
    pixels = (rng.rand(frames, side, side, 3) * 255).astype(np.uint8)
    return write_video(folder / "noise.mp4", pixels, fps=fps)


def decode_mp4(path):
    """Every frame of an .mp4 as uint8 RGB ``(T, H, W, 3)``, decoded with PyAV."""
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def decode_gif(path):
    """Every frame of a .gif as uint8 RGB ``(T, H, W, 3)``, decoded with Pillow."""
    from PIL import Image, ImageSequence

    with Image.open(path) as im:
        return np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)])


# ---- h1: independent references for the removal-based methods ------------------------------
class RecordingScore:
    """Host score function that keeps every perturbed batch it is asked to score.

    ``fn`` maps a numpy batch ``(B, T, H, W, C)`` to ``(B,)``. Converting the input with
    ``np.asarray`` makes JAX tracing fail, so vidxai calls this outside jit on the perturbed
    videos themselves; ``videos(n)`` returns the first ``n`` rows it saw (chunk padding, which
    only ever trails the last chunk, is cut off).
    """

    def __init__(self, fn):
        self.fn = fn
        self.batches = []

    def __call__(self, x):
        x = np.asarray(x, np.float64)
        self.batches.append(x.copy())
        return np.asarray(self.fn(x), np.float32)

    def videos(self, n_rows):
        return np.concatenate(self.batches)[:n_rows]


def kept_fractions(videos, video, removed=0.0):
    """Per-voxel kept fraction ``(N, T, H, W)`` of composed videos ``m x + (1 - m) r``."""
    video = np.asarray(video, np.float64)
    return ((np.asarray(videos) - removed) / (video - removed)).mean(-1)


def coalitions_of(videos, video, seg, removed=0.0):
    """Recover the boolean coalition ``(N, n)`` behind each perturbed video (hard masks)."""
    frac = kept_fractions(videos, video, removed).reshape(len(videos), -1)
    labels = seg.labels.ravel()
    z = np.stack([frac[:, labels == j].mean(1) for j in range(seg.n)], axis=1)
    np.testing.assert_allclose(z, np.round(z), atol=1e-5)  # every segment fully kept or removed
    return z > 0.5


def weighted_ridge(z, y, w, alpha):
    """argmin_{b, c} sum_i w_i (y_i - b - z_i.c)^2 + alpha |c|^2 (intercept b unpenalised),
    solved from the normal equations in float64."""
    x = np.concatenate([np.ones((len(z), 1)), np.asarray(z, np.float64)], axis=1)
    w = np.asarray(w, np.float64)
    penalty = alpha * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    sol = np.linalg.solve(x.T @ (w[:, None] * x) + penalty, x.T @ (w * np.asarray(y, np.float64)))
    return sol[1:], sol[0]


def constrained_wls(z, y, w, full, empty):
    """Kernel SHAP's fit: argmin_phi sum_i w_i (y_i - empty - z_i.phi)^2 subject to
    sum(phi) = full - empty, solved through its KKT system in float64."""
    x = np.asarray(z, np.float64)
    w = np.asarray(w, np.float64)
    n = x.shape[1]
    kkt = np.zeros((n + 1, n + 1))
    kkt[:n, :n] = 2 * x.T @ (w[:, None] * x)
    kkt[:n, n] = kkt[n, :n] = 1.0
    rhs = np.concatenate([2 * x.T @ (w * (np.asarray(y, np.float64) - empty)), [full - empty]])
    return np.linalg.lstsq(kkt, rhs, rcond=None)[0][:n]


def shapley_kernel_weight(n, size):
    """Lundberg & Lee's kernel weight of one coalition of ``size`` of ``n`` players."""
    return (n - 1) / (math.comb(n, size) * size * (n - size))


def kernel_shap_fit(z, y, full, empty):
    """Kernel SHAP on scored coalitions ``z`` (empty and full excluded), as shap does it:
    sizes present completely (every coalition once) carry their kernel weight per row, the
    other rows (random draws) share the remaining kernel mass evenly; then the constrained
    fit. Returns ``(phi, sorted complete sizes)``."""
    z = np.asarray(z, bool)
    n = z.shape[1]
    sizes = z.sum(1)
    complete = [s for s in range(1, n) if (sizes == s).sum() == math.comb(n, s)
                and len({r.tobytes() for r in z[sizes == s]}) == math.comb(n, s)]
    rest = ~np.isin(sizes, complete)
    w = np.array([shapley_kernel_weight(n, s) for s in sizes])
    total = sum(shapley_kernel_weight(n, s) * math.comb(n, s) for s in range(1, n))
    if rest.any():
        w[rest] = (total - w[~rest].sum()) / rest.sum()
    return constrained_wls(z, y, w, full, empty), complete

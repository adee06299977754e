"""The model interface of the zoo: what vidxai needs to explain a model."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from vidxai.errors import ArgumentError, check_video


@dataclass(frozen=True, eq=False)
class Model:
    """A video model in pixel space.

    ``apply``: float32 ``(B, T, H, W, 3)`` in [0, 1] -> ``(B, K)`` logits (classifiers) or
    ``(B,)`` (regressors); any normalisation or resizing happens inside. ``num_frames`` and
    ``size`` are the input the model expects (``size`` = (H, W)); ``min_frames`` the fewest
    frames it accepts. ``class_names`` lists the K classes (empty for regressors).
    ``differentiable``: ``jax.grad`` works through ``apply`` (JAX, or the torch bridge).
    ``meta`` holds anything else (weights source, accuracy, ground truth for white-box models).
    """

    name: str
    apply: Callable
    num_frames: int
    size: tuple[int, int]
    class_names: Sequence[str] = ()
    differentiable: bool = True
    min_frames: int = 1
    meta: dict = field(default_factory=dict)

    @property
    def is_classifier(self) -> bool:
        return len(self.class_names) > 0

    def __call__(self, video_batch):
        return self.apply(video_batch)

    @property
    def vidxai_eager(self) -> bool:
        """True for torch-backed models: the engine calls them outside jit (zero-copy)."""
        return bool(getattr(self.apply, "vidxai_eager", False))

    def check_input(self, video, name: str = "video") -> np.ndarray:
        """Validate one video ``(T, H, W, 3)`` against this model's input spec."""
        video = check_video(video, name)
        t, h, w = video.shape[:3]
        if t < self.min_frames:
            raise ArgumentError(name, f"at least {self.min_frames} frames for {self.name}", t)
        if (h, w) != tuple(self.size):
            raise ArgumentError(name, f"frames of {self.size[0]}x{self.size[1]} for {self.name}",
                                f"{h}x{w}")
        return video

    def class_index(self, label) -> int:
        """Index of a class given its name or index (clear error for unknown labels)."""
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if not 0 <= int(label) < len(self.class_names):
                raise ArgumentError("target", f"a class index in 0..{len(self.class_names) - 1}", label)
            return int(label)
        names = [c.lower() for c in self.class_names]
        if str(label).lower() not in names:
            close = [c for c in self.class_names if str(label).lower() in c.lower()][:5]
            hint = f" (similar: {close})" if close else ""
            raise ArgumentError("target", f"a class name of {self.name}{hint}", repr(label))
        return names.index(str(label).lower())

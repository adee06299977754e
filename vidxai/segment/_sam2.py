"""Loading SAM 2 (the ``sam2`` package) for masklets: configs, checkpoints, image sizes, devices.

A checkpoint is a local ``.pt`` file, a Hugging Face id (looked up in the local Hugging Face
cache first, downloaded only when the hub answers within seconds) or ``"random"`` (random
weights, for tests). Frames reach SAM 2 from memory: :func:`video_state` builds the video
predictor's inference state from the frames themselves instead of a JPEG folder or an mp4.

References
----------
Ravi et al., "SAM 2: Segment Anything in Images and Videos", ICLR 2025.
"""
from __future__ import annotations

import contextlib
import functools
import os
import socket
from collections import OrderedDict
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, VidxaiError, check_int, describe

HOW_TO_GET = ("download a checkpoint such as sam2.1_hiera_tiny.pt from Meta's SAM 2 release "
              "(github.com/facebookresearch/sam2, 'Download Checkpoints') and pass its path, "
              "or pass a Hugging Face id such as facebook/sam2.1-hiera-tiny on a machine that "
              "reaches the hub (pip install huggingface_hub)")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)   # SAM 2's frame normalisation
HUB_TIMEOUT = 3.0                                          # seconds to wait for the hub


class CheckpointError(VidxaiError, FileNotFoundError):
    """A SAM 2 checkpoint could not be found, fetched or loaded; says what was tried."""


def configs() -> dict[str, str]:
    """Short config names (``sam2.1_hiera_t``) -> the names hydra composes in ``sam2``."""
    import sam2

    root = Path(sam2.__path__[0]) / "configs"
    return {p.stem: f"configs/{p.parent.name}/{p.name}"
            for family in ("sam2", "sam2.1") for p in sorted((root / family).glob("*.yaml"))}


def config_name(config: str) -> str:
    """Hydra name of ``config`` (a short name, ``.yaml`` name or ``configs/...`` path)."""
    if not isinstance(config, str):
        raise ArgumentTypeError("config", "a SAM 2 config name such as 'sam2.1_hiera_t'",
                                describe(config))
    known = configs()
    stem = Path(config).name.removesuffix(".yaml")
    if stem not in known:
        raise ArgumentError("config", f"one of {sorted(known)}", repr(config))
    return known[stem]


def check_image_size(image_size) -> int | None:
    """SAM 2's square input side: a multiple of 32 (Hiera's total stride) from 64 to 4096."""
    if image_size is None:
        return None
    size = check_int(image_size, "image_size", minimum=64, maximum=4096)
    if size % 32:
        raise ArgumentError("image_size", "a multiple of 32 (Hiera downsamples by 32)", size)
    return size


def resolve_device(device):
    """``None`` -> the first CUDA GPU if torch sees one, else the CPU."""
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ArgumentError("device", "a torch device such as 'cpu', 'cuda' or 'cuda:1'",
                            repr(device)) from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ArgumentError("device", "an available device (torch sees no CUDA GPU here)",
                            str(device))
    return device


def hub_files(model_id: str) -> tuple[str, str]:
    """(hydra config, file name) of a SAM 2 Hugging Face id, from the ``sam2`` package."""
    from sam2.build_sam import HF_MODEL_ID_TO_FILENAMES

    if model_id not in HF_MODEL_ID_TO_FILENAMES:
        raise ArgumentError("checkpoint", "a .pt file, 'random' or one of the SAM 2 Hugging Face "
                            f"ids {sorted(HF_MODEL_ID_TO_FILENAMES)}", repr(model_id))
    return HF_MODEL_ID_TO_FILENAMES[model_id]


def looks_like_hub_id(checkpoint: str) -> bool:
    parts = checkpoint.split("/")
    return (len(parts) == 2 and all(parts) and not checkpoint.endswith((".pt", ".pth"))
            and not Path(checkpoint).exists())


def _hub_reachable(endpoint: str) -> str | None:
    """None when the hub's host accepts a connection within HUB_TIMEOUT, else the reason."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    url = urlparse(endpoint)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=HUB_TIMEOUT):
            return None
    except OSError as err:
        return f"{url.hostname} unreachable ({err.strerror or err})"


def fetch_from_hub(model_id: str) -> tuple[str, str]:
    """Local path and config of a hub checkpoint: the Hugging Face cache, then the hub itself.

    Fails within seconds when neither has it (the hub is probed with a short connection
    timeout before any download, so an offline machine never waits on retries).
    """
    config, filename = hub_files(model_id)
    tried = [f"the Hugging Face cache for {model_id}/{filename}"]
    try:
        from huggingface_hub import constants, hf_hub_download
    except ImportError:
        raise CheckpointError(f"checkpoint: {model_id!r} is a Hugging Face id, but the package "
                              f"huggingface_hub is not installed; {HOW_TO_GET}") from None
    try:
        return hf_hub_download(model_id, filename, local_files_only=True), config
    except Exception:   # not cached: any of huggingface_hub's lookup errors
        pass
    problem = _hub_reachable(constants.ENDPOINT)
    tried.append(f"{constants.ENDPOINT}" + (f": {problem}" if problem else ""))
    if problem is None:
        try:
            return hf_hub_download(model_id, filename, etag_timeout=HUB_TIMEOUT), config
        except Exception as err:
            tried[-1] += f": {type(err).__name__}: {str(err)[:200]}"
    raise CheckpointError(f"checkpoint: could not get {model_id!r}; tried "
                          + "; ".join(tried) + f". To get the weights: {HOW_TO_GET}")


def resolve_checkpoint(checkpoint, config) -> tuple[str | None, str]:
    """(local checkpoint path or None for random weights, hydra config name)."""
    if isinstance(checkpoint, os.PathLike):
        checkpoint = os.fspath(checkpoint)
    if not isinstance(checkpoint, str):
        raise ArgumentTypeError("checkpoint", "a .pt path, a Hugging Face id or 'random'",
                                describe(checkpoint))
    if checkpoint == "random":
        return None, config_name(config or "sam2.1_hiera_t")
    if looks_like_hub_id(checkpoint):
        path, hub_config = fetch_from_hub(checkpoint)
        return path, config_name(config) if config else hub_config
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint: no file {str(path)!r} (tried it as a local path"
                              f"{'' if checkpoint.endswith(('.pt', '.pth')) else ' and as a Hugging Face id'}"
                              f"); {HOW_TO_GET}")
    return str(path), config_name(config or "sam2.1_hiera_t")


def _overrides(image_size: int | None) -> list[str]:
    if image_size is None:
        return []
    side = image_size // 16      # memory attention works on the 1/16 feature map
    return [f"++model.image_size={image_size}",
            f"++model.memory_attention.layer.self_attention.feat_sizes=[{side},{side}]",
            f"++model.memory_attention.layer.cross_attention.feat_sizes=[{side},{side}]"]


def _load_weights(model, path: str, config: str) -> None:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"checkpoint: {path!r} is not a readable torch checkpoint "
                              f"({type(err).__name__}: {str(err)[:200]}); {HOW_TO_GET}") from err
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise CheckpointError(f"checkpoint: {path!r} holds no 'model' state dict (SAM 2's "
                              f"checkpoints do); {HOW_TO_GET}")
    try:
        missing, unexpected = model.load_state_dict(state["model"], strict=False)
    except RuntimeError as err:      # tensors of other shapes: another model size
        missing, unexpected = ["(shape mismatch) " + str(err).splitlines()[1][:160]], []
    if missing or unexpected:
        raise ArgumentError("config", f"a config matching the checkpoint {Path(path).name} "
                            f"(e.g. sam2.1_hiera_t for sam2.1_hiera_tiny.pt)",
                            f"{config!r}: {len(missing)} missing and {len(unexpected)} "
                            f"unexpected weights, e.g. {(missing or unexpected)[0]}")


@functools.lru_cache(maxsize=2)
def build(path: str | None, config: str, image_size: int | None, device: str, stamp=None):
    """SAM 2's video predictor (also the mask generator's model); ``path=None``: random
    weights, drawn from a fixed seed so that they are the same in every process.
    ``stamp`` (the file's modification time) makes a rewritten checkpoint load anew."""
    import torch
    from sam2.build_sam import build_sam2_video_predictor

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        predictor = build_sam2_video_predictor(config, None, device="cpu",
                                               hydra_overrides_extra=_overrides(image_size))
    if path is not None:
        _load_weights(predictor, path, config)
    predictor = predictor.to(device).eval()
    if torch.device(device).type != "cuda" or not _has_cuda_extension():
        predictor.fill_hole_area = 0    # hole filling needs sam2's optional CUDA extension
    return predictor


def _has_cuda_extension() -> bool:
    try:
        from sam2 import _C  # noqa: F401
    except ImportError:
        return False
    return True


def load(checkpoint, config=None, image_size=None, device=None):
    """The predictor for ``checkpoint`` (path, hub id or 'random'), built once per setting."""
    path, config = resolve_checkpoint(checkpoint, config)
    device = resolve_device(device)
    stamp = os.stat(path).st_mtime_ns if path else None
    return build(path, config, check_image_size(image_size), str(device), stamp), config


class Frames:
    """The video's frames as SAM 2 takes them: ``(3, S, S)`` tensors, resized (bilinear,
    antialiased) and normalised on access, straight from the float pixels (no re-encoding)."""

    def __init__(self, video: np.ndarray, index, image_size: int):
        self.video, self.index, self.size = video, list(index), image_size

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i):
        return self.batch([i])[0]

    def batch(self, ids):
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(np.ascontiguousarray(self.video[[self.index[i] for i in ids]]))
        x = x.permute(0, 3, 1, 2)
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear",
                              align_corners=False, antialias=True)
        mean = torch.tensor(MEAN).view(1, 3, 1, 1)
        std = torch.tensor(STD).view(1, 3, 1, 1)
        return (x - mean) / std


def video_state(predictor, frames: Frames, height: int, width: int) -> dict:
    """The inference state ``predictor.init_state(path)`` builds, from frames in memory.

    The keys follow ``sam2`` 1.1.0's ``init_state`` (a test checks them against it); frames
    stay on the CPU and are moved to the model's device one batch at a time.
    """
    device = predictor.device
    return {"images": frames, "num_frames": len(frames), "offload_video_to_cpu": True,
            "offload_state_to_cpu": False, "video_height": height, "video_width": width,
            "device": device, "storage_device": device, "point_inputs_per_obj": {},
            "mask_inputs_per_obj": {}, "cached_features": {}, "constants": {},
            "obj_id_to_idx": OrderedDict(), "obj_idx_to_id": OrderedDict(), "obj_ids": [],
            "output_dict_per_obj": {}, "temp_output_dict_per_obj": {},
            "frames_tracked_per_obj": {}}


def encode(predictor, state: dict, ids) -> None:
    """Run the image encoder on frames ``ids`` in one batch and cache their features where
    the predictor looks them up (it would otherwise encode one frame per call)."""
    images = state["images"].batch(ids).to(state["device"])
    out = predictor.forward_image(images)
    cache = {}
    for b, i in enumerate(ids):
        one = {key: [x[b:b + 1] for x in out[key]] for key in ("backbone_fpn", "vision_pos_enc")}
        cache[i] = (images[b:b + 1], one)
    state["cached_features"] = cache


@contextlib.contextmanager
def quiet():
    """Silence sam2's own progress bars (vidxai shows its own, or none)."""
    import sam2.sam2_video_predictor as svp

    original = svp.tqdm
    svp.tqdm = lambda iterable, *args, **kwargs: iterable
    try:
        yield
    finally:
        svp.tqdm = original


def autocast(device):
    """bf16 autocast on CUDA (as SAM 2's own examples run), nothing on the CPU."""
    import torch

    if torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()

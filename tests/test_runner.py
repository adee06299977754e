"""The dataset runner (vidxai.runner.explain_many), local engine: folders, manifest, resume,
atomic files, per-video keys."""
import dataclasses
import json
import sys
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vidxai
from vidxai import Explanation, errors, explain, runner, zoo
from vidxai._manifest import MANIFEST_NAME, Manifest
from vidxai.io import write_video

FRAMES, SIDE, CLASSES = 4, 16, 3
OPTIONS = {"n_samples": 16, "batch_size": 8}


@dataclasses.dataclass(frozen=True)
class TinyModel:
    """A model factory (picklable): a linear classifier on the grey video, 4 x 16 x 16."""

    seed: int = 0

    def __call__(self):
        from models.base import Model

        w = jnp.asarray(np.random.RandomState(self.seed).randn(FRAMES * SIDE * SIDE, CLASSES)
                        * 0.05, jnp.float32)

        def apply(x):
            return x.mean(-1).reshape(x.shape[0], -1) @ w

        return Model("tiny", apply, FRAMES, (SIDE, SIDE), ("a", "b", "c"), min_frames=FRAMES)


def make_videos(folder, n, frames=FRAMES, side=SIDE):
    """``n`` short mp4 clips of smooth random blobs, v00.mp4 ... in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        rng = np.random.RandomState(100 + i)
        yy, xx = np.mgrid[:side, :side] / side
        clip = np.stack([np.stack([0.5 + 0.4 * np.sin(6 * (xx * rng.rand() + yy * rng.rand())
                                                      + t + c) for c in range(3)], -1)
                         for t in range(frames)])
        paths.append(write_video(folder / f"v{i:02d}.mp4", (clip * 255).astype(np.uint8)))
    return paths


def results(out, methods=("lime",)):
    """Every explanation file under ``out`` as {(stem, method): (weights, map)}."""
    found = {}
    for path in sorted(out.glob("*/*/explanation.npz")):
        e = Explanation.load(path)
        found[(path.parent.parent.name, path.parent.name)] = (e.weights, e.map)
    return found


def assert_same(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k][0], b[k][0])
        np.testing.assert_array_equal(a[k][1], b[k][1])


class Interrupted(BaseException):
    """Stands for a kill (Ctrl-C, SIGTERM): not an Exception, so no job records it."""


def counting_run(monkeypatch, fail_on=None):
    """Count the front door's calls; raise ``Interrupted`` on call number ``fail_on``."""
    calls = []
    real = explain.frontdoor.run

    def run(method, model, video, **kw):
        calls.append(method)
        if fail_on is not None and len(calls) == fail_on:
            raise Interrupted()
        return real(method, model, video, **kw)

    monkeypatch.setattr(explain.frontdoor, "run", run)
    return calls


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("runner")
    make_videos(root / "videos", 4)
    return root


@pytest.fixture(scope="module")
def reference(dataset):
    """An uninterrupted run of lime + occlusion on the 4 videos."""
    out = dataset / "reference"
    summary = runner.explain_many(dataset / "videos", TinyModel(), ["lime", "occlusion"], out,
                                  key=7, **OPTIONS)
    assert summary.ok and len(summary.done) == 8
    return out


def test_results_equal_explain_run_with_the_derived_key(dataset, reference):
    """Each result equals explain.run on that video alone with key fold_in(key, crc32(name)),
    computed here from the definition. catches: a key derived from the video's position (or
    Python's salted hash()), a shared key stream across videos, options dropped or mixed up
    between methods, a clip read differently from zoo.load_clip."""
    model = TinyModel()()
    for path in sorted((dataset / "videos").glob("*.mp4")):
        key = jax.random.fold_in(jax.random.key(7), np.uint32(zlib.crc32(path.name.encode())))
        _, video, _ = zoo.load_clip(model, path, say=lambda _: None)
        for method, opts in (("lime", OPTIONS), ("occlusion", {"batch_size": 8})):
            alone = explain.run(method, model, video, key=key, **opts)
            saved = Explanation.load(reference / path.stem / method / "explanation.npz")
            np.testing.assert_array_equal(saved.weights, alone.weights)
            np.testing.assert_array_equal(saved.map, alone.map)
            summary = json.loads((reference / path.stem / method / "summary.json").read_text())
            assert summary["seed"] == np.asarray(jax.random.key_data(key)).tolist()
            assert summary["status"] == "done" and summary["options"]["method"] == method
    # two videos never share a key
    seeds = {tuple(r["seed"]) for r in Manifest(reference).records()}
    assert len(seeds) == 4


def test_manifest_records_every_job(reference):
    """catches: a manifest missing a job, the options, the version or the timings."""
    records = Manifest(reference).records()
    assert sorted((r["stem"], r["method"]) for r in records) == sorted(
        (f"v{i:02d}", m) for i in range(4) for m in ("lime", "occlusion"))
    for r in records:
        assert r["status"] == "done" and r["error"] is None
        assert r["version"] == vidxai.__version__
        assert r["options"]["options"]["batch_size"] == 8
        assert ("n_samples" in r["options"]["options"]) == (r["method"] == "lime")
        assert set(r["seconds"]) == {"model", "load", "explain", "write"}
        assert all(v is not None and v >= 0 for v in r["seconds"].values())


def test_interrupted_run_resumes_to_the_uninterrupted_results(dataset, reference,
                                                              monkeypatch):
    """A run killed inside the 3rd video's job, rerun, gives exactly the results of an
    uninterrupted run, and the rerun computes only what was missing. catches: a resume that
    recomputes everything (or skips the interrupted job), results that depend on which run
    computed them, a manifest written before the result file."""
    out = dataset / "interrupted"
    calls = counting_run(monkeypatch, fail_on=5)      # 2 methods per video: video 3, lime
    with pytest.raises(Interrupted):
        runner.explain_many(dataset / "videos", TinyModel(), ["lime", "occlusion"], out,
                            key=7, **OPTIONS)
    assert len(Manifest(out).records()) == 4
    calls.clear()
    monkeypatch.undo()
    calls = counting_run(monkeypatch)
    summary = runner.explain_many(dataset / "videos", TinyModel(), "lime,occlusion", out,
                                  key=7, **OPTIONS)
    assert len(calls) == 4 and len(summary.skipped) == 4 and len(summary.done) == 4
    assert_same(results(out), results(reference))
    # and a third run has nothing to do
    calls.clear()
    again = runner.explain_many(dataset / "videos", TinyModel(), "lime,occlusion", out, key=7,
                                **OPTIONS)
    assert calls == [] and len(again.skipped) == 8


def test_changed_options_are_recomputed(dataset, monkeypatch):
    """catches: a rerun that skips a job whose options (or key) changed, serving a stale
    result under the new options; a rerun that recomputes a method whose options did not
    change."""
    out = dataset / "changed"
    runner.explain_many(dataset / "videos", TinyModel(), ["lime", "occlusion"], out, key=7,
                        **OPTIONS)
    calls = counting_run(monkeypatch)
    summary = runner.explain_many(dataset / "videos", TinyModel(), ["lime", "occlusion"], out,
                                  key=7, n_samples=24, batch_size=8)
    assert calls == ["lime"] * 4               # occlusion does not take n_samples
    assert len(summary.done) == 4 and len(summary.skipped) == 4
    for path in out.glob("*/lime/explanation.npz"):
        assert Explanation.load(path).meta["n_samples"] == 24
    calls.clear()
    runner.explain_many(dataset / "videos", TinyModel(), ["lime"], out, key=8, n_samples=24)
    assert calls == ["lime"] * 4               # a new key is new options
    calls.clear()
    runner.explain_many(dataset / "videos", TinyModel(seed=1), ["lime"], out, key=8,
                        n_samples=24)
    assert calls == ["lime"] * 4               # so is another model


def test_no_partial_file_under_a_final_name(dataset, monkeypatch):
    """A save that dies midway (after writing part of its file) leaves no file under the
    final name, the job is recorded as failed, and the rerun completes it. catches: writing
    straight to explanation.npz (a kill leaves a corrupt file that a rerun would skip), a
    temporary file left behind, a write failure that stops the whole run."""
    out = dataset / "partial"
    real = Explanation.save

    def dying_save(self, path):
        with open(path, "wb") as handle:
            handle.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(Explanation, "save", dying_save)
    summary = runner.explain_many(dataset / "videos", TinyModel(), ["lime"], out, key=7,
                                  **OPTIONS)
    assert len(summary.failed) == 4 and "disk full" in summary.failed[0].error
    assert not list(out.glob("**/explanation.npz"))
    assert not [p for p in out.rglob("*") if "partial-" in p.name]
    statuses = {r["status"] for r in Manifest(out).records()}
    assert statuses == {"failed"}
    monkeypatch.setattr(Explanation, "save", real)
    summary = runner.explain_many(dataset / "videos", TinyModel(), ["lime"], out, key=7,
                                  **OPTIONS)
    assert len(summary.done) == 4
    assert len(list(out.glob("*/lime/explanation.npz"))) == 4


def test_truncated_video_fails_alone(dataset, tmp_path):
    """A truncated mp4 among good ones is recorded as failed with its error; the others
    complete. catches: one bad file aborting the run, a failure recorded without its error,
    a failure that later reruns treat as done."""
    folder = tmp_path / "videos"
    for path in sorted((dataset / "videos").glob("*.mp4"))[:2]:
        (folder / path.name).parent.mkdir(exist_ok=True)
        (folder / path.name).write_bytes(path.read_bytes())
    bad = make_videos(tmp_path / "bad", 1)[0].read_bytes()
    (folder / "broken.mp4").write_bytes(bad[: len(bad) // 3])
    out = tmp_path / "out"
    summary = runner.explain_many(folder, TinyModel(), ["lime"], out, key=7, **OPTIONS)
    assert [j.video.rsplit("/", 1)[-1] for j in summary.failed] == ["broken.mp4"]
    assert len(summary.done) == 2
    record = Manifest(out).latest()[("broken.mp4", "lime")]
    assert record["status"] == "failed" and record["error"]
    assert "broken" in str(summary)
    again = runner.explain_many(folder, TinyModel(), ["lime"], out, key=7, **OPTIONS)
    assert len(again.failed) == 1 and len(again.skipped) == 2     # the failure is retried


def test_torn_manifest_line_is_ignored(tmp_path):
    """catches: a manifest whose last line a kill cut off breaking every later read, or the
    next record being glued onto the torn line and lost."""
    manifest = Manifest(tmp_path)
    manifest.append({"name": "a.mp4", "method": "lime", "status": "done"})
    with open(manifest.path, "a") as handle:
        handle.write('{"name": "b.mp4", "method": "li')
    manifest.append({"name": "c.mp4", "method": "lime", "status": "failed"})
    assert [r["name"] for r in manifest.records()] == ["a.mp4", "c.mp4"]


def test_bad_input(dataset, tmp_path):
    """catches: arrays, missing paths, unknown methods or options, bad engines, clashing
    names and non-factory callables getting through instead of a typed error naming them."""
    videos = dataset / "videos"
    cases = [
        (dict(videos=np.zeros((4, 16, 16, 3), np.float32)), "videos"),
        (dict(videos=tmp_path / "missing.mp4"), "videos"),
        (dict(methods=["nope"]), None),
        (dict(methods=[]), "methods"),
        (dict(engine="spark"), "engine"),
        (dict(model=lambda x: x), "model"),
        (dict(model="no-such-model"), "model"),
        (dict(n_samples_typo=3), "n_samples_typo"),
        (dict(address="auto"), "address"),
        (dict(clip_frames=0), "clip_frames"),
    ]
    for change, argument in cases:
        kw = dict(videos=videos, model=TinyModel(), methods=["lime"], out=tmp_path / "o")
        kw.update(change)
        with pytest.raises(errors.VidxaiError) as info:
            runner.explain_many(kw.pop("videos"), kw.pop("model"), kw.pop("methods"),
                                kw.pop("out"), **kw)
        if argument is not None:
            assert info.value.argument == argument, change
    twins = tmp_path / "twins"
    twins.mkdir()
    src = sorted(videos.glob("*.mp4"))[0].read_bytes()
    (twins / "a.mp4").write_bytes(src)
    (twins / "a.avi").write_bytes(src)
    with pytest.raises(errors.ArgumentError, match="distinct"):
        runner.video_files(twins)


def test_folder_expansion_and_manifest_name(dataset, tmp_path):
    """catches: folders expanded unsorted, non-video files (or the manifest) taken as videos."""
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / MANIFEST_NAME).write_text("")
    for path in sorted((dataset / "videos").glob("*.mp4"))[::-1]:
        (tmp_path / path.name).write_bytes(path.read_bytes())
    assert [p.name for p in runner.video_files(tmp_path)] == [f"v{i:02d}.mp4" for i in range(4)]


def test_missing_ray_names_the_extra(monkeypatch, dataset, tmp_path):
    """catches: a bare ModuleNotFoundError (or a silent fallback to the local engine) when
    Ray is not installed."""
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(errors.VidxaiError, match=r"pip install 'vidxai\[ray\]'") as info:
        runner.explain_many(dataset / "videos", TinyModel(), ["lime"], tmp_path, engine="ray",
                            **OPTIONS)
    assert isinstance(info.value, ImportError) and info.value.argument == "engine"

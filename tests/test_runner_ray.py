"""The dataset runner's Ray engine on a local 2-CPU Ray: same results as the local engine,
worker deaths survived, a clear error without the extra."""
import dataclasses
import os
import signal
import sys
from pathlib import Path

import pytest

from vidxai import errors, runner
from vidxai._manifest import Manifest

from test_runner import OPTIONS, TinyModel, assert_same, make_videos, results

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    """A local Ray with 2 CPUs whose workers can import this folder's test modules."""
    here = str(Path(__file__).parent)
    path = os.pathsep.join([here, *[p for p in sys.path if p]])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "TQDM_DISABLE": "1"}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("runner_ray")
    make_videos(root / "videos", 4)
    return root


@pytest.fixture(scope="module")
def local(dataset):
    """The local engine's results (lime, key 3)."""
    out = dataset / "local"
    assert runner.explain_many(dataset / "videos", TinyModel(), ["lime"], out, key=3,
                               **OPTIONS).ok
    return results(out)


@dataclasses.dataclass(frozen=True)
class DyingModel:
    """A model factory whose first build, in whichever worker gets there first, kills its
    own process with SIGKILL in the middle of that worker's first video (Ray then restarts
    the actor and sends the video again); the marker file records the killed pid."""

    marker: str

    def __call__(self):
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return TinyModel()()
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)


def test_ray_equals_local_bit_for_bit(cluster, dataset, local):
    """Two Ray workers give the local engine's arrays exactly, and the manifest shows both
    workers built the model once each. catches: keys drawn per worker or per position,
    options lost in shipping, results written by the wrong job, a model built per video."""
    out = dataset / "ray"
    summary = runner.explain_many(dataset / "videos", TinyModel(), ["lime"], out,
                                  engine="ray", key=3, **OPTIONS)
    assert summary.ok and len(summary.done) == 4
    assert_same(results(out), local)
    records = Manifest(out).records()
    workers = {r["worker"] for r in records}
    assert os.getpid() not in workers and 1 <= len(workers) <= 2
    built = [r["worker"] for r in records if r["seconds"]["model"] > 0]
    assert sorted(built) == sorted(workers)          # once per worker process
    assert {r["engine"] for r in records} == {"ray"}
    # the rerun on Ray skips everything
    again = runner.explain_many(dataset / "videos", TinyModel(), ["lime"], out,
                                engine="ray", key=3, **OPTIONS)
    assert len(again.skipped) == 4


def test_killed_worker_still_yields_every_result(cluster, dataset, local, tmp_path):
    """SIGKILL of a Ray worker process mid-video: Ray restarts it and retries the video; every
    result is there and equals the local engine's. catches: no max_restarts /
    max_task_retries (the video would be lost or the run would hang), a driver that records
    a retried video twice or not at all."""
    marker = tmp_path / "killed.pid"
    out = tmp_path / "out"
    summary = runner.explain_many(dataset / "videos", DyingModel(str(marker)), ["lime"], out,
                                  engine="ray", key=3, **OPTIONS)
    killed = int(marker.read_text())
    assert killed != os.getpid()
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)
    assert summary.ok and len(summary.done) == 4
    assert killed not in {r["worker"] for r in Manifest(out).records()}
    assert_same(results(out), local)


@pytest.mark.slow
def test_dataset_benchmark_quick(tmp_path):
    """``python -m benchmarks.dataset --quick`` runs end to end (both engines and the resume)
    and its numbers say what they should. catches: the benchmark's code paths rotting as the
    runner changes, a resume that recomputes the finished half, Ray results that differ."""
    import json
    import subprocess

    root = Path(__file__).resolve().parent.parent
    numbers = tmp_path / "numbers.json"
    subprocess.run([sys.executable, "-m", "benchmarks.dataset", "--quick", "--json",
                    str(numbers)], cwd=root, check=True, capture_output=True, timeout=600)
    found = json.loads(numbers.read_text())
    assert found["resume_computed"] == 2 and found["resume_skipped"] == 2
    assert found["ray_equals_local"] is True

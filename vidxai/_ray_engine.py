"""The dataset runner's Ray engine (:func:`vidxai.runner.explain_many`, ``engine="ray"``).

One Ray actor per worker holds a :class:`vidxai.runner.Worker`, which builds the model once
per worker process. Each video's pending jobs are one actor call; an actor keeps one call in
flight and gets the next video when its result is back, so the driver (which writes every
file and the manifest) sees results as they finish. An actor whose process dies is restarted
by Ray (``max_restarts``) and the call it was running is sent again (``max_task_retries``);
a video whose call still fails after that is recorded as failed, never lost silently.
"""
from __future__ import annotations

from collections import deque

from .errors import VidxaiError

__all__ = ["run", "MissingExtraError", "import_ray", "RESTARTS", "TASK_RETRIES"]

RESTARTS = 4            # Ray restarts a dead actor this often
TASK_RETRIES = 4        # and re-sends the call it was running this often
LOCAL_CPUS = 2          # a local Ray started without `workers` gets this many CPUs


class MissingExtraError(VidxaiError, ImportError):
    """An optional extra of vidxai is not installed; the message names the pip command."""


def import_ray():
    """The ``ray`` module, or a :class:`MissingExtraError` naming ``pip install vidxai[ray]``."""
    try:
        import ray
    except ImportError as err:
        raise MissingExtraError("engine: the ray engine needs Ray, an optional extra: "
                                "pip install 'vidxai[ray]'", argument="engine") from err
    return ray


def _start(ray, address, workers):
    """Join ``address`` or start a local Ray; ``True`` when this call started it."""
    if ray.is_initialized():
        return False
    if address is not None:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=workers or LOCAL_CPUS, include_dashboard=False, log_to_driver=False)
    return True


def _failed(task, err) -> dict:
    text = (str(err).splitlines() or [""])[0][:500]
    return {"pid": None, "results": [{"method": m, "status": "failed",
                                      "error": f"{type(err).__name__}: {text}"}
                                     for m, _ in task.jobs]}


def run(tasks, spec, finish, *, address=None, workers=None) -> None:
    """Run ``tasks`` (:class:`vidxai.runner.Task`) on Ray actors building the model from
    ``spec``; call ``finish(task, report)`` on the driver as each video's report arrives."""
    from ._worker import Worker

    ray = import_ray()
    started = _start(ray, address, workers)
    actors = []
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        count = max(1, min(workers or cpus, len(tasks)))
        actor = ray.remote(num_cpus=1, max_restarts=RESTARTS,
                           max_task_retries=TASK_RETRIES)(Worker)
        actors = [actor.remote(spec) for _ in range(count)]
        queue, flying = deque(tasks), {}

        def send(a):
            if queue:
                task = queue.popleft()
                flying[a.explain.remote(task)] = (a, task)

        for a in actors:
            send(a)
        while flying:
            ready, _ = ray.wait(list(flying), num_returns=1)
            a, task = flying.pop(ready[0])
            alive = True
            try:
                report = ray.get(ready[0])
            except (ray.exceptions.RayError, VidxaiError) as err:
                # the actor died more often than Ray restarts it: its video fails, the
                # other actors carry on (a rerun retries what failed)
                alive = not isinstance(err, ray.exceptions.RayActorError)
                report = _failed(task, err)
            finish(task, report)
            if alive:
                send(a)
            elif not flying:
                while queue:
                    task = queue.popleft()
                    finish(task, _failed(task, RuntimeError("every Ray worker died")))
    finally:
        for a in actors:
            ray.kill(a)
        if started:
            ray.shutdown()

"""What a dataset run did (:func:`vidxai.runner.explain_many`'s return value): one outcome
per (video, method) job and the run's summary lines."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from . import _manifest

__all__ = ["JobOutcome", "RunSummary"]


@dataclasses.dataclass(frozen=True)
class JobOutcome:
    """What became of one job: ``status`` ``"done"``, ``"failed"`` or ``"skipped"`` (done in
    an earlier run with the same options)."""

    video: str
    method: str
    status: str
    folder: Path
    error: str | None = None
    seconds: dict | None = None
    worker: int | None = None


@dataclasses.dataclass
class RunSummary:
    """Every job of an :func:`explain_many` call; ``str()`` is the lines to print."""

    out: Path
    engine: str
    jobs: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def manifest(self) -> Path:
        return self.out / _manifest.MANIFEST_NAME

    def _with(self, status):
        return [j for j in self.jobs if j.status == status]

    @property
    def done(self) -> list:
        return self._with("done")

    @property
    def failed(self) -> list:
        return self._with("failed")

    @property
    def skipped(self) -> list:
        return self._with("skipped")

    @property
    def ok(self) -> bool:
        return not self.failed

    def lines(self) -> list[str]:
        head = (f"{len(self.done)} done, {len(self.skipped)} skipped (done before), "
                f"{len(self.failed)} failed in {self.seconds:.1f} s ({self.engine} engine); "
                f"results in {self.out}, manifest {self.manifest.name}")
        return [head] + [f"  failed {j.video} {j.method}: {j.error}" for j in self.failed]

    def __str__(self) -> str:
        return "\n".join(self.lines())

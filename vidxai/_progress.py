"""Progress bars: one rule for when they stay hidden (used by every stage with long loops),
and the notice of a model-evaluation loop that will run long."""
from __future__ import annotations

import contextlib
import contextvars
import os

__all__ = ["bar_disabled", "long_run_notice", "announce"]

_NOTICE: contextvars.ContextVar = contextvars.ContextVar("vidxai_long_run", default=None)


def bar_disabled(progress) -> bool:
    """Whether a progress bar stays hidden: ``progress`` is false, or the environment sets
    ``TQDM_DISABLE`` (tqdm only reads it when ``disable`` is not passed, and we pass it)."""
    env = os.environ.get("TQDM_DISABLE", "").strip().lower()
    return (not progress) or env not in ("", "0", "false", "no")


@contextlib.contextmanager
def long_run_notice(threshold_s: float = 600.0, printer=print):
    """Within this block, a model evaluation loop whose estimated duration (measured on its
    second chunk, after compilation) exceeds ``threshold_s`` calls ``printer`` once with
    the estimate (the command line prints it before a run over 10 minutes)."""
    token = _NOTICE.set((float(threshold_s), printer))
    try:
        yield
    finally:
        _NOTICE.reset(token)


def announce(seconds_per_chunk: float, chunks_left: int, n_rows: int, desc: str) -> None:
    notice = _NOTICE.get()
    if notice is None:
        return
    threshold, printer = notice
    estimate = seconds_per_chunk * chunks_left
    if estimate > threshold:
        printer(f"{desc}: {n_rows} in all, about {_duration(estimate)} to go "
                "(estimated from the first chunks; Ctrl-C stops cleanly)")


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"

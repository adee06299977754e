"""Progress bars: one rule for when they stay hidden (used by every stage with long loops)."""
from __future__ import annotations

import os


def bar_disabled(progress) -> bool:
    """Whether a progress bar stays hidden: ``progress`` is false, or the environment sets
    ``TQDM_DISABLE`` (tqdm only reads it when ``disable`` is not passed, and we pass it)."""
    env = os.environ.get("TQDM_DISABLE", "").strip().lower()
    return (not progress) or env not in ("", "0", "false", "no")

"""The dataset runner's bookkeeping: atomic files, the options fingerprint and the manifest.

Used by :mod:`vidxai.runner`. Nothing here knows a method or a model.

- :func:`atomic_write` writes a file under a temporary name in its final folder, flushes it to
  disk and renames it over the final name (``os.replace``), so a run killed at any moment
  leaves either the old file, the new one, or a stray temporary file (removed by
  :func:`clear_temporaries` on the next run) - never a partial file under the final name.
- :func:`canonical` turns a job's options into plain JSON (callables by their import path,
  dataclasses by their fields, arrays as lists) and :func:`fingerprint` hashes it, so a
  rerun recognises a job whose options changed.
- :class:`Manifest` is a JSON-lines file, one record per finished job, appended and
  ``fsync``-ed by the driver alone. The newest record of a (video, method) pair wins; a last
  line torn by a kill is ignored on reading and terminated before the next append.
"""
from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["atomic_write", "write_json", "clear_temporaries", "canonical", "fingerprint", "Manifest",
           "MANIFEST_NAME", "TEMP_MARK"]

MANIFEST_NAME = "manifest.jsonl"
TEMP_MARK = ".partial-"          # temporary files: ".<final name>.partial-<random><suffix>"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:                       # some platforms cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(final, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary_path)``, then move the temporary file over ``final``.

    The temporary file lies in ``final``'s folder and ends with ``final``'s suffix (writers
    such as ``np.savez`` append their own otherwise); it is flushed to disk before the rename
    and removed if ``write`` raises.
    """
    final = Path(final)
    temp = final.with_name(f".{final.name}{TEMP_MARK}{uuid.uuid4().hex[:12]}{final.suffix}")
    try:
        write(temp)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(final.parent)
    return final


def write_json(final, value) -> Path:
    """Write ``value`` as indented JSON to ``final`` atomically."""
    def write(path):
        path.write_text(json.dumps(value, indent=2, default=_plain) + "\n")

    return atomic_write(final, write)


def clear_temporaries(folder) -> int:
    """Remove temporary files a killed run left in ``folder``; returns how many."""
    folder = Path(folder)
    removed = 0
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith(".") and TEMP_MARK in path.name and path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return canonical(value)


def canonical(value):
    """``value`` as plain JSON data that is equal across runs for equal settings.

    Scalars and strings stay; tuples and lists become lists; dicts get string keys;
    arrays become lists; a ``functools.partial`` records its function and arguments; a
    dataclass records its type and fields; any other callable or object its import path
    (``module:qualname``) - never its ``repr``, which holds a memory address.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, np.ndarray) or (hasattr(value, "shape") and hasattr(value, "dtype")
                                         and hasattr(value, "__array__")):
        return np.asarray(value).tolist()
    if isinstance(value, functools.partial):
        return {"partial": canonical(value.func), "args": canonical(value.args),
                "keywords": canonical(value.keywords)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": _path_of(type(value)),
                **{f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if callable(value) and hasattr(value, "__qualname__"):
        return _path_of(value)
    return _path_of(type(value))


def _path_of(thing) -> str:
    return f"{getattr(thing, '__module__', '?')}:{getattr(thing, '__qualname__', repr(thing))}"


def fingerprint(settings: dict) -> str:
    """A short SHA-256 of the canonical JSON of ``settings``."""
    text = json.dumps(canonical(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Manifest:
    """One run folder's job records (``<out>/manifest.jsonl``).

    Each line is one JSON object with at least ``name`` (the video's file name), ``method``,
    ``status`` (``"done"`` or ``"failed"``) and ``fingerprint``; see :mod:`vidxai.runner` for
    every field. Only the driver appends, one line per finished job, flushed and
    ``fsync``-ed before the next job is recorded.
    """

    def __init__(self, out):
        self.path = Path(out) / MANIFEST_NAME

    def records(self) -> list[dict]:
        """Every readable record, oldest first (a torn or foreign line is skipped)."""
        if not self.path.is_file():
            return []
        found = []
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and "name" in record and "method" in record:
                    found.append(record)
        return found

    def latest(self) -> dict:
        """The newest record of each ``(name, method)``."""
        return {(r["name"], r["method"]): r for r in self.records()}

    def append(self, record: dict) -> None:
        """Add one record durably (terminating a line a killed run left unfinished)."""
        record = {**record, "at": datetime.datetime.now(datetime.timezone.utc)
                  .isoformat(timespec="seconds")}
        line = json.dumps(record, default=_plain, sort_keys=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() > 0:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    handle.write(b"\n")
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())

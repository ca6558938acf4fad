"""Dashboard state and caches: extracted poses (the slow model run) and the files derived from a result.

Nothing here measures anything. The pose of a clip is cached per process, keyed on the SHA-256 of the
file's bytes and the model settings, so reruns, threshold changes and a second browser tab never run
the model again. Files derived from a result (annotated video, key frames, tables, reports) are built
with the report library into temporary folders, keyed on a fingerprint of the result (and, for the
reports, of the answers and the label), so they are drawn once per analysis.

Everything stays on this machine: uploads and derived files live in one temporary folder per process.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from ..types import PoseSequence

#: cache sizes (each pose is a few hundred kB per 10 s of video; each output folder a few MB)
MAX_POSES = 32
MAX_FOLDERS = 24

#: the bundled demo clip shown on first load
SAMPLE_NAME = "single_leg_squat_left_valgus.mp4"
SAMPLE_LABEL = "Sample: single-leg squat, left leg (bundled demo)"


class _LRU:
    """A small thread-safe LRU map; ``on_evict`` cleans up evicted values (e.g. removes a folder)."""

    def __init__(self, size: int, on_evict: Callable[[Any], None] | None = None) -> None:
        self.size = size
        self.on_evict = on_evict
        self._d: OrderedDict[str, Any] = OrderedDict()
        self.lock = threading.RLock()

    def get(self, key: str) -> Any:
        with self.lock:
            if key not in self._d:
                return None
            self._d.move_to_end(key)
            return self._d[key]

    def put(self, key: str, value: Any) -> None:
        with self.lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                _, old = self._d.popitem(last=False)
                if self.on_evict:
                    self.on_evict(old)

    def clear(self) -> None:
        with self.lock:
            for v in self._d.values():
                if self.on_evict:
                    self.on_evict(v)
            self._d.clear()


def _rm(path: Any) -> None:
    if isinstance(path, Path):
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class _Caches:
    root: Path
    poses: _LRU
    folders: _LRU
    model_runs: int = 0  # how many clips went through the model (tests read it)


@st.cache_resource(show_spinner=False)
def caches() -> _Caches:
    """The process-wide caches (one per Streamlit server, shared by every session)."""
    root = Path(tempfile.mkdtemp(prefix="chainscan-ui-"))
    return _Caches(root=root, poses=_LRU(MAX_POSES), folders=_LRU(MAX_FOLDERS, on_evict=_rm))


def digest_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def safe_name(name: str) -> str:
    """A file name without folders or odd characters (keeps the extension the video reader needs)."""
    base = Path(name).name or "video"
    keep = "".join(c if c.isalnum() or c in "._- " else "_" for c in base).strip() or "video"
    return keep[:120]


def store_upload(name: str, data: bytes) -> tuple[Path, str]:
    """Write an uploaded clip to the process temp folder (one folder per content hash); returns (path, digest)."""
    digest = digest_bytes(data)
    folder = caches().root / "uploads" / digest[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / safe_name(name)
    if not path.exists() or path.stat().st_size != len(data):
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path, digest


def pose_key(digest: str, model: Mapping[str, Any]) -> str:
    return digest + "|" + json.dumps(dict(model), sort_keys=True, default=str)


def cached_pose(key: str) -> PoseSequence | str | None:
    """The clip's landmarks, or the error message of a clip that failed before it had any, or None."""
    return caches().poses.get(key)


def remember_pose(key: str, pose: PoseSequence | str) -> None:
    c = caches()
    c.poses.put(key, pose)


def count_model_run() -> None:
    c = caches()
    with c.poses.lock:
        c.model_runs += 1


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (result dicts, answers, labels, file digests)."""
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def result_fingerprint(result_dict: Mapping[str, Any]) -> str:
    """Identifies an analysis by its content (the creation time left out)."""
    return fingerprint({k: v for k, v in result_dict.items() if k != "created"})


def derived_folder(key: str, build: Callable[[Path], object]) -> Path:
    """The folder for ``key``, built once by ``build(folder)`` (which must write into the folder it is given).

    ``build`` runs on a fresh folder; if it raises, nothing is cached and the folder is removed.
    """
    c = caches()
    got = c.folders.get(key)
    if got is not None and Path(got).is_dir():
        return got
    folder = c.root / "derived" / key
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        build(folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    c.folders.put(key, folder)
    return folder


def find_sample() -> Path | None:
    """The bundled sample clip: next to the repository's ``test_videos/`` or in the working directory."""
    here = Path(__file__).resolve()
    candidates = [p / "test_videos" / SAMPLE_NAME for p in here.parents[:5]]
    candidates.append(Path.cwd() / "test_videos" / SAMPLE_NAME)
    candidates.append(here.parents[1] / "data" / SAMPLE_NAME)
    for c in candidates:
        if c.is_file():
            return c
    return None

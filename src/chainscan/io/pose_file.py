"""Save and load a PoseSequence as ``.npz`` (arrays + a JSON header), so analysis re-runs without the model."""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import PoseFileError
from ..types import PoseSequence, VideoMeta

POSE_FILE_FORMAT = "chainscan-pose"
POSE_FILE_VERSION = 1


def save_pose(pose: PoseSequence, path: str | os.PathLike) -> Path:
    """Write ``pose`` to ``path`` (.npz, compressed). Returns the path."""
    p = Path(path)
    header = {"format": POSE_FILE_FORMAT, "version": POSE_FILE_VERSION,
              "meta": dataclasses.asdict(pose.meta), "model": pose.model, "extra": pose.extra}
    with open(p, "wb") as fh:
        np.savez_compressed(
            fh, coords=pose.coords, visibility=pose.visibility, world=pose.world,
            timestamps=pose.timestamps, frame_indices=pose.frame_indices,
            header=np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8))
    return p


def load_pose(path: str | os.PathLike) -> PoseSequence:
    """Read a pose file written by :func:`save_pose` (raises PoseFileError with a clear message)."""
    p = Path(path)
    if not p.is_file():
        raise PoseFileError(f"Pose file not found: {p}; give the pose.npz written by 'chainscan screen'.")
    try:
        loaded = np.load(p, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with loaded as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        raise PoseFileError(f"{p.name} is not a readable pose file; re-run 'chainscan screen' to make a "
                            "new pose.npz.") from None
    missing = {"coords", "visibility", "world", "timestamps", "frame_indices", "header"} - set(arrays)
    if missing:
        raise PoseFileError(f"{p.name} is not a chainscan pose file (missing {', '.join(sorted(missing))}).")
    try:
        header = json.loads(arrays["header"].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PoseFileError(f"{p.name} has a damaged header; re-run 'chainscan screen'.") from None
    if not isinstance(header, dict):
        raise PoseFileError(f"{p.name} has a damaged header; re-run 'chainscan screen'.")
    if header.get("format") != POSE_FILE_FORMAT or header.get("version") != POSE_FILE_VERSION:
        raise PoseFileError(
            f"{p.name} is format {header.get('format')!r} version {header.get('version')!r}; this chainscan "
            f"reads {POSE_FILE_FORMAT} version {POSE_FILE_VERSION}.")
    try:
        return PoseSequence(
            coords=arrays["coords"].astype(np.float32, copy=False),
            visibility=arrays["visibility"].astype(np.float32, copy=False),
            world=arrays["world"].astype(np.float32, copy=False),
            timestamps=arrays["timestamps"].astype(np.float64, copy=False),
            frame_indices=arrays["frame_indices"].astype(np.int64, copy=False),
            meta=VideoMeta(**header["meta"]), model=header.get("model", "unknown"),
            extra=header.get("extra", {}))
    except (ValueError, TypeError, KeyError) as e:
        raise PoseFileError(f"{p.name} holds inconsistent data ({e}); re-run 'chainscan screen'.") from None

"""Write all outputs of a screening into a folder, atomically: either every file appears, or none."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import ChainscanError
from ..io.pose_file import save_pose
from ..result import ScreeningResult
from ..types import PoseSequence
from .tables import frames_csv, reps_csv

OUTPUT_FILES = ("result.json", "frames.csv", "reps.csv", "pose.npz")
#: landmarks of the separate standing clip (``screen --baseline``), reused by ``reanalyse``
BASELINE_POSE_FILE = "baseline_pose.npz"
#: every file or folder a screening can write into its results folder. Those an earlier run left and
#: this run does not write are removed, so new results never sit beside stale ones; other files stay.
KNOWN_OUTPUTS = OUTPUT_FILES + (BASELINE_POSE_FILE, "plan.json", "annotated.mp4", "keyframes", "report.html",
                                "report.pdf")


def move_into(tmp: Path, out: Path) -> list[Path]:
    """Move every file and folder of ``tmp`` into ``out`` (replacing same-named ones)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for f in sorted(tmp.iterdir()):
        target = out / f.name
        if f.is_dir() and target.is_dir():
            shutil.rmtree(target)
        os.replace(f, target)
        written.append(target)
    return written


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink()


def replace_outputs(tmp: Path, out: Path) -> list[Path]:
    """Move everything in ``tmp`` into ``out`` and take away the outputs of an earlier run that this run
    did not write (:data:`KNOWN_OUTPUTS` only; a user's own files stay). If a move fails, the earlier
    outputs are put back and the new ones taken out again."""
    out.mkdir(parents=True, exist_ok=True)
    new = sorted(tmp.iterdir())
    names = set(KNOWN_OUTPUTS) | {f.name for f in new}
    old = [out / n for n in sorted(names) if os.path.lexists(out / n)]
    trash = Path(tempfile.mkdtemp(prefix=".chainscan-old-", dir=out))
    moved_old: list[Path] = []
    moved_new: list[Path] = []
    try:
        for p in old:
            os.replace(p, trash / p.name)
            moved_old.append(p)
        for f in new:
            os.replace(f, out / f.name)
            moved_new.append(out / f.name)
    except OSError:
        for p in moved_new:
            with contextlib.suppress(OSError):
                _remove(p)
        for p in moved_old:
            with contextlib.suppress(OSError):
                os.replace(trash / p.name, p)
        raise
    finally:
        shutil.rmtree(trash, ignore_errors=True)
    return moved_new


def staging_dir(out: Path) -> Path:
    """A fresh temporary folder beside ``out`` (same file system, so the final moves are atomic)."""
    if out.exists() and not out.is_dir():
        raise ChainscanError(f"--out {out} is a file; give a folder to write the results into.")
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".chainscan-", dir=parent))
    except OSError as e:
        raise ChainscanError(
            f"Cannot write results to {out} ({e.strerror}); choose a folder you can write to.") from None


def result_json(result: ScreeningResult) -> str:
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)


#: a step that writes more files into the (temporary) output folder it is given
Extra = Callable[[Path], object]


def write_outputs(result: ScreeningResult, out_dir: str | os.PathLike, *, write_pose: bool = True,
                  baseline_pose: PoseSequence | None = None, extras: Sequence[Extra] = ()) -> list[Path]:
    """Write result.json, frames.csv, reps.csv and pose.npz (and baseline_pose.npz, the landmarks of a
    separate standing clip, when one was used) into ``out_dir``, then run each of ``extras`` (plan, key
    frames, annotated video, reports) on the same folder.

    Everything is first written to a temporary folder beside ``out_dir`` and moved in only when all of
    it is complete, so an error never leaves a half-written result; outputs of an earlier run into the
    same folder that this run did not write (e.g. annotated.mp4, key frames, reports) are removed then
    (see :func:`replace_outputs`).
    """
    out = Path(out_dir)
    tmp = staging_dir(out)
    try:
        (tmp / "result.json").write_text(result_json(result), encoding="utf-8")
        (tmp / "frames.csv").write_text(frames_csv(result), encoding="utf-8")
        (tmp / "reps.csv").write_text(reps_csv(result), encoding="utf-8")
        if write_pose:
            save_pose(result.pose, tmp / "pose.npz")
            if baseline_pose is not None:
                save_pose(baseline_pose, tmp / BASELINE_POSE_FILE)
        for step in extras:
            step(tmp)
        return replace_outputs(tmp, out)
    except OSError as e:
        raise ChainscanError(
            f"Cannot write results to {out} ({e.strerror}); choose a folder you can write to.") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

"""Screen one video into a results folder: what ``chainscan screen`` does, as a library call.

``chainscan screen`` and ``chainscan batch`` (and a Dask worker) all go through
:func:`screen_to_folder`, so a clip screened alone or in a batch gets the very same files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .config import ScreeningConfig
from .extract import DEFAULT_MAX_FPS, Progress
from .landmarks import Side
from .result import ScreeningResult
from .types import TestType


@dataclass(frozen=True)
class ScreenOptions:
    """Everything about a screening except the clip and the output folder.

    ``max_fps``: analyse at most this many frames per second (None = every frame; default 30).
    ``workers``: pose-extraction processes for this one clip (1 = in this process).
    """

    config: ScreeningConfig = field(default_factory=ScreeningConfig)
    test: TestType | None = None
    side: Side | None = None
    model_path: str | None = None
    max_fps: float | None = DEFAULT_MAX_FPS
    workers: int = 1
    baseline_video: str | None = None
    report_formats: tuple[str, ...] = ()
    write_video: bool = True
    blur_faces: bool = False
    subject: str | None = None
    pain: tuple[str, ...] = ()
    arch: str | None = None
    sex: str | None = None


def screen_to_folder(video: str | os.PathLike, out: str | os.PathLike, options: ScreenOptions | None = None, *,
                     progress: Progress | None = None,
                     on_screened: Callable[[ScreeningResult], None] | None = None,
                     video_progress: Progress | None = None) -> tuple[ScreeningResult, list[Path]]:
    """Screen ``video`` and write every output into ``out`` (all or nothing: see ``write_outputs``).

    ``progress`` follows the pose tracking; ``on_screened`` is called with the result as soon as the screening
    is done, before the files (the annotated video above all) are made; ``video_progress`` follows the
    annotated video's frames. Raises ChainscanError subclasses for bad input (nothing is written then).
    """
    from .io.video import probe
    from .pipeline import baseline_pose_from_video, screen_video
    from .recommendations import Answers
    from .report import outputs
    from .report.writer import write_outputs

    o = options or ScreenOptions()
    video = Path(video)
    answers = Answers(pain=o.pain, arch=o.arch, sex=o.sex)  # a bad answer fails before the model runs
    base_pose = None
    if o.baseline_video is not None:
        probe(video)  # a bad clip is reported before the model is loaded
        probe(o.baseline_video)
        base_pose = baseline_pose_from_video(o.baseline_video, max_fps=o.max_fps, model_path=o.model_path)
    result, _ = screen_video(video, o.config, test=o.test, side=o.side, model_path=o.model_path,
                             max_fps=o.max_fps, baseline_pose=base_pose, progress=progress, workers=o.workers)
    if on_screened is not None:
        on_screened(result)
    result_dict = result.to_dict()
    write_plan, plan = outputs.plan_step(result_dict, answers)
    extras: list = [write_plan, outputs.keyframes_step(video, result, o.blur_faces)]
    if o.write_video:
        extras.append(outputs.video_step(video, result, o.blur_faces, progress=video_progress))
    extras.append(outputs.report_step(o.report_formats, plan, result_dict, o.subject))
    files = write_outputs(result, Path(out), baseline_pose=base_pose, extras=extras)
    return result, files


def split_list(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"knee, hip"`` → ("knee", "hip")."""
    items = text.split(",") if isinstance(text, str) else text
    return tuple(p.strip() for p in items if p and p.strip())

"""The "Analyse a video" page: upload clips (or look at the bundled sample), screen them, show the result.

Per clip, :func:`analyse_file` runs the library as ``chainscan screen`` does: :func:`chainscan.pipeline.extract_pose`
(the pose model, once per clip: the landmarks are cached) and :func:`~chainscan.pipeline.screen_pose`; the result
goes to :func:`chainscan.ui.results.render_result`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from .. import pipeline
from ..config import ScreeningConfig
from ..errors import ChainscanError, ConfigError
from ..extract import DEFAULT_MAX_FPS, default_workers
from ..io.video import check_video_path, probe
from ..landmarks import Side
from ..result import ScreeningResult
from ..types import PoseSequence, TestType
from . import state

UPLOAD_TYPES = ["mp4", "mov", "m4v", "avi", "webm", "mkv"]

TEST_CHOICES: dict[str, TestType | None] = {
    "Recognise automatically": None,
    "Single-leg squat": TestType.SINGLE_LEG_SQUAT,
    "Double-leg squat": TestType.DOUBLE_LEG_SQUAT,
    "Single-leg stance (balance)": TestType.SINGLE_LEG_STANCE,
}
SIDE_CHOICES: dict[str, Side | None] = {
    "Recognise automatically": None,
    "Left leg": Side.LEFT,
    "Right leg": Side.RIGHT,
}

FILMING_TIPS = """
- Face the camera square on; camera level at hip-to-knee height, 2–4 m away.
- The whole body, head to feet, in view; one person in the picture.
- Stand still for 2 s before the test (the neutral reference).
- Fitted shorts, barefoot, even light; 30 frames/s or more. Portrait phone clips are fine.
- mp4, mov, m4v, avi, webm and mkv are read (AV1 is not: re-export as H.264 MP4).
"""


@dataclass
class Clip:
    """One clip on the page: where it is, and either its result or the error message."""

    name: str
    path: Path
    digest: str
    result: ScreeningResult | None = None
    pose: PoseSequence | None = None
    error: str | None = None


def _model_settings() -> dict[str, str | float | None]:
    """What, besides the clip, decides the landmarks (part of the pose cache key)."""
    return {"model": os.environ.get("CHAINSCAN_POSE_MODEL") or None, "max_fps": DEFAULT_MAX_FPS}


def friendly(e: ChainscanError, path: Path | None = None) -> str:
    """The error's one sentence, without our temporary folder in it."""
    msg = str(e)
    if path is not None:
        msg = msg.replace(str(path.parent) + os.sep, "")
    return msg


def analyse_file(path: str | os.PathLike, *, test: TestType | None = None, side: Side | None = None,
                 config: ScreeningConfig | None = None, digest: str | None = None,
                 progress: Callable[[int, int], None] | None = None) -> tuple[ScreeningResult, PoseSequence]:
    """Screen one clip. The model runs only when this clip's landmarks are not cached yet; otherwise the
    analysis re-runs from the stored landmarks. Raises ChainscanError with a one-sentence message."""
    p = Path(path)
    cfg = config or ScreeningConfig()
    check_video_path(p)
    key = state.pose_key(digest or state.digest_file(p), _model_settings())
    cached = state.cached_pose(key)
    if isinstance(cached, str):          # this clip already failed before the landmarks existed
        raise ChainscanError(cached)
    if isinstance(cached, PoseSequence):
        return pipeline.screen_pose(cached, cfg, test=test, side=side), cached
    cfg.validate()
    state.count_model_run()
    try:
        probe(p)                        # a bad file is reported before the model is loaded
        # as `chainscan screen`: at most 30 frames/s, one pose-extraction process per core
        pose = pipeline.extract_pose(p, max_fps=DEFAULT_MAX_FPS, progress=progress, workers=default_workers())
    except ConfigError:
        raise
    except ChainscanError as e:         # unreadable file, nobody in view, …: remember, do not re-run the model
        state.remember_pose(key, str(e))
        raise
    # the landmarks are kept even when this analysis fails (a side view, or a test or side chosen that the
    # clip does not show): another choice of test or side re-runs from them, without the model
    state.remember_pose(key, pose)
    return pipeline.screen_pose(pose, cfg, test=test, side=side), pose


def _run(clip: Clip, test: TestType | None, side: Side | None) -> Clip:
    """Analyse ``clip`` with a progress bar while the model runs; errors become ``clip.error``."""
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        frac = min(1.0, done / total) if total else 0.0
        text = f"Tracking the pose in {clip.name}: frame {done}" + (f" of {total}" if total else "")
        if bar is None:
            bar = st.progress(frac, text=text)
        else:
            bar.progress(frac, text=text)

    try:
        clip.result, clip.pose = analyse_file(clip.path, test=test, side=side, digest=clip.digest,
                                              progress=progress)
    except ChainscanError as e:
        clip.error = friendly(e, clip.path)
    finally:
        if bar is not None:
            bar.empty()
    return clip


def _sample_clip() -> Clip | None:
    path = state.find_sample()
    if path is None:
        return None
    digest = st.session_state.get("sample_digest")
    if digest is None:
        digest = st.session_state["sample_digest"] = state.digest_file(path)
    return Clip(state.SAMPLE_LABEL, path, digest)


def page(owner: str = "local") -> None:
    st.title("Analyse a video")
    st.caption("Upload a clip filmed from the front: a double-leg squat, a single-leg squat or a single-leg "
               "stance. Everything runs on this computer; nothing is uploaded anywhere.")

    with st.container(border=True):
        c1, c2, c3 = st.columns([2.4, 1.4, 1.4])
        files = c1.file_uploader("Video clips", type=UPLOAD_TYPES, accept_multiple_files=True, key="uploads",
                                 help="One or more clips; each is screened on its own.")
        test_label = c2.selectbox("Test", list(TEST_CHOICES), key="test_choice",
                                  help="Which test the clips show. Automatic recognition is right on our test clips.")
        side_label = c3.selectbox("Standing leg", list(SIDE_CHOICES), key="side_choice",
                                  help="For single-leg tests: the leg the person stands on (their own left/right).")
        with st.expander("How to film"):
            st.markdown(FILMING_TIPS)
    test, side = TEST_CHOICES[test_label], SIDE_CHOICES[side_label]

    clips: list[Clip] = []
    for f in files or []:
        path, digest = state.store_upload(f.name, f.getvalue())
        clips.append(_run(Clip(f.name, path, digest), test, side))
    for clip in clips:
        if clip.error:
            st.error(f"{clip.name}: {clip.error}")

    ok = [c for c in clips if c.result is not None]
    sample = _sample_clip()
    if not ok and not clips:
        if sample is None:
            st.info("Upload a clip to start.")
            return
        st.info("This is the bundled sample, already analysed, so you can see a full result before recording "
                "anything. Upload your own clip above to screen it.", icon=":material/waving_hand:")
        shown = _run(sample, test, side)
    else:
        choices = ok + ([sample] if sample is not None else [])
        if not ok:
            st.caption("No uploaded clip could be screened; the bundled sample is shown below.")
        if len(choices) > 1:
            names = [c.name for c in choices]
            pick = st.selectbox("Show the result of", names, key="clip_choice")
            shown = choices[names.index(pick)] if pick in names else choices[0]
        else:
            shown = choices[0]
        if shown.result is None:
            shown = _run(shown, test, side)

    if shown.error or shown.result is None or shown.pose is None:
        st.error(f"{shown.name}: {shown.error}")
        return
    st.divider()
    from .results import render_result, store_screening

    own = shown is not sample
    render_result(shown.result, shown.pose, video_path=shown.path, key=_key(shown), owner=owner,
                  source_name=shown.name, autosave=own, default_label=default_label(shown.name) if own else None)
    # every screening is stored, also the clips not on screen (as the result view would store them)
    for clip in ok:
        if clip is shown:
            continue
        try:
            with st.spinner(f"Storing {clip.name} in the history…"):
                store_screening(clip.result, video_path=clip.path, key=_key(clip), owner=owner,  # type: ignore[arg-type]
                                label=default_label(clip.name))
        except ChainscanError as e:
            st.error(f"{clip.name} could not be stored in the history: {e}")


def _key(clip: Clip) -> str:
    return f"clip-{clip.digest[:12]}"


def default_label(name: str) -> str:
    """The history label a clip gets until the user types one: its file name without the extension."""
    return Path(name).stem.strip() or name


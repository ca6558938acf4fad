"""The "Screen with the webcam" page: live skeleton, guided protocol, then the usual result view.

Layout only; the live logic is :mod:`chainscan.live`. The WebRTC frame callback (another thread) is
:meth:`LiveSession.on_av_frames`: it analyses the newest frame and skips the ones that arrived meanwhile
(no backlog, so no growing latency); the protocol and the analysis run here, in the script thread, in a
fragment that polls the sample queue a few times a second.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import shutil
import uuid
from typing import Any

import streamlit as st

from ..errors import ChainscanError
from ..landmarks import Side
from ..live import ICE_ENV, LiveRecorder, LiveSample, LiveSession, LiveTest, Phase, Protocol, ice_servers_from_env
from ..types import TestType
from . import state

_K = "webcam_"  # session-state and widget key prefix
POLL_S = 0.3
NO_FRAMES_S = 2.0
#: analysed frames the live session holds until the script thread writes them to the recording (at most ~80 MB
#: at 640×480; the script thread takes them every POLL_S, so a handful are held at a time)
KEEP_FRAMES = 90

_TESTS = {
    "Double-leg squat": TestType.DOUBLE_LEG_SQUAT,
    "Single-leg squat": TestType.SINGLE_LEG_SQUAT,
    "Single-leg stance": TestType.SINGLE_LEG_STANCE,
}

SETUP_TIPS = """
- Camera **in front of you, square on**, at hip-to-knee height and level; fixed (not hand-held).
- Stand **2–4 m away**, so your **whole body, head to feet**, is in the picture.
- Even light, plain background, fitted shorts, barefoot if you can.
- Only you in the picture.
"""

PRIVACY = ("Video frames go from your browser to this chainscan server only (on your own computer when you run "
           "it locally). The recorded test (countdown and test, not the setup) is kept in a temporary folder for "
           "the result; the finished screening (result, landmarks, annotated video, reports) is stored in the "
           "history on this server, where you can delete it.")


def _state(name: str, default: Any = None) -> Any:
    return st.session_state.get(_K + name, default)


def _set(name: str, value: Any) -> None:
    st.session_state[_K + name] = value


def _session() -> LiveSession:
    sess = _state("session")
    if sess is None:
        sess = LiveSession(keep_frames=KEEP_FRAMES)
        _set("session", sess)
    return sess


def _rtc_configuration() -> dict[str, Any]:
    try:
        servers = ice_servers_from_env()
    except ChainscanError as e:
        st.error(f"{e} Falling back to no ICE servers (works only when the browser runs on this machine).")
        servers = []
    return {"iceServers": servers}


def _choose_test(disabled: bool) -> LiveTest:
    c1, c2, c3 = st.columns([2, 1, 1])
    name = c1.selectbox("Test", list(_TESTS), key=_K + "test", disabled=disabled)
    test = _TESTS[name]
    side: Side | None = None
    if test is TestType.SINGLE_LEG_SQUAT:
        side = Side(c2.radio("Standing leg", ["left", "right"], key=_K + "side_sls", horizontal=True,
                             disabled=disabled))
    elif test is TestType.SINGLE_LEG_STANCE:
        pick = c2.radio("Standing leg", ["both", "left", "right"], key=_K + "side_stance", horizontal=True,
                        disabled=disabled)
        side = None if pick == "both" else Side(pick)
    if test is TestType.SINGLE_LEG_STANCE:
        hold = c3.number_input("Seconds on each leg", 5, 60, 30, step=5, key=_K + "hold", disabled=disabled)
        return LiveTest(test, side, hold_s=float(hold))
    reps = c3.number_input("Repetitions", 1, 10, 5, key=_K + "reps", disabled=disabled)
    return LiveTest(test, side, reps=int(reps))


def _new_recorder() -> LiveRecorder:
    """A recorder writing the next recording to a fresh file in the dashboard's temporary folder."""
    old = _state("recorder")
    if old is not None and not old.closed:
        old.discard()
    now = _dt.datetime.now()
    folder = state.caches().root / "webcam" / uuid.uuid4().hex[:12]
    rec = LiveRecorder(folder / f"webcam_{now:%Y%m%d_%H%M%S}.mp4")
    _set("recorder", rec)
    return rec


def _new_protocol(spec: LiveTest) -> Protocol:
    proto = Protocol(spec)
    _set("protocol", proto)
    _new_recorder()
    return proto


def _reset(session: LiveSession, spec: LiveTest) -> None:
    for k in ("result", "pose", "error", "video", "started", "record_error"):
        st.session_state.pop(_K + k, None)
    old = _state("recorder")
    if old is not None:  # the previous recording: its result is gone (the history keeps its own copies)
        shutil.rmtree(old.path.parent, ignore_errors=True)
    session.reset()
    _new_protocol(spec)


def _record(proto: Protocol, session: LiveSession, drained: list[LiveSample]) -> None:
    """Write the newly recorded frames to the recording file (bounded memory whatever the test's length)."""
    rec: LiveRecorder | None = _state("recorder")
    if rec is None:
        session.release_frames(max((x.index for x in drained), default=-1))
        return
    try:
        rec.sync(proto, session, drained)
    except Exception as e:  # noqa: BLE001 - the encoder failing must not stop the screening itself
        with contextlib.suppress(Exception):
            rec.discard()
        _set("recorder", None)
        _set("record_error", f"The video could not be kept ({type(e).__name__}: {e}); the result will have no "
                             "annotated video or key frames.")
        session.release_frames(max((x.index for x in drained), default=-1))


def _analyse(proto: Protocol, session: LiveSession) -> None:
    """Run the screen on the recording (script thread) and keep the result or the error."""
    from ..pipeline import screen_pose

    rec: LiveRecorder | None = _state("recorder")
    video = None
    if rec is not None:
        try:
            video = rec.close()
        except Exception as e:  # noqa: BLE001 - as in _record: keep the landmarks, lose only the video
            _set("record_error", f"The video could not be kept ({type(e).__name__}: {e}).")
            video = None
    try:
        if video is not None and rec is not None and rec.n_frames >= 2:
            pose = rec.pose(model=session.model_name)  # exactly the frames in the file, numbered 0, 1, 2, …
        else:
            video = None
            pose = proto.to_pose_sequence(model=session.model_name)
    except ValueError:
        _set("error", "Nothing was recorded; press START, stand in view and follow the instructions.")
        return
    _set("pose", pose)
    _set("video", video)
    try:
        _set("result", screen_pose(pose, **proto.analysis_kwargs()))
    except ChainscanError as e:
        _set("error", str(e))


def _status(proto: Protocol, session: LiveSession) -> None:
    """Drain the sample queue into the protocol and show where it stands (runs every POLL_S)."""
    before = proto.phase
    drained = session.drain()
    proto.feed_many(drained)
    _record(proto, session, drained)
    if before is Phase.SETUP and proto.phase is not Phase.SETUP:
        _set("started", _dt.datetime.now())
    stats = session.stats()
    if (before is Phase.SETUP) != (proto.phase is Phase.SETUP) and not proto.done:
        st.rerun()  # the whole page: lock (or unlock) the test choice while recording
    session.set_banner(proto.banner())
    if stats.last_frame_age_s > NO_FRAMES_S:
        st.markdown("#### Camera off")
        st.write("Press **START** under the video and allow the camera when the browser asks.")
        if stats.frames:
            st.caption(f"No frame for {stats.last_frame_age_s:.0f} s.")
        return
    if proto.phase is Phase.SETUP:
        st.markdown("#### 1 · Setup")
        for line in proto.instructions:
            st.markdown(f"- {line}")
        st.caption("The test starts by itself once the whole body is in view, facing the camera.")
    elif proto.phase is Phase.COUNTDOWN:
        st.markdown("#### 2 · Get ready")
        st.markdown(f"## {max(1, int(proto.countdown_left + 0.999))}")
        st.write(proto.instructions[0])
    elif proto.phase is Phase.TEST:
        st.markdown(f"#### 3 · {proto.spec.label.capitalize()}")
        head = proto.banner()[0]
        st.progress(proto.progress, text=head)
        for line in proto.instructions:
            st.markdown(f"**{line}**")
        if st.button("Finish now", key=_K + "finish"):
            proto.finish("stopped by the user")
    lost = f" · {stats.dropped} samples lost (queue full)" if stats.dropped else ""
    st.caption(f"{stats.fps:.0f} frames/s analysed · {stats.latency_ms:.0f} ms per frame · {stats.skipped} dropped · "
               f"person found in {stats.detected}/{stats.frames} frames{lost} · pose {stats.pose_ms:.0f} ms + "
               f"overlay {stats.overlay_ms:.0f} ms per frame")
    if proto.done:
        with st.spinner("Analysing…"):
            _analyse(proto, session)
        st.rerun()


def webcam_label(when: _dt.datetime | None) -> str:
    """The history label of a webcam screening until the user types one, e.g. ``Webcam 2026-11-21 20:30``."""
    return f"Webcam {(when or _dt.datetime.now()):%Y-%m-%d %H:%M}"


def show_result(owner: str) -> None:
    """The finished screening (or its error) in the shared result view, stored in the history like an upload."""
    from .results import render_result

    result, pose, error = _state("result"), _state("pose"), _state("error")
    note = _state("record_error")
    if note:
        st.warning(note)
    if error:
        st.error(error)
        return
    if result is None:
        return
    if _state("started") is None:
        _set("started", _dt.datetime.now())
    render_result(result, pose, video_path=_state("video"), key=_K + "result", owner=owner,
                  source_name="Webcam screening", autosave=True, default_label=webcam_label(_state("started")))


def page(owner: str) -> None:
    """The webcam page. ``owner`` is who the screening is stored for (passed to the result view)."""
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    st.header("Screen with the webcam")
    st.caption(PRIVACY)
    session = _session()
    proto: Protocol | None = _state("protocol")
    finished = _state("result") is not None or _state("error") is not None
    busy = proto is not None and proto.phase in (Phase.COUNTDOWN, Phase.TEST)
    spec = _choose_test(disabled=busy or finished)
    if proto is None or (proto.phase is Phase.SETUP and proto.spec != spec):
        proto = _new_protocol(spec)
    with st.expander("How to set up the camera", expanded=not busy and not finished):
        st.markdown(SETUP_TIPS)

    video_col, status_col = st.columns([3, 2], gap="medium")
    with video_col:
        ctx = webrtc_streamer(
            key=_K + "stream", mode=WebRtcMode.SENDRECV, rtc_configuration=_rtc_configuration(),
            media_stream_constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480},
                                                "frameRate": {"ideal": 30}}, "audio": False},
            # worker thread, pose + overlay of the newest frame only (older ones are skipped, not queued)
            queued_video_frames_callback=session.on_av_frames, async_processing=True,
            desired_playing_state=False if finished else None,
            video_html_attrs={"style": {"width": "100%"}, "controls": False, "autoPlay": True, "muted": True})
        if finished:
            st.caption("The camera is off. The result of your recording is below; press **New screening** to "
                       "record again.")
        else:
            st.caption("The preview is mirrored like a mirror; the analysis uses the camera's un-mirrored view, so "
                       "\u201cL\u201d is always your left.")
    playing = bool(ctx.state.playing)
    if not playing and not finished and proto.phase is not Phase.SETUP:
        proto = _new_protocol(spec)  # stopped mid-test: start over next time
    if not playing and not finished:
        session.close()  # free the model; the next START builds a fresh tracker
        session.release_frames(2**62)

    if finished:
        with status_col:
            st.success("Recording finished.")
            if st.button("New screening", key=_K + "again", type="primary"):
                _reset(session, spec)
                st.rerun()
        show_result(owner)
        return

    with status_col:
        st.fragment(run_every=POLL_S)(_status)(proto, session)
    st.caption(f"Connecting from another computer? Configure STUN/TURN servers in ${ICE_ENV} (see docs/webcam.md).")

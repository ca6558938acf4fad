"""The "Screen with the webcam" page: live skeleton, guided protocol, then the usual result view.

Layout only; the live logic is :mod:`chainscan.live`. The WebRTC frame callback (another thread) is
:meth:`LiveSession.on_av_frames`: it analyses the newest frame and skips the ones that arrived meanwhile
(no backlog, so no growing latency); the protocol and the analysis run here, in the script thread, in a
fragment that polls the sample queue a few times a second.
"""

from __future__ import annotations

import inspect
from typing import Any

import streamlit as st

from ..errors import ChainscanError
from ..landmarks import Side
from ..live import ICE_ENV, LiveSession, LiveTest, Phase, Protocol, ice_servers_from_env
from ..types import TestType

_K = "webcam_"  # session-state and widget key prefix
POLL_S = 0.3
NO_FRAMES_S = 2.0

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
           "it locally); they are analysed in memory and not saved. Only the landmarks and the result are kept.")


def _state(name: str, default: Any = None) -> Any:
    return st.session_state.get(_K + name, default)


def _set(name: str, value: Any) -> None:
    st.session_state[_K + name] = value


def _session() -> LiveSession:
    sess = _state("session")
    if sess is None:
        sess = LiveSession()
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


def _new_protocol(spec: LiveTest) -> Protocol:
    proto = Protocol(spec)
    _set("protocol", proto)
    return proto


def _reset(session: LiveSession, spec: LiveTest) -> None:
    for k in ("result", "pose", "error"):
        st.session_state.pop(_K + k, None)
    session.reset()
    _new_protocol(spec)


def _analyse(proto: Protocol, session: LiveSession) -> None:
    """Run the screen on the recording (script thread) and keep the result or the error."""
    from ..pipeline import screen_pose

    try:
        pose = proto.to_pose_sequence(model=session.model_name)
    except ValueError:
        _set("error", "Nothing was recorded; press START, stand in view and follow the instructions.")
        return
    _set("pose", pose)
    try:
        _set("result", screen_pose(pose, **proto.analysis_kwargs()))
    except ChainscanError as e:
        _set("error", str(e))


def _status(proto: Protocol, session: LiveSession) -> None:
    """Drain the sample queue into the protocol and show where it stands (runs every POLL_S)."""
    before = proto.phase
    proto.feed_many(session.drain())
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


def _show_result(owner: str) -> None:
    result, pose, error = _state("result"), _state("pose"), _state("error")
    if error:
        st.error(error)
        return
    if result is None:
        return
    render_result: Any = None
    try:
        from .results import render_result
    except ImportError:
        pass
    if render_result is not None:
        kw: dict[str, Any] = {"video_path": None, "key": _K + "result", "owner": owner}
        if "source_name" in inspect.signature(render_result).parameters:
            kw["source_name"] = "Webcam screening"
        render_result(result, pose, **kw)
        return
    st.subheader(f"Result: {result.test.label}")  # minimal fallback
    for f in result.findings:
        side = f" ({f.side.value})" if f.side else ""
        st.markdown(f"- **{f.title}{side}**: {f.value:+.1f} {f.unit} · {f.severity} — {f.message}")


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
        st.caption("The preview is mirrored like a mirror; the analysis uses the camera's un-mirrored view, so "
                   "\u201cL\u201d is always your left.")
    playing = bool(ctx.state.playing)
    if not playing and not finished and proto.phase is not Phase.SETUP:
        proto = _new_protocol(spec)  # stopped mid-test: start over next time
    if not playing and not finished:
        session.close()  # free the model; the next START builds a fresh tracker

    if finished:
        with status_col:
            st.success("Recording finished.")
            if st.button("New screening", key=_K + "again", type="primary"):
                _reset(session, spec)
                st.rerun()
        _show_result(owner)
        return

    with status_col:
        st.fragment(run_every=POLL_S)(_status)(proto, session)
    st.caption(f"Connecting from another computer? Configure STUN/TURN servers in ${ICE_ENV} (see docs/webcam.md).")

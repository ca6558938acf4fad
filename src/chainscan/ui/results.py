"""The one result view, shared by the upload and webcam pages: summary, findings, quality, charts, reps,
annotated video, key frames, chain diagram, the foot-first plan, threshold settings, export and save.

Layout only. Numbers come from the result; re-analysis is :func:`chainscan.pipeline.screen_pose`; the
plan is :func:`chainscan.recommendations.recommend`; files are written by :mod:`chainscan.report`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from .. import pipeline
from ..config import ScreeningConfig
from ..errors import ChainscanError
from ..recommendations import Answers, chain_diagram_svg, recommend
from ..report.data import SEVERITY_TEXT, TEST_NAMES, finding_reps, finding_value, fmt_num
from ..result import ScreeningResult
from ..types import PoseSequence
from . import state
from .questions import ask_answers

#: severity → Streamlit badge colour (traffic light)
BADGE = {"ok": "green", "mild": "orange", "marked": "red", "unknown": "gray"}

#: the settings offered: (section, name, label, min, max, step)
SETTINGS = (
    ("thresholds", "fppa_sls_mild", "Knee angle (FPPA) flagged from, single-leg squat", 0.0, 30.0, 0.5),
    ("thresholds", "pelvic_drop_mild", "Pelvic drop flagged from", 0.0, 15.0, 0.5),
    ("thresholds", "trunk_lean_mild", "Trunk lean flagged from", 0.0, 20.0, 0.5),
    ("thresholds", "knee_separation_ratio_mild", "Knee separation ratio flagged below, double-leg squat",
     0.3, 1.2, 0.05),
    ("signal", "cutoff_hz", "Low-pass filter cut-off (Hz)", 1.0, 15.0, 0.5),
    ("signal", "min_visibility", "Minimum landmark visibility (0–1)", 0.0, 0.95, 0.05),
)

#: export buttons: (file in the output folders, label, download name suffix, MIME type)
EXPORTS = (
    ("report.pdf", "PDF report", "report.pdf", "application/pdf"),
    ("report.html", "HTML report", "report.html", "text/html"),
    ("result.json", "Result (JSON)", "result.json", "application/json"),
    ("frames.csv", "Frames (CSV)", "frames.csv", "text/csv"),
    ("reps.csv", "Reps (CSV)", "reps.csv", "text/csv"),
    ("annotated.mp4", "Annotated video", "annotated.mp4", "video/mp4"),
    ("pose.npz", "Landmarks (pose.npz)", "pose.npz", "application/octet-stream"),
)

#: charts: (title, unit, [(series, legend name)])
CHARTS = (
    ("Knee angle (FPPA)", "°, + = knee inward (valgus)",
     [("knee_fppa_left_deg", "left knee"), ("knee_fppa_right_deg", "right knee")]),
    ("Pelvis", "°, relative to neutral standing",
     [("pelvic_obliquity_rel_deg", "obliquity (+ left hip lower)"),
      ("pelvic_drop_deg", "drop on the lifted-leg side")]),
    ("Trunk", "°, relative to neutral standing",
     [("trunk_lean_rel_deg", "lean (+ toward the left)"), ("trunk_lean_ipsi_deg", "lean toward the standing leg")]),
)


# ----------------------------------------------------------------------------------------------- settings
def _overrides_key(key: str) -> str:
    return f"{key}:overrides"


def _apply(key: str) -> None:
    defaults = ScreeningConfig()
    over: dict[str, dict[str, float]] = {}
    for section, name, *_ in SETTINGS:
        value = st.session_state.get(f"{key}:set:{name}")
        default = _default(defaults, section, name)
        if value is not None and abs(float(value) - default) > 1e-9:
            over.setdefault(section, {})[name] = float(value)
    st.session_state[_overrides_key(key)] = over


def _reset(key: str) -> None:
    st.session_state.pop(_overrides_key(key), None)
    for _, name, *_ in SETTINGS:
        st.session_state.pop(f"{key}:set:{name}", None)


def _default(cfg: ScreeningConfig, section: str, name: str) -> float:
    return cfg.threshold(name) if section == "thresholds" else float(getattr(cfg.signal, name))


def _settings(result: ScreeningResult, pose: PoseSequence, key: str) -> ScreeningResult | None:
    """The settings form; re-runs the analysis from the stored landmarks when settings differ."""
    over = st.session_state.get(_overrides_key(key)) or {}
    defaults = ScreeningConfig()
    n = sum(len(v) for v in over.values())
    with st.expander("Threshold and filter settings" + (f" ({n} changed)" if n else ""), expanded=bool(n)):
        st.caption("Changing these re-runs the analysis from the stored landmarks in a fraction of a second; "
                   "the pose model does not run again.")
        with st.form(f"{key}:settings", border=False):
            cols = st.columns(3)
            for i, (section, name, label, lo, hi, step) in enumerate(SETTINGS):
                current = over.get(section, {}).get(name, _default(defaults, section, name))
                help_text = None
                if section == "thresholds":
                    t = defaults.thresholds[name]
                    help_text = f"{t.description}. Default {t.value:g} {t.unit}; source: {t.reference}."
                cols[i % 3].slider(label, min_value=lo, max_value=hi, value=float(current), step=step,
                                   key=f"{key}:set:{name}", help=help_text)
            b1, b2, _ = st.columns([1, 1, 4])
            b1.form_submit_button("Apply", type="primary", on_click=_apply, args=(key,), key=f"{key}:apply")
            b2.form_submit_button("Reset to defaults", on_click=_reset, args=(key,), key=f"{key}:reset")
    if not over:
        return result
    try:
        cfg = result.config.with_overrides(over)
        auto = result.segmentation.auto_test
        return pipeline.screen_pose(pose, cfg, test=None if auto else result.test,
                                    side=None if auto else result.stance_side)
    except ChainscanError as e:
        st.error(f"With these settings the clip cannot be screened: {e} Change or reset the settings.")
        return None


# ----------------------------------------------------------------------------------------------- sections
def _summary(result: ScreeningResult, rd: Mapping[str, Any], source_name: str | None) -> None:
    test = TEST_NAMES.get(rd["test"], rd["test"])
    how = "recognised automatically" if rd["test_detected_automatically"] else "as chosen"
    side = f", standing on the **{rd['stance_side']}** leg" if rd.get("stance_side") else ""
    reps = len(rd["reps"])
    count = f"; {reps} rep{'s' if reps != 1 else ''}" if rd["reps"] else ""
    flagged = result.flagged
    verdict = (f":orange-badge[{len(flagged)} of {len(result.findings)} checks flagged]" if flagged
               else f":green-badge[nothing flagged ({len(result.findings)} checks)]")
    st.markdown(f"### {test}")
    clip = f"**{source_name}** · " if source_name else ""
    st.markdown(f"{clip}test {how}{side}{count}. {verdict}")
    st.info(rd["disclaimer"], icon=":material/info:")


def _finding(f: dict[str, Any]) -> None:
    sev = f.get("severity", "unknown")
    side = f" — {f['side']} leg" if f.get("side") else ""
    ref = f.get("reference") or ""
    source = "heuristic (no published cut-off)" if ref.startswith("heuristic") else ref
    with st.container(border=True):
        st.markdown(f":{BADGE.get(sev, 'gray')}-badge[{SEVERITY_TEXT.get(sev, sev)}] **{f['title']}**{side}")
        st.markdown(f"**{finding_value(f)}** · threshold {fmt_num(f.get('threshold'), f.get('unit'), signed=False)}"
                    f" · confidence **{f.get('confidence')}**")
        if f.get("message"):
            st.markdown(f["message"])
        reps = finding_reps(f)
        when = f"at {fmt_num(f['evidence_time_s'], 's')}" if f.get("evidence_time_s") is not None else ""
        st.caption(" · ".join(x for x in (reps, when) if x))
        st.caption(f"Sign: {f.get('sign_convention')}. Source: {source}.")


def _quality(rd: Mapping[str, Any]) -> None:
    gates = rd["quality"]
    failed = [g for g in gates if not g["passed"]]
    title = "Recording quality: all checks passed" if not failed else f"Recording quality: {len(failed)} to improve"
    with st.expander(title, expanded=bool(failed)):
        for g in gates:
            unchecked = g["passed"] and "not checked" in g["message"].lower()
            mark = (":gray-badge[not checked]" if unchecked else ":green-badge[pass]" if g["passed"]
                    else ":orange-badge[check]")
            st.markdown(f"{mark} **{g['gate'].replace('_', ' ')}**: {g['message']}")


def _chart(result: ScreeningResult, title: str, unit: str, lines: list[tuple[str, str]]) -> None:
    import altair as alt
    import numpy as np
    import pandas as pd

    t = result.pose.timestamps - result.pose.timestamps[0]
    parts = [pd.DataFrame({"time (s)": t, "value": np.asarray(result.series[s], dtype=float), "series": name})
             for s, name in lines if s in result.series and np.isfinite(result.series[s]).any()]
    if not parts:
        return
    data = pd.concat(parts, ignore_index=True).dropna()
    reps = pd.DataFrame([{"start": t[s.start], "end": t[s.end], "rep": f"rep {s.index + 1}"}
                         for s in result.segmentation.segments])
    x = alt.X("time (s):Q", title="time (s)", scale=alt.Scale(domain=[0, float(t[-1])]))
    line = alt.Chart(data).mark_line().encode(
        x=x, y=alt.Y("value:Q", title=unit, scale=alt.Scale(zero=False)),
        color=alt.Color("series:N", legend=alt.Legend(orient="top", title=None)))
    layers = [line]
    if len(reps):
        layers.insert(0, alt.Chart(reps).mark_rect(opacity=0.12, color="#2f6f73").encode(
            x=alt.X("start:Q", title="time (s)"), x2="end:Q", tooltip=["rep", "start", "end"]))
    st.markdown(f"**{title}** · {unit}")
    st.altair_chart(alt.layer(*layers), width="stretch", height=260)


def _reps_table(rd: Mapping[str, Any]) -> None:
    import pandas as pd

    rows = rd["reps"] or rd["stance_periods"]
    if not rows:
        st.caption("No reps or stance periods were found.")
        return
    kind = "Rep" if rd["reps"] else "Period"
    table = pd.DataFrame([{
        kind: r["index"], "leg": r.get("side") or "both", "complete": r["complete"],
        "start (s)": r["start_s"], "deepest (s)": r["deepest_s"], "end (s)": r["end_s"],
        "FPPA left (°)": r["left"]["knee_fppa_deg"], "FPPA right (°)": r["right"]["knee_fppa_deg"],
        "knee separation (ratio)": r.get("knee_separation_ratio"), "pelvic drop (°)": r.get("pelvic_drop_deg"),
        "trunk lean to standing leg (°)": r.get("trunk_lean_ipsi_deg"),
        "depth (leg lengths)": r.get("squat_depth_leglen")} for r in rows])
    st.dataframe(table.dropna(axis=1, how="all"), hide_index=True, width="stretch")
    for b in rd.get("balance") or []:
        st.markdown(f"Balance on the **{b['side']}** leg: longest hold {fmt_num(b.get('hold_s'), 's')}, "
                    f"total {fmt_num(b.get('total_s'), 's')}, {b.get('touchdowns')} touch-down(s).")


def _plan(plan: Mapping[str, Any]) -> None:
    st.markdown("Ordered from the ground up: foot → ankle → knee → hip → trunk, then daily habits.")
    for note in plan.get("notes") or []:
        st.caption(note)
    for item in plan["items"]:
        with st.expander(f"{item['order']}. {item['name']} — {item['region']} · {item['dose']}"):
            st.markdown(f"**Goal:** {item['goal']}")
            st.markdown("**How:**\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(item["steps"], 1)))
            if item.get("cues"):
                st.markdown("**Cues:**\n" + "\n".join(f"- {c}" for c in item["cues"]))
            st.markdown(f"**Dose:** {item['dose']}")
            easier, harder = item.get("easier"), item.get("harder")
            if easier or harder:
                st.markdown(f"**Easier:** {easier or '–'}  \n**Harder:** {harder or '–'}")
            st.markdown(f"**Why:** {item['why']}")
            st.caption(f"Source: {item['source']}")
    st.warning("**See a professional if:**\n" + "\n".join(f"- {r}" for r in plan["red_flags"]), icon=":material/flag:")
    st.caption(plan["disclaimer"])


# ----------------------------------------------------------------------------------------------- files
def _media(result: ScreeningResult, fp: str, video_path: Path | None, blur: bool) -> Path:
    """Tables, landmarks, key frames and the annotated video for this analysis (built once per blur choice)."""
    from ..report import outputs
    from ..report.writer import write_outputs

    def build(folder: Path) -> None:
        extras = []
        if video_path is not None:
            extras = [outputs.keyframes_step(video_path, result, blur), outputs.video_step(video_path, result, blur)]
        write_outputs(result, folder, extras=extras)

    return state.derived_folder(f"media-{fp}-{'blur' if blur else 'clear'}", build)


def _reports(rd: Mapping[str, Any], plan: dict, media: Path, fp: str, subject: str | None, blur: bool) -> Path:
    """plan.json, report.html and report.pdf for this analysis, answers, label and blur choice (built once)."""
    import json

    from ..report import outputs

    def build(folder: Path) -> None:
        folder.mkdir(parents=True)
        (folder / "plan.json").write_text(json.dumps(plan, indent=2, ensure_ascii=False), encoding="utf-8")
        outputs.report_step(("html", "pdf"), plan, rd, subject, source=media)(folder)

    return state.derived_folder(f"report-{fp}-{state.fingerprint(plan.get('answers'), subject, blur)}", build)


def _files(media: Path, reports: Path | None) -> dict[str, Path]:
    found = {p.name: p for p in media.iterdir() if p.is_file()}
    found.update({p.name: p for p in (media / "keyframes").glob("keyframe_*.png")})
    if reports is not None:
        found.update({p.name: p for p in reports.iterdir() if p.is_file()})
    return found


def _fp(rd: Mapping[str, Any], video_path: Path | None) -> str:
    return state.fingerprint(state.result_fingerprint(rd), str(video_path))


def _store_token(fp: str, plan: Mapping[str, Any], label: str, blur: bool) -> str:
    """What the stored files depend on: the result and its video, the answers, the label, the blur choice."""
    return state.fingerprint(fp, plan.get("answers"), label, blur)


def _exports(files: Mapping[str, Path], key: str, stem: str) -> None:
    manifest = []
    cols = st.columns(4)
    for i, (name, label, suffix, mime) in enumerate(f for f in EXPORTS if f[0] in files):
        file_name = f"{stem}_{suffix}"
        cols[i % 4].download_button(label, data=files[name].read_bytes(), file_name=file_name, mime=mime,
                                    key=f"{key}:dl:{name}", icon=":material/download:", on_click="ignore",
                                    width="stretch")
        manifest.append({"label": label, "file_name": file_name, "mime": mime})
    st.session_state[f"{key}:exports"] = manifest


# ----------------------------------------------------------------------------------------------- history
def _stored_key(key: str) -> str:
    return f"{key}:stored"


def _store(rd: Mapping[str, Any], files: Mapping[str, Path], key: str, owner: str, label: str, notes: str,
           token: str) -> str | None:
    """Keep this screening in the history: stored once, then replaced when what the stored files show
    changes (settings, answers, label, face blur); notes are updated in place. Returns a one-line status,
    or None when the user deleted it from the history (then it is not stored again)."""
    from ..storage import NotFound, open_storage

    rec = st.session_state.get(_stored_key(key))
    if rec is not None and rec.get("deleted"):
        return None
    store = open_storage()
    if rec is None or rec["token"] != token:
        sid = store.save(owner=owner, label=label, notes=notes, result=dict(rd),
                         files={n: p for n, p in files.items()})
        if rec is not None:
            with contextlib.suppress(NotFound):
                store.delete(owner, rec["id"])
        st.session_state[_stored_key(key)] = rec = {"id": sid, "token": token, "notes": notes, "label": label}
    elif rec["notes"] != notes:
        try:
            store.update_notes(owner, rec["id"], notes)
        except NotFound:
            rec["deleted"] = True
            return None
        rec["notes"] = notes
    return f"Stored in the history as screening #{rec['id']} ({rec['label']})."


def store_screening(result: ScreeningResult, *, video_path: str | os.PathLike | None, key: str, owner: str,
                    label: str) -> int | None:
    """Store a screening that is not on screen (e.g. the other clips of a multi-clip upload) exactly as the
    result view would with untouched settings, answers and notes; nothing when it is stored already.
    Returns the screening id. Raises ChainscanError (then nothing is stored)."""
    if st.session_state.get(_stored_key(key)) is not None:
        rec = st.session_state[_stored_key(key)]
        return None if rec.get("deleted") else int(rec["id"])
    st.session_state.setdefault(f"{key}:label", label)
    label = str(st.session_state[f"{key}:label"]).strip() or label
    blur = bool(st.session_state.get(f"{key}:blur", False))
    rd = result.to_dict()
    path = Path(video_path) if video_path is not None else None
    fp = _fp(rd, path)
    plan = recommend(rd, Answers()).to_dict()
    media = _media(result, fp, path, blur)
    reports = _reports(rd, plan, media, fp, label, blur)
    _store(rd, _files(media, reports), key, owner, label, "", _store_token(fp, plan, label, blur))
    return int(st.session_state[_stored_key(key)]["id"])


def _history_section(rd: Mapping[str, Any], files: Mapping[str, Path], key: str, owner: str, label: str,
                     notes: str, token: str, autosave: bool) -> None:
    if not autosave:
        st.caption("The bundled sample is not stored in the history. Your own clips and webcam screenings are "
                   "stored automatically.")
        return
    try:
        status = _store(rd, files, key, owner, label, notes, token)
    except ChainscanError as e:
        st.error(f"This screening could not be stored in the history: {e}")
        return
    if status is None:
        st.caption("You deleted this screening from the history, so it is no longer stored.")
        return
    st.success(status, icon=":material/check_circle:")
    st.caption("Changing the label, the notes, the answers, the settings or the face blur here updates the stored "
               "screening. Past screenings are on the History page.")


# ----------------------------------------------------------------------------------------------- view
#: the result view's own widgets (suffixes of ``key``) whose values outlive a run in which the view is not shown
KEPT_WIDGETS = ("label", "notes", "blur", "pain", "arch", "sex")


def _keep_widgets(key: str) -> None:
    """Streamlit forgets a widget's value when a run does not draw it (e.g. another clip is shown): copy
    the values aside, and put them back when the view comes back, so the label, answers and blur stay."""
    for name in KEPT_WIDGETS:
        w, keep = f"{key}:{name}", f"{key}:keep:{name}"
        if w in st.session_state:
            st.session_state[keep] = st.session_state[w]
        elif keep in st.session_state:
            st.session_state[w] = st.session_state[keep]


def render_result(result: ScreeningResult, pose: PoseSequence, *, video_path: str | os.PathLike | None = None,
                  key: str = "result", owner: str = "local", source_name: str | None = None,
                  autosave: bool = False, default_label: str | None = None) -> ScreeningResult | None:
    """Show one screening result. ``pose`` lets the settings re-run the analysis without the model;
    ``video_path`` (the screened clip or the webcam recording) adds the annotated video and key frames.
    ``key`` keeps the widgets of several results apart. With ``autosave`` the screening is stored in the
    history (under ``default_label`` until the user changes the label) as soon as its files are written,
    and kept up to date. Returns the result shown (after any settings change), or None."""
    _keep_widgets(key)
    head = st.container()
    shown = _settings(result, pose, key)
    if shown is None:
        return None
    result = shown
    rd = result.to_dict()
    path = Path(video_path) if video_path is not None else None
    fp = _fp(rd, path)
    with head:
        _summary(result, rd, source_name)

    tabs = st.tabs(["Findings", "Charts and reps", "Foot-first plan", "Video and key frames", "Export and save"])
    with tabs[0]:
        left, right = st.columns([3, 2])
    with tabs[2]:
        st.markdown("**Optional answers** — they shape the plan and go into the report.")
        answers: Answers = ask_answers(key)
        plan = recommend(rd, answers).to_dict()
        st.divider()
        _plan(plan)
    with left:
        for f in rd["findings"]:
            _finding(f)
        if not rd["findings"]:
            st.info("No check could be rated on this clip.")
        _quality(rd)
        if rd.get("measurement_error"):
            st.caption("Measurement error: knee angle (FPPA) SEM ≈ 3°, detectable change ≈ 8° (Munro et al. "
                       "2012); pelvis ≈ 4°. Pelvis findings have low confidence with this pose model.")
    with right:
        st.image(chain_diagram_svg(rd), caption="Where the findings show along the chain", width="stretch")
        for x in plan.get("explanations") or []:
            st.markdown(f"**{x['finding']}{' — ' + x['side'] if x.get('side') else ''}:** {x['text']}")
    with tabs[1]:
        for title, unit, lines in CHARTS:
            _chart(result, title, unit, lines)
        st.caption("Shaded: reps (or stance periods). Lines are the filtered series; frames.csv has the raw ones.")
        _reps_table(rd)
    with tabs[4]:
        c1, c2 = st.columns([1, 2])
        if default_label:
            st.session_state.setdefault(f"{key}:label", default_label)
        label = c1.text_input("Person / patient label", key=f"{key}:label",
                              help="Printed on the report and used to find the screening in the history.")
        notes = c2.text_area("Notes", key=f"{key}:notes", height=68)
        blur = c1.checkbox("Blur faces in the video, key frames and reports", key=f"{key}:blur",
                           help="For sharing: faces are blurred in the annotated video, the key frames and the "
                                "reports (the analysis itself is unchanged).")
    label = label.strip() or (default_label or "") or ("Unnamed" if autosave else "")
    try:
        with tabs[3], st.spinner("Drawing the annotated video and key frames…"):
            media = _media(result, fp, path, blur)
    except ChainscanError as e:
        with tabs[3]:
            st.error(str(e))
        with tabs[4]:
            st.error(f"{e} Nothing was stored in the history.")
        return result
    shown = _files(media, None)
    with tabs[3]:  # shown at once: the reports below take a few more seconds
        frames = sorted(n for n in shown if n.startswith("keyframe_"))
        cols = st.columns(3)
        if "annotated.mp4" in shown:
            cols[0].video(str(shown["annotated.mp4"]))
            cols[0].caption("Skeleton, knee angles, pelvis and trunk lines coloured by finding: green ok, "
                            "amber mild, red marked, grey not rated." + (" Faces blurred." if blur else ""))
        for c, n in zip(cols[1:], frames):
            c.image(str(shown[n]), caption=f"Key frame, {n[len('keyframe_'):-4]} leg: the deepest point of the "
                    "worst rep", width="stretch")
        if path is None:
            st.caption("No video was kept for this screening, so there is no annotated video or key frame.")
    try:
        with tabs[4], st.spinner("Writing the reports…"):
            reports = _reports(rd, plan, media, fp, label or None, blur)
    except ChainscanError as e:
        with tabs[4]:
            st.error(f"{e} Nothing was stored in the history.")
        return result
    files = _files(media, reports)
    with tabs[4]:
        st.markdown("**Download**")
        stem = state.safe_name(Path(rd["source"]["video"] or "chainscan").stem).replace(" ", "_")[:60]
        _exports(files, key, stem)
        st.divider()
        st.markdown("**History**")
        _history_section(rd, files, key, owner, label, notes, _store_token(fp, plan, label, blur), autosave)
    return result

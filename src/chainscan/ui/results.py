"""The one result view, shared by the upload and webcam pages: summary, findings, quality, charts, reps,
annotated video, key frames, chain diagram, the foot-first plan, threshold settings, export and save.

Layout only. Numbers come from the result; re-analysis is :func:`chainscan.pipeline.screen_pose`; the
plan is :func:`chainscan.recommendations.recommend`; files are written by :mod:`chainscan.report`.
"""

from __future__ import annotations

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
            mark = ":green-badge[pass]" if g["passed"] else ":orange-badge[check]"
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
def _media(result: ScreeningResult, fp: str, video_path: Path | None) -> Path:
    """Tables, landmarks, key frames and the annotated video for this analysis (built once)."""
    from ..report import outputs
    from ..report.writer import write_outputs

    def build(folder: Path) -> None:
        extras = []
        if video_path is not None:
            extras = [outputs.keyframes_step(video_path, result, False), outputs.video_step(video_path, result, False)]
        write_outputs(result, folder, extras=extras)

    return state.derived_folder(f"media-{fp}", build)


def _reports(rd: Mapping[str, Any], plan: dict, media: Path, fp: str, subject: str | None) -> Path:
    """plan.json, report.html and report.pdf for this analysis, answers and label (built once)."""
    import json

    from ..report import outputs

    def build(folder: Path) -> None:
        folder.mkdir(parents=True)
        (folder / "plan.json").write_text(json.dumps(plan, indent=2, ensure_ascii=False), encoding="utf-8")
        outputs.report_step(("html", "pdf"), plan, rd, subject, source=media)(folder)

    return state.derived_folder(f"report-{fp}-{state.fingerprint(plan.get('answers'), subject)}", build)


def _files(media: Path, reports: Path | None) -> dict[str, Path]:
    found = {p.name: p for p in media.iterdir() if p.is_file()}
    found.update({p.name: p for p in (media / "keyframes").glob("keyframe_*.png")})
    if reports is not None:
        found.update({p.name: p for p in reports.iterdir() if p.is_file()})
    return found


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


def _save(rd: Mapping[str, Any], files: Mapping[str, Path], key: str, owner: str, label: str, notes: str,
          fp: str) -> None:
    try:
        from ..storage import open_storage
    except ImportError:
        st.caption("Saving to history is not available in this installation.")
        return
    saved = st.session_state.setdefault(f"{key}:saved", {})
    token = state.fingerprint(fp, label, notes)
    if token in saved:
        st.success(f"Saved to history (screening {saved[token]}).")
        return
    if st.button("Save to history", key=f"{key}:save", type="primary", disabled=not label.strip(),
                 help="Stores the result, the landmarks and the reports on this computer."):
        try:
            store = open_storage()
            sid = store.save(owner=owner, label=label.strip(), notes=notes, result=dict(rd),
                             files={n: p for n, p in files.items()})
        except ChainscanError as e:
            st.error(f"Could not save: {e}")
            return
        saved[token] = sid
        st.success(f"Saved to history (screening {sid}).")
    elif not label.strip():
        st.caption("Enter a person / patient label to save this screening.")


# ----------------------------------------------------------------------------------------------- view
def render_result(result: ScreeningResult, pose: PoseSequence, *, video_path: str | os.PathLike | None = None,
                  key: str = "result", owner: str = "local", source_name: str | None = None
                  ) -> ScreeningResult | None:
    """Show one screening result. ``pose`` lets the settings re-run the analysis without the model;
    ``video_path`` (the screened clip) adds the annotated video and key frames. ``key`` keeps the widgets
    of several results apart. Returns the result shown (after any settings change), or None."""
    head = st.container()
    shown = _settings(result, pose, key)
    if shown is None:
        return None
    result = shown
    rd = result.to_dict()
    fp = state.fingerprint(state.result_fingerprint(rd), str(video_path))
    with head:
        _summary(result, rd, source_name)

    tabs = st.tabs(["Findings", "Charts and reps", "Foot-first plan", "Video and key frames", "Export and save"])
    with tabs[2]:
        st.markdown("**Optional answers** — they shape the plan and go into the report.")
        answers: Answers = ask_answers(key)
        plan = recommend(rd, answers).to_dict()
        st.divider()
        _plan(plan)
    with tabs[0]:
        left, right = st.columns([3, 2])
        with left:
            for f in rd["findings"]:
                _finding(f)
            _quality(rd)
            me = rd.get("measurement_error") or {}
            if me:
                st.caption("Measurement error: knee angle (FPPA) SEM ≈ 3°, detectable change ≈ 8° (Munro et al. "
                           "2012); pelvis ≈ 4°. Pelvis findings have low confidence with this pose model.")
        with right:
            st.image(chain_diagram_svg(rd), caption="Where the findings show along the chain",
                     width="stretch")
            for x in plan.get("explanations") or []:
                st.markdown(f"**{x['finding']}{' — ' + x['side'] if x.get('side') else ''}:** {x['text']}")
    with tabs[1]:
        for title, unit, lines in CHARTS:
            _chart(result, title, unit, lines)
        st.caption("Shaded: reps (or stance periods). Lines are the filtered series; frames.csv has the raw ones.")
        _reps_table(rd)
    with tabs[4]:
        c1, c2 = st.columns([1, 2])
        label = c1.text_input("Person / patient label", key=f"{key}:label",
                              help="Printed on the report and used to find the screening in the history.")
        notes = c2.text_area("Notes", key=f"{key}:notes", height=68)
    path = Path(video_path) if video_path is not None else None
    try:
        with tabs[3], st.spinner("Drawing the annotated video and key frames…"):
            media = _media(result, fp, path)
        with tabs[4], st.spinner("Writing the reports…"):
            reports = _reports(rd, plan, media, fp, label.strip() or None)
    except ChainscanError as e:
        with tabs[3]:
            st.error(str(e))
        with tabs[4]:
            st.error(str(e))
        return result
    files = _files(media, reports)
    with tabs[3]:
        frames = sorted(n for n in files if n.startswith("keyframe_"))
        cols = st.columns(3)
        if "annotated.mp4" in files:
            cols[0].video(str(files["annotated.mp4"]))
            cols[0].caption("Skeleton, knee angles, pelvis and trunk lines coloured by finding: green ok, "
                            "amber mild, red marked, grey not rated.")
        for c, n in zip(cols[1:], frames):
            c.image(str(files[n]), caption=f"Key frame, {n[len('keyframe_'):-4]} leg: the deepest point of the "
                    "worst rep", width="stretch")
        if path is None:
            st.caption("No video was kept for this screening, so there is no annotated video or key frame.")
    with tabs[4]:
        st.markdown("**Download**")
        stem = state.safe_name(Path(rd["source"]["video"] or "chainscan").stem).replace(" ", "_")[:60]
        _exports(files, key, stem)
        st.divider()
        st.markdown("**Save to history**")
        _save(rd, files, key, owner, label, notes, fp)
    return result

"""History page: the logged-in clinician's past screenings, one opened with its notes and files, a
progress chart per person, and deleting (after a confirm step). Layout only: every read and write
goes through :mod:`chainscan.storage`, which keeps each owner's screenings to that owner."""

from __future__ import annotations

import datetime as _dt
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from ..errors import ChainscanError
from ..storage import Flag, ScreeningRecord, Storage, metric_unit, open_storage

_ALL = "All people"
_TESTS = {"double_leg_squat": "Double-leg squat", "single_leg_squat": "Single-leg squat",
          "single_leg_stance": "Single-leg stance"}
#: titles of the stored headline metrics (keys ``<metric>.<side>``, see chainscan.storage)
_METRICS = {
    "knee_fppa_deg": "Knee FPPA (+ valgus)",
    "pelvic_drop_deg": "Pelvic drop (+ lifted side lower)",
    "trunk_lean_ipsi_deg": "Trunk lean toward the stance leg",
    "hold_s": "Longest single-leg hold",
    "total_s": "Total time on the leg",
    "knee_separation_ratio": "Knee separation (knees ÷ ankles)",
    "knee_over_foot": "Knee inside the foot (+ medial)",
    "knee_fppa_asymmetry_deg": "Knee FPPA left–right difference",
    "pelvic_drop_asymmetry_deg": "Pelvic drop left–right difference",
}


def describe_test(test: str) -> str:
    return _TESTS.get(test, test.replace("_", " ").capitalize())


def metric_title(key: str) -> str:
    """``knee_fppa_deg.left`` → ``Knee FPPA (+ valgus), left (°)``: the axis title of a progress chart."""
    base, _, side = key.partition(".")
    title = _METRICS.get(base, base.replace("_", " ").capitalize())
    if side:
        title += f", {side}"
    unit = metric_unit(key)
    return f"{title} ({unit})" if unit else title


def _flag_text(flags: tuple[Flag, ...]) -> str:
    if not flags:
        return "none"
    return ", ".join(f"{f.code.replace('_', ' ')}" + (f" ({f.side})" if f.side else "")
                     + (" – marked" if f.severity == "marked" else "") for f in flags)


def _when(created: _dt.datetime) -> str:
    return created.astimezone().strftime("%Y-%m-%d %H:%M")


def _option(r: ScreeningRecord) -> str:
    side = f" ({r.stance_side})" if r.stance_side else ""
    return f"{_when(r.created)} · {r.label} · {describe_test(r.test)}{side} · #{r.id}"


def page(owner: str, storage: Storage | None = None) -> None:
    """Render the history of ``owner``'s screenings. ``storage`` defaults to :func:`open_storage`
    (``CHAINSCAN_DB`` / ``CHAINSCAN_FILES``)."""
    st.header("Screening history")
    try:
        store = storage if storage is not None else open_storage()
        labels = store.labels(owner)
    except ChainscanError as e:
        st.error(str(e))
        return
    notice = st.session_state.pop("history:notice", None)
    if notice:
        st.success(notice)
    if not labels:
        st.info("No saved screenings yet: every clip you analyse and every webcam test you finish is stored "
                "here automatically.")
        return

    label = st.selectbox("Person / patient", [_ALL, *labels], key="history:label")
    person = None if label == _ALL else label
    try:
        records = store.list(owner, person)
    except ChainscanError as e:
        st.error(str(e))
        return

    st.dataframe(
        [{"Date": _when(r.created), "Person": r.label, "Test": describe_test(r.test), "Side": r.stance_side or "–",
          "Flagged findings": _flag_text(r.flagged), "Notes": r.notes, "#": r.id} for r in records],
        hide_index=True, width="stretch",
    )

    if person is not None:
        _progress(store, owner, person)
    else:
        st.caption("Choose one person above to compare a measure across their sessions.")

    by_id = {r.id: r for r in records}
    chosen = st.selectbox("Open a screening", list(by_id), format_func=lambda i: _option(by_id[i]),
                          index=None, placeholder="Choose a screening…", key="history:open")
    if chosen is not None:
        _detail(store, owner, by_id[chosen])


def _progress(store: Storage, owner: str, label: str) -> None:
    import altair as alt

    st.subheader(f"Progress: {label}")
    try:
        names = store.metric_names(owner, label)
    except ChainscanError as e:
        st.error(str(e))
        return
    if not names:
        st.caption("These screenings have no measures to compare.")
        return
    default = next((i for i, n in enumerate(names) if n.startswith("knee_fppa_deg")), 0)
    metric = st.selectbox("Measure", names, index=default, format_func=metric_title, key="history:metric")
    try:
        points = store.metric_history(owner, label, metric)
    except ChainscanError as e:
        st.error(str(e))
        return
    if len(points) < 2:
        st.caption("Only one session has this measure so far: the chart appears from the second one.")
    # local wall-clock times, so the axis shows the dates the clinician saw
    data = [{"date": c.astimezone().replace(tzinfo=None).isoformat(), "value": v} for c, v in points]
    chart = alt.Chart(alt.Data(values=data)).mark_line(point=True)
    chart = chart.encode(
        x=alt.X("date:T", title="Session date"),
        y=alt.Y("value:Q", title=metric_title(metric), scale=alt.Scale(zero=False)),
        tooltip=[alt.Tooltip("date:T", title="Date", format="%Y-%m-%d %H:%M"),
                 alt.Tooltip("value:Q", title=metric_title(metric))],
    )
    st.altair_chart(chart, width="stretch")


def _detail(store: Storage, owner: str, rec: ScreeningRecord) -> None:
    st.subheader(f"{rec.label}: {describe_test(rec.test)}" + (f", {rec.stance_side} leg" if rec.stance_side else ""))
    st.caption(f"Screened {_when(rec.created)} · screening #{rec.id}")
    disclaimer = rec.result.get("disclaimer")
    if disclaimer:
        st.caption(str(disclaimer))

    findings = [f for f in rec.result.get("findings") or [] if isinstance(f, dict)]
    if findings:
        st.markdown("**Findings**")
        st.dataframe([_finding_row(f) for f in findings], hide_index=True, width="stretch")
    if rec.metrics:
        st.markdown("**Measures**")
        st.dataframe([{"Measure": metric_title(k), "Value": v} for k, v in sorted(rec.metrics.items())],
                     hide_index=True, width="stretch")

    notes = st.text_area("Notes", value=rec.notes, key=f"history:notes:{rec.id}")
    if st.button("Save notes", key=f"history:save_notes:{rec.id}", disabled=notes == rec.notes):
        _act(lambda: store.update_notes(owner, rec.id, notes), "Notes saved.")

    if rec.files:
        st.markdown("**Files**")
        cols = st.columns(min(len(rec.files), 4))
        for i, (name, path) in enumerate(sorted(rec.files.items())):
            cols[i % len(cols)].download_button(
                name, data=_reader(path), file_name=path.name, mime=mimetypes.guess_type(path.name)[0],
                key=f"history:file:{rec.id}:{name}", on_click="ignore", icon=":material/download:",
                disabled=not path.is_file(), help=None if path.is_file() else "This file is missing on disk.")

    confirm_key = f"history:confirm_delete:{rec.id}"
    if not st.session_state.get(confirm_key):
        if st.button("Delete this screening…", key=f"history:delete:{rec.id}", icon=":material/delete:"):
            st.session_state[confirm_key] = True
            st.rerun()
        return
    st.warning(f"Delete screening #{rec.id} of {rec.label} and its {len(rec.files)} stored file(s)? "
               "This cannot be undone.")
    yes, no = st.columns(2)
    if yes.button("Yes, delete", key=f"history:delete_yes:{rec.id}", type="primary"):
        st.session_state.pop(confirm_key, None)
        st.session_state.pop("history:open", None)
        _act(lambda: store.delete(owner, rec.id), f"Screening #{rec.id} deleted.")
    if no.button("Cancel", key=f"history:delete_no:{rec.id}"):
        st.session_state.pop(confirm_key, None)
        st.rerun()


def _finding_row(f: dict[str, Any]) -> dict[str, Any]:
    unit = f.get("unit") or ""
    value = f.get("value")
    return {"Finding": f.get("title") or f.get("code"), "Side": f.get("side") or "–",
            "Value": "–" if value is None else f"{value} {unit}".strip(), "Severity": f.get("severity"),
            "Confidence": f.get("confidence")}


def _reader(path: Path) -> Callable[[], bytes]:
    return lambda: path.read_bytes()  # read only when the button is pressed (videos can be large)


def _act(action: Callable[[], None], done: str) -> None:
    try:
        action()
    except ChainscanError as e:
        st.error(str(e))
        return
    st.session_state["history:notice"] = done
    st.rerun()

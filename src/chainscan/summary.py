"""The short plain-text summary printed by the CLI (units, sign conventions and sources included)."""

from __future__ import annotations

from .result import ScreeningResult
from .rules import DISCLAIMER, FPPA_DETECTABLE_CHANGE_DEG, FPPA_SEM_DEG, PELVIS_DETECTABLE_CHANGE_DEG

_MARK = {"ok": "ok    ", "mild": "FLAG  ", "marked": "FLAG+ ", "unknown": "?     "}


def summary_text(result: ScreeningResult) -> str:
    seg = result.segmentation
    lines = []
    how = "detected" if seg.auto_test else "as requested"
    side = f", standing on the {seg.stance_side.value} leg" if seg.stance_side else ""
    lines.append(f"Test: {seg.test.label} ({how}){side}; {result.pose.n_frames} frames at "
                 f"{result.pose.fps:.0f} frames/s.")
    if seg.test.value.endswith("squat"):
        complete = sum(s.complete for s in seg.segments)
        lines.append(f"Reps: {len(seg.segments)} found ({complete} complete).")
    for st in seg.stance_stats:
        lines.append(f"Balance on the {st.side.value} leg: longest hold {st.hold_s:.1f} s, total {st.total_s:.1f} s, "
                     f"{st.touchdowns} touch-down(s).")
    failed = [g for g in result.quality if not g.passed]
    if failed:
        lines.append("Recording quality:")
        lines += [f"  ! {g.message}" for g in failed]
    else:
        lines.append("Recording quality: all checks passed.")
    lines.append("Findings (value, reference threshold, source):")
    for f in result.findings:
        side = f", {f.side.value}" if f.side else ""
        ref = "heuristic" if f.reference.startswith("heuristic") else f.reference.split(":")[0]
        lines.append(f"  {_MARK.get(f.severity, '      ')}{f.title}{side}: {f.value:+.2f} {f.unit} "
                     f"(threshold {f.threshold:g} {f.unit}; {ref}; confidence {f.confidence})")
        if f.message:
            lines.append(f"        {f.message}")
    lines.append(f"Measurement error: knee angle (FPPA) SEM ≈ {FPPA_SEM_DEG:.0f}°, detectable change ≈ "
                 f"{FPPA_DETECTABLE_CHANGE_DEG:.0f}° (Munro et al. 2012); pelvis ≈ {PELVIS_DETECTABLE_CHANGE_DEG:.0f}° "
                 "(Trendelenburg test); pelvis findings are low confidence with MediaPipe.")
    lines.append(DISCLAIMER)
    return "\n".join(lines)

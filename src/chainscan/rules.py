"""Findings from segmented metrics. Thresholds come from the config (each with its source).

Values follow the FPPA method of Willson & Davis 2008 / Munro et al. 2012: the value at the deepest
frame of each rep, averaged over reps. Every evaluated check is returned (severity "ok" when within
range) so a report can show what was normal as well as what was not.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .config import ScreeningConfig
from .landmarks import Side
from .segmentation import Segmentation
from .types import Finding, QualityGate, Segment, TestType
from .view import TURNED_YAW_DEG, turned_yaw

FPPA_SEM_DEG = 3.0
FPPA_DETECTABLE_CHANGE_DEG = 8.0
PELVIS_DETECTABLE_CHANGE_DEG = 4.0
#: pelvic drops up to this size went unseen by MediaPipe's hip landmarks on chainscan's rendered benchmark
#: (hold-median slope 0.01–0.37 against true drops of 0–10°, docs/validation.md), so "no drop measured" cannot
#: mean "held level" for drops this small
PELVIS_UNSEEN_DROP_DEG = 10.0
#: the same benchmark: standing on one leg alone tilted MediaPipe's hip line 2–4° up on the lifted side
PELVIS_STANCE_TILT_DEG = 4.0

MEASUREMENT_ERROR: dict[str, object] = {
    "knee_fppa_sem_deg": FPPA_SEM_DEG,
    "knee_fppa_detectable_change_deg": FPPA_DETECTABLE_CHANGE_DEG,
    "knee_fppa_source": ("Munro, Herrington & Carolan 2012: between-day ICC 0.72–0.91, SEM 2.7–3.0°, smallest "
                         "detectable difference 7.5–8.9° (2D FPPA, frontal camera)"),
    "knee_fppa_validity": ("FPPA is a 2D proxy of 3D knee valgus: it explains 0–64 % of its variance "
                           "(Straub & Powers 2022); 2D vs 3D r = 0.64–0.78 (Gwynne & Curran 2014)"),
    "pelvis_detectable_change_deg": PELVIS_DETECTABLE_CHANGE_DEG,
    "pelvis_source": "minimal detectable change of pelvic position in the Trendelenburg test ≈ 4° "
                     "(J Sport Rehabil 2007;16:326)",
    "markerless_note": ("MediaPipe landmarks err by several degrees, more with loose clothing or off-axis views "
                        "(Cosoli et al. 2026); no peer-reviewed study validates MediaPipe FPPA against motion "
                        "capture. On chainscan's rendered benchmark (docs/validation.md) knee FPPA was within 2.7° "
                        "on average but single reps were up to 7° off (a rendered 15° read as 11°), and the hip "
                        "landmarks did not follow a 6° pelvic drop, so pelvis findings carry low confidence."),
}

#: single-leg squat FPPA beyond this magnitude is a viewing/tracking artefact, not a knee angle (heuristic)
FPPA_PLAUSIBLE_DEG = 45.0
#: in deep double-leg squats a knees-out squat reads −30…−60° (CLINICAL.md); beyond this it is an artefact
FPPA_PLAUSIBLE_DLS_DEG = 75.0
PELVIS_PLAUSIBLE_DEG = 30.0

DISCLAIMER = ("This is a movement screen, not a diagnosis. Results are estimates from a single camera; discuss "
              "pain or concerns with a physiotherapist or doctor.")

SIGN = {
    "knee_fppa": "+ = knee inside the hip–ankle line (valgus), − = outside (varus)",
    "knee_separation_ratio": "knee distance ÷ ankle distance; below 1 = knees closer together than ankles",
    "knee_over_foot": "+ = knee inside (medial to) the 2nd–3rd toe, in shank lengths",
    "pelvic_drop": "+ = pelvis lower on the lifted-leg side than in neutral standing",
    "pelvic_obliquity": "+ = left hip lower than in neutral standing",
    "trunk_lean_ipsi": "+ = trunk leaning toward the standing leg, relative to neutral standing",
    "hold": "seconds on one leg before the lifted foot touched down",
    "asymmetry": "absolute left−right difference",
}


@dataclass(frozen=True)
class _Check:
    code: str
    title: str
    metric: str
    unit: str
    sign: str
    mild: str
    marked: str | None
    higher_is_worse: bool = True


def _nanmean(a) -> float:
    a = np.asarray(a, float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")


def _severity(value: float, mild: float, marked: float | None, higher_is_worse: bool) -> str:
    if not np.isfinite(value):
        return "unknown"
    # a "flag from" threshold set beyond the "marked" one (e.g. with a dashboard slider) moves "marked" along:
    # nothing below the flag threshold is ever rated marked
    if higher_is_worse:
        if marked is not None and value >= max(marked, mild):
            return "marked"
        return "mild" if value >= mild else "ok"
    if marked is not None and value <= min(marked, mild):
        return "marked"
    return "mild" if value <= mild else "ok"


def _confidence(gates: list[QualityGate], n_reps: int, value: float, threshold: float, sem: float,
                pelvis: bool, want_reps: int, fppa: bool = False) -> str:
    """high / moderate / low: lowered by failed quality gates (twice for an angled view), fewer reps than
    the method's 3 trials, and a value within one measurement error of its threshold. Knee FPPA is at most
    moderate and the pelvis always low: on chainscan's rendered clips MediaPipe read a 15° FPPA as about 11°
    (single reps up to 7° off on the benchmark), and its hip landmarks missed a 6° pelvic drop (even tilting
    the other way), so a pelvis value is a hint to look, not a measurement to trust."""
    level = 2
    failed = {g.gate for g in gates if not g.passed}
    if failed:
        level -= 1
    if "frontal_view" in failed:
        level -= 1
    if n_reps < want_reps:
        level -= 1
    if np.isfinite(value) and abs(value - threshold) < sem:
        level -= 1
    if fppa:  # single reps up to 7° off on the rendered benchmark (docs/validation.md): never "high"
        level = min(level, 1)
    if pelvis:
        level = 0
    return ("low", "moderate", "high")[max(0, min(level, 2))]


class _Builder:
    def __init__(self, seg: Segmentation, series: dict[str, np.ndarray], t: np.ndarray, cfg: ScreeningConfig,
                 gates: list[QualityGate]) -> None:
        self.seg, self.series, self.t, self.cfg, self.gates = seg, series, t, cfg, gates
        self.findings: list[Finding] = []
        self.turned = turned_yaw(gates)

    def add(self, chk: _Check, side: Side | None, values: list[float], frames: list[int], *,
            sem: float, pelvis: bool = False, want_reps: int = 3, message_fn=None,
            aggregate: float | None = None, plausible: float | None = None, fppa: bool = False,
            unmeasurable: str | None = None, view_sensitive: bool | None = None) -> Finding | None:
        vals = np.asarray(values, float)
        value = _nanmean(vals) if aggregate is None else aggregate
        if not np.isfinite(value):
            return None
        mild = self.cfg.threshold(chk.mild)
        marked = self.cfg.threshold(chk.marked) if chk.marked else None
        sev = _severity(value, mild, marked, chk.higher_is_worse)
        fin = np.isfinite(vals)
        ev: int | None
        if fin.any():
            k = int(np.nanargmax(vals) if chk.higher_is_worse else np.nanargmin(vals))
            ev = frames[k]
        else:
            ev = frames[0] if frames else None
        conf = _confidence(self.gates, len(values), value, mild, sem, pelvis, want_reps, fppa)
        ref = self.cfg.thresholds[chk.mild].reference
        threshold = marked if (sev == "marked" and marked is not None) else mild
        msg = message_fn(value, sev, mild) if message_fn else ""
        if view_sensitive is None:
            view_sensitive = chk.code in _VIEW_SENSITIVE
        if unmeasurable is None and self.turned is not None and view_sensitive:
            unmeasurable = (f"Not measurable from this view: the body was turned about {abs(self.turned):.0f}° "
                            f"from the camera (≥ {TURNED_YAW_DEG:g}°, heuristic), which turns forward bending into "
                            f"apparent sideways angles (read {value:+.1f} {chk.unit}); face the camera square on and "
                            "record again.")
        if unmeasurable is None and plausible is not None and abs(value) > plausible:
            unmeasurable = (f"{value:+.1f} {chk.unit} is beyond what a frontal view of this test can show "
                            f"(±{plausible:g}); the view or tracking is off, so this is not measurable from this clip.")
        if unmeasurable:
            sev, conf, msg = "unknown", "low", unmeasurable
        f = Finding(code=chk.code, title=chk.title, side=side, metric=chk.metric, value=value, unit=chk.unit,
                    threshold=threshold, severity=sev, confidence=conf, reference=ref, sign_convention=chk.sign,
                    message=msg, evidence_frame=ev, evidence_time_s=float(self.t[ev]) if ev is not None else None,
                    rep_values=tuple(float(v) for v in vals))
        self.findings.append(f)
        return f

    def at(self, name: str, segs: list[Segment]) -> tuple[list[float], list[int]]:
        return [float(self.series[name][s.deepest]) for s in segs], [s.deepest for s in segs]


_FPPA = _Check("knee_valgus", "Knee collapse (valgus) in single-leg squat", "knee_fppa_deg", "deg",
               SIGN["knee_fppa"], "fppa_sls_mild", "fppa_sls_marked")
_DROP = _Check("pelvic_drop", "Pelvic drop on the lifted-leg side", "pelvic_drop_deg", "deg", SIGN["pelvic_drop"],
               "pelvic_drop_mild", "pelvic_drop_marked")
_LEAN = _Check("trunk_lean", "Trunk lean toward the standing leg", "trunk_lean_ipsi_deg", "deg",
               SIGN["trunk_lean_ipsi"], "trunk_lean_mild", "trunk_lean_marked")
_SEP = _Check("knees_inward", "Knees moving inward in the squat", "knee_separation_ratio", "ratio",
              SIGN["knee_separation_ratio"], "knee_separation_ratio_mild", "knee_separation_ratio_marked",
              higher_is_worse=False)
_KOF = _Check("knee_inside_foot", "Knee tracking inside the foot", "knee_over_foot", "shank lengths",
              SIGN["knee_over_foot"], "knee_over_foot_mild", "knee_over_foot_marked")
_ASYM_FPPA = _Check("knee_asymmetry", "Left–right difference in knee angle", "knee_fppa_asymmetry_deg", "deg",
                    SIGN["asymmetry"], "fppa_asymmetry", None)
_ASYM_DROP = _Check("pelvic_drop_asymmetry", "Left–right difference in pelvic drop", "pelvic_drop_asymmetry_deg",
                    "deg", SIGN["asymmetry"], "pelvic_drop_asymmetry", None)
_HOLD = _Check("balance_hold_short", "Short single-leg balance", "hold_s", "s", SIGN["hold"],
               "balance_hold_target", None, higher_is_worse=False)


#: findings whose value a turned body distorts (on the rendered benchmark a true +12° FPPA read −18° at 30°
#: yaw); balance time and the trunk lean of an upright stance stay measurable (within 0.1° at 30° yaw), but in
#: a squat the forward-bent trunk reads as a sideways lean (12° at 30° yaw), so there it counts as well
_VIEW_SENSITIVE = {"knee_valgus", "knee_inside_foot", "knee_asymmetry", "pelvic_drop", "pelvic_drop_asymmetry"}


def _drop_message(v: float, sev: str, th: float, side: Side) -> str:
    """Pelvic-drop wording. MediaPipe's hip points barely follow small drops (docs/validation.md), so a value
    within range is "no drop measured", never "held level", and an upward tilt may be the tracker's own."""
    head = f"Standing on the {side.value} leg, the pelvis on the lifted-leg side sat {v:+.1f}° from neutral"
    if sev != "ok":
        return (head + " — it drops, a sign the hip abductors do not hold it level. Low confidence: the pose "
                "model's hip points are unreliable for the pelvis (docs/validation.md); check it on the video.")
    if v <= -th:
        return (head + f" — the lifted side rose (hip hiking), or the pose model's hip line tilted on its own, as "
                f"it did by up to {PELVIS_STANCE_TILT_DEG:g}° on rendered people standing on one leg; check it on "
                "the video.")
    return (head + f": no drop was measured, but that does not show the pelvis was held level — drops smaller than "
            f"about {PELVIS_UNSEEN_DROP_DEG:g}° cannot be measured reliably from 2D pose landmarks (the model missed "
            "them on rendered test people, docs/validation.md). Judge the pelvis on the video and by the trunk lean.")


def _side_text(side: Side | None) -> str:
    return f"{side.value} " if side else ""


def evaluate(seg: Segmentation, series: dict[str, np.ndarray], t: np.ndarray, cfg: ScreeningConfig,
             gates: list[QualityGate]) -> list[Finding]:
    """All findings for a segmented clip."""
    b = _Builder(seg, series, t, cfg, gates)
    sem_fppa = FPPA_SEM_DEG
    sem_pelvis = PELVIS_DETECTABLE_CHANGE_DEG / 2
    if seg.test is TestType.DOUBLE_LEG_SQUAT:
        segs = list(seg.segments)
        vals, frames = b.at("knee_separation_ratio", segs)
        b.add(_SEP, None, vals, frames, sem=0.05, message_fn=lambda v, s, th: (
            f"At the bottom of the squat the knees were {v:.2f}× as far apart as the ankles"
            + (" — they move inward." if s != "ok" else ", within the expected range.")))
        fppa = {}
        for side in (Side.LEFT, Side.RIGHT):
            vals, frames = b.at(f"knee_over_foot_{side.value}_shanklen", segs)
            b.add(_KOF, side, vals, frames, sem=0.05, message_fn=lambda v, s, th, sd=side: (
                f"The {sd.value} knee sat {abs(v):.2f} shank lengths {'inside' if v > 0 else 'outside'} the toes "
                "at the bottom of the squat" + (" (the cue is knee over the 2nd–3rd toe)." if s != "ok" else ".")))
            fppa[side] = b.at(f"knee_fppa_{side.value}_deg", segs)
        _asymmetry(b, fppa, _ASYM_FPPA, sem_fppa, "knee angle (FPPA)", plausible=FPPA_PLAUSIBLE_DLS_DEG, fppa=True)
        return b.findings
    sides = sorted({s.side for s in seg.segments if s.side is not None}, key=lambda x: x.value)
    drops: dict[Side, tuple[list[float], list[int]]] = {}
    fppas: dict[Side, tuple[list[float], list[int]]] = {}
    for side in sides:
        segs = [s for s in seg.segments if s.side is side]
        if seg.test is TestType.SINGLE_LEG_SQUAT:
            fv = b.at(f"knee_fppa_{side.value}_deg", segs)
            fppas[side] = fv
            b.add(_FPPA, side, *fv, sem=sem_fppa, plausible=FPPA_PLAUSIBLE_DEG, fppa=True,
                  message_fn=lambda v, s, th, sd=side: (
                f"On the {sd.value} leg the knee angle (FPPA) averaged {v:+.1f}° at the deepest point"
                + (f", above the {th:.1f}° reference: the knee collapses inward." if s != "ok"
                   else ", within the range seen in healthy adults.")))
            dv = b.at("pelvic_drop_deg", segs)
            lv = b.at("trunk_lean_ipsi_deg", segs)
            want = 3
        else:  # single-leg stance: sustained values over each stance period
            dv = _period_stat(series["pelvic_drop_deg"], segs)
            lv = _period_stat(series["trunk_lean_ipsi_deg"], segs)
            want = 1
        drops[side] = dv
        b.add(_DROP, side, *dv, sem=sem_pelvis, pelvis=True, want_reps=want, plausible=PELVIS_PLAUSIBLE_DEG,
              message_fn=lambda v, s, th, sd=side: _drop_message(v, s, th, sd))
        b.add(_LEAN, side, *lv, sem=2.0, want_reps=want, view_sensitive=seg.test is TestType.SINGLE_LEG_SQUAT,
              message_fn=lambda v, s, th, sd=side: (
            f"The trunk leaned {v:+.1f}° toward the standing {sd.value} leg"
            + (" — a common way to offload weak hip abductors." if s != "ok" else ", within range.")))
        if seg.test is TestType.SINGLE_LEG_STANCE:
            st = next((x for x in seg.stance_stats if x.side is side), None)
            if st is not None and st.ended_by_touchdown:
                frames = [s.end for s in segs]
                b.add(_HOLD, side, [st.hold_s], frames[:1], sem=0.0, want_reps=1, aggregate=st.hold_s,
                      message_fn=lambda v, s, th, sd=side: (
                          f"Balance on the {sd.value} leg lasted {v:.1f} s before the foot touched down"
                          + (f" (aim for {th:.0f}–30 s)." if s != "ok" else ".")))
    if len(sides) == 2:
        if fppas:
            _asymmetry(b, fppas, _ASYM_FPPA, sem_fppa, "knee angle (FPPA)", plausible=FPPA_PLAUSIBLE_DEG, fppa=True)
        _asymmetry(b, drops, _ASYM_DROP, sem_pelvis, "pelvic drop", pelvis=True, plausible=PELVIS_PLAUSIBLE_DEG)
    return b.findings


def _period_stat(x: np.ndarray, segs: list[Segment]) -> tuple[list[float], list[int]]:
    """Median of ``x`` over each stance period, with the frame of its peak as evidence."""
    vals, frames = [], []
    for s in segs:
        w = x[s.start:s.end + 1]
        if not np.isfinite(w).any():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            vals.append(float(np.nanmedian(w)))
        frames.append(s.start + int(np.nanargmax(w)))
    return vals, frames


def _asymmetry(b: _Builder, per_side: dict[Side, tuple[list[float], list[int]]], chk: _Check, sem: float,
               what: str, pelvis: bool = False, plausible: float | None = None, fppa: bool = False) -> None:
    """Left–right difference of the per-side means. When either side is beyond ``plausible`` (a viewing or
    tracking artefact), the difference is reported as not measurable rather than as a finding."""
    if Side.LEFT not in per_side or Side.RIGHT not in per_side:
        return
    lv, lf = per_side[Side.LEFT]
    rv, rf = per_side[Side.RIGHT]
    ml, mr = _nanmean(lv), _nanmean(rv)
    if not (np.isfinite(ml) and np.isfinite(mr)):
        return
    if plausible is not None and max(abs(ml), abs(mr)) > plausible:
        b.add(chk, None, [abs(ml - mr)], [lf[0] if lf else rf[0]], sem=sem, pelvis=pelvis, want_reps=1,
              aggregate=abs(ml - mr), unmeasurable=(
                  f"The {what} read {ml:+.1f}° on the left and {mr:+.1f}° on the right, beyond what a frontal view "
                  f"can show (±{plausible:g}°); the view or tracking is off, so the difference is not measurable."))
        return
    diff = abs(ml - mr)
    worse = Side.LEFT if ml > mr else Side.RIGHT
    frames = lf if worse is Side.LEFT else rf
    vals = lv if worse is Side.LEFT else rv
    b.add(chk, worse, [diff], [frames[int(np.nanargmax(vals))]] if frames else [], sem=sem, pelvis=pelvis,
          want_reps=1, aggregate=diff, fppa=fppa, message_fn=lambda v, s, th: (
              f"The {what} differed by {v:.1f}° between sides (left {ml:+.1f}°, right {mr:+.1f}°)"
              + (f", more than the {th:.0f}° the measurement can reliably detect." if s != "ok" else ".")))

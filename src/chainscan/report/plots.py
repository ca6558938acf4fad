"""Report plots (matplotlib, Agg, no pyplot state): knee angle and pelvis/trunk over time.

Every figure shows time in seconds on x, reps / stance periods shaded and their deepest frames marked,
and states its sign convention on the axis: knee FPPA + = knee inward (valgus); pelvic obliquity vs
neutral + = the subject's left hip lower; trunk lean vs neutral + = shoulders toward the subject's left.
``plot_svgs`` returns inline-able SVG text (for HTML), ``plot_pngs`` PNG bytes (for the PDF).
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .data import ReportData

LEFT_COLOUR = "#0072B2"    # Okabe–Ito blue
RIGHT_COLOUR = "#D55E00"   # Okabe–Ito vermillion
TRUNK_COLOUR = "#009E73"   # Okabe–Ito green
PELVIS_COLOUR = "#6A3D9A"
MILD_COLOUR = "#C98A00"
MARKED_COLOUR = "#C0392B"
SHADE = "#E8E8E8"

_RC: Any = {"font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "legend.fontsize": 7,
       "xtick.labelsize": 7.5, "ytick.labelsize": 7.5, "axes.spines.top": False, "axes.spines.right": False,
       "svg.fonttype": "none", "svg.hashsalt": "chainscan-report", "font.family": "DejaVu Sans",
       "axes.unicode_minus": True}

WIDTH_IN = 7.2


def _series(data: ReportData, name: str) -> list[float] | None:
    if not data.frames or name not in data.frames:
        return None
    v = data.frames[name]
    return v if any(isinstance(x, float) and math.isfinite(x) for x in v) else None


def _shade_segments(ax, data: ReportData, *, labels: bool = True) -> None:
    """Shade each rep / stance period; for reps, a dotted line at the deepest frame."""
    stance = data.test == "single_leg_stance"
    for seg in data.segments:
        a, b, d = seg.get("start_s"), seg.get("end_s"), seg.get("deepest_s")
        if a is None or b is None:
            continue
        ax.axvspan(a, b, color=SHADE, zorder=0, lw=0)
        side = seg.get("side")
        if stance:
            lab = f"standing on {side} leg" if side else "single-leg stance"
        else:
            lab = f"rep {seg.get('index', '')}" + (f" ({side[0].upper()})" if side else "")
        if labels:
            ax.text((a + b) / 2, 0.97, lab, transform=ax.get_xaxis_transform(), ha="center", va="top",
                    fontsize=6.5, color="#555555")
        if d is not None and not stance:
            ax.axvline(d, color="#777777", lw=0.7, ls=":", zorder=1)


def _mark_deepest(ax, data: ReportData, t: list[float], y: list[float], colour: str, side: str | None) -> None:
    """A circle on ``y`` at each rep's deepest frame (only reps on ``side`` when given; none for stance
    periods, whose "deepest" frame is the largest pelvic drop, not a squat depth)."""
    if data.test == "single_leg_stance":
        return
    for seg in data.segments:
        d = seg.get("deepest_s")
        if d is None or (side and seg.get("side") and seg.get("side") != side):
            continue
        i = min(range(len(t)), key=lambda k: abs(t[k] - d))
        if math.isfinite(y[i]):
            ax.plot([t[i]], [y[i]], marker="o", ms=4.5, mfc="white", mec=colour, mew=1.3, zorder=5)


def _fig_legend(fig: Figure, axes: list, ncol: int, height_in: float, top_in: float = 0.3) -> None:
    """One legend for the figure, below the x axis, so it never covers the data."""
    handles, labels = [], []
    for ax in axes:
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    n_rows = math.ceil(len(handles) / ncol) if handles else 0
    legend_in = 0.18 * n_rows
    if handles:
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.02), ncol=ncol, frameon=False,
                   handlelength=2.0, columnspacing=1.6)
    fig.subplots_adjust(left=0.11, right=0.985, top=1 - top_in / height_in,
                        bottom=(0.42 + legend_in) / height_in)


def _finish_axes(ax, t: list[float]) -> None:
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.set_xlim(min(t), max(t))
    ax.grid(axis="y", color="#DDDDDD", lw=0.5)
    ax.axhline(0, color="#444444", lw=0.8, zorder=2)


def _headroom(ax, lo_min: float, hi_min: float, frac: float = 0.16) -> None:
    lo, hi = ax.get_ylim()
    lo, hi = min(lo, lo_min), max(hi, hi_min)
    ax.set_ylim(lo, hi + frac * (hi - lo))   # room for the rep labels


def knee_figure(data: ReportData, compact: bool = False, height_scale: float = 1.0) -> Figure | None:
    """Knee FPPA left/right (filtered) over time; for single-leg squats the flag thresholds; for double-leg
    squats a second panel with the knee separation ratio and its threshold."""
    t = _series(data, "time_s")
    fl, fr = _series(data, "knee_fppa_left_deg"), _series(data, "knee_fppa_right_deg")
    if t is None or (fl is None and fr is None):
        return None
    single = data.test != "double_leg_squat"
    sep = None if single else _series(data, "knee_separation_ratio")
    stance_side = data.result.get("stance_side")
    sides_used = {s.get("side") for s in data.segments if s.get("side")}
    height = ((3.1 if compact else 4.1) if sep else (2.25 if compact else 2.9)) * height_scale
    fig = Figure(figsize=(WIDTH_IN, height))
    FigureCanvasAgg(fig)
    if sep:
        ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2], "hspace": 0.12})
    else:
        ax, ax2 = fig.subplots(1, 1), None
    _shade_segments(ax, data)
    for name, y, colour in (("left", fl, LEFT_COLOUR), ("right", fr, RIGHT_COLOUR)):
        if y is None:
            continue
        lifted = bool(single and sides_used and name not in sides_used)
        lab = f"{name} knee"
        if single and sides_used:
            lab += " (lifted leg)" if lifted else " (standing leg)"
        ax.plot(t, y, color=colour, lw=0.9 if lifted else 1.5, alpha=0.5 if lifted else 1.0, label=lab, zorder=3)
        if not lifted:
            _mark_deepest(ax, data, t, y, colour, name if single else None)
    if data.test == "single_leg_squat":
        mild, marked = data.threshold("fppa_sls_mild"), data.threshold("fppa_sls_marked")
        if mild is not None:
            ax.axhline(mild, color=MILD_COLOUR, lw=1.0, ls="--", zorder=2, label=f"flag ≥ {mild:.1f}° (mild)")
        if marked is not None:
            ax.axhline(marked, color=MARKED_COLOUR, lw=1.0, ls="--", zorder=2, label=f"marked ≥ {marked:.1f}°")
    _finish_axes(ax, t)
    _headroom(ax, -5, 5)
    ax.set_ylabel("knee FPPA (°)\n+ = knee inward" if sep else "knee FPPA (°)\n+ = knee inward (valgus)")
    title = "Knee frontal-plane projection angle (FPPA)"
    if stance_side:
        title += f" — standing on the {stance_side} leg"
    ax.set_title(title, loc="left", fontweight="bold")
    axes = [ax]
    if ax2 is not None and sep is not None:
        _shade_segments(ax2, data, labels=False)
        ax2.plot(t, sep, color="#333333", lw=1.4, label="knee separation (knee ÷ ankle width)", zorder=3)
        _mark_deepest(ax2, data, t, sep, "#333333", None)
        thr = data.threshold("knee_separation_ratio_mild")
        if thr is not None:
            ax2.axhline(thr, color=MILD_COLOUR, lw=1.0, ls="--", label=f"flag < {thr:.2f} (knees moving in)")
        ax2.set_xlim(min(t), max(t))
        ax2.grid(axis="y", color="#DDDDDD", lw=0.5)
        ax2.axhline(1.0, color="#444444", lw=0.6, zorder=2)
        lo, hi = ax2.get_ylim()
        ax2.set_ylim(min(lo, (thr if thr is not None else 0.8) - 0.08), max(hi, 1.1))
        ax2.set_ylabel("knee ÷ ankle width\n< 1 = knees closer")
        ax2.set_xlabel("time (s)")
        axes.append(ax2)
    else:
        ax.set_xlabel("time (s)")
    _fig_legend(fig, axes, 3 if sep else 4 if not single else 2, height)
    return fig


def pelvis_figure(data: ReportData, compact: bool = False, height_scale: float = 1.0) -> Figure | None:
    """Pelvic obliquity and trunk lean relative to neutral standing (or to the image when no baseline)."""
    t = _series(data, "time_s")
    if t is None:
        return None
    pel, trunk = _series(data, "pelvic_obliquity_rel_deg"), _series(data, "trunk_lean_rel_deg")
    rel = True
    if pel is None and trunk is None:
        pel, trunk, rel = _series(data, "pelvic_obliquity_deg"), _series(data, "trunk_lean_deg"), False
    if pel is None and trunk is None:
        return None
    height = (2.15 if compact else 2.9) * height_scale
    fig = Figure(figsize=(WIDTH_IN, height))
    FigureCanvasAgg(fig)
    ax = fig.subplots(1, 1)
    _shade_segments(ax, data)
    me = (data.result.get("measurement_error") or {}).get("pelvis_detectable_change_deg", 4.0)
    if isinstance(me, (int, float)):
        ax.axhspan(-me, me, color="#F5F0E1", zorder=0.5, lw=0, label=f"±{me:g}° (pelvis detectable change)")
    if pel is not None:
        ax.plot(t, pel, color=PELVIS_COLOUR, lw=1.5, zorder=3,
                label="pelvic obliquity, + = left hip lower (low confidence)")
        _mark_deepest(ax, data, t, pel, PELVIS_COLOUR, None)
    if trunk is not None:
        ax.plot(t, trunk, color=TRUNK_COLOUR, lw=1.5, zorder=3, label="trunk lean, + = shoulders toward left")
        _mark_deepest(ax, data, t, trunk, TRUNK_COLOUR, None)
    _finish_axes(ax, t)
    _headroom(ax, -6, 6)
    ax.set_ylabel(f"angle {'vs neutral' if rel else 'vs image'} (°)\n+ = toward subject's left")
    ax.set_xlabel("time (s)")
    ref = "relative to neutral standing" if rel else "relative to the image (no neutral standing found)"
    ax.set_title(f"Pelvis and trunk, {ref}", loc="left", fontweight="bold")
    _fig_legend(fig, [ax], 2, height)
    return fig


def plot_caption(data: ReportData, key: str) -> str:
    """The caption under a plot, including how to read the signs for this clip's standing leg."""
    if key == "knee":
        txt = ("Knee angle over time (filtered, as in frames.csv). Grey bands: "
               + ("single-leg stance periods." if data.test == "single_leg_stance" else
                  "reps; dotted lines and circles: each rep's deepest frame, where the findings are measured."))
        if data.test == "double_leg_squat":
            txt += (" In a double-leg squat the FPPA has no published norm and reads negative when the knees track "
                    "outward; the knees are judged by their separation (lower panel), tracking over the foot and "
                    "left–right difference.")
        return txt
    txt = ("Pelvis and trunk over time. The pelvis line is low confidence (the pose model's hip points miss "
           "drops of a few degrees); trunk lean is measured reliably.")
    side = data.result.get("stance_side")
    if side in ("left", "right") and data.test != "double_leg_squat":
        lifted = "right" if side == "left" else "left"
        sign_lean = "positive" if side == "left" else "negative"
        sign_drop = "positive" if lifted == "left" else "negative"
        txt += (f" Standing on the {side} leg, a lean toward the standing leg reads {sign_lean} here, and a "
                f"drop of the lifted ({lifted}) side of the pelvis reads {sign_drop}.")
    return txt


def figures(data: ReportData, compact: bool = False, height_scale: float = 1.0) -> dict[str, Figure]:
    """The report's figures by key; ``compact`` makes them shorter (for the PDF page), ``height_scale``
    shorter still (a long PDF report); widths and font sizes stay."""
    out = {}
    with matplotlib.rc_context(_RC):
        for key, make in (("knee", knee_figure), ("pelvis", pelvis_figure)):
            fig = make(data, compact, height_scale)
            if fig is not None:
                out[key] = fig
    return out


_SVG_STRIP = (re.compile(r"<\?xml[^>]*\?>\s*"), re.compile(r"<!DOCTYPE[^>]*>\s*", re.S),
              re.compile(r"<metadata>.*?</metadata>\s*", re.S))


def _clean_svg(svg: str, label: str) -> str:
    for rx in _SVG_STRIP:
        svg = rx.sub("", svg)
    # scale with the page: drop the fixed pt size, keep the viewBox
    svg = re.sub(r'<svg([^>]*?)\swidth="[^"]*"\s+height="[^"]*"', r'<svg\1 width="100%"', svg, count=1)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)
    return svg.strip()


def plot_svgs(data: ReportData) -> dict[str, str]:
    """``{"knee": svg, "pelvis": svg}`` (only the plots the data allow), inline-ready SVG text."""
    out = {}
    with matplotlib.rc_context(_RC):
        for key, fig in figures(data).items():
            buf = io.StringIO()
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
            out[key] = _clean_svg(buf.getvalue(), f"{key} plot")
    return out


def plot_pngs(data: ReportData, dpi: int = 170, compact: bool = True, height_scale: float = 1.0) -> dict[str, bytes]:
    """``{"knee": png, "pelvis": png}`` at ``dpi`` (figures are 7.2 in wide; ``compact``: shorter;
    ``height_scale``: shorter still)."""
    out = {}
    with matplotlib.rc_context(_RC):
        for key, fig in figures(data, compact, height_scale).items():
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
            out[key] = buf.getvalue()
    return out

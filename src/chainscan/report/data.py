"""Everything a screening report shows, gathered from one output folder.

``load_report_data(out_dir)`` reads ``result.json`` (required), ``frames.csv`` (for the plots),
``keyframes/keyframe_left.png`` / ``keyframe_right.png`` and ``plan.json`` (all optional), so that the
HTML and PDF renderers only format what is already there. Conventions are those of result.json
(docs/result-schema.md): subject's left/right, degrees, + = valgus / left hip lower / lean to the left.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from ..errors import ChainscanError

#: result.json major version this report understands
SUPPORTED_MAJOR = 1

#: frames.csv columns the plots use (others are skipped to keep loading cheap)
PLOT_COLUMNS = ("time_s", "knee_fppa_left_deg", "knee_fppa_right_deg", "knee_separation_ratio",
                "pelvic_obliquity_deg", "pelvic_obliquity_rel_deg", "trunk_lean_deg", "trunk_lean_rel_deg",
                "pelvic_drop_deg", "trunk_lean_ipsi_deg")

TEST_NAMES = {"double_leg_squat": "Double-leg squat", "single_leg_squat": "Single-leg squat",
              "single_leg_stance": "Single-leg stance (balance)"}


@dataclass
class ReportData:
    """The content of one report. ``result`` is result.json as a dict; ``frames`` maps frames.csv columns
    (``PLOT_COLUMNS`` only) to lists of floats (NaN = unknown) plus ``stance`` as strings; ``keyframes``
    maps a caption key (``left``/``right``/other stem) to PNG bytes; ``plan`` is
    ``chainscan.recommendations.recommend(...).to_dict()`` or None; ``diagram_svg`` / ``diagram_png`` the
    kinetic-chain body diagram (HTML uses the SVG, the PDF the PNG)."""

    out_dir: Path
    result: dict[str, Any]
    frames: dict[str, list] | None = None
    keyframes: dict[str, bytes] = field(default_factory=dict)
    plan: dict[str, Any] | None = None
    diagram_svg: str | None = None
    diagram_png: bytes | None = None
    subject: str | None = None
    notes: list[str] = field(default_factory=list)   # problems met while loading (shown in the report)

    # -- convenience -------------------------------------------------------------------------------
    @property
    def test(self) -> str:
        return str(self.result.get("test") or "")

    @property
    def test_name(self) -> str:
        return TEST_NAMES.get(self.test, self.test.replace("_", " ") or "unknown test")

    @property
    def side_text(self) -> str:
        side = self.result.get("stance_side")
        if side:
            return f"standing on the {side} leg"
        if self.test == "double_leg_squat":
            return "both legs"
        sides = sorted({str(p["side"]) for p in self.segments if p.get("side")})
        return " and ".join(f"{s} leg" for s in sides) if sides else "side not determined"

    @property
    def subject_label(self) -> str:
        return self.subject.strip() if self.subject and self.subject.strip() else "(no subject label)"

    @property
    def date_text(self) -> str:
        created = str(self.result.get("created") or "")
        try:
            return _dt.datetime.fromisoformat(created).strftime("%d %b %Y, %H:%M")
        except ValueError:
            return created or "date unknown"

    @property
    def disclaimer(self) -> str:
        return str(self.result.get("disclaimer") or
                   "This is a movement screen, not a diagnosis; discuss pain or concerns with a professional.")

    @property
    def segments(self) -> list[dict[str, Any]]:
        """Reps (squats) and stance periods (single-leg stance), in time order."""
        segs = list(self.result.get("reps") or []) + list(self.result.get("stance_periods") or [])
        return sorted(segs, key=lambda s: (s.get("start_s") is None, float(s.get("start_s") or 0.0)))

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list(self.result.get("findings") or [])

    @property
    def flagged(self) -> list[dict[str, Any]]:
        return [f for f in self.findings if f.get("severity") in ("mild", "marked")]

    @property
    def thresholds(self) -> dict[str, Any]:
        return dict((self.result.get("config") or {}).get("thresholds") or {})

    def threshold(self, key: str) -> float | None:
        t = self.thresholds.get(key)
        v = t.get("value") if isinstance(t, dict) else t
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None

    @property
    def red_flags(self) -> list[str]:
        return [str(x) for x in ((self.plan or {}).get("red_flags") or [])]

    @property
    def version_text(self) -> str:
        return (f"chainscan {self.result.get('chainscan_version', '?')} · result schema "
                f"{self.result.get('schema_version', '?')}")


def _read_result(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ChainscanError(f"No result.json in {path.parent}; run `chainscan screen VIDEO --out "
                             f"{path.parent}` first, or point to a folder that holds a screening result.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ChainscanError(f"{path} is not a readable result.json ({e}); re-run the screen to write it "
                             f"again.") from None
    if not isinstance(data, dict) or "findings" not in data or "test" not in data:
        raise ChainscanError(f"{path} does not look like a chainscan result (no test or findings); re-run "
                             f"the screen to write it again.")
    version = str(data.get("schema_version", ""))
    try:
        major = int(version.split(".")[0])
    except ValueError:
        raise ChainscanError(f"{path} has no valid schema_version ({version!r}); re-run the screen with this "
                             f"chainscan version.") from None
    if major != SUPPORTED_MAJOR:
        raise ChainscanError(f"{path} uses result schema {version}, but this report reads version "
                             f"{SUPPORTED_MAJOR}.x; re-run the screen with this chainscan version.")
    return data


def _float(s: str) -> float:
    try:
        return float(s) if s != "" else math.nan
    except ValueError:
        return math.nan


def read_frames_csv(path: Path) -> dict[str, list] | None:
    """The plot columns of frames.csv (floats, NaN for empty cells) and ``stance``; None if unreadable."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            cols = [c for c in PLOT_COLUMNS if c in (reader.fieldnames or [])]
            if "time_s" not in cols:
                return None
            out: dict[str, list] = {c: [] for c in cols}
            out["stance"] = []
            for row in reader:
                for c in cols:
                    out[c].append(_float(row.get(c, "")))
                out["stance"].append(row.get("stance", ""))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return out if out["time_s"] else None


def _png(path: Path) -> bytes | None:
    try:
        b = path.read_bytes()
    except OSError:
        return None
    return b if b.startswith(b"\x89PNG\r\n\x1a\n") else None


def load_report_data(out_dir: Path, *, plan: dict | None = None, diagram_svg: str | None = None,
                     subject: str | None = None, diagram_png: bytes | None = None) -> ReportData:
    """Gather a report's content from a ``chainscan screen`` output folder.

    ``result.json`` is required (``ChainscanError`` when missing or not a chainscan result of schema 1.x).
    ``frames.csv``, ``keyframes/keyframe_left.png`` / ``keyframe_right.png``, ``plan.json``,
    ``diagram.svg`` and ``diagram.png`` are optional; ``plan`` / ``diagram_svg`` / ``diagram_png`` given
    here take precedence over the files.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise ChainscanError(f"{out} is not a folder; give the output folder of `chainscan screen`.")
    result = _read_result(out / "result.json")
    data = ReportData(out_dir=out, result=result, subject=subject)

    frames_path = out / "frames.csv"
    if frames_path.is_file():
        data.frames = read_frames_csv(frames_path)
        if data.frames is None:
            data.notes.append("frames.csv could not be read: the plots are left out.")

    kdir = out / "keyframes"
    if kdir.is_dir():
        for p in sorted(kdir.glob("keyframe_*.png"), key=lambda q: ({"keyframe_left": 0,
                                                                      "keyframe_right": 1}.get(q.stem, 2), q.name)):
            b = _png(p)
            if b is not None:
                data.keyframes[p.stem[len("keyframe_"):]] = b

    if plan is None and (out / "plan.json").is_file():
        try:
            loaded = json.loads((out / "plan.json").read_text(encoding="utf-8"))
            plan = loaded if isinstance(loaded, dict) else None
            if plan is None:
                data.notes.append("plan.json is not an exercise plan: it is left out.")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            data.notes.append("plan.json could not be read: the exercise plan is left out.")
    data.plan = plan

    if diagram_svg is None and (out / "diagram.svg").is_file():
        try:
            diagram_svg = (out / "diagram.svg").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            diagram_svg = None
    data.diagram_svg = diagram_svg
    if diagram_png is None and (out / "diagram.png").is_file():
        diagram_png = _png(out / "diagram.png")
    data.diagram_png = diagram_png
    return data


# -- formatting shared by the HTML and PDF renderers ---------------------------------------------------

MINUS = "\u2212"

#: finding code -> (config key of the mild cut-off, of the marked cut-off, True if *low* values are flagged)
THRESHOLD_KEYS: dict[str, tuple[str, str | None, bool]] = {
    "knee_valgus": ("fppa_sls_mild", "fppa_sls_marked", False),
    "knees_inward": ("knee_separation_ratio_mild", "knee_separation_ratio_marked", True),
    "knee_inside_foot": ("knee_over_foot_mild", "knee_over_foot_marked", False),
    "pelvic_drop": ("pelvic_drop_mild", "pelvic_drop_marked", False),
    "trunk_lean": ("trunk_lean_mild", "trunk_lean_marked", False),
    "knee_asymmetry": ("fppa_asymmetry", None, False),
    "pelvic_drop_asymmetry": ("pelvic_drop_asymmetry", None, False),
    "balance_hold_short": ("balance_hold_target", None, True),
}

SEVERITY_TEXT = {"ok": "OK", "mild": "Mild", "marked": "Marked", "unknown": "Unknown"}


def unit_suffix(unit: str | None) -> str:
    """How a unit follows a number: "°", " s", " shank lengths", "" for ratios."""
    u = (unit or "").strip()
    if u in ("deg", "°"):
        return "°"
    if u in ("", "ratio"):
        return ""
    return f" {u}"


def _round_half_up(v: float, nd: int) -> float:
    """Round as people (and result.json's messages) do: 10.85 -> 10.9, not binary-float 10.8."""
    q = Decimal(1).scaleb(-nd)
    return float(Decimal(repr(float(v))).quantize(q, rounding=ROUND_HALF_UP))


def fmt_num(v: Any, unit: str | None = None, *, signed: bool | None = None, nd: int | None = None) -> str:
    """A number with its unit, signed for angles (+10.9°), "–" when unknown."""
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        return "–"
    suffix = unit_suffix(unit)
    if nd is None:
        nd = 1 if suffix in ("°", " s") else 2
    if signed is None:
        signed = suffix == "°" or "shank" in suffix
    r = _round_half_up(v, nd)
    txt = f"{abs(r):.{nd}f}"
    if signed and r != 0:
        txt = ("+" if r > 0 else MINUS) + txt
    elif not signed and r < 0:
        txt = MINUS + txt
    return txt + suffix


def finding_value(f: dict[str, Any]) -> str:
    signed = f.get("code") not in ("balance_hold_short", "knees_inward", "knee_asymmetry", "pelvic_drop_asymmetry")
    return fmt_num(f.get("value"), f.get("unit"), signed=signed)


def finding_reps(f: dict[str, Any]) -> str:
    vals = [v for v in (f.get("rep_values") or []) if isinstance(v, (int, float))]
    if len(vals) < 2:
        return ""
    signed = f.get("code") not in ("balance_hold_short", "knees_inward")
    unit = f.get("unit") if unit_suffix(f.get("unit")) in ("°", " s") else ""   # long units: once, on the value
    return "per rep: " + ", ".join(fmt_num(v, unit, signed=signed) for v in vals)


def threshold_text(f: dict[str, Any], data: ReportData) -> str:
    """"flag ≥ 13.5°; marked ≥ 16.8°" — the cut-off compared against, and the marked one if configured."""
    unit = f.get("unit")
    keys = THRESHOLD_KEYS.get(str(f.get("code")))
    low = keys[2] if keys else False
    op = "<" if low else "≥"
    # result.json's finding threshold is the cut-off of the severity reached (the marked one when marked), so
    # take both cut-offs from the configuration when it has them
    t = data.threshold(keys[0]) if keys else None
    if t is None:
        t = f.get("threshold")
    if not isinstance(t, (int, float)):
        return "–"
    short = unit_suffix(unit) in ("°", " s", "")
    nd = 1 if unit_suffix(unit) in ("°", " s") else 2
    first_unit = unit if short else ""
    txt = f"flag {op} {fmt_num(t, first_unit, signed=False, nd=nd)}"
    m = data.threshold(keys[1]) if keys and keys[1] else None
    if m is not None and m != t:
        txt += f"; marked {op} {fmt_num(m, first_unit, signed=False, nd=nd)}"
    if not short:
        txt += unit_suffix(unit)
    return txt


def is_heuristic(f: dict[str, Any]) -> bool:
    return str(f.get("reference") or "heuristic").strip().lower().startswith("heuristic")


def source_text(f: dict[str, Any]) -> str:
    ref = str(f.get("reference") or "heuristic").strip()
    return ref


#: per-rep table columns: (header, unit, getter(segment, stance side) -> value)
def rep_columns(data: ReportData) -> list[tuple[str, str, Any]]:
    """Columns of the per-rep / per-stance-period table for this test, each (header, unit, getter)."""
    single = data.test != "double_leg_squat"

    def side_val(side: str, key: str):
        return lambda s: (s.get(side) or {}).get(key)

    cols: list[tuple[str, str, Any]] = [
        ("start", "s", lambda s: s.get("start_s")),
        ("deepest" if data.test != "single_leg_stance" else "max. drop", "s", lambda s: s.get("deepest_s")),
        ("end", "s", lambda s: s.get("end_s")),
        ("knee FPPA L", "deg", side_val("left", "knee_fppa_deg")),
        ("knee FPPA R", "deg", side_val("right", "knee_fppa_deg")),
    ]
    if single:
        cols += [("pelvic drop", "deg", lambda s: s.get("pelvic_drop_deg")),
                 ("trunk lean to stance leg", "deg", lambda s: s.get("trunk_lean_ipsi_deg"))]
    else:
        cols += [("knee separation", "ratio", lambda s: s.get("knee_separation_ratio")),
                 ("pelvic obliquity vs neutral", "deg", lambda s: s.get("pelvic_obliquity_rel_deg")),
                 ("trunk lean vs neutral", "deg", lambda s: s.get("trunk_lean_rel_deg"))]
    return cols


def rep_table_note(data: ReportData) -> str:
    """Units and signs of the per-rep table, in one sentence."""
    base = ("Values at each rep's deepest frame. Knee FPPA in degrees, + = knee inward (valgus), "
            f"{MINUS} = outward. ")
    if data.test == "double_leg_squat":
        return base + ("Knee separation = knee distance ÷ ankle distance (< 1 knees closer than ankles). Pelvic "
                       "obliquity vs neutral standing, + = subject's left hip lower; trunk lean vs neutral, + = "
                       "shoulders toward the subject's left.")
    if data.test == "single_leg_stance":
        base = ("Values at the frame of largest pelvic drop in each stance period. Knee FPPA in degrees, + = "
                f"knee inward (valgus), {MINUS} = outward. ")
    return base + ("Pelvic drop in degrees beyond neutral standing, + = lifted-leg side lower (low confidence); "
                   "trunk lean in degrees beyond neutral, + = toward the standing leg. The standing leg's "
                   "knee angle is the one that matters (shown in bold).")


def segment_label(data: ReportData) -> str:
    return "Period" if data.test == "single_leg_stance" else "Rep"


def measurement_error_text(data: ReportData) -> list[str]:
    """The caveats every report carries, from result.json measurement_error (with defaults)."""
    me = data.result.get("measurement_error") or {}
    sem = me.get("knee_fppa_sem_deg", 3.0)
    mdc = me.get("knee_fppa_detectable_change_deg", 8.0)
    pel = me.get("pelvis_detectable_change_deg", 4.0)
    out = [f"Knee FPPA: standard error of measurement ≈ {fmt_num(sem, 'deg', signed=False, nd=0)}, smallest "
           f"detectable change ≈ {fmt_num(mdc, 'deg', signed=False, nd=0)} "
           f"({me.get('knee_fppa_source', 'Munro, Herrington & Carolan 2012')}). A difference between sides "
           f"or between visits smaller than this may be measurement noise.",
           f"Pelvis: detectable change ≈ {fmt_num(pel, 'deg', signed=False, nd=0)}; pelvis findings are always "
           "low confidence because the pose model's hip points miss drops of a few degrees — judge the pelvis "
           "on the video and by the trunk lean."]
    if me.get("knee_fppa_validity"):
        out.append(str(me["knee_fppa_validity"]) + ".")
    if me.get("markerless_note"):
        out.append(str(me["markerless_note"]))
    out.append("Full details: measurement_error in result.json.")
    return out


def summary_text(data: ReportData) -> str:
    flagged = data.flagged
    if not flagged:
        unknown = [f for f in data.findings if f.get("severity") == "unknown"]
        s = "No check was above its threshold."
        if unknown:
            s += f" {len(unknown)} could not be judged from this view."
        return s
    parts = []
    for f in flagged:
        side = f" ({f['side']})" if f.get("side") else ""
        parts.append(f"{f.get('title', f.get('code'))}{side}: {SEVERITY_TEXT.get(str(f.get('severity')), '')}"
                     f" ({finding_value(f)})")
    return f"{len(flagged)} finding{'s' if len(flagged) != 1 else ''} above threshold: " + "; ".join(parts) + "."

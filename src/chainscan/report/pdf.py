"""The screening report as an A4 PDF (reportlab platypus), for printing and filing.

Same content as the HTML report, laid out for paper: every page carries a header (subject, date, test)
and a footer (the disclaimer, software and schema version, "page X of Y"); tables repeat their header
row across pages; plots are PNG; key frames and the body diagram (drawn as vectors from its SVG with
svglib, or from ``ReportData.diagram_png`` when one is given) are scaled to fit.

Text uses DejaVu Sans registered from matplotlib's own copy (always installed with matplotlib), which
has the "°", "±", "≥", "−", "–", "×" and "÷" glyphs that reportlab's built-in Helvetica lacks.
"""

from __future__ import annotations

import html
import io
import os
import tempfile
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (
    CondPageBreak,
    Image,
    KeepTogether,
    ListFlowable,
    ListItem,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ..errors import ChainscanError
from .data import (
    SEVERITY_TEXT,
    ReportData,
    finding_reps,
    finding_value,
    fmt_num,
    is_heuristic,
    measurement_error_text,
    rep_columns,
    rep_table_note,
    segment_label,
    source_text,
    summary_text,
    threshold_text,
)
from .plots import plot_caption, plot_pngs

FONT = "ChainscanSans"
FONT_BOLD = "ChainscanSans-Bold"
FONT_ITALIC = "ChainscanSans-Oblique"

PAGE_W, PAGE_H = A4
MARGIN_X = 13 * mm
MARGIN_TOP = 19 * mm
MARGIN_BOTTOM = 23 * mm
FOOT_RULE_Y = 18 * mm
CONTENT_W = PAGE_W - 2 * MARGIN_X

ACCENT = colors.HexColor("#1f4e79")
LINE = colors.HexColor("#c9ced4")
HEAD_BG = colors.HexColor("#eef2f6")
MUTED = colors.HexColor("#5b6470")
SEVERITY_COLOURS = {"ok": ("#1e7b34", "#e3f3e6"), "mild": ("#8a5a00", "#fff1c9"),
                    "marked": ("#a52019", "#fbe0dd"), "unknown": ("#555555", "#ececec")}


# -- fonts -----------------------------------------------------------------------------------------------

def _font_file(name: str) -> Path | None:
    """DejaVu TTF: matplotlib's bundled copy first (always present with matplotlib), then the system's."""
    candidates = []
    try:
        import matplotlib
        candidates.append(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name)
    except Exception:   # pragma: no cover - matplotlib is a dependency
        pass
    candidates.append(Path("/usr/share/fonts/truetype/dejavu") / name)
    for c in candidates:
        if c.is_file():
            return c
    return None


def register_fonts() -> str:
    """Register DejaVu Sans (regular, bold, oblique) with reportlab once; return the regular font name."""
    if FONT in pdfmetrics.getRegisteredFontNames():
        return FONT
    files = {FONT: "DejaVuSans.ttf", FONT_BOLD: "DejaVuSans-Bold.ttf", FONT_ITALIC: "DejaVuSans-Oblique.ttf"}
    paths = {k: _font_file(v) for k, v in files.items()}
    if paths[FONT] is None:
        raise ChainscanError("The DejaVuSans font that ships with matplotlib was not found, so the PDF cannot "
                             "show degree signs; reinstall matplotlib (pip install --force-reinstall matplotlib).")
    for k, p in paths.items():
        pdfmetrics.registerFont(TTFont(k, str(p if p is not None else paths[FONT])))
    from reportlab.pdfbase.pdfmetrics import registerFontFamily
    registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT_ITALIC, boldItalic=FONT_BOLD)
    return FONT


# -- styles ------------------------------------------------------------------------------------------------

def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=8.5, leading=11, alignment=TA_LEFT)
    return {
        "base": base,
        "title": ParagraphStyle("title", base, fontName=FONT_BOLD, fontSize=16, leading=20, textColor=ACCENT,
                                spaceAfter=4),
        "h2": ParagraphStyle("h2", base, fontName=FONT_BOLD, fontSize=11.5, leading=14, textColor=ACCENT,
                             spaceBefore=9, spaceAfter=4, keepWithNext=1),
        "h3": ParagraphStyle("h3", base, fontName=FONT_BOLD, fontSize=9.5, leading=12, spaceBefore=4, spaceAfter=2,
                             keepWithNext=1),
        "cell": ParagraphStyle("cell", base, fontSize=7.6, leading=9.4),
        "cellb": ParagraphStyle("cellb", base, fontName=FONT_BOLD, fontSize=7.6, leading=9.4),
        "cellr": ParagraphStyle("cellr", base, fontSize=7.6, leading=9.4, alignment=2),
        "head": ParagraphStyle("head", base, fontName=FONT_BOLD, fontSize=7.4, leading=9),
        "headr": ParagraphStyle("headr", base, fontName=FONT_BOLD, fontSize=7.4, leading=9, alignment=2),
        "small": ParagraphStyle("small", base, fontSize=7.2, leading=9, textColor=MUTED),
        "label": ParagraphStyle("label", base, fontSize=6.8, leading=8.5, textColor=MUTED),
        "metav": ParagraphStyle("metav", base, fontSize=8.5, leading=10.5),
        "disclaimer": ParagraphStyle("disclaimer", base, fontName=FONT_BOLD, fontSize=9, leading=11.5),
        "foot": ParagraphStyle("foot", base, fontSize=6.8, leading=8.3, textColor=MUTED),
    }


def _e(v: Any) -> str:
    """Escape text for a reportlab Paragraph (its markup is XML-like)."""
    return html.escape("" if v is None else str(v), quote=False)


def _p(text: Any, style: ParagraphStyle, *, raw: bool = False) -> Paragraph:
    return Paragraph(str(text) if raw else _e(text), style)


def _mk_table(rows: list, **kw: Any) -> Table:
    """A Table whose cells use the registered font (Table's default, Helvetica, lacks "≥" and "−")."""
    t = Table(rows, **kw)
    t.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT)]))
    return t


def _table(rows: list[list[Any]], widths: list[float], *, header: bool = True, extra: list | None = None) -> Table:
    t = _mk_table(rows, colWidths=widths, repeatRows=1 if header else 0, hAlign="LEFT")
    style = [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.4, LINE),
             ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
             ("TOPPADDING", (0, 0), (-1, -1), 2.2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.6)]
    if header:
        style += [("BACKGROUND", (0, 0), (-1, 0), HEAD_BG), ("LINEBELOW", (0, 0), (-1, 0), 0.8, ACCENT)]
    t.setStyle(TableStyle(style + (extra or [])))
    return t


def _box(flowables: list, border: str, fill: str, width: float = CONTENT_W, pad: float = 5) -> Table:
    t = _mk_table([[flowables]], colWidths=[width], hAlign="LEFT")
    t.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 1.2, colors.HexColor(border)),
                           ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(fill)),
                           ("LEFTPADDING", (0, 0), (-1, -1), pad + 2), ("RIGHTPADDING", (0, 0), (-1, -1), pad + 2),
                           ("TOPPADDING", (0, 0), (-1, -1), pad), ("BOTTOMPADDING", (0, 0), (-1, -1), pad)]))
    return t


def _image(png: bytes, max_w: float, max_h: float) -> Image:
    w, h = ImageReader(io.BytesIO(png)).getSize()
    scale = min(max_w / w, max_h / h)
    return Image(io.BytesIO(png), width=w * scale, height=h * scale)


def _svg_drawing(svg: str, max_w: float, max_h: float):
    """The body diagram's SVG as a vector reportlab Drawing (svglib), scaled to fit; None if it cannot be read."""
    from reportlab.graphics.shapes import Drawing
    from svglib.svglib import svg2rlg

    try:
        drawing = svg2rlg(io.BytesIO(svg.encode("utf-8")))
    except (ValueError, TypeError, AttributeError, OSError):
        return None
    if drawing is None or not drawing.width or not drawing.height:
        return None
    scale = min(max_w / drawing.width, max_h / drawing.height)
    out = Drawing(drawing.width * scale, drawing.height * scale)
    drawing.scale(scale, scale)
    out.add(drawing)
    return out


def _bullets(items: list[str], style: ParagraphStyle, *, numbered: bool = False) -> ListFlowable:
    return ListFlowable([ListItem(_p(x, style), leftIndent=10) for x in items if x],
                        bulletType="1" if numbered else "bullet", start="1" if numbered else "•",
                        leftIndent=10, bulletFontName=FONT, bulletFontSize=style.fontSize - 0.5,
                        bulletOffsetY=0)


# -- sections ---------------------------------------------------------------------------------------------

def _header_section(d: ReportData, st: dict) -> list:
    r = d.result
    src = r.get("source") or {}
    auto = "detected automatically" if r.get("test_detected_automatically") else "chosen by the user"
    cells = [("Subject", d.subject_label), ("Date of screen", d.date_text),
             ("Test", f"{d.test_name} ({auto})"), ("Side", d.side_text),
             ("Video", src.get("video") or "–"),
             ("Length analysed", f"{fmt_num(src.get('duration_s'), 's', signed=False)} at "
                                 f"{fmt_num(src.get('analysed_fps'), '', signed=False, nd=0)} frames/s"),
             ("Pose model", src.get("pose_model") or "–"), ("Software", d.version_text)]
    rows = []
    for i in range(0, len(cells), 4):
        rows.append([_p(k.upper(), st["label"]) for k, _ in cells[i:i + 4]])
        rows.append([_p(v, st["metav"]) for _, v in cells[i:i + 4]])
    meta = _mk_table(rows, colWidths=[CONTENT_W * f for f in (0.28, 0.19, 0.29, 0.24)], hAlign="LEFT")
    meta.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 6),
                              ("TOPPADDING", (0, 0), (-1, -1), 0.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                              ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    out = [_p("Movement screening report", st["title"]), meta, Spacer(1, 5),
           _box([_p(d.disclaimer, st["disclaimer"])], "#b26b00", "#fff6e5"), Spacer(1, 5)]
    summ = f"<b>Summary.</b> {_e(summary_text(d))}"
    if d.red_flags:
        summ += " <b>See the red flags before starting any exercise.</b>"
    out.append(_box([_p(summ, st["base"], raw=True)], "#f3f6f9", "#f3f6f9", pad=4))
    for n in d.notes:
        out.append(_p(f"Note: {n}", st["small"]))
    return out


def _findings_section(d: ReportData, st: dict) -> list:
    out: list = [_p("Findings", st["h2"])]
    if not d.findings:
        return out + [_p("No checks were evaluated for this clip.", st["base"])]
    head = ["Check", "Side", "Value (unit, sign)", "Threshold", "Source", "Severity", "Conf."]
    rows: list[list[Any]] = [[_p(h, st["head"]) for h in head]]
    extra = []
    for i, f in enumerate(d.findings, start=1):
        reps = finding_reps(f)
        val = f"<b>{_e(finding_value(f))}</b>"
        if reps:
            val += f"<br/><font size=6.6 color='#5b6470'>{_e(reps)}</font>"
        if f.get("sign_convention"):
            val += f"<br/><font size=6.6 color='#5b6470'>{_e(f['sign_convention'])}</font>"
        ref = source_text(f)
        if is_heuristic(f):
            rest = ref[len("heuristic"):].lstrip(", ")
            src = "<font color='#5b2c83'><b>heuristic</b></font>" + (f"<br/>{_e(rest)}" if rest else "")
        else:
            src = _e(ref)
        sev = str(f.get("severity")) if f.get("severity") in SEVERITY_TEXT else "unknown"
        fg, bg = SEVERITY_COLOURS[sev]
        rows.append([
            _p(f"<b>{_e(f.get('title') or f.get('code'))}</b><br/><font size=6.8 color='#5b6470'>"
               f"{_e(f.get('message'))}</font>", st["cell"], raw=True),
            _p(f.get("side") or "both", st["cell"]),
            _p(val, st["cell"], raw=True),
            _p(threshold_text(f, d), st["cell"]),
            _p(src, ParagraphStyle("src", st["cell"], fontSize=6.6, leading=8.2, textColor=MUTED), raw=True),
            _p(f"<font color='{fg}'><b>● {SEVERITY_TEXT[sev]}</b></font>", st["cell"], raw=True),
            _p(f.get("confidence") or "–", st["cell"]),
        ])
        extra.append(("BACKGROUND", (5, i), (5, i), colors.HexColor(bg)))
    widths = [w * mm for w in (49, 10, 33, 24, 34, 16, 18)]
    widths[-1] += CONTENT_W - sum(widths)
    out.append(_table(rows, widths, extra=extra))
    out.append(Spacer(1, 2))
    out.append(_p("Value: mean over reps at each rep's deepest frame (single-leg stance: median over each stance "
                  "period). Severity: green OK, amber mild, red marked, grey could not be judged. “Heuristic”: no "
                  "validated cut-off exists; the threshold is a documented choice.", st["small"]))
    return out


def _caveat_section(d: ReportData, st: dict) -> list:
    items = [_p("<b>How precise are these numbers?</b>", st["cell"], raw=True),
             _bullets(measurement_error_text(d), ParagraphStyle("cv", st["cell"], fontSize=7.2, leading=8.9))]
    return [Spacer(1, 5), _box(items, "#d5d9de", "#f7f7f7", pad=4)]


def _quality_section(d: ReportData, st: dict) -> list:
    gates = d.result.get("quality") or []
    if not gates:
        return []
    rows: list[list[Any]] = [[_p(h, st["head"]) for h in ("Recording check", "Result", "Message")]]
    extra = []
    for i, g in enumerate(gates, start=1):
        ok = bool(g.get("passed"))
        name = str(g.get("gate", "")).replace("_", " ") + (" (blocking)" if g.get("blocking") else "")
        rows.append([_p(name, st["cell"]),
                     _p(f"<font color='{'#1e7b34' if ok else '#a52019'}'><b>{'✓ pass' if ok else '✗ fail'}</b></font>",
                        st["cell"], raw=True),
                     _p(g.get("message"), st["cell"])])
        if not ok:
            extra.append(("BACKGROUND", (0, i), (-1, i), colors.HexColor("#fbe0dd")))
    failed = sum(1 for g in gates if not g.get("passed"))
    note = (f"{failed} check{'s' if failed != 1 else ''} failed: findings have lower confidence." if failed
            else "All recording checks passed.")
    if (d.result.get("baseline") or {}).get("source") == "none":
        note += " No neutral standing: pelvis and trunk angles are relative to the image."
    return [KeepTogether([_p("Recording quality", st["h2"]), _p(note, st["small"]), Spacer(1, 2),
                          _table(rows, [36 * mm, 16 * mm, CONTENT_W - 52 * mm], extra=extra)])]


def _reps_section(d: ReportData, st: dict) -> list:
    title = "Per stance period" if d.test == "single_leg_stance" else "Per rep"
    segs = d.segments
    if not segs:
        return [_p(title, st["h2"]), _p("No reps or stance periods were found.", st["base"])]
    cols = rep_columns(d)
    single = d.test != "double_leg_squat"
    head = [_p(segment_label(d), st["head"])] + ([_p("standing leg", st["head"])] if single else [])
    head += [_p(f"{h} ({'°' if u == 'deg' else u})", st["headr"]) for h, u, _ in cols]
    head += [_p("complete", st["head"])]
    rows: list[list[Any]] = [head]
    for s in segs:
        row = [_p(s.get("index"), st["cell"])] + ([_p(s.get("side") or "–", st["cell"])] if single else [])
        for h, u, get in cols:
            v = get(s)
            txt = fmt_num(v, "", signed=False, nd=2) if u == "s" else fmt_num(v, u, signed=(u == "deg"))
            bold = single and h.startswith("knee FPPA") and s.get("side") and h.endswith(s["side"][0].upper())
            row.append(_p(txt, st["cellb"] if bold else st["cellr"]) if bold else _p(txt, st["cellr"]))
        row.append(_p("yes" if s.get("complete") else "no", st["cell"]))
        rows.append(row)
    n_first = 2 if single else 1
    first = [14 * mm] + ([18 * mm] if single else [])
    rest = (CONTENT_W - sum(first) - 15 * mm) / len(cols)
    widths = first + [rest] * len(cols) + [15 * mm]
    widths[-1] = 17 * mm
    widths[len(first):-1] = [(CONTENT_W - sum(first) - 17 * mm) / len(cols)] * len(cols)
    extra = [("ALIGN", (n_first, 0), (-2, -1), "RIGHT")]
    bold_right = ParagraphStyle("br", st["cellb"], alignment=2)
    for row in rows[1:]:
        for k, cell in enumerate(row):
            if isinstance(cell, Paragraph) and cell.style is st["cellb"]:
                row[k] = Paragraph(cell.text, bold_right)
    out = [_p(title, st["h2"]), _table(rows, widths, extra=extra), Spacer(1, 2), _p(rep_table_note(d), st["small"])]
    bal = d.result.get("balance") or []
    if bal and d.test == "single_leg_stance":
        brows: list[list[Any]] = [[_p(h, st["head"]) for h in ("standing leg", "longest hold", "total on this leg",
                                                               "touch-downs", "hold ended by")]]
        for b in bal:
            brows.append([_p(b.get("side"), st["cell"]), _p(fmt_num(b.get("hold_s"), "s", signed=False), st["cell"]),
                          _p(fmt_num(b.get("total_s"), "s", signed=False), st["cell"]),
                          _p(b.get("touchdowns"), st["cell"]),
                          _p("touch-down" if b.get("ended_by_touchdown") else "end of clip", st["cell"])])
        target = d.threshold("balance_hold_target")
        out += [_p("Balance", st["h3"]), _table(brows, [CONTENT_W / 5] * 5)]
        if target is not None:
            out.append(_p(f"Target: {fmt_num(target, 's', signed=False, nd=0)} per side (heuristic).", st["small"]))
    return out


def _plots_section(d: ReportData, st: dict) -> list:
    if d.frames is None:
        return [_p("Over time", st["h2"]), _p("No frames.csv in this folder: the plots are left out.", st["base"])]
    pngs = plot_pngs(d)
    out: list = []
    for k, png in pngs.items():
        block = [_image(png, CONTENT_W, 95 * mm), _p(plot_caption(d, k), st["small"]), Spacer(1, 4)]
        if not out:
            block.insert(0, _p("Over time", st["h2"]))
        out.append(KeepTogether(block))
    return out


def _keyframe_table(d: ReportData, st: dict, width: float, max_h: float) -> Table:
    cells = []
    frames = list(d.keyframes.items())[:4]
    col = width / max(len(frames), 2)
    for key, png in frames:
        cap = f"{key} side" if key in ("left", "right") else key.replace("_", " ")
        cells.append([_image(png, col - 3 * mm, max_h), _p(f"Key frame: {cap} (subject's side)", st["small"])])
    t = _mk_table([cells], colWidths=[col] * len(cells), hAlign="LEFT")
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                           ("RIGHTPADDING", (0, 0), (-1, -1), 3 * mm)]))
    return t


def _chain_items(d: ReportData, st: dict) -> list:
    """The chain explanations as flowables ([] when the plan has none)."""
    items: list = []
    for e in (d.plan or {}).get("explanations") or []:
        head = " · ".join(x for x in (str(e.get("finding") or "").replace("_", " "), e.get("side") or "") if x)
        sev = e.get("severity")
        chip = ""
        if sev in ("ok", "mild", "marked"):
            chip = f" <font color='{SEVERITY_COLOURS[sev][0]}'><b>● {SEVERITY_TEXT[sev]}</b></font>"
        regions = ", ".join(str(r) for r in (e.get("regions") or []))
        txt = f"<b>{_e(head)}</b>{chip}"
        if regions:
            txt += f"<br/><font size=6.8 color='#5b6470'>regions: {_e(regions)}</font>"
        txt += f"<br/>{_e(e.get('text'))}"
        items += [_p(txt, st["cell"], raw=True), Spacer(1, 3)]
    return items


def _frames_and_chain_section(d: ReportData, st: dict) -> list:
    """Key frames, the body diagram and the chain explanation side by side (saves a page on paper)."""
    items = _chain_items(d, st)
    has_chain = bool(items or d.diagram_png or d.diagram_svg)
    if not d.keyframes and not has_chain:
        return []
    if has_chain and not items:
        items = [_p("No explanation in the plan.", st["cell"])]
    diagram = _svg_drawing(d.diagram_svg, 44 * mm, 64 * mm) if (d.diagram_svg and not d.diagram_png) else None
    cols: list = []
    widths: list[float] = []
    if d.keyframes:
        kw = min(len(d.keyframes), 2) * 34 * mm if has_chain else CONTENT_W
        cols.append(_keyframe_table(d, st, kw, 58 * mm if has_chain else 62 * mm))
        widths.append(kw)
    if d.diagram_png:
        cols.append(_image(d.diagram_png, 44 * mm, 64 * mm))
        widths.append(48 * mm)
    elif diagram is not None:
        cols.append(diagram)
        widths.append(48 * mm)
    if has_chain:
        cols.append(items)
        widths.append(CONTENT_W - sum(widths))
    title = ("Key frames and the kinetic chain" if d.keyframes and has_chain
             else "Key frames" if d.keyframes else "Along the kinetic chain")
    t = _mk_table([cols], colWidths=widths, hAlign="LEFT")
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                           ("RIGHTPADDING", (0, 0), (-1, -1), 4)]))
    return [_p(title, st["h2"]), t]


def _red_flags_section(d: ReportData, st: dict) -> list:
    if not d.red_flags:
        return []
    box = _box([_p("<b>Red flags: see a professional</b>", ParagraphStyle("rf", st["base"], textColor=colors.HexColor(
        "#a52019")), raw=True), _bullets(d.red_flags, st["cell"])], "#a52019", "#fbe0dd", pad=4)
    return [Spacer(1, 6), KeepTogether([box])]


def _plan_section(d: ReportData, st: dict) -> list:
    out: list = [CondPageBreak(40 * mm), _p("Exercise plan", st["h2"])]
    if not d.plan:
        return out + [_p("No exercise plan in this folder (no plan.json). Create one with the recommendations "
                         "step to add foot-first exercises matched to these findings.", st["base"])]
    p = d.plan
    if p.get("disclaimer"):
        out.append(_p(f"<b>{_e(p['disclaimer'])}</b>", st["small"], raw=True))
    answers = p.get("answers") or {}
    parts = []
    for k, v in answers.items():
        if v in (None, "", [], {}):
            continue
        parts.append(f"{k}: {', '.join(str(x) for x in v) if isinstance(v, (list, tuple)) else v}")
    if parts:
        out.append(_p("Questionnaire answers — " + "; ".join(parts), st["small"]))
    items = sorted(p.get("items") or [], key=lambda it: (it.get("order") is None, it.get("order") or 0))
    if not items:
        out.append(_p("No exercises were selected for these findings.", st["base"]))
    small = ParagraphStyle("pl", st["cell"], fontSize=6.9, leading=8.2)
    for i, it in enumerate(items, 1):
        order = it.get("order") if it.get("order") is not None else i
        title = (f"<b>{_e(order)}. {_e(it.get('name') or it.get('exercise_id'))}</b> "
                 f"<font size=7 color='#5b6470'>[{_e(it.get('region') or '')}]</font>"
                 f" — <font color='#1f4e79'><b>{_e(it.get('dose') or '–')}</b></font>")
        how = [_p("HOW", st["label"]), _bullets([str(x) for x in it.get("steps") or []], small, numbered=True)] \
            if it.get("steps") else [_p("", small)]
        cues = [_p("CUES", st["label"]), _bullets([str(x) for x in it.get("cues") or []], small)] \
            if it.get("cues") else [_p("", small)]
        eh = []
        if it.get("easier"):
            eh += [_p("EASIER", st["label"]), _p(it["easier"], small)]
        if it.get("harder"):
            eh += [_p("HARDER", st["label"]), _p(it["harder"], small)]
        grid = _mk_table([[how, cues, eh or [_p("", small)]]],
                     colWidths=[CONTENT_W * 0.46, CONTENT_W * 0.30, CONTENT_W * 0.24], hAlign="LEFT")
        grid.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                  ("RIGHTPADDING", (0, 0), (-1, -1), 6), ("TOPPADDING", (0, 0), (-1, -1), 1),
                                  ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
        addresses = ", ".join(str(a).replace("_", " ") for a in (it.get("addresses") or []))
        foot = ""
        if it.get("why"):
            foot += f"<b>Why:</b> {_e(it['why'])} "
        if addresses:
            foot += f"Addresses: {_e(addresses)} · "
        foot += f"Source: <i>{_e(it.get('source') or '–')}</i>"
        block = [_p(title, ParagraphStyle("ext", st["base"], fontSize=8.4, leading=10.2), raw=True)]
        if it.get("goal"):
            block.append(_p(it["goal"], small))
        block += [grid, _p(foot, ParagraphStyle("plf", st["small"], fontSize=6.7, leading=8), raw=True)]
        box = _mk_table([[block]], colWidths=[CONTENT_W], hAlign="LEFT")
        box.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.6, LINE), ("LEFTPADDING", (0, 0), (-1, -1), 5),
                                 ("RIGHTPADDING", (0, 0), (-1, -1), 5), ("TOPPADDING", (0, 0), (-1, -1), 2),
                                 ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]))
        out += [KeepTogether([box]), Spacer(1, 3)]
    if p.get("notes"):
        out += [_p("Notes", st["h3"]), _bullets([str(x) for x in p["notes"]], small)]
    return out


# -- page furniture ---------------------------------------------------------------------------------------

class _NumberedCanvas(rl_canvas.Canvas):
    """Defers page furniture until the total page count is known ("page X of Y")."""

    furniture = None   # set per document: callable(canvas, page, total)

    def __init__(self, *args, **kwargs):
        kwargs["initialFontName"] = FONT   # nothing falls back to Helvetica (no "≥", "−" glyphs)
        kwargs["initialFontSize"] = kwargs.get("initialFontSize") or 8.5
        super().__init__(*args, **kwargs)
        self._saved: list[dict] = []

    def showPage(self):
        self._saved.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        total = len(self._saved)
        for state in self._saved:
            self.__dict__.update(state)
            if self.furniture:
                self.furniture(self, self._pageNumber, total)
            super().showPage()
        super().save()


def _furniture(d: ReportData, st: dict):
    left = f"Movement screening report — {d.subject_label}"
    right = f"{d.date_text} · {d.test_name} · {d.side_text}"
    foot = Paragraph(_e(d.disclaimer), st["foot"])

    def draw(c: rl_canvas.Canvas, page: int, total: int) -> None:
        c.saveState()
        c.setFont(FONT, 7.5)
        c.setFillColor(MUTED)
        y = PAGE_H - 11 * mm
        c.drawRightString(PAGE_W - MARGIN_X, y, right)
        room = CONTENT_W - pdfmetrics.stringWidth(right, FONT, 7.5) - 6 * mm
        txt = left
        while txt and pdfmetrics.stringWidth(txt, FONT, 7.5) > room:
            txt = txt[:-2] + "…"
        c.drawString(MARGIN_X, y, txt)
        c.setStrokeColor(LINE)
        c.setLineWidth(0.6)
        c.line(MARGIN_X, y - 2.5, PAGE_W - MARGIN_X, y - 2.5)
        c.line(MARGIN_X, FOOT_RULE_Y, PAGE_W - MARGIN_X, FOOT_RULE_Y)
        w, h = foot.wrap(CONTENT_W, 12 * mm)
        foot.drawOn(c, MARGIN_X, FOOT_RULE_Y - 2.5 - h)
        c.setFont(FONT, 7)
        c.drawString(MARGIN_X, 7 * mm, d.version_text)
        c.setFont(FONT_BOLD, 7.5)
        c.setFillColor(colors.black)
        c.drawRightString(PAGE_W - MARGIN_X, 7 * mm, f"page {page} of {total}")
        c.restoreState()

    return draw


def build_story(d: ReportData) -> list:
    st = _styles()
    story: list = []
    story += _header_section(d, st)
    story += _findings_section(d, st)
    story += _caveat_section(d, st)
    story += _quality_section(d, st)
    story += _reps_section(d, st)
    story += _plots_section(d, st)
    story += _frames_and_chain_section(d, st)
    story += _red_flags_section(d, st)
    story += _plan_section(d, st)
    return story


def render_pdf_bytes(data: ReportData) -> bytes:
    """The report PDF as bytes (deterministic for the same input: reportlab invariant mode)."""
    register_fonts()
    st = _styles()
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=MARGIN_X, rightMargin=MARGIN_X, topMargin=MARGIN_TOP,
                            bottomMargin=MARGIN_BOTTOM, title=f"chainscan screening report – {data.subject_label}",
                            author="chainscan", subject=data.disclaimer, creator=data.version_text, invariant=1)
    canvas_cls = type("_ReportCanvas", (_NumberedCanvas,), {"furniture": staticmethod(_furniture(data, st))})
    doc.build(build_story(data), canvasmaker=canvas_cls)
    return buf.getvalue()


def render_pdf(data: ReportData, path: Path) -> Path:
    """Write the report to ``path`` (A4) atomically: a temporary file beside it, then renamed."""
    path = Path(path)
    pdf = render_pdf_bytes(data)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise ChainscanError(f"Cannot write the PDF report to {path} ({e.strerror}); choose a folder you can "
                             f"write to.") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pdf)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ChainscanError(f"Cannot write the PDF report to {path} ({e.strerror}); choose a folder you can "
                             f"write to.") from None
    return path

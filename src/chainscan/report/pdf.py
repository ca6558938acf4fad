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
import re
import tempfile
from dataclasses import dataclass
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
MARGIN_TOP = 16 * mm
MARGIN_BOTTOM = 20 * mm
FOOT_RULE_Y = 15.5 * mm
CONTENT_W = PAGE_W - 2 * MARGIN_X
META_WIDTHS = [CONTENT_W * f for f in (0.28, 0.19, 0.29, 0.24)]

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


def wrap_name(name: str, font: str, size: float, width: float, max_lines: int = 2) -> list[str]:
    """A file name as at most ``max_lines`` lines of at most ``width`` points, broken after "_", "-", "."
    or a space (never inside a word such as the extension); a name that still does not fit loses its
    middle to an ellipsis, keeping its start and its extension."""
    def fits(t: str) -> bool:
        return pdfmetrics.stringWidth(t, font, size) <= width

    stem, ext = os.path.splitext(name)
    chunks = [c for c in re.split(r"(?<=[_\-. ])", stem) if c] or [""]
    chunks[-1] += ext   # the extension stays with the last part of the name
    lines: list[str] = []
    cur = ""
    for c in chunks:
        if cur and not fits(cur + c):
            lines.append(cur)
            cur = c
        else:
            cur += c
    lines.append(cur)
    if len(lines) <= max_lines and all(fits(x) for x in lines):
        return lines
    # too long: keep the end (extension included) on the last line, the start on the first, "…" between
    tail = name
    while len(tail) > 1 and not fits("…" + tail):
        tail = tail[1:]
    head_room = name[: max(0, len(name) - len(tail))]
    out = []
    rest = head_room
    for _ in range(max_lines - 1):
        line = ""
        while rest and fits(line + rest[0]):
            line += rest[0]
            rest = rest[1:]
        out.append(line)
    if rest:   # the middle is dropped
        last = tail
        while len(last) > 1 and not fits("…" + last):
            last = last[1:]
        out.append("…" + last)
    else:
        out.append(tail)
    return [x for x in out if x]


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
        vals = []
        for j, (k, v) in enumerate(cells[i:i + 4]):
            if k == "Video" and v != "–":   # a long file name breaks at "_", "-" or ".", never mid-word
                lines = wrap_name(str(v), FONT, st["metav"].fontSize, META_WIDTHS[j] - 6)
                vals.append(_p("<br/>".join(_e(x) for x in lines), st["metav"], raw=True))
            else:
                vals.append(_p(v, st["metav"]))
        rows.append(vals)
    meta = _mk_table(rows, colWidths=META_WIDTHS, hAlign="LEFT")
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
    widths = [w * mm for w in (47, 10, 40, 24, 31, 16, 16)]
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
    if not failed:   # one compact line: the names of the checks, each passed
        names = ", ".join(str(g.get("gate", "")).replace("_", " ") for g in gates)
        line = (f"<font color='#1e7b34'><b>✓ All {len(gates)} recording checks passed</b></font> ({_e(names)})."
                + (" " + _e(note[len("All recording checks passed."):].strip()) if note.strip() !=
                   "All recording checks passed." else ""))
        return [_p("Recording quality", st["h2"]), _p(line, st["cell"], raw=True)]
    # the table may continue on the next page (its head row repeats); heading and note stay with its start
    return [_p("Recording quality", st["h2"]), _p(note, ParagraphStyle("qn", st["small"], spaceAfter=2)),
            _table(rows, [36 * mm, 16 * mm, CONTENT_W - 52 * mm], extra=extra)]


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
    out = [_p(title, st["h2"]), _table(rows, widths, extra=extra), Spacer(1, 2),
           KeepTogether([_p(rep_table_note(d), st["small"])])]   # the sign note is never split over two pages
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


def _plots_section(d: ReportData, st: dict, layout: Layout | None = None,
                   pngs: dict[str, bytes] | None = None) -> list:
    if d.frames is None:
        return [_p("Over time", st["h2"]), _p("No frames.csv in this folder: the plots are left out.", st["base"])]
    pngs = pngs if pngs is not None else plot_pngs(d)
    out: list = []
    for k, png in pngs.items():
        block = [_image(png, CONTENT_W, 95 * mm), _p(plot_caption(d, k), st["small"]), Spacer(1, 4)]
        if not out:
            block.insert(0, _p("Over time", st["h2"]))
        out.append(KeepTogether(block))
    return out


#: key frames: at most this tall on the page, never less than KEYFRAME_MIN_H (the drawn angles must be legible)
KEYFRAME_MAX_H = 92 * mm
KEYFRAME_MIN_H = 45 * mm
DIAGRAM_W = 52 * mm
GAP = 4 * mm
#: an explanation column beside the frames is used only when at least this wide
SIDE_MIN_W = 58 * mm


def _png_size(png: bytes) -> tuple[float, float]:
    w, h = ImageReader(io.BytesIO(png)).getSize()
    return float(w), float(h)


def keyframe_layout(frames: list[bytes], width: float, max_h: float = KEYFRAME_MAX_H) -> tuple[float, list[float]]:
    """Common display height and each frame's width for ``frames`` side by side in ``width`` points: as tall
    as ``max_h`` allows, lower only when the row would be wider than ``width``."""
    aspects = [w / h for w, h in (_png_size(f) for f in frames)]
    height = min(max_h, (width - GAP * (len(frames) - 1)) / sum(aspects))
    return height, [a * height for a in aspects]


def _keyframe_cell(key: str, png: bytes, w: float, h: float, st: dict, test: str) -> list:
    cap = f"{key} side" if key in ("left", "right") else key.replace("_", " ")
    moment = ("the frame of the largest pelvic drop" if test == "single_leg_stance"
              else "the deepest frame of the worst rep")
    return [Image(io.BytesIO(png), width=w, height=h),
            _p(f"Key frame, {cap} (subject's side): {moment}, angles as measured",
               ParagraphStyle("kfc", st["small"], fontSize=6.6, leading=8))]


def _chain_items(d: ReportData, st: dict) -> list[Paragraph]:
    """The chain explanations, one Paragraph each ([] when the plan has none)."""
    items: list[Paragraph] = []
    style = ParagraphStyle("chain", st["cell"], fontSize=7.3, leading=9.0, spaceAfter=3.5)
    for e in (d.plan or {}).get("explanations") or []:
        finding = str(e.get("finding") or "")
        label = (f"{finding[len('pain_'):].replace('_', ' ')} pain (reported)" if finding.startswith("pain_")
                 else finding.replace("_", " "))
        head = " · ".join(x for x in (label, e.get("side") or "") if x)
        sev = e.get("severity")
        chip = ""
        if sev in ("ok", "mild", "marked"):
            chip = f" <font color='{SEVERITY_COLOURS[sev][0]}'><b>● {SEVERITY_TEXT[sev]}</b></font>"
        regions = " → ".join(str(r).replace("_", " ") for r in (e.get("regions") or []))
        txt = f"<b>{_e(head[:1].upper() + head[1:])}</b>{chip}"
        if regions:
            txt += f" <font size=6.6 color='#5b6470'>({_e(regions)})</font>"
        txt += f"<br/>{_e(e.get('text'))}"
        items.append(_p(txt, style, raw=True))
    return items


def _height(f: Any, width: float) -> float:
    _, h = f.wrap(width, 10 * PAGE_H)
    return h + getattr(getattr(f, "style", None), "spaceAfter", 0)


def _fill_side(items: list, width: float, room: float) -> tuple[list, list]:
    """The first explanations that fit in a column ``width`` wide and ``room`` tall, and the rest."""
    used = 0.0
    side: list = []
    for k, it in enumerate(items):
        h = _height(it, width)
        if used + h > room:
            return side, items[k:]
        side.append(it)
        used += h
    return side, []


def _row(cells: list, widths: list[float], *, pad: float = GAP) -> Table:
    t = _mk_table([cells], colWidths=widths, hAlign="LEFT")
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                           ("RIGHTPADDING", (0, 0), (-1, -1), pad), ("RIGHTPADDING", (-1, 0), (-1, 0), 0),
                           ("TOPPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 0)]))
    return t


def _two_columns(items: list) -> list:
    """Explanations left to right in two columns, one table row per pair (rows may split across pages)."""
    if not items:
        return []
    col = (CONTENT_W - GAP) / 2
    rows = [[items[i], items[i + 1] if i + 1 < len(items) else ""] for i in range(0, len(items), 2)]
    t = _mk_table(rows, colWidths=[col + GAP, col], hAlign="LEFT")
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                           ("RIGHTPADDING", (0, 0), (0, -1), GAP), ("RIGHTPADDING", (1, 0), (1, -1), 0),
                           ("TOPPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 0)]))
    return [t]


def _diagram_flowable(d: ReportData, max_w: float, max_h: float):
    if d.diagram_png:
        return _image(d.diagram_png, max_w, max_h)
    if d.diagram_svg:
        return _svg_drawing(d.diagram_svg, max_w, max_h)
    return None


def _frames_and_chain_section(d: ReportData, st: dict, layout: Layout | None = None) -> list:
    """Key frames (large enough to read the drawn angles), the body diagram and the chain explanation.

    The frames sit side by side, as tall as the page allows (one frame gets the whole row to itself); the
    diagram joins them when the frames stay at least 70 mm tall, and the explanations fill the column left
    beside them, then continue below in two columns."""
    layout = layout or NORMAL
    items = _chain_items(d, st)
    explained = bool(items)
    frames = list(d.keyframes.items())[:2]
    has_diagram = bool(d.diagram_png or d.diagram_svg)
    if not frames and not items and not has_diagram:
        return []
    if (has_diagram or d.plan is not None) and not items:
        items = [_p("No finding needs a chain explanation: nothing was flagged." if d.plan is not None else
                    "No explanation without an exercise plan (plan.json).", st["cell"])]
    title = ("Key frames and the kinetic chain" if frames and (items or has_diagram)
             else "Key frames" if frames else "Along the kinetic chain")
    out: list = [_p(title, st["h2"])]
    diagram_placed = False
    if frames:
        pngs = [png for _, png in frames]
        h, ws = keyframe_layout(pngs, CONTENT_W - (DIAGRAM_W + GAP if has_diagram else 0), layout.keyframe_max_h)
        cells = [_keyframe_cell(k, png, w, h, st, d.test) for (k, png), w in zip(frames, ws)]
        widths = [w + GAP for w in ws]
        beside = CONTENT_W - sum(widths) - DIAGRAM_W - GAP   # room left for text beside frames and diagram
        text_fits_without = CONTENT_W - sum(widths) >= SIDE_MIN_W
        # the diagram joins the frames when they stay tall, unless it would squeeze out the text column
        # (then it goes below, with explanations beside it, and no white space is left)
        if has_diagram and h >= 70 * mm and (beside >= SIDE_MIN_W or not text_fits_without or not explained):
            diagram = _diagram_flowable(d, DIAGRAM_W, h)
            if diagram is not None:
                cells.append(diagram)
                widths.append(DIAGRAM_W + GAP)
                diagram_placed = True
        if not diagram_placed and not has_diagram:   # frames alone: let them use the full width
            h, ws = keyframe_layout(pngs, CONTENT_W, layout.keyframe_max_h)
            cells = [_keyframe_cell(k, png, w, h, st, d.test) for (k, png), w in zip(frames, ws)]
            widths = [w + GAP for w in ws]
        side_w = CONTENT_W - sum(widths)
        if side_w >= SIDE_MIN_W and items:
            side, items = _fill_side(items, side_w, h + 10 * mm)
            if side:
                cells.append(side)
                widths.append(side_w)
        widths[-1] = CONTENT_W - sum(widths[:-1])
        out += [_row(cells, widths), Spacer(1, 5)]
    if has_diagram and not diagram_placed:
        diagram = _diagram_flowable(d, DIAGRAM_W, 80 * mm)
        if diagram is not None:
            side_w = CONTENT_W - DIAGRAM_W - GAP
            side, items = _fill_side(items, side_w, diagram.wrap(DIAGRAM_W, PAGE_H)[1] + 6 * mm)
            out += [_row([diagram, side or ""], [DIAGRAM_W + GAP, side_w]), Spacer(1, 4)]
    out += _two_columns(items)
    return out


def _red_flags_section(d: ReportData, st: dict) -> list:
    if not d.red_flags:
        return []
    box = _box([_p("<b>Red flags: see a professional</b>", ParagraphStyle("rf", st["base"], textColor=colors.HexColor(
        "#a52019")), raw=True), _bullets(d.red_flags, st["cell"])], "#a52019", "#fbe0dd", pad=4)
    return [Spacer(1, 6), KeepTogether([box])]


#: plan table columns: exercise & dose | how | cues | easier / harder
PLAN_WIDTHS = [42 * mm, 68 * mm, 40 * mm, CONTENT_W - 150 * mm]
#: habits table columns: habit & how often | what to do | why
HABIT_WIDTHS = [42 * mm, 68 * mm, CONTENT_W - 110 * mm]


def _plan_styles(st: dict) -> dict[str, ParagraphStyle]:
    small = ParagraphStyle("pl", st["cell"], fontSize=7.0, leading=8.5)
    return {"small": small,
            "name": ParagraphStyle("pln", st["base"], fontName=FONT_BOLD, fontSize=8.2, leading=9.8),
            "dose": ParagraphStyle("pld", small, fontName=FONT_BOLD, textColor=ACCENT),
            "goal": ParagraphStyle("plg", small, fontName=FONT_ITALIC, textColor=MUTED, fontSize=6.8, leading=8.2,
                                   spaceBefore=1.5),
            "why": ParagraphStyle("plw", st["small"], fontSize=6.8, leading=8.2),
            "step": ParagraphStyle("pls", small, leftIndent=8, firstLineIndent=-8),
            "note": ParagraphStyle("plnote", small, fontSize=7.2, leading=8.8)}


def _plan_head(st: dict) -> Table:
    heads = ["Exercise · dose", "How", "Cues", "Easier / harder"]
    t = _mk_table([[_p(h.upper(), st["label"]) for h in heads]], colWidths=PLAN_WIDTHS, hAlign="LEFT")
    t.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, 0), 0.8, ACCENT), ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
                           ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                           ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]))
    return t


def _plan_item(it: dict, order: Any, ps: dict[str, ParagraphStyle]) -> Table:
    """One plan entry as a two-row table (kept on one page): name, dose and goal | numbered steps | cues |
    easier and harder; then a full-width line with why it is in the plan, what it addresses and its source."""
    region = str(it.get("region") or "")
    first = [_p(f"{_e(order)}. {_e(it.get('name') or it.get('exercise_id'))}"
                f" <font size=6.2 color='#5b6470'>{_e(region.upper())}</font>", ps["name"], raw=True),
             _p(it.get("dose") or "–", ps["dose"])]
    if it.get("goal"):
        first.append(_p(it["goal"], ps["goal"]))
    steps = [str(x) for x in it.get("steps") or []]
    how = [_p(f"<b>{k}</b>&nbsp;&nbsp;{_e(x)}" if len(steps) > 1 else _e(x), ps["step"], raw=True)
            for k, x in enumerate(steps, 1)] or [_p("–", ps["small"])]
    cues = [_p(f"•&nbsp;{_e(x)}", ps["step"], raw=True) for x in it.get("cues") or []] or [_p("–", ps["small"])]
    eh = []
    if it.get("easier"):
        eh.append(_p(f"<b>Easier:</b> {_e(it['easier'])}", ps["small"], raw=True))
    if it.get("harder"):
        eh.append(_p(f"<b>Harder:</b> {_e(it['harder'])}", ps["small"], raw=True))
    foot = f"<b>Why:</b> {_e(it['why'])} " if it.get("why") else ""
    foot += f"<font color='#5b6470'>Source: <i>{_e(it.get('source') or '–')}</i></font>"
    t = _mk_table([[first, how, cues, eh or ""], [_p(foot, ps["why"], raw=True), "", "", ""]],
                  colWidths=PLAN_WIDTHS, hAlign="LEFT")
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("SPAN", (0, 1), (-1, 1)),
                           ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 4),
                           ("TOPPADDING", (0, 0), (-1, 0), 3), ("BOTTOMPADDING", (0, 0), (-1, 0), 1),
                           ("TOPPADDING", (0, 1), (-1, 1), 0), ("BOTTOMPADDING", (0, 1), (-1, 1), 3),
                           ("LINEBELOW", (0, 1), (-1, 1), 0.5, LINE)]))
    return t


def _habits_table(habits: list[tuple[Any, dict]], ps: dict[str, ParagraphStyle], st: dict) -> Table:
    """The daily habits, one compact row each: name and how often | what to do | why, and the source."""
    rows: list[list[Any]] = [[_p(h.upper(), st["label"]) for h in ("Daily habit · how often", "What to do",
                                                                     "Why")]]
    for order, it in habits:
        what = _e(" ".join(str(x) for x in it.get("steps") or []))
        cues = " ".join(str(x) for x in it.get("cues") or [])
        if cues:
            what += f" <i>{_e(cues)}</i>"
        why = f"{_e(it.get('why') or '')} <font color='#5b6470'>Source: <i>{_e(it.get('source') or '–')}</i></font>"
        rows.append([[_p(f"{_e(order)}. {_e(it.get('name') or it.get('exercise_id'))}", ps["name"], raw=True),
                      _p(it.get("dose") or "–", ps["dose"])],
                     _p(what.strip() or "–", ps["small"], raw=True),
                     _p(why, ps["why"], raw=True)])
    t = _mk_table(rows, colWidths=HABIT_WIDTHS, hAlign="LEFT", repeatRows=1)
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, 0), 0.8, ACCENT),
                           ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG), ("LINEBELOW", (0, 1), (-1, -1), 0.5, LINE),
                           ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 4),
                           ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5)]))
    return t


def _plan_section(d: ReportData, st: dict) -> list:
    """Heading, the plan's disclaimer and answers, "About this plan" (its notes: why it looks the way it
    does), then one entry per exercise and a compact table of daily habits. Nothing is left alone at the
    foot of a page: the heading keeps its intro with it, the first entry keeps the column heads, and the
    habits keep the last exercise with them (so a last page never holds only habits or notes)."""
    heading = _p("Exercise plan", st["h2"])
    if not d.plan:
        return [heading, _p("No exercise plan in this folder (no plan.json). Create one with the recommendations "
                            "step to add foot-first exercises matched to these findings.", st["base"])]
    p = d.plan
    ps = _plan_styles(st)
    intro = []
    if p.get("disclaimer"):
        intro.append(_e(p["disclaimer"]))
    parts = []
    for k, v in (p.get("answers") or {}).items():
        if v in (None, "", [], {}):
            continue
        vv = ", ".join(str(x).replace("_", " ") for x in v) if isinstance(v, (list, tuple)) else str(v)
        parts.append(f"{k}: {vv}")
    if parts:
        intro.append("<b>Questionnaire answers</b> — " + _e("; ".join(parts)) + ".")
    top: list = [heading]
    if intro:
        top += [_p(" ".join(intro), st["small"], raw=True), Spacer(1, 2)]
    notes = [str(x) for x in p.get("notes") or []]
    if notes:   # the notes explain the plan's choices, so they come before the entries
        top += [_p("About this plan", st["h3"]), _bullets(notes[:1], ps["note"])]
    out: list = [KeepTogether(top)]
    if len(notes) > 1:
        out.append(_bullets(notes[1:], ps["note"]))
    out.append(Spacer(1, 5))
    items = sorted(p.get("items") or [], key=lambda it: (it.get("order") is None, it.get("order") or 0))
    if not items:
        return out + [_p("No exercises were selected for these findings.", st["base"])]
    numbered = [(it.get("order") if it.get("order") is not None else i, it) for i, it in enumerate(items, 1)]
    exercises = [(n, it) for n, it in numbered if it.get("region") != "habit"]
    habits = [(n, it) for n, it in numbered if it.get("region") == "habit"]
    blocks: list = [_plan_item(it, n, ps) for n, it in exercises]
    if blocks:
        blocks[0] = KeepTogether([_plan_head(st), blocks[0]])
    if habits:
        table = _habits_table(habits, ps, st)
        blocks[-1:] = [KeepTogether([*blocks[-1:], Spacer(1, 5), table])]
    return out + blocks


@dataclass(frozen=True)
class Layout:
    """Sizes that may give way when a report would run long (fonts never do)."""

    keyframe_max_h: float
    plot_scale: float


NORMAL = Layout(keyframe_max_h=KEYFRAME_MAX_H, plot_scale=1.0)
DENSE = Layout(keyframe_max_h=82 * mm, plot_scale=0.86)
#: the PDF is meant to hold the screen in 2-4 A4 pages
MAX_PAGES = 4


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
        y = PAGE_H - 9.5 * mm
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
        c.drawString(MARGIN_X, 6 * mm, d.version_text)
        c.setFont(FONT_BOLD, 7.5)
        c.setFillColor(colors.black)
        c.drawRightString(PAGE_W - MARGIN_X, 6 * mm, f"page {page} of {total}")
        c.restoreState()

    return draw


def build_story(d: ReportData, layout: Layout = NORMAL, pngs: dict[str, bytes] | None = None) -> list:
    """The report's flowables, in reading order: what was found (summary, findings, caveats, recording
    quality, per-rep values), what it looks like (key frames, body diagram, the chain explained, plots over
    time), then what to do (red flags, the plan)."""
    st = _styles()
    story: list = []
    story += _header_section(d, st)
    story += _findings_section(d, st)
    story += _caveat_section(d, st)
    story += _quality_section(d, st)
    story += _reps_section(d, st)
    story += _frames_and_chain_section(d, st, layout)
    story += _plots_section(d, st, layout, pngs)
    story += _red_flags_section(d, st)
    story += _plan_section(d, st)
    return story


def _build(data: ReportData, layout: Layout, pngs: dict[str, bytes] | None) -> tuple[bytes, int]:
    st = _styles()
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=MARGIN_X, rightMargin=MARGIN_X, topMargin=MARGIN_TOP,
                            bottomMargin=MARGIN_BOTTOM, title=f"chainscan screening report – {data.subject_label}",
                            author="chainscan", subject=data.disclaimer, creator=data.version_text, invariant=1)
    canvas_cls = type("_ReportCanvas", (_NumberedCanvas,), {"furniture": staticmethod(_furniture(data, st))})
    doc.build(build_story(data, layout, pngs), canvasmaker=canvas_cls)
    return buf.getvalue(), doc.page


def render_pdf_bytes(data: ReportData) -> bytes:
    """The report PDF as bytes (deterministic for the same input: reportlab invariant mode).

    Laid out at the normal size first; a report that would run past :data:`MAX_PAGES` pages is laid out
    again with the denser settings (slightly smaller key frames and shorter plots, same fonts)."""
    register_fonts()
    pdf, pages = _build(data, NORMAL, None)
    if pages > MAX_PAGES:
        dense = _build(data, DENSE, plot_pngs(data, height_scale=DENSE.plot_scale) if data.frames else None)
        if dense[1] < pages:
            pdf = dense[0]
    return pdf


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

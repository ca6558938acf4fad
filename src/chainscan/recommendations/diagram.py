"""The kinetic chain as a picture: a self-contained SVG front-view body outline with a marker at the
foot, ankle, knee and hip of each side and at the pelvis and low back, coloured by the worst finding there.

Front view: the subject faces the viewer, so the subject's LEFT side is drawn on the viewer's RIGHT
(labelled on the picture). Colours: green = ok, amber = mild, red = marked, grey = not measured or not
measurable (severity "unknown"). When several findings land on one marker the worst measured one wins
(marked > mild > ok > unknown > not measured): a measured verdict outweighs an unmeasurable one. The
foot and ankle are never measured directly (no arch or big-toe landmark); only a short single-leg
balance colours them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

COLOURS: Mapping[str, str] = {
    "ok": "#2e7d32", "mild": "#f0a202", "marked": "#c62828", "unknown": "#9e9e9e", "none": "#9e9e9e",
}
_RANK = {"none": 0, "unknown": 1, "ok": 2, "mild": 3, "marked": 4}
_STATUS_WORD = {"none": "not measured", "unknown": "not measurable", "ok": "ok", "mild": "mild", "marked": "marked"}

# Marker positions (viewer coordinates; the subject's right side is at smaller x).
_CX = 200
_X = {"right": {"hip": 170, "knee": 176, "ankle": 179, "foot": 172},
      "left": {"hip": 230, "knee": 224, "ankle": 221, "foot": 228}}
_Y = {"low_back": 204, "pelvis": 244, "hip": 282, "knee": 382, "ankle": 468, "foot": 500}
_NAMES = {"low_back": "Low back / trunk", "pelvis": "Pelvis", "hip": "Hip", "knee": "Knee", "ankle": "Ankle",
          "foot": "Foot"}

# Which marker(s) a finding colours: (region, side-rule); "own" = the finding's side (both when it has none).
_TARGETS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "knee_valgus": (("knee", "own"),),
    "knee_inside_foot": (("knee", "own"),),
    "knee_asymmetry": (("knee", "own"),),
    "knees_inward": (("knee", "both"),),
    "pelvic_drop": (("pelvis", "centre"), ("hip", "own")),
    "pelvic_drop_asymmetry": (("pelvis", "centre"), ("hip", "own")),
    "trunk_lean": (("low_back", "centre"),),
    "balance_hold_short": (("foot", "own"), ("ankle", "own")),
}

_VALUE_FMT: Mapping[str, tuple[str, str, str]] = {
    "knee_valgus": ("FPPA", "+.1f", "°"), "knee_asymmetry": ("diff", ".1f", "°"),
    "knee_inside_foot": ("inside", ".2f", " shank"), "knees_inward": ("gap", ".2f", "×"),
    "pelvic_drop": ("drop", "+.1f", "°"), "pelvic_drop_asymmetry": ("diff", ".1f", "°"),
    "trunk_lean": ("lean", "+.1f", "°"), "balance_hold_short": ("hold", ".1f", " s"),
}

Key = tuple[str, str]  # (region, side) with side "left", "right" or "centre"


def _fmt_value(f: Mapping[str, Any]) -> str:
    v = f.get("value")
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return ""
    code, unit = str(f.get("code")), f.get("unit")
    if code in _VALUE_FMT:
        label, spec, suffix = _VALUE_FMT[code]
        return f"{label} {format(v, spec)}{suffix}"
    return f"{v:.2f} {unit}" if unit else f"{v:.2f}"


def marker_states(result: Mapping[str, Any]) -> dict[Key, tuple[str, str]]:
    """``{(region, side): (state, short text)}`` for every marker, state one of none/unknown/ok/mild/marked."""
    keys: list[Key] = [("low_back", "centre"), ("pelvis", "centre")]
    keys += [(r, s) for s in ("right", "left") for r in ("hip", "knee", "ankle", "foot")]
    state: dict[Key, tuple[str, str]] = {k: ("none", "") for k in keys}
    for f in result.get("findings", []) or []:
        if not isinstance(f, Mapping):
            continue
        sev = str(f.get("severity"))
        if sev not in _RANK:
            continue
        side = f.get("side") if f.get("side") in ("left", "right") else None
        for region, rule in _TARGETS.get(str(f.get("code")), ()):
            if rule == "centre":
                sides = ["centre"]
            elif rule == "both" or side is None:
                sides = ["left", "right"]
            else:
                sides = [side]
            for s in sides:
                k = (region, s)
                if _RANK[sev] > _RANK[state[k][0]]:
                    state[k] = (sev, _fmt_value(f) if sev != "unknown" else "")
    return state


def _limb(points: list[tuple[float, float]], width: float) -> str:
    d = "M " + " L ".join(f"{x:.0f} {y:.0f}" for x, y in points)
    return (f'<path d="{d}" fill="none" stroke="#8b95a1" stroke-width="{width + 3:.0f}" stroke-linecap="round" '
            f'stroke-linejoin="round"/>'
            f'<path d="{d}" fill="none" stroke="#eef1f4" stroke-width="{width:.0f}" stroke-linecap="round" '
            f'stroke-linejoin="round"/>')


def _body() -> str:
    parts = [
        # arms (drawn first so the torso covers the shoulder joint)
        _limb([(150, 128), (136, 200), (130, 282)], 17),
        _limb([(250, 128), (264, 200), (270, 282)], 17),
        # legs: hip → knee → ankle
        _limb([(178, 262), (176, 382), (179, 466)], 27),
        _limb([(222, 262), (224, 382), (221, 466)], 27),
        # feet (front view: toes toward the viewer, slightly turned out)
        '<ellipse cx="172" cy="496" rx="14" ry="9" fill="#eef1f4" stroke="#8b95a1" stroke-width="1.5"/>',
        '<ellipse cx="228" cy="496" rx="14" ry="9" fill="#eef1f4" stroke="#8b95a1" stroke-width="1.5"/>',
        # neck and torso (shoulders → waist → hips)
        _limb([(200, 100), (200, 122)], 16),
        '<path d="M 150 122 C 168 114 232 114 250 122 C 256 150 246 190 238 222 C 244 246 248 266 244 284 '
        'C 226 296 174 296 156 284 C 152 266 156 246 162 222 C 154 190 144 150 150 122 Z" '
        'fill="#eef1f4" stroke="#8b95a1" stroke-width="1.5"/>',
        # head
        '<ellipse cx="200" cy="76" rx="21" ry="26" fill="#eef1f4" stroke="#8b95a1" stroke-width="1.5"/>',
    ]
    return "".join(parts)


def _label(x_text: float, anchor: str, mx: float, my: float, name: str, state: str, value: str) -> str:
    status = _STATUS_WORD[state] + (f" · {value}" if value and state in ("ok", "mild", "marked") else "")
    line_end = x_text + (86 if anchor == "start" else -86)
    colour = "#333" if state != "none" else "#777"
    weight = "700" if state in ("mild", "marked") else "400"
    return (f'<line x1="{line_end:.0f}" y1="{my - 4:.0f}" x2="{mx:.0f}" y2="{my:.0f}" stroke="#b8bfc7" '
            'stroke-width="1" stroke-dasharray="2 2"/>'
            f'<text x="{x_text:.0f}" y="{my - 6:.0f}" text-anchor="{anchor}" font-size="12" font-weight="700" '
            f'fill="#333">{escape(name)}</text>'
            f'<text x="{x_text:.0f}" y="{my + 8:.0f}" text-anchor="{anchor}" font-size="11" font-weight="{weight}" '
            f'fill="{colour}">{escape(status)}</text>')


def _marker(x: float, y: float, state: str, region: str, side: str) -> str:
    dash = ' stroke-dasharray="2 2"' if state == "none" else ""
    fill = COLOURS[state] if state != "none" else "#ffffff"
    stroke = "#ffffff" if state != "none" else COLOURS["none"]
    r = 9 if state in ("mild", "marked") else 7
    return (f'<circle cx="{x:.0f}" cy="{y:.0f}" r="{r}" fill="{fill}" stroke="{stroke}" stroke-width="2"{dash} '
            f'class="marker" data-region="{region}" data-side="{side}" data-state="{state}"/>'
            + (f'<circle cx="{x:.0f}" cy="{y:.0f}" r="{r + 1.5}" fill="none" stroke="#333" stroke-width="0.8"/>'
               if state != "none" else ""))


def _legend(y: float) -> str:
    items = [("ok", "ok"), ("mild", "mild"), ("marked", "marked"), ("unknown", "not measured")]
    out, x = [], 24.0
    for state, text in items:
        out.append(f'<circle cx="{x:.0f}" cy="{y:.0f}" r="6" fill="{COLOURS[state]}" stroke="#333" '
                   f'stroke-width="0.8"/><text x="{x + 10:.0f}" y="{y + 4:.0f}" font-size="11" fill="#333">'
                   f'{escape(text)}</text>')
        x += 58 if state != "marked" else 70
    return "".join(out)


def _description(states: Mapping[Key, tuple[str, str]]) -> str:
    flagged, measured, unmeasured = [], [], []
    for (region, side), (state, value) in states.items():
        name = _NAMES[region].lower() if side == "centre" else f"{side} {_NAMES[region].lower()}"
        if state in ("mild", "marked"):
            flagged.append(f"{name}: {state}" + (f" ({value})" if value else ""))
        elif state == "ok":
            measured.append(name)
        else:
            unmeasured.append(name)
    parts = ["Front-view body outline; sides are the subject's own (the subject's left is on the viewer's right)."]
    parts.append("Flagged: " + ("; ".join(flagged) if flagged else "nothing") + ".")
    if measured:
        parts.append("Within range: " + ", ".join(measured) + ".")
    if unmeasured:
        parts.append("Not measured or not measurable: " + ", ".join(unmeasured) + ".")
    return " ".join(parts)


def chain_diagram_svg(result: Mapping[str, Any], *, id_prefix: str = "chainscan-chain") -> str:
    """A standalone ``<svg>`` element (UTF-8 text, no external assets) showing the chain for ``result``
    (a ScreeningResult.to_dict() / result.json dict). ``id_prefix`` keeps element ids unique when several
    diagrams share one HTML page. Sides are the subject's: the subject's left is drawn on the viewer's right."""
    states = marker_states(result)
    tid, did = f"{id_prefix}-title", f"{id_prefix}-desc"
    title = "Kinetic chain: where the screening findings show"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 600" width="400" height="600" role="img" '
           f'aria-labelledby="{tid} {did}" font-family="Helvetica, Arial, sans-serif">',
           f'<title id="{tid}">{escape(title)}</title>',
           f'<desc id="{did}">{escape(_description(states))}</desc>',
           '<rect x="0" y="0" width="400" height="600" fill="#ffffff"/>',
           f'<text x="200" y="22" text-anchor="middle" font-size="15" font-weight="700" fill="#222">'
           f'{escape(title)}</text>',
           '<text x="200" y="40" text-anchor="middle" font-size="11" fill="#555">Front view: the person faces you, '
           'so their left side is on your right</text>',
           '<text x="14" y="66" font-size="12" font-weight="700" fill="#1f4e79">SUBJECT\'S RIGHT</text>',
           '<text x="386" y="66" text-anchor="end" font-size="12" font-weight="700" fill="#1f4e79">'
           'SUBJECT\'S LEFT</text>',
           _body()]
    # the chain itself: a faint line linking the markers, foot to low back, on each side
    for side in ("right", "left"):
        pts = [(_X[side][r], _Y[r]) for r in ("foot", "ankle", "knee", "hip")] + [(_CX, _Y["pelvis"]),
                                                                                   (_CX, _Y["low_back"])]
        d = "M " + " L ".join(f"{x} {y}" for x, y in pts)
        out.append(f'<path d="{d}" fill="none" stroke="#b8bfc7" stroke-width="1.5" stroke-dasharray="4 3"/>')
    # labels: subject's right in the viewer's left margin, subject's left in the right margin
    for region in ("hip", "knee", "ankle", "foot"):
        for side, xt, anchor in (("right", 14, "start"), ("left", 386, "end")):
            st, val = states[(region, side)]
            out.append(_label(xt, anchor, _X[side][region], _Y[region], _NAMES[region], st, val))
    st, val = states[("low_back", "centre")]
    out.append(_label(14, "start", _CX, _Y["low_back"], _NAMES["low_back"], st, val))
    st, val = states[("pelvis", "centre")]
    out.append(_label(386, "end", _CX, _Y["pelvis"], _NAMES["pelvis"], st, val))
    for (region, side), (st, _) in states.items():
        x = _CX if side == "centre" else _X[side][region]
        out.append(_marker(x, _Y[region], st, region, side))
    out.append(_legend(548))
    out.append('<text x="200" y="574" text-anchor="middle" font-size="10.5" fill="#555">The arch and big toe cannot be '
               'seen on video (only balance time is measured</text>'
               '<text x="200" y="588" text-anchor="middle" font-size="10.5" fill="#555">at the foot and ankle), so the '
               'plan trains them first.</text>')
    out.append("</svg>")
    return "".join(out)

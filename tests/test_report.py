"""The HTML and PDF screening reports, built from output folders of synthetic screens (no model needed)."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from chainscan import synthetic as syn
from chainscan.errors import ChainscanError
from chainscan.landmarks import Side
from chainscan.pipeline import screen_pose
from chainscan.report.data import fmt_num, load_report_data, threshold_text
from chainscan.report.html import render_html, sanitize_svg
from chainscan.report.pdf import FONT, register_fonts, render_pdf
from chainscan.report.writer import write_outputs

HOSTILE = "<script>alert('x')</script>"

#: a hand-written plan in the shape of recommend(...).to_dict(), with hostile text to test escaping; the real
#: plan, red flags and explanations go through the renderers in tests/test_report_plan.py
PLAN = {
    "items": [
        {"order": 1, "region": "foot", "exercise_id": "short_foot", "name": "Short foot (arch doming)",
         "goal": "Lift the arch without curling the toes.",
         "steps": ["Sit, foot flat.", "Draw the ball of the foot toward the heel.", "Hold, relax."],
         "cues": ["Toes stay long", "Big toe keeps pressing"], "dose": "3 × 10 holds of 5 s, daily",
         "dose_detail": {"sets": 3, "reps": 10, "hold_s": 5}, "easier": "Seated, hand guiding the arch",
         "harder": "Standing on one leg", "addresses": ["knee_valgus"], "why": "A stable arch steadies the shin.",
         "source": "Why Foot Strength Matters for Back Pain"},
        {"order": 2, "region": "hip", "exercise_id": "side_lying_abduction", "name": "Side-lying hip abduction",
         "goal": "Strengthen the gluteus medius.", "steps": ["Lie on your side.", "Lift the top leg to 30°."],
         "cues": ["Do not roll back"], "dose": "3 × 12–15, 3 × per week", "dose_detail": {},
         "easier": "Smaller range", "harder": "Band above the knees", "addresses": ["pelvic_drop"],
         "why": "", "source": f"Glute med: the missing link {HOSTILE}"},
    ],
    "explanations": [{"finding": "knee_valgus", "side": "left", "severity": "mild",
                      "regions": ["foot", "ankle", "knee", "hip"],
                      "text": "Seen foot-first, a collapsing arch lets the shin turn in."}],
    "red_flags": ["Persistent numbness or tingling in the foot or leg", "Sharp foot or ankle pain"],
    "notes": ["Stop any exercise that causes pain."],
    "disclaimer": "General exercise suggestions, not a treatment plan.",
    "answers": {"pain": ["left knee"], "arch": "flat", "sex": "female"},
}

DIAGRAM = ('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 200" onload="alert(1)">'
           '<script>alert(2)</script><a href="https://example.com/x"><circle cx="50" cy="150" r="10" '
           'fill="#e74c3c"/></a><rect x="30" y="60" width="40" height="20" fill="#f5c242"/></svg>')


def _png_bytes() -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(1.5, 3))
    FigureCanvasAgg(fig)
    fig.add_axes((0, 0, 1, 1)).plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    return buf.getvalue()


@pytest.fixture(scope="module")
def sls_dir(tmp_path_factory) -> Path:
    """A single-leg squat on the left leg with flagged valgus, plus key frames."""
    out = tmp_path_factory.mktemp("sls")
    result = screen_pose(syn.make_single_leg_squat(side=Side.LEFT, valgus_deg=20.0).pose)
    write_outputs(result, out, write_pose=False)
    (out / "keyframes").mkdir()
    (out / "keyframes" / "keyframe_left.png").write_bytes(_png_bytes())
    return out


@pytest.fixture(scope="module")
def stance_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stance")
    write_outputs(screen_pose(syn.make_single_leg_stance(side=Side.RIGHT).pose), out, write_pose=False)
    return out


@pytest.fixture(scope="module")
def dls_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dls")
    write_outputs(screen_pose(syn.make_squat(valgus_deg=5.0).pose), out, write_pose=False)
    return out


def _external_refs(html_text: str) -> list[str]:
    """Attributes or CSS that would make a browser fetch something (xmlns declarations are not fetches)."""
    refs = re.findall(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]*""", html_text, re.I)
    refs += re.findall(r"url\(\s*['\"]?\s*(?:https?:)?//", html_text, re.I)
    refs += re.findall(r"@import", html_text, re.I)
    return refs


# -- HTML ---------------------------------------------------------------------------------------------------

def test_html_is_self_contained_and_complete(sls_dir):
    data = load_report_data(sls_dir, plan=PLAN, diagram_svg=DIAGRAM, subject="Subject 7")
    out = render_html(data)
    assert out.startswith("<!DOCTYPE html>")
    assert _external_refs(out) == []
    assert "<script" not in out.lower() and "<link" not in out.lower()
    assert "onload" not in out
    # findings with units and sign conventions, the caveat, the disclaimer
    result = json.loads((sls_dir / "result.json").read_text())
    for f in result["findings"]:
        assert f["title"] in out
    valgus = next(f for f in result["findings"] if f["code"] == "knee_valgus")
    assert valgus["severity"] in ("mild", "marked")
    assert fmt_num(valgus["value"], "deg") in out
    assert "+ = knee inward" in out and "°" in out
    assert "sev-" + valgus["severity"] in out
    assert result["disclaimer"] in out
    assert "SEM" in out or "standard error of measurement" in out
    assert "detectable change" in out
    # reps table, plots, key frame, plan, red flags
    assert out.count("<svg") >= 3                       # two plots + the diagram
    assert "data:image/png;base64," in out
    assert "Why Foot Strength Matters for Back Pain" in out
    assert "Persistent numbness or tingling" in out
    assert "3 × 10 holds of 5 s, daily" in out
    assert "Subject 7" in out
    assert result["chainscan_version"] in out and result["schema_version"] in out


def test_html_escapes_hostile_text(sls_dir):
    data = load_report_data(sls_dir, plan=PLAN, diagram_svg=DIAGRAM, subject=HOSTILE)
    out = render_html(data)
    assert HOSTILE not in out
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in out
    assert "<script" not in out.lower()


def test_sanitize_svg_removes_active_content():
    clean = sanitize_svg(DIAGRAM)
    assert clean.startswith("<svg")
    assert "script" not in clean and "onload" not in clean and "example.com" not in clean
    assert "<circle" in clean


def test_html_without_plan_keyframes_or_frames(stance_dir, tmp_path):
    out = render_html(load_report_data(stance_dir))
    assert "No exercise plan in this folder" in out
    assert "Key frames" not in out
    assert "Balance" in out and "standing on the right leg" in out
    # only result.json: still a report, and it says the plots are missing
    shutil.copy(stance_dir / "result.json", tmp_path / "result.json")
    bare = render_html(load_report_data(tmp_path))
    assert "No frames.csv in this folder" in bare
    assert _external_refs(bare) == []


def test_plan_json_in_folder_is_used(dls_dir, tmp_path):
    for f in ("result.json", "frames.csv"):
        shutil.copy(dls_dir / f, tmp_path / f)
    (tmp_path / "plan.json").write_text(json.dumps(PLAN), encoding="utf-8")
    data = load_report_data(tmp_path)
    assert data.plan is not None and data.test == "double_leg_squat"
    out = render_html(data)
    assert "Short foot (arch doming)" in out and "knee separation" in out
    (tmp_path / "plan.json").write_text("{not json", encoding="utf-8")
    data = load_report_data(tmp_path)
    assert data.plan is None and any("plan.json" in n for n in data.notes)


# -- data -----------------------------------------------------------------------------------------------------

def test_missing_or_invalid_result_json(tmp_path):
    with pytest.raises(ChainscanError, match="result.json"):
        load_report_data(tmp_path)
    (tmp_path / "result.json").write_text("{", encoding="utf-8")
    with pytest.raises(ChainscanError):
        load_report_data(tmp_path)
    (tmp_path / "result.json").write_text(json.dumps({"schema_version": "2.0", "test": "x", "findings": []}))
    with pytest.raises(ChainscanError, match="schema"):
        load_report_data(tmp_path)
    with pytest.raises(ChainscanError):
        load_report_data(tmp_path / "nope")


def test_number_formatting(sls_dir):
    assert fmt_num(10.85, "deg") == "+10.9°"
    assert fmt_num(-0.76, "deg") == "\u22120.8°"
    assert fmt_num(None, "deg") == "–"
    assert fmt_num(1.175, "ratio") == "1.18"
    data = load_report_data(sls_dir)
    valgus = next(f for f in data.findings if f["code"] == "knee_valgus")
    assert threshold_text(valgus, data).startswith("flag ≥ 13.5°")


# -- PDF ------------------------------------------------------------------------------------------------------

def _page_count(pdf: bytes) -> int:
    try:
        import pypdf
        return len(pypdf.PdfReader(io.BytesIO(pdf)).pages)
    except ImportError:
        return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


def _pdf_text(path: Path) -> str | None:
    if shutil.which("pdftotext"):
        return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                              check=True).stdout
    try:
        import pypdf
        return "\n".join(p.extract_text() or "" for p in pypdf.PdfReader(str(path)).pages)
    except ImportError:
        return None


@pytest.mark.parametrize("with_plan", [False, True])
def test_pdf_is_valid_a4_with_disclaimer(sls_dir, tmp_path, with_plan):
    data = load_report_data(sls_dir, plan=PLAN if with_plan else None, subject=HOSTILE,
                            diagram_png=_png_bytes() if with_plan else None)
    path = render_pdf(data, tmp_path / "sub" / "report.pdf")
    pdf = path.read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")
    assert 2 <= _page_count(pdf) <= 4
    assert [p.name for p in path.parent.iterdir()] == ["report.pdf"]       # atomic: no temp file left
    assert b"DejaVuSans" in pdf                                              # the registered TTF is embedded
    assert b"/Helvetica" not in pdf
    text = _pdf_text(path)
    if text is None:
        pytest.skip("neither pdftotext nor pypdf to read the PDF text")
    flat = " ".join(text.split())
    assert "This is a movement screen, not a diagnosis." in flat
    n_pages = _page_count(pdf)
    assert flat.count("This is a movement screen, not a diagnosis.") >= n_pages    # on every page
    assert f"page {n_pages} of {n_pages}" in flat
    assert "°" in text and "≥" in text
    assert HOSTILE in flat                                                   # shown literally, not parsed
    if with_plan:
        assert "Why Foot Strength Matters for Back Pain" in flat and "Persistent numbness" in flat
    else:
        assert "No exercise plan in this folder" in flat


def test_pdf_stance_and_double_leg(stance_dir, dls_dir, tmp_path):
    for d in (stance_dir, dls_dir):
        path = render_pdf(load_report_data(d), tmp_path / f"{d.name}.pdf")
        assert 2 <= _page_count(path.read_bytes()) <= 4


def test_font_has_the_glyphs():
    register_fonts()
    from reportlab.pdfbase import pdfmetrics
    face = pdfmetrics.getFont(FONT).face
    for ch in "°±≥–−×÷✓✗●":
        assert ord(ch) in face.charToGlyph, ch


def test_pdf_unwritable_target(sls_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ChainscanError):
        render_pdf(load_report_data(sls_dir), blocker / "report.pdf")


def test_minimal_result_renders(tmp_path):
    """A sparse result (unknown values, no reps, no config) still gives an HTML and a PDF report."""
    result = {"schema_version": "1.3", "test": "single_leg_squat", "stance_side": None, "reps": [],
              "stance_periods": [], "quality": [{"gate": "full_body", "passed": False, "blocking": False,
                                                 "message": "Feet out of view."}],
              "findings": [{"code": "knee_valgus", "title": "Knee collapse", "side": "left", "value": None,
                            "unit": "deg", "threshold": None, "severity": "unknown", "confidence": "low",
                            "reference": None, "message": "Could not be judged."}]}
    (tmp_path / "result.json").write_text(json.dumps(result), encoding="utf-8")
    data = load_report_data(tmp_path)
    out = render_html(data)
    assert "sev-unknown" in out and "Feet out of view." in out and "✗ fail" in out
    pdf = render_pdf(data, tmp_path / "r.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")


def test_pdf_draws_the_body_diagram_from_its_svg(sls_dir, tmp_path):
    """No PNG needed: the SVG diagram is drawn into the PDF (its title and labels become PDF text)."""
    import json as _json

    from chainscan.recommendations import chain_diagram_svg

    result = _json.loads((sls_dir / "result.json").read_text())
    data = load_report_data(sls_dir, diagram_svg=chain_diagram_svg(result))
    path = render_pdf(data, tmp_path / "report.pdf")
    text = _pdf_text(path)
    assert text is not None
    flat = " ".join(text.split())
    assert "SUBJECT'S LEFT" in flat and "Kinetic chain" in flat
    assert "shown in the HTML report" not in flat

"""The HTML and PDF reports rendered from a real foot-first plan (``recommend()``), not a stand-in:
page count of the worst cases, key-frame size on paper, the plan's doses, red flags, explanations and
article titles in both outputs, the header's file name, the disclaimer in every output."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from chainscan import synthetic as syn
from chainscan.pipeline import screen_pose
from chainscan.recommendations import Answers, chain_diagram_svg, recommend
from chainscan.recommendations.catalog import ARTICLES
from chainscan.recommendations.plan import RED_FLAGS
from chainscan.report.data import load_report_data
from chainscan.report.html import render_html
from chainscan.report.pdf import (
    CONTENT_W,
    FONT,
    KEYFRAME_MAX_H,
    KEYFRAME_MIN_H,
    META_WIDTHS,
    register_fonts,
    render_pdf_bytes,
    wrap_name,
)
from chainscan.report.writer import write_outputs

pypdf = pytest.importorskip("pypdf")

MM = 72 / 25.4
LONG_VIDEO = "single_leg_squat_left_valgus_patient_0042_2024-11-21.mp4"
STATEMENT = "screen, not a diagnosis"
ALL_PAIN = ("knee", "hip", "low_back", "foot")


def _keyframe_png(width: int = 540, height: int = 960) -> bytes:
    """A stand-in key frame with the size of a real one (portrait phone video, 540x960)."""
    import cv2

    img = np.full((height, width, 3), 200, np.uint8)
    cv2.line(img, (width // 2, height // 5), (width // 2, 4 * height // 5), (40, 160, 40), 6)
    cv2.putText(img, "L knee +9.9", (width // 2 + 10, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def _folder(root: Path, name: str, clip, sides: list[str], *, frame: tuple[int, int] = (540, 960)) -> Path:
    out = root / name
    write_outputs(screen_pose(clip.pose), out, write_pose=False)
    res = json.loads((out / "result.json").read_text(encoding="utf-8"))
    res.setdefault("source", {})["video"] = LONG_VIDEO
    (out / "result.json").write_text(json.dumps(res), encoding="utf-8")
    (out / "keyframes").mkdir()
    for s in sides:
        (out / "keyframes" / f"keyframe_{s}.png").write_bytes(_keyframe_png(*frame))
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """The fullest screens of each test: most findings flagged, key frames for every tested side."""
    root = tmp_path_factory.mktemp("worst")
    return {
        # knees inward (marked), knee inside the foot on both sides, left-right knee difference; two key frames
        "double_leg_squat": _folder(root, "dls", syn.make_squat(valgus_deg=(25, 12)), ["left", "right"]),
        # knee valgus (marked), pelvic drop, trunk lean
        "single_leg_squat": _folder(root, "sls", syn.make_single_leg_squat(valgus_deg=18, pelvic_drop_deg=7,
                                                                           trunk_lean_deg=6), ["left"]),
        # pelvic drop, trunk lean, short balance with two touch-downs
        "single_leg_stance": _folder(root, "st", syn.make_single_leg_stance(trunk_lean_deg=7, touchdowns=2),
                                     ["right"]),
    }


def _data(folder: Path, answers: Answers, subject: str = "Patient 42"):
    result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    plan = recommend(result, answers).to_dict()
    return load_report_data(folder, plan=plan, diagram_svg=chain_diagram_svg(result), subject=subject), plan


def _pages_text(pdf: bytes) -> list[str]:
    """Each page's text, whitespace collapsed (pypdf follows reportlab's drawing order: one cell at a time)."""
    return [" ".join((p.extract_text() or "").split()) for p in pypdf.PdfReader(io.BytesIO(pdf)).pages]


# -- 1. A4, 2-4 pages in the worst cases ----------------------------------------------------------------------

WORST_ANSWERS = [Answers(pain=ALL_PAIN, arch="flat", sex="female"), Answers(pain=ALL_PAIN, arch="high", sex="male"),
                 Answers(pain=("knee", "low_back")), Answers(pain=("foot",), arch="flat")]


@pytest.mark.parametrize("test", ["double_leg_squat", "single_leg_squat", "single_leg_stance"])
def test_worst_case_pdf_is_a4_and_2_to_4_pages(folders, test):
    for answers in WORST_ANSWERS:
        data, plan = _data(folders[test], answers)
        assert len(plan["items"]) >= 6 and plan["explanations"]
        pdf = render_pdf_bytes(data)
        reader = pypdf.PdfReader(io.BytesIO(pdf))
        assert 2 <= len(reader.pages) <= 4, (test, answers, len(reader.pages))
        for page in reader.pages:
            w, h = float(page.mediabox.width), float(page.mediabox.height)
            assert abs(w - 595.28) < 1 and abs(h - 841.89) < 1          # A4 portrait
        # no near-empty last page: it holds plan entries, never the notes alone
        last = _pages_text(pdf)[-1]
        names = [it["name"] for it in plan["items"]]
        assert sum(n in last for n in names) >= 2, last[:300]


# -- 2. key frames large enough to read ---------------------------------------------------------------------

def _image_boxes(pdf: bytes) -> list[tuple[int, int, float, float]]:
    """(pixel width, pixel height, drawn width pt, drawn height pt) of every raster image on every page,
    from the content streams' transformation matrices."""
    from pypdf.generic import ContentStream

    def mul(m, n):
        a, b, c, d, e, f = m
        A, B, C, D, E, F = n
        return [a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F]

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    out = []

    def walk(ops, resources, ctm):
        xobjects = resources.get("/XObject", {}) if resources else {}
        stack = []
        for operands, op in ops:
            if op == b"q":
                stack.append(ctm)
            elif op == b"Q":
                ctm = stack.pop()
            elif op == b"cm":
                ctm = mul([float(x) for x in operands], ctm)
            elif op == b"Do":
                x = xobjects[operands[0]].get_object()
                if x.get("/Subtype") == "/Image":
                    out.append((int(x["/Width"]), int(x["/Height"]), (ctm[0] ** 2 + ctm[1] ** 2) ** 0.5,
                                (ctm[2] ** 2 + ctm[3] ** 2) ** 0.5))
                elif x.get("/Subtype") == "/Form":
                    m = [float(v) for v in x.get("/Matrix", [1, 0, 0, 1, 0, 0])]
                    walk(ContentStream(x, reader).operations, x.get("/Resources"), mul(m, ctm))

    for page in reader.pages:
        walk(ContentStream(page.get_contents(), reader).operations, page["/Resources"], [1, 0, 0, 1, 0, 0])
    return out


def _keyframe_boxes(pdf: bytes, size: tuple[int, int]) -> list[tuple[float, float]]:
    return [(w, h) for pw, ph, w, h in _image_boxes(pdf) if (pw, ph) == size]


def test_single_key_frame_is_large(folders):
    data, _ = _data(folders["single_leg_squat"], Answers())
    boxes = _keyframe_boxes(render_pdf_bytes(data), (540, 960))
    assert len(boxes) == 1
    w, h = boxes[0]
    assert h >= KEYFRAME_MIN_H and h >= 80 * MM, h / MM                      # legible: ~9.5 cm tall
    assert abs(h - KEYFRAME_MAX_H) < 1 and abs(w / h - 540 / 960) < 0.01      # as tall as allowed, not distorted


def test_two_key_frames_are_both_large(folders):
    data, _ = _data(folders["double_leg_squat"], Answers(pain=ALL_PAIN, arch="flat"))
    boxes = _keyframe_boxes(render_pdf_bytes(data), (540, 960))
    assert len(boxes) == 2
    assert all(h >= 80 * MM for _, h in boxes), [h / MM for _, h in boxes]


def test_single_landscape_key_frame_uses_the_full_width(tmp_path):
    folder = _folder(tmp_path, "wide", syn.make_single_leg_squat(valgus_deg=18), ["left"], frame=(960, 540))
    data, _ = _data(folder, Answers())
    (w, h), = _keyframe_boxes(render_pdf_bytes(data), (960, 540))
    # beside the body diagram (52 mm and a 4 mm gap) the frame takes all the width that is left
    assert w >= CONTENT_W - 57 * MM and h >= KEYFRAME_MIN_H, (w / MM, h / MM)
    data.diagram_svg = None                                                    # no diagram: the whole width
    (w, h), = _keyframe_boxes(render_pdf_bytes(data), (960, 540))
    assert (abs(h - KEYFRAME_MAX_H) < 1 or abs(w - CONTENT_W) < 1) and w >= 150 * MM, (w / MM, h / MM)


# -- 3. the real plan goes through both renderers ------------------------------------------------------------

HEADINGS = ["Movement screening report", "Findings", "Recording quality", "Exercise plan",
            "Red flags: see a professional"]


def _expect(plan: dict) -> list[str]:
    """Strings the report must show for this plan: doses, names, article titles, red flags, explanations."""
    want = [it["dose"] for it in plan["items"]] + [it["name"] for it in plan["items"]]
    want += sorted({it["source"] for it in plan["items"]})
    want += list(plan["red_flags"])
    for e in plan["explanations"]:
        want.append(" ".join(e["text"].split()[:12]))        # the start of each explanation
    want += [n[:60] for n in plan["notes"]]
    return want


@pytest.mark.parametrize("test", ["double_leg_squat", "single_leg_squat", "single_leg_stance"])
def test_html_shows_the_real_plan(folders, test):
    import html as _html

    data, plan = _data(folders[test], Answers(pain=ALL_PAIN, arch="flat", sex="female"))
    text = " ".join(_html.unescape(render_html(data)).split())
    assert set(plan["red_flags"]) == set(RED_FLAGS) and len(RED_FLAGS) == 4
    for s in HEADINGS + ["Per rep" if test != "single_leg_stance" else "Per stance period", "Key frames",
                         "Along the kinetic chain", "About this plan"]:
        assert s in text, s
    missing = [s for s in _expect(plan) if " ".join(s.split()) not in text]
    assert not missing
    assert all(a in ARTICLES for a in {it["source"] for it in plan["items"]})
    assert STATEMENT in text


@pytest.mark.parametrize("test", ["double_leg_squat", "single_leg_squat", "single_leg_stance"])
def test_pdf_shows_the_real_plan(folders, test):
    data, plan = _data(folders[test], Answers(pain=ALL_PAIN, arch="high", sex="male"))
    pages = _pages_text(render_pdf_bytes(data))
    text = " ".join(pages)
    for s in HEADINGS + ["Key frames and the kinetic chain", "Over time", "About this plan", "DAILY HABIT"]:
        assert s in text, s
    missing = [s for s in _expect(plan) if " ".join(s.split()) not in text]
    assert not missing
    assert all(STATEMENT in p for p in pages)                                    # on every page


def test_pdf_text_with_pdftotext_has_the_red_flags_and_sources(folders, tmp_path):
    """Poppler's reader (what most viewers' copy and search see) also finds the full-width text: red flags,
    the article titles, the headings (table cells side by side may come out interleaved, so not those)."""
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext not installed")
    data, plan = _data(folders["single_leg_squat"], Answers(pain=ALL_PAIN, arch="flat"))
    path = tmp_path / "r.pdf"
    path.write_bytes(render_pdf_bytes(data))
    text = " ".join(subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    for flag in RED_FLAGS:
        assert flag in text, flag
    for title in {it["source"] for it in plan["items"]}:
        assert " ".join(title.split()) in text, title
    for heading in ("Exercise plan", "About this plan", "Red flags: see a professional", "Over time"):
        assert heading in text


# -- 6. the header's file name -------------------------------------------------------------------------------

def test_long_video_name_breaks_at_separators_only():
    register_fonts()
    width = META_WIDTHS[0] - 6                        # the header's video column
    lines = wrap_name(LONG_VIDEO, FONT, 8.5, width)
    assert "".join(lines) == LONG_VIDEO and 1 < len(lines) <= 2
    assert all(x.endswith(("_", "-", ".")) for x in lines[:-1]) and lines[-1].endswith(".mp4")
    from reportlab.pdfbase.pdfmetrics import stringWidth
    assert all(stringWidth(x, FONT, 8.5) <= width for x in lines)
    # a name with no separators that cannot fit keeps its start and its extension, and says it was cut
    huge = "x" * 120 + ".mov"
    cut = wrap_name(huge, FONT, 8.5, width)
    assert len(cut) == 2 and cut[0].startswith("xxx") and cut[-1].startswith("…") and cut[-1].endswith(".mov")


def test_pdf_header_keeps_the_extension_whole(folders):
    data, _ = _data(folders["single_leg_squat"], Answers())
    first = pypdf.PdfReader(io.BytesIO(render_pdf_bytes(data))).pages[0].extract_text()
    assert "2024-11-21.mp4" in first and "mp 4" not in first


# -- 7. "screen, not a diagnosis" in every output the report modules write -----------------------------------

def test_every_report_output_says_screen_not_a_diagnosis(folders, tmp_path):
    minimal = tmp_path / "minimal"
    minimal.mkdir()
    (minimal / "result.json").write_text(json.dumps({"schema_version": "1.0", "test": "single_leg_squat",
                                                     "findings": []}), encoding="utf-8")
    cases = [load_report_data(folders["single_leg_stance"]), load_report_data(minimal),
             _data(folders["double_leg_squat"], Answers(pain=("foot",)))[0]]
    for data in cases:
        assert STATEMENT in render_html(data)
        pages = _pages_text(render_pdf_bytes(data))
        assert pages and all(STATEMENT in p for p in pages)



def test_dense_fallback_keeps_key_frames_legible(folders, monkeypatch):
    """A report that would run past MAX_PAGES is laid out again with the denser sizes, which still keep the
    key frames well above the legibility floor and never add pages."""
    from chainscan.report import pdf as pdfmod

    register_fonts()
    data, _ = _data(folders["double_leg_squat"], Answers(pain=ALL_PAIN, arch="flat", sex="female"))
    normal_pdf, normal_pages = pdfmod._build(data, pdfmod.NORMAL, None)
    dense_pdf, dense_pages = pdfmod._build(data, pdfmod.DENSE, None)
    assert dense_pages <= normal_pages
    assert all(h >= 80 * MM for _, h in _keyframe_boxes(dense_pdf, (540, 960)))
    calls = []
    real_build = pdfmod._build
    monkeypatch.setattr(pdfmod, "_build", lambda d, layout, pngs: calls.append(layout) or real_build(d, layout, pngs))
    monkeypatch.setattr(pdfmod, "MAX_PAGES", normal_pages - 1)
    pdfmod.render_pdf_bytes(data)
    assert calls == [pdfmod.NORMAL, pdfmod.DENSE]

"""The optional outputs of a screening beyond the tables: plan, key frames, annotated video, reports.

Each step writes into the staging folder that ``write_outputs`` moves into place only when every
step has succeeded (all or nothing).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError
from ..result import ScreeningResult
from .writer import Extra

REPORT_FORMATS = ("html", "pdf")


def parse_formats(text: str | None) -> tuple[str, ...]:
    """``"html,pdf"`` → ("html", "pdf"); empty → (); anything else → ConfigError."""
    if not text:
        return ()
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in formats if f not in REPORT_FORMATS]
    if bad:
        raise ConfigError(f"Unknown report format {', '.join(bad)}; use html, pdf or html,pdf.")
    return formats


def plan_step(result_dict: Mapping, answers) -> tuple[Extra, dict]:
    """Build the foot-first plan now (so a bad answer fails early) and a step that writes plan.json."""
    from ..recommendations import recommend

    plan = recommend(result_dict, answers).to_dict()

    def write(folder: Path) -> None:
        (folder / "plan.json").write_text(json.dumps(plan, indent=2, ensure_ascii=False), encoding="utf-8")

    return write, plan


def keyframes_step(video: Path, result: ScreeningResult, blur_faces: bool) -> Extra:
    def write(folder: Path) -> None:
        from .keyframes import write_keyframes

        write_keyframes(video, result, folder / "keyframes", blur_faces=blur_faces)

    return write


def video_step(video: Path, result: ScreeningResult, blur_faces: bool, progress=None) -> Extra:
    def write(folder: Path) -> None:
        from .video import write_annotated_video

        write_annotated_video(video, result, folder / "annotated.mp4", blur_faces=blur_faces, progress=progress)

    return write


def report_step(formats: tuple[str, ...], plan: dict | None, result_dict: Mapping, subject: str | None,
                source: Path | None = None) -> Extra:
    """Write report.html / report.pdf. The report reads result.json, frames.csv and key frames from
    ``source`` (default: the folder being written, which already holds them)."""
    def write(folder: Path) -> None:
        if not formats:
            return
        from ..recommendations import chain_diagram_svg
        from .data import load_report_data

        data = load_report_data(source or folder, plan=plan, diagram_svg=chain_diagram_svg(result_dict),
                                subject=subject)
        if "html" in formats:
            from .html import render_html

            (folder / "report.html").write_text(render_html(data), encoding="utf-8")
        if "pdf" in formats:
            from .pdf import render_pdf

            render_pdf(data, folder / "report.pdf")

    return write

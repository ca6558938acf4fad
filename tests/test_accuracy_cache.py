"""benchmarks/accuracy.py's pose cache: a change to pose extraction (code, version, model) must not be
hidden by poses cached before it."""

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

import chainscan

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def acc():
    spec = importlib.util.spec_from_file_location("accuracy_benchmark_cache", ROOT / "benchmarks" / "accuracy.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_fingerprint_covers_version_model_and_extraction_code(acc, tmp_path, monkeypatch):
    src = tmp_path / "chainscan"
    for rel in acc.EXTRACTION_CODE:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "src" / "chainscan" / rel, src / rel)
    fp = acc.extraction_fingerprint(src)
    assert f"chainscan {chainscan.__version__}" in fp and "mediapipe" in fp
    assert fp == acc.extraction_fingerprint(ROOT / "src" / "chainscan")   # same code, same key
    assert "extract.py" in acc.EXTRACTION_CODE and "io/pose.py" in acc.EXTRACTION_CODE
    (src / "extract.py").write_text((src / "extract.py").read_text() + "\n# changed\n")
    assert acc.extraction_fingerprint(src) != fp
    monkeypatch.setenv("CHAINSCAN_POSE_MODEL", str(tmp_path / "other.task"))
    assert acc.extraction_fingerprint(ROOT / "src" / "chainscan") != fp


def test_cache_path_changes_with_the_fingerprint(acc, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not really a video")
    a = acc.cache_path(clip, tmp_path / "cache", "fp one")
    assert a == acc.cache_path(clip, tmp_path / "cache", "fp one")
    assert a != acc.cache_path(clip, tmp_path / "cache", "fp two")
    assert a.name.startswith("clip-") and a.suffix == ".npz"

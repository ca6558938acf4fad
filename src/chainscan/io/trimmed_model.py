"""The bundled BlazePose full model without the segmentation head chainscan never uses.

MediaPipe's Pose graph runs ``pose_landmark_full.tflite`` once per frame. The network has five outputs:
the landmarks, the pose presence score, a 256×256 segmentation mask, a 64×64×39 heatmap (the graph refines
the landmarks with it) and the world landmarks. chainscan never asks for the mask (``enable_segmentation``
is off, and the graph drops the mask tensor behind a gate), yet TFLite computes the mask's decoder on every
frame: about a third of the model's time.

:func:`trimmed_model` writes a copy of the bundled model that keeps only the operators the other four outputs
depend on; the mask's slot is filled with the presence tensor, which the gate discards unread. Weights and
every operator on the way to the landmarks are untouched, so the landmarks and world landmarks are
bit-identical to the untrimmed model's (``tests/test_trimmed_model.py`` compares them on real frames). The
copy is made on this machine from the model inside the installed mediapipe wheel (nothing is downloaded), once,
into ``$XDG_CACHE_HOME/chainscan`` (``~/.cache/chainscan``) or, if that cannot be written, the temporary
folder. Anything unexpected (another model layout, no writable folder, a graph that does not start) means
the untrimmed model is used, as before.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
from pathlib import Path

#: bump when the trimming changes, so old copies are not reused
TRIM_VERSION = 1
#: the outputs of pose_landmark_full.tflite in the order MediaPipe's graph splits them
EXPECTED_OUTPUTS = ((1, 195), (1, 1), (1, 256, 256, 1), (1, 64, 64, 39), (1, 117))
MASK_OUTPUT = 2
PRESENCE_OUTPUT = 1


def cache_dirs() -> list[Path]:
    """Where trimmed copies are kept, in order of preference."""
    out = []
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # unset or relative: the XDG default
        try:
            base = str(Path.home() / ".cache")
        except (RuntimeError, KeyError, OSError):  # no home folder (a bare service account)
            base = ""
    if base:
        out.append(Path(base) / "chainscan")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    out.append(Path(tempfile.gettempdir()) / f"chainscan-{uid}")
    return out


def trim(model: bytes) -> bytes | None:
    """``model`` (a pose_landmark_full .tflite) without the operators only the mask output needs;
    None when the model does not have the expected five outputs."""
    import flatbuffers
    import numpy as np
    from mediapipe.tasks.metadata import schema_py_generated as tfl

    m = tfl.ModelT.InitFromObj(tfl.Model.GetRootAsModel(model, 0))
    if len(m.subgraphs or []) != 1:
        return None
    g = m.subgraphs[0]
    outputs = [int(t) for t in g.outputs]
    shapes = tuple(tuple(int(d) for d in g.tensors[t].shape) for t in outputs)
    if shapes != EXPECTED_OUTPUTS:
        return None
    producer = {int(t): k for k, op in enumerate(g.operators) for t in op.outputs}
    wanted = [t for k, t in enumerate(outputs) if k != MASK_OUTPUT]
    needed: set[int] = set()
    seen: set[int] = set()
    stack = list(wanted)
    while stack:  # every operator the four kept outputs depend on
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        k = producer.get(t)
        if k is not None and k not in needed:
            needed.add(k)
            stack.extend(int(x) for x in g.operators[k].inputs if x >= 0)
    if not needed or len(needed) == len(g.operators):
        return None
    g.operators = [op for k, op in enumerate(g.operators) if k in needed]  # execution order kept
    outputs[MASK_OUTPUT] = outputs[PRESENCE_OUTPUT]
    g.outputs = np.asarray(outputs, dtype=np.int32)
    b = flatbuffers.Builder(len(model) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


@functools.cache
def trimmed_model(source: str) -> Path | None:
    """Path of the trimmed copy of the model at ``source``, made on first use; None if it cannot be made.

    The copy's name carries the digest of the source and of its own bytes: a copy whose bytes no longer
    match (cut short, edited) is never handed to TFLite, which could crash on it; it is made again."""
    try:
        data = Path(source).read_bytes()
    except OSError:
        return None
    prefix = f"{Path(source).stem}.no-mask.v{TRIM_VERSION}.{_digest(data)}."
    for folder in cache_dirs():
        with contextlib.suppress(OSError):
            for path in sorted(folder.glob(prefix + "*.tflite")):
                if _digest(path.read_bytes()) == path.name[len(prefix):-len(".tflite")]:
                    return path
                path.unlink()  # damaged
    try:
        trimmed = trim(data)
    except Exception:  # noqa: BLE001 - an unreadable layout: the untrimmed model is used
        return None
    if trimmed is None:
        return None
    name = f"{prefix}{_digest(trimmed)}.tflite"
    for folder in cache_dirs():
        tmp = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
            with os.fdopen(fd, "wb") as fh:
                fh.write(trimmed)
            os.replace(tmp, folder / name)  # atomic: another process never sees half a file
            return folder / name
        except OSError:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
    return None


@functools.cache
def _graph_config(model_file: str):
    """MediaPipe's Pose graph (subgraphs expanded) with the full model's path replaced by ``model_file``."""
    import mediapipe
    from mediapipe.calculators.core import constant_side_packet_calculator_pb2 as csp
    from mediapipe.framework import calculator_pb2
    from mediapipe.python._framework_bindings import validated_graph_config
    from mediapipe.python.solutions import pose

    root = Path(mediapipe.__file__).resolve().parents[1]
    vg = validated_graph_config.ValidatedGraphConfig()
    vg.initialize(binary_graph_path=str(root / pose._BINARYPB_FILE_PATH))
    cfg = calculator_pb2.CalculatorGraphConfig()
    cfg.ParseFromString(vg.binary_config)
    found = 0
    for node in cfg.node:
        if node.calculator != "ConstantSidePacketCalculator":
            continue
        for packet in node.options.Extensions[csp.ConstantSidePacketCalculatorOptions.ext].packet:
            if packet.string_value.endswith("/pose_landmark_full.tflite"):
                packet.string_value = model_file
                found += 1
    return cfg if found == 1 else None


def trimmed_pose(*, static_image_mode: bool, min_detection_confidence: float, min_tracking_confidence: float):
    """A MediaPipe Pose (full model, no smoothing, no segmentation) running the trimmed model, or None
    when it cannot be made (the caller then uses ``mediapipe.solutions.pose.Pose``)."""
    from mediapipe.python.solution_base import SolutionBase

    from .pose import bundled_model_path

    path = trimmed_model(str(bundled_model_path()))
    if path is None:
        return None
    try:
        cfg = _graph_config(str(path))
    except Exception:  # noqa: BLE001 - another mediapipe layout
        return None
    if cfg is None:
        return None

    class TrimmedPose(SolutionBase):
        """``mediapipe.solutions.pose.Pose`` with the same settings, on the trimmed model."""

        def process(self, image):
            return super().process(input_data={"image": image})

    pose = None
    try:
        pose = TrimmedPose(
            graph_config=cfg,
            side_inputs={"model_complexity": 1, "smooth_landmarks": False, "enable_segmentation": False,
                         "smooth_segmentation": False, "use_prev_landmarks": not static_image_mode},
            calculator_params={
                "posedetectioncpu__TensorsToDetectionsCalculator.min_score_thresh": min_detection_confidence,
                "poselandmarkbyroicpu__tensorstoposelandmarksandsegmentation__ThresholdingCalculator.threshold":
                    min_tracking_confidence},
            outputs=["pose_landmarks", "pose_world_landmarks", "segmentation_mask"])
        pose._graph.wait_until_idle()  # the models are loaded by now: a copy that does not load fails here
        return pose
    except Exception:  # noqa: BLE001 - the graph did not start: the untrimmed model is used
        if pose is not None:
            with contextlib.suppress(Exception):
                pose.close()
        return None

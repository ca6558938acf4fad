"""Exceptions. Every message is one sentence a user can act on: what is wrong, and what to do."""

from __future__ import annotations


class ChainscanError(Exception):
    """Base class: anything chainscan reports to a user rather than crashing on."""


class VideoReadError(ChainscanError):
    """The video cannot be opened or decoded (missing, empty, truncated, not a video)."""


class PoseModelUnavailable(ChainscanError):
    """The pose model file is missing, unreadable or not a pose model."""


class InsufficientData(ChainscanError):
    """Too little usable data to screen (nobody in view, too few valid frames, no movement found)."""


class QualityGateFailed(InsufficientData):
    """A blocking quality gate failed (e.g. side view); ``gates`` holds every gate's outcome and ``pose``
    the extracted landmarks when they exist (so a caller can inspect or store them)."""

    def __init__(self, message: str, gates: list | None = None, pose: object | None = None) -> None:
        super().__init__(message)
        self.gates = gates or []
        self.pose = pose


class PoseFileError(ChainscanError):
    """A stored pose file (.npz) is missing, corrupt or of an unknown version."""


class ConfigError(ChainscanError):
    """A configuration value or option is invalid."""

"""Input/output at the boundary: video frames, pose models, pose files."""

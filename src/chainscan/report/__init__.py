"""Writing results: result.json, frames.csv, reps.csv, pose.npz — all or nothing."""

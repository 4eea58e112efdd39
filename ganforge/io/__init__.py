"""What a run writes and reads back: checkpoints, the run folder and its lock, atomic writes, the
loss history, TensorBoard, the cache, sample pictures (not a public API beyond what the docs name)."""

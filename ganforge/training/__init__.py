"""The Trainer's machinery: what a run is built from and how it steps (not a public API; use ganforge.Trainer)."""

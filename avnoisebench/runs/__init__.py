"""Run folders: the one owner of their files (config, metrics log, checkpoint, predictions, per-sample scores)."""

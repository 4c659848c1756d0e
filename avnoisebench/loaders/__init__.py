"""PyTorch datasets over benchmark folders and media roots."""

from avnoisebench.loaders.clips import ClipBatch, ClipDataset, ClipSample, SkippedClip, collate_clips

__all__ = ["ClipBatch", "ClipDataset", "ClipSample", "SkippedClip", "collate_clips"]

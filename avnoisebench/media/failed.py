"""The clips of a benchmark folder whose latest status in a media root is a failure, by category, with their ids."""

from pathlib import Path

from avnoisebench.media.coverage import clip_states


def failed_clips(folder: Path, media_root: Path) -> dict[str, list[str]]:
    """Failure category -> sorted clip_ids (download, link, build or decode failures; not the missing clips)."""
    failed: dict[str, list[str]] = {}
    for clip, state in clip_states(folder, media_root):
        if state not in ("ok", "missing"):
            failed.setdefault(state, []).append(clip.clip_id)
    return {category: sorted(ids) for category, ids in sorted(failed.items())}

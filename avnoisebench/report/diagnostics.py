"""What the methods' mechanisms did, from their result records' `diagnostics` (`avnoisebench.evaluation.mechanisms`):
the accuracy of the labels a method trained on against the observed labels', ω's ROC-AUC for matched against
mismatched training pairs and the test-time modality usage, as mean ± std over the seeds whose records hold them."""

from dataclasses import dataclass

import numpy as np

from avnoisebench.report.entries import Entry, config_sort_key, markdown_row

# name -> column title; "observed" is a property of the config, not of a method, so it gets one column.
COLUMNS = {
    "observed": "observed labels correct (%)",
    "corrected": "corrected labels correct (%)",
    "omega_auc": "ω ROC-AUC, matched vs mismatched",
    "usage_video": "test clips using video (%)",
    "usage_audio": "test clips using audio (%)",
    "all_off": "test clips with both off (%)",
}


@dataclass(frozen=True)
class Diagnostics:
    """One entry's diagnostics: name -> (mean, std or None, runs measured)."""

    entry: Entry
    values: dict[str, tuple[float, float | None, int]]


def entry_diagnostics(entries: list[Entry]) -> list[Diagnostics]:
    """Each measured entry's (not a variant's) diagnostics over its seeds' records that hold them."""
    found = []
    for entry in entries:
        if entry.reference or entry.variant:
            continue
        runs = entry.diagnostics
        names = [name for name in COLUMNS if any(name in values for values in runs)]
        if names:
            summary = {}
            for name in names:
                seen = np.array([values[name] for values in runs if name in values])
                summary[name] = (float(seen.mean()), float(seen.std(ddof=1)) if len(seen) > 1 else None, len(seen))
            found.append(Diagnostics(entry, summary))
    return found


def _text(value: tuple[float, float | None, int] | None, name: str) -> str:
    """mean ± std of a diagnostic (an empty cell where a config has none)."""
    if value is None:
        return ""
    mean, std, _ = value
    digits = 3 if name == "omega_auc" else 1
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def diagnostics_markdown(diagnostics: list[Diagnostics]) -> str:
    """One table per benchmark build and track: a row per config, a column per (method, diagnostic)."""
    groups: dict[tuple[str, str | None, str | None], list[Diagnostics]] = {}
    for d in diagnostics:
        groups.setdefault((d.entry.benchmark, d.entry.lock_sha256, d.entry.track), []).append(d)
    parts = []
    for (benchmark, lock, track), found in groups.items():
        columns = list(dict.fromkeys((None if n == "observed" else d.entry.label, n) for d in found for n in d.values))
        columns.sort(key=lambda c: (c[0] is not None, c[0] or "", list(COLUMNS).index(c[1])))
        entries = {d.entry.config: d.entry for d in found}
        values = {
            (d.entry.config, label, n): d.values[n] for d in found for n in d.values for label in (d.entry.label, None)
        }
        head = ["config", *(COLUMNS[n] if label is None else f"{label}: {COLUMNS[n]}" for label, n in columns)]
        rows = [
            markdown_row([config or "", *(_text(values.get((config, label, n)), n) for label, n in columns)])
            for config in sorted(entries, key=lambda c: config_sort_key(entries[c]))
        ]
        title = f"### {benchmark} (lock {(lock or '')[:12]}), {track or 'no'} track"
        parts.append("\n".join([title, "", markdown_row(head), "|---|" + "---:|" * len(columns), *rows]))
    return "\n\n".join(parts)

"""Accuracy against noise rate or against γ, and per-sample score histograms, drawn with matplotlib's Agg canvas and
returned as PNG bytes."""

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from avnoisebench.runs.folder import SampleScores

FAMILIES = {"sym": "symmetric label noise", "asym": "asymmetric label noise"}


@dataclass(frozen=True)
class Series:
    """One line: a method's metric against noise rate (percent) in one noise family, with optional std."""

    label: str
    family: str
    reference: bool
    points: list[tuple[float, float, float | None]]


def accuracy_vs_noise_png(title: str, series: list[Series], metric: str) -> bytes:
    """One panel per noise family, one line per series; measured lines solid with std bars, references dashed."""
    families = {f: FAMILIES[f] for f in FAMILIES if any(s.family == f for s in series)}
    return panels_png(title, series, metric, families, "label noise rate (%)")


def gamma_curve_png(title: str, series: list[Series], metric: str) -> bytes:
    """Fig. 6 style: `metric` against a constant γ, one panel per series family (a setting), one line per noise rate."""
    panels = {s.family: s.family for s in series}
    return panels_png(title, series, metric, panels, "γ (constant)")


def panels_png(title: str, series: list[Series], metric: str, panels: dict[str, str], xlabel: str) -> bytes:
    """One panel per key of `panels` (titled by its value) holding the series of that family; shared y axis."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = sorted({s.label for s in series})
    figure = Figure(figsize=(5.5 * len(panels) + 2.5, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    colors = [f"C{i % 10}" for i in range(len(labels))]
    for ax, family in zip(axes, panels, strict=True):
        for s in (s for s in series if s.family == family):
            x, y, err = zip(*s.points, strict=True)
            yerr = None if s.reference or all(e is None for e in err) else [e or 0.0 for e in err]
            ax.errorbar(
                x,
                y,
                yerr=yerr,
                label=s.label,
                color=colors[labels.index(s.label)],
                linestyle="--" if s.reference else "-",
                marker="x" if s.reference else "o",
                alpha=0.6 if s.reference else 1.0,
                capsize=3,
            )
        ax.set_xticks(sorted({x for s in series if s.family == family for x, _, _ in s.points}))
        ax.set_title(panels[family])
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{metric} (%)")
    legend: dict[str, object] = {}
    for ax in axes:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(name, handle)
    figure.legend(list(legend.values()), list(legend), loc="outside right center", fontsize="small")
    figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    return buffer.getvalue()


def score_histogram_png(scores: "SampleScores", bins: int = 30, title: str | None = None) -> bytes:
    """Histograms of a run's per-sample scores (e.g. the noise estimate omega) for matched and mismatched pairs, as
    the paper's Fig. 8; by clean and noisy labels when the benchmark records no mismatch, else of all samples;
    `title` (default: the scores' name and epoch) heads the plot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    valid = scores.valid
    if scores.nc_flags is not None:
        groups = {"matched pairs": ~scores.nc_flags & valid, "mismatched pairs": scores.nc_flags & valid}
    elif scores.label_noisy is not None:
        groups = {"clean labels": ~scores.label_noisy & valid, "noisy labels": scores.label_noisy & valid}
    else:
        groups = {"all samples": valid}
    values = scores.scores[valid]
    edges = np.linspace(float(values.min()), float(values.max()) + 1e-9, bins + 1)
    figure = Figure(figsize=(5.5, 3.8), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    for i, (label, members) in enumerate(groups.items()):
        ax.hist(scores.scores[members], bins=edges, alpha=0.55, color=f"C{i}", label=f"{label} ({int(members.sum())})")
    ax.set_xlabel(scores.name)
    ax.set_ylabel("samples")
    ax.set_title(title or f"{scores.name} at epoch {scores.epoch}", fontsize="medium")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    return buffer.getvalue()

"""Accuracy-against-noise-rate plots drawn with matplotlib's Agg canvas, returned as PNG bytes."""

import io
from dataclasses import dataclass

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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    families = [f for f in FAMILIES if any(s.family == f for s in series)]
    labels = sorted({s.label for s in series})
    figure = Figure(figsize=(5.5 * len(families) + 2.5, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(families), sharey=True, squeeze=False)[0]
    colors = [f"C{i % 10}" for i in range(len(labels))]
    for ax, family in zip(axes, families, strict=True):
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
        ax.set_title(FAMILIES[family])
        ax.set_xlabel("label noise rate (%)")
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

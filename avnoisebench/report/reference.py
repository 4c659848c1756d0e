"""The paper's reference numbers: Tables I and II of Han et al., shipped as avnoisebench.annotations data."""

import csv
import io
from dataclasses import dataclass
from importlib import resources

from avnoisebench.evaluation.metrics import METRICS

PAPER_RESULTS = "paper_results.csv"
PAPER = "Han et al., Noise-Tolerant Learning for Audio-Visual Action Recognition, Tables I and II"


@dataclass(frozen=True)
class PaperResult:
    """One method's published C@1, C@5 and V@1 on one benchmark and noise config."""

    table: str
    benchmark: str
    config: str
    method: str
    metrics: dict[str, float]


def paper_results() -> list[PaperResult]:
    """Every transcribed cell of the paper's Tables I and II, in the file's order."""
    text = resources.files("avnoisebench.annotations").joinpath(PAPER_RESULTS).read_text(encoding="utf-8")
    return [
        PaperResult(row["table"], row["benchmark"], row["config"], row["method"], {m: float(row[m]) for m in METRICS})
        for row in csv.DictReader(io.StringIO(text))
    ]

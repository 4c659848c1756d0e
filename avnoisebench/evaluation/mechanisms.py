"""What a run's mechanisms did, read from its log once when the run is evaluated, so that its result record keeps
it: the accuracy of the labels the method trained on against the observed labels' (the last `corrected_labels`
event: ntl, XDC*), ω's ROC-AUC for matched against mismatched training pairs (ntl's last `sample_scores` of ω) and
the test-time modality usage (AdaMML's `predict` event)."""

import math

from avnoisebench.runs.folder import RunFolder


def run_diagnostics(run: RunFolder) -> dict[str, float]:
    """The diagnostics one run folder holds (none for a method that logs none of them), from one read of its log:
    observed, corrected, usage_video, usage_audio, all_off in percent, omega_auc from 0 to 1."""
    last: dict[str, dict] = {}
    for line in run.metrics():
        event = line.get("event")
        if event in ("corrected_labels", "predict") or (event == "sample_scores" and line.get("score") == "omega"):
            last[event] = line
    values: dict[str, float] = {}
    if "corrected_labels" in last:
        values["observed"] = 100 * last["corrected_labels"]["observed_accuracy"]
        values["corrected"] = 100 * last["corrected_labels"]["accuracy"]
    auc = last.get("sample_scores", {}).get("auc_matched_vs_mismatched")
    if auc is not None and not math.isnan(auc):
        values["omega_auc"] = auc
    if "usage_video" in last.get("predict", {}):
        values.update({name: 100 * last["predict"][name] for name in ("usage_video", "usage_audio", "all_off")})
    return values

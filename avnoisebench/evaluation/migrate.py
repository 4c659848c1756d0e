"""Read results logs written before records had structured fields (format 1): the benchmark variant, noisy
correspondence, label noise and sweep variant were then spelled inside strings (`mini-kinetics-nc30`, `nc30-sym40`,
`ntl[ablation=ins]`). This is the only place that decodes those strings."""

import json
import re
from typing import Any

_LEVEL_BENCHMARK = re.compile(r"^(?P<family>.+)-nc(?P<level>\d+)$")
_LEVEL_CONFIG = re.compile(r"^nc(?P<level>\d+)-(?P<label>.+)$")
_LABEL_NOISE = re.compile(r"^(?P<mode>sym|asym)(?P<rate>\d+)$")
_VARIANT = re.compile(r"^(?P<method>[^\[\]]+)\[(?P<values>.+)\]$")


def _value(text: str) -> Any:
    """A varied value as the old label wrote it (JSON for numbers and booleans, else the text)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def migrate_record(old: dict[str, Any]) -> dict[str, Any]:
    """A format-1 record as a format-2 one: structured fields from the old strings; what the old format did not
    record (model, initial weights, epochs, learning rate, batch size) stays None."""
    new = {k: v for k, v in old.items() if k != "options"}
    new["method_options"] = old.get("options")
    benchmark, config = old.get("benchmark", ""), old.get("config")
    new["benchmark_family"], new["benchmark_variant"] = benchmark, None
    if match := _LEVEL_BENCHMARK.match(benchmark):
        new["benchmark_family"], new["benchmark_variant"] = match["family"], f"nc{match['level']}"
        new["correspondence"], new["correspondence_kind"] = float(match["level"]), "real"
    label = config
    if config and (match := _LEVEL_CONFIG.match(config)):
        new["correspondence"], new["correspondence_kind"] = float(match["level"]), "synthetic"
        label = match["label"]
    if label == "clean":
        new["label_noise_mode"], new["label_noise_rate"] = "clean", 0.0
    elif label and (match := _LABEL_NOISE.match(label)):
        new["label_noise_mode"], new["label_noise_rate"] = match["mode"], int(match["rate"]) / 100
    method = old.get("method", "")
    if match := _VARIANT.match(method):
        pairs = [part.partition("=") for part in match["values"].split(", ")]
        new["method"], new["variant"] = match["method"], {key: _value(value) for key, _, value in pairs}
    new["format"] = 2
    return new

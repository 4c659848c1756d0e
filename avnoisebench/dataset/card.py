"""The dataset card (README.md): Hugging Face YAML metadata and a human-readable description."""

from typing import Any

import pyarrow as pa
import yaml

from avnoisebench.dataset.benchmark import NoisyBenchmark
from avnoisebench.dataset.layout import TEST_FILE, train_file

LABEL_COLUMNS = ("clean_label", "label")
_DTYPES = {pa.string(): "string", pa.int32(): "int32", pa.int64(): "int64", pa.bool_(): "bool"}


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Safe YAML without anchors, so repeated feature lists stay readable on the Hub."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def features_yaml(schema: pa.Schema, class_names: list[str]) -> list[dict[str, Any]]:
    """The `features` list of a card's dataset_info: ClassLabel for label columns, Value otherwise."""
    names = {str(i): name for i, name in enumerate(class_names)}
    return [
        {"name": f.name, "dtype": {"class_label": {"names": names}}}
        if f.name in LABEL_COLUMNS
        else {"name": f.name, "dtype": _DTYPES[f.type]}
        for f in schema
    ]


def features_json(schema: pa.Schema, class_names: list[str]) -> dict[str, Any]:
    """The same features in the form `datasets` stores in Parquet schema metadata."""
    return {
        f.name: {"names": class_names, "_type": "ClassLabel"}
        if f.name in LABEL_COLUMNS
        else {"dtype": _DTYPES[f.type], "_type": "Value"}
        for f in schema
    }


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _noise_table(noise_cards: list[dict[str, Any]]) -> str:
    """One row per config: label-noise mode, rate and realised rate, and mismatched pairs where recorded."""
    header = ["config", "mode", "rate", "noisy labels", "realised rate"]
    rows = [[c["config"], c["mode"], c["rate"], c["num_noisy"], f"{c['realised_rate']:.4f}"] for c in noise_cards]
    if any("correspondence" in c for c in noise_cards):
        header.append("mismatched pairs")
        for row, card in zip(rows, noise_cards, strict=True):
            row.append(card["correspondence"]["num_mismatched"] if "correspondence" in card else 0)
    return _table(header, rows)


def render_card(noisy: NoisyBenchmark, split_stats: dict[str, dict[str, tuple[int, int]]]) -> str:
    """README.md text: YAML `configs`/`dataset_info` (split sizes: `split_stats[config][split]` = rows, bytes) and
    the card describing recipe, noise, sources, shortfall."""
    benchmark, seed = noisy.benchmark, noisy.seed
    noise_cards = [config.card for config in noisy.configs]
    features = features_yaml(noisy.test.schema, benchmark.class_names)
    configs = [config.name for config in noisy.configs]
    metadata = {
        "pretty_name": benchmark.title,
        "license": benchmark.license,
        "task_categories": ["video-classification"],
        "tags": ["audio-visual", "noisy-labels", "noisy-correspondence", "avnoisebench"],
        "configs": [
            {
                "config_name": name,
                **({"default": True} if i == 0 else {}),
                "data_files": [{"split": "train", "path": train_file(name)}, {"split": "test", "path": TEST_FILE}],
            }
            for i, name in enumerate(configs)
        ],
        "dataset_info": [
            {
                "config_name": name,
                "features": features,
                "splits": [
                    {"name": split, "num_bytes": stats[1], "num_examples": stats[0]}
                    for split, stats in split_stats[name].items()
                ],
            }
            for name in configs
        ],
        "avnoisebench": {
            "benchmark": benchmark.name,
            "recipe": benchmark.recipe,
            "noise_seed": seed,
            "shortfall": [vars(s) for s in benchmark.shortfalls],
        },
    }
    header = yaml.dump(metadata, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)
    sizes = split_stats[configs[0]]
    body = [
        f"# {benchmark.title}",
        benchmark.description,
        "## Loading",
        "```python\nimport datasets\n"
        f'ds = datasets.load_dataset("path/to/{benchmark.name}", "{configs[min(2, len(configs) - 1)]}")\n'
        '# or: import avnoisebench; ds = avnoisebench.load("path/to/' + benchmark.name + '", "clean")\n```',
        "`label` is the observed (possibly noisy) label, `clean_label` the true one, `is_noisy` marks the "
        "difference; only the training split carries noise. `path` is the clip's path relative to a media root "
        "(`avnb download` / `avnb link`); `audio_clip_id` names the clip whose audio track is paired with the frames "
        "of `clip_id`.",
        "## Splits",
        _table(["split", "examples"], [[split, stats[0]] for split, stats in sizes.items()]),
        "## Noise configs",
        _noise_table(noise_cards),
        f"Each config's noise card (`noise/<config>.json`) holds its seed ({seed}), class map and realised "
        "transition matrix; configs named `ncNN-...` also hold the synthetic correspondence noise: NN % of the "
        "training rows of every class carry the audio of a row of another class (`audio_clip_id`, `nc_flag`). "
        "A label-noise config has the same labels at every correspondence level.",
        "## Classes",
        _table(["label", "class"], [[i, name] for i, name in enumerate(benchmark.class_names)]),
        "## Recipe",
        _table(["key", "value"], [[k, v] for k, v in benchmark.recipe.items() if k != "excluded_without_audio"]),
        "## Source annotations",
        _table(["file", "sha256", "origin"], [[s.name, s.sha256, s.origin] for s in benchmark.sources]),
    ]
    if benchmark.shortfalls:
        body += [
            "## Shortfall",
            "Built with `--allow-incomplete`: these classes had fewer source rows than the recipe asks for.",
            _table(
                ["split", "class", "available", "requested"],
                [[s.split, s.class_name, s.available, s.requested] for s in benchmark.shortfalls],
            ),
        ]
    body += [
        f"Homepage of the source data: {benchmark.homepage}",
        "Built by avnoisebench; `avnb verify <folder>` checks every file against `avnb-lock.json`.",
    ]
    return f"---\n{header}---\n\n" + "\n\n".join(body) + "\n"

"""Time label-free pretraining at AV-MNIST-NC size against a bare-encoder floor, and project a recipe's full cost.

Per modality, on one torch thread (as pretraining runs): one pretraining epoch over `--clips` random clips of the
benchmark's decoding (uint8 video 3x4x32x32, log-mels 51x40: augmentation, encoder, projector, NT-Xent, AdamW), and
the floor, the same number of forward + backward + AdamW steps of the bare encoder on fixed inputs of the same batch
shape. The ratio is pretraining epoch time / floor time, both measured here in the same run. The projection multiplies
the epoch time by the recipe's epochs: jobs=1 runs the modalities one after the other (sum), jobs=2 side by side
(max; needs two free cores). Run it on a quiet machine; `uptime`'s load average is printed beside the numbers.

    python bench/pretrain.py [--recipe av-mnist] [--clips 8000]
"""

import argparse
import os
import time
from dataclasses import replace

import numpy as np
import torch

from avnoisebench.pretrain import RECIPES
from avnoisebench.pretrain.encoders import build_encoder
from avnoisebench.pretrain.simclr import one_thread, train_modality

BUDGET_MINUTES = 20.0
SHAPES = {"video": (3, 4, 32, 32), "audio": (51, 40)}


def arrays(clips: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random training arrays of AV-MNIST-NC's decoding."""
    rng = np.random.default_rng(seed)
    return {
        "video": rng.integers(0, 256, size=(clips, *SHAPES["video"]), dtype=np.uint8),
        "audio": rng.normal(-26.0, 9.0, size=(clips, *SHAPES["audio"])).astype(np.float32),
    }


def floor_seconds(model: str, modality: str, batch: int, steps: int) -> float:
    """Seconds for `steps` forward + backward + AdamW steps of the bare encoder on a fixed batch of 2 x `batch`."""
    encoder = build_encoder(model, modality, seed=0)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=1e-3)
    inputs = torch.randn(2 * batch, *SHAPES[modality])
    with one_thread():
        began = time.perf_counter()
        for _ in range(steps):
            loss = encoder(inputs).square().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="av-mnist", choices=sorted(RECIPES))
    parser.add_argument("--clips", type=int, default=8000)
    args = parser.parse_args()
    spec = RECIPES[args.recipe]
    data = arrays(args.clips)
    batch = min(spec.batch_size, args.clips)
    print(f"load average before: {os.getloadavg()}")
    epoch_seconds = {}
    for modality in ("video", "audio"):
        result = train_modality(modality, data[modality], replace(spec, epochs=1), 0, None, lambda *a, **k: None)
        floor = floor_seconds(spec.model, modality, batch, args.clips // batch)
        epoch_seconds[modality] = result.record.seconds
        print(
            f"{modality}: epoch {result.record.seconds:.2f} s, floor {floor:.2f} s, "
            f"ratio {result.record.seconds / floor:.2f}"
        )
    for jobs, combine in ((1, sum), (2, max)):
        minutes = combine(epoch_seconds.values()) * spec.epochs / 60
        print(f"{spec.name}, {spec.epochs} epochs, jobs={jobs}: {minutes:.1f} min (budget {BUDGET_MINUTES:g} min)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

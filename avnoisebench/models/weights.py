"""Encoder weights in avnb's own format: a strict-keyed state dict of an AVModel's two encoders (`video_encoder.*`,
`audio_encoder.*`; never the fusion head) in a PyTorch file, with a JSON card beside it saying how they were made.
They load through the same checked reader as the R(2+1)D-18 and PANNs weights."""

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from avnoisebench.errors import AvnbError
from avnoisebench.files import write_atomically
from avnoisebench.hashing import sha256_file
from avnoisebench.models.checkpoints import load_matching, read_checkpoint

ENCODERS = ("video_encoder.", "audio_encoder.")
EXPECTED = "avnb encoder weights (a state dict of video_encoder.* and audio_encoder.* tensors, from `avnb pretrain`)"


def card_path(weights: Path) -> Path:
    """Where the card of a weights file lives: beside it, `.json` instead of its suffix."""
    return weights.with_suffix(".json")


def encoder_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of a model's two encoders (cloned, on the CPU), keyed as in the AVModel."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if k.startswith(ENCODERS)}


def save_encoder_weights(path: Path, state: dict[str, torch.Tensor], card: dict[str, Any]) -> str:
    """Write encoder weights and their card atomically; returns the weights' SHA-256 (also written into the card)."""
    wrong = sorted(k for k in state if not k.startswith(ENCODERS))
    if wrong:
        raise ValueError(f"encoder weights hold only video_encoder.* and audio_encoder.* keys, not {wrong[:3]}")
    write_atomically(path, lambda tmp: torch.save(dict(state), tmp))
    digest = sha256_file(path)
    text = json.dumps({**card, "sha256": digest}, indent=1, sort_keys=True) + "\n"
    write_atomically(card_path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return digest


def read_card(weights: Path) -> dict[str, Any] | None:
    """The card beside a weights file (None when there is none); refuses a card that belongs to other weights."""
    path = card_path(weights)
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AvnbError(f"{path} is not valid JSON ({exc}); write the weights again with `avnb pretrain`") from exc
    if not isinstance(card, dict) or card.get("sha256") != sha256_file(weights):
        raise AvnbError(
            f"{path} is not the card of {weights} (its sha256 differs); write both again with `avnb pretrain`"
        )
    return card


def load_encoder_weights(model: nn.Module, path: Path) -> None:
    """Load avnb encoder weights into a model's encoders, keys and shapes checked (the head is left fresh)."""
    load_matching(model, read_checkpoint(path, EXPECTED), source=path, expected=EXPECTED, ignore=("head.",))

"""Pretraining recipes: model, schedule, loss and augmentation settings, one default per CPU benchmark."""

import json
from dataclasses import asdict, dataclass, field

from avnoisebench.errors import AvnbError
from avnoisebench.pretrain.augment import AudioAugment, VideoAugment


@dataclass(frozen=True)
class PretrainSpec:
    """A SimCLR recipe, the same for both modalities: each encoder trains `epochs` passes over the training clips."""

    name: str
    model: str = "small"
    epochs: int = 60
    batch_size: int = 256
    lr: float = 2e-3  # AdamW, cosine decay to 0 over all steps
    weight_decay: float = 1e-4
    temperature: float = 0.2
    projector_hidden: int = 512
    projector_dim: int = 128
    standardise_logmel: bool = True  # train on (x - mean) / std of the training log-mels, then fold it into the weights
    video: VideoAugment = field(default_factory=VideoAugment)
    audio: AudioAugment = field(default_factory=AudioAugment)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.projector_hidden < 1 or self.projector_dim < 1:
            raise AvnbError(f"recipe {self.name!r}: epochs >= 1, batch_size >= 2 and projector sizes >= 1 needed")
        if not (self.lr > 0 and self.weight_decay >= 0 and self.temperature > 0):
            raise AvnbError(f"recipe {self.name!r}: lr and temperature must be positive, weight_decay not negative")

    def to_dict(self) -> dict:
        """Every hyperparameter, JSON-ready."""
        return json.loads(json.dumps(asdict(self)))


# AV-MNIST-NC: 8 of the 10 eval windows reach past the recording into -100 dB padding, so half the audio views do too.
# synthetic-av: the class is a shape's motion, so frame order is kept; its shapes are small, so nothing is erased.
RECIPES = {
    "av-mnist": PretrainSpec("simclr-av-mnist", temperature=0.1, audio=AudioAugment(pad_p=0.5)),
    "synthetic-av": PretrainSpec(
        "simclr-synthetic-av",
        model="tiny",
        epochs=40,
        batch_size=16,
        video=VideoAugment(rotation=0.0, zoom=(0.9, 1.1), shuffle_p=0.0, drop_p=0.0, erase_p=0.0),
    ),
}

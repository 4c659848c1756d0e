"""Label-free self-supervised pretraining of the CPU encoders on a benchmark's training clips (`pretrain_encoders`),
and the quality of the features it gives (`feature_quality`)."""

from avnoisebench.pretrain.augment import AudioAugment, VideoAugment
from avnoisebench.pretrain.quality import Clips, feature_quality
from avnoisebench.pretrain.recipe import RECIPES, PretrainSpec
from avnoisebench.pretrain.run import pretrain_encoders

__all__ = ["RECIPES", "AudioAugment", "Clips", "PretrainSpec", "VideoAugment", "feature_quality", "pretrain_encoders"]

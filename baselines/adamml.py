"""AdaMML (Panda et al., "AdaMML: Adaptive Multi-Modal Learning for Efficient Video Recognition", ICCV 2021).

A light policy net looks at each segment of a clip (every other frame at reduced resolution, and the segment's
log-mel) and decides per segment and per modality, by a hard Gumbel-Softmax sample with straight-through
gradients, whether that modality's recognition network is used. An LSTM cell runs over the segments and also
sees the previous segment's decision logits. Each modality has its own linear logit head on the shared encoders'
features; a segment's logits are the learnable weighted sum of the used modalities' logits (weights start at
1/M, the last weight is 1 minus the others), and a clip's logits are their mean over the segments. The loss is
cross-entropy plus, while the policy trains, the usage cost (docs/methods/adamml.md).

Readings of the spec (methods.md section 6):
- segments: the harness gives one clip per sample (training) and per view (test), so a segment is one of
  `segments` equal, consecutive slices of that clip's frames, with the aligned slice of its log-mel (the tail
  frames that do not divide evenly are dropped); the harness averages the 10 test views' softmax for V@1.
- the shared 2-FC fusion head of the model is not used: AdaMML gates logits, so each modality gets a
  Linear(feature_dim -> K) head of its own.
- a segment on which every modality is switched off contributes zero logits (no fallback modality, as in the
  official code); a clip switched off everywhere gets all-zero logits, i.e. a uniform prediction.
- prediction uses the learned policy with deterministic decisions (use a modality when its "use" logit is the
  larger) unless eval_decisions=sample (the official code's seeded Gumbel sampling).
- schedule: the original 5 warm-up + 20 alternating + 10 fine-tune epochs are rescaled to budget.epochs; an
  alternating epoch is one pass whose first half of batches trains the main net (policy frozen, no usage cost)
  and whose second half trains the policy (main net frozen, usage cost on); the temperature decays after each
  alternating epoch. Adam throughout (main net at budget.lr, policy at policy_lr_ratio x budget.lr); both
  optimisers restart at each phase change, as in the official code.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from avnoisebench.plugin import (
    AvnbError,
    Batch,
    Budget,
    Method,
    Options,
    Predictor,
    RunLog,
    SmallAudioEncoder,
    SmallVideoEncoder,
    TrainData,
    adam,
    option,
    sum_over_processes,
    unwrap,
)

MODALITIES = ("video", "audio")
JOINT_DIM = 2048
LSTM_HIDDEN = 256
MOBILENET_V2 = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)

Decide = Callable[[torch.Tensor], torch.Tensor]


class _StraightThrough(torch.autograd.Function):
    """One-hot of the argmax in the forward pass (exactly 0/1); the gradient passes to the soft sample unchanged."""

    @staticmethod
    def forward(ctx: Any, soft: torch.Tensor) -> torch.Tensor:
        return F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad


def hard_gumbel(logits: torch.Tensor, tau: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """0/1 "use" decisions sampled from (..., 2) [skip, use] logits by hard Gumbel-Softmax (straight-through)."""
    uniform = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    gumbel = -torch.log(-torch.log(uniform.clamp_min(torch.finfo(logits.dtype).tiny)))
    return _StraightThrough.apply(torch.softmax((logits + gumbel) / tau, dim=-1))[..., 1]


def argmax_decisions(logits: torch.Tensor) -> torch.Tensor:
    """0/1 "use" decisions from (..., 2) [skip, use] logits: use where the use logit is the larger."""
    return (logits[..., 1] > logits[..., 0]).to(logits.dtype)


def usage_penalty(decisions: torch.Tensor, correct: torch.Tensor, lambdas: torch.Tensor, kind: str) -> torch.Tensor:
    """Usage cost of (B, S, M) decisions: blockdrop = sum_m lambda_m mean_i[correct_i u_im^2] with u_im the share
    of clip i's segments using modality m; mean = sum_m lambda_m mean_{i,s} d_ism."""
    if kind == "mean":
        return (lambdas * decisions.mean(dim=(0, 1))).sum()
    usage = decisions.mean(dim=1)
    return (lambdas * (correct[:, None] * usage.square()).mean(dim=0)).sum()


def policy_loss(
    decisions: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, lambdas: torch.Tensor, gamma: float, kind: str
) -> torch.Tensor:
    """AdaMML's policy loss: the usage cost on correctly predicted clips (correctness from detached logits against
    the observed labels) plus, for blockdrop, gamma times the share of wrong clips (a constant)."""
    correct = (logits.detach().argmax(dim=1) == labels).to(decisions.dtype)
    cost = usage_penalty(decisions, correct, lambdas, kind)
    return cost + gamma * (1 - correct).mean() if kind == "blockdrop" else cost


def fuse(logits: torch.Tensor, decisions: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(B, K) clip logits from (B, S, M, K) per-modality segment logits, (B, S, M) 0/1 decisions and (M,) weights:
    the weighted sum of the used modalities' logits, averaged over segments."""
    return (logits * (decisions * weights)[..., None]).sum(dim=2).mean(dim=1)


class GatedFusion(nn.Module):
    """AdaMML's logit-level fusion: a linear logit head per modality, gated by the decisions, weighted and summed."""

    def __init__(self, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(feature_dim, num_classes) for _ in MODALITIES)
        self.free_weights = nn.Parameter(torch.full((len(MODALITIES) - 1,), 1 / len(MODALITIES)))

    def weights(self) -> torch.Tensor:
        """The (M,) fusion weights: the learnable ones, then 1 minus their sum."""
        return torch.cat([self.free_weights, 1 - self.free_weights.sum(0, keepdim=True)])

    def forward(self, f_v: torch.Tensor, f_a: torch.Tensor, decisions: torch.Tensor) -> torch.Tensor:
        """(B, K) clip logits from (B, S, D) video and audio features and (B, S, M) decisions."""
        logits = torch.stack([head(f) for head, f in zip(self.heads, (f_v, f_a), strict=True)], dim=2)
        return fuse(logits, decisions, self.weights())


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    """Conv2d + BatchNorm (+ ReLU6)."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([nn.ReLU6(inplace=True)] if act else []))


class _InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion, 3x3 depthwise, linear 1x1 projection, identity shortcut when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        expansion = [_conv_bn(cin, hidden, 1)] if expand != 1 else []
        self.body = nn.Sequential(
            *expansion, _conv_bn(hidden, hidden, 3, stride, groups=hidden), _conv_bn(hidden, cout, 1, act=False)
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    """MobileNetV2 features (Sandler et al., CVPR 2018; width 1.0, random init): (N, C, H, W) -> (N, 1280)."""

    out_dim = 1280

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn(in_channels, 32, 3, 2)]
        cin = 32
        for expand, cout, repeats, stride in MOBILENET_V2:
            for i in range(repeats):
                layers.append(_InvertedResidual(cin, cout, stride if i == 0 else 1, expand))
                cin = cout
        self.features = nn.Sequential(*layers, _conv_bn(cin, self.out_dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The globally average-pooled feature."""
        return self.features(x).mean(dim=(2, 3))


class _FrameMax(nn.Module):
    """A 2D network applied to every frame of (N, 3, T, H, W) clips, max-pooled over frames."""

    def __init__(self, net: MobileNetV2) -> None:
        super().__init__()
        self.net, self.out_dim = net, net.out_dim

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = clip.shape
        return self.net(clip.transpose(1, 2).reshape(n * t, c, h, w)).view(n, t, -1).amax(dim=1)


class _Spectrogram(nn.Module):
    """A 2D network over (N, frames, mels) log-mels as one-channel images."""

    def __init__(self, net: MobileNetV2) -> None:
        super().__init__()
        self.net, self.out_dim = net, net.out_dim

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        return self.net(logmel.unsqueeze(1))


class _VectorEncoder(nn.Module):
    """The policy's reading of a feature vector (the features track's frozen features): Linear + ReLU."""

    out_dim = 256

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, self.out_dim), nn.ReLU(inplace=True))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


def policy_encoders(backbone: str, input_dims: tuple[int, int] | None = None) -> tuple[nn.Module, nn.Module]:
    """The policy net's (video, audio) feature extractors: MobileNetV2 per frame and on the log-mel (as in the
    official code, random init here), the toolkit's small CPU encoders, or, on feature vectors (`input_dims`), a
    linear layer over each modality's vector."""
    if input_dims is not None:
        return _VectorEncoder(input_dims[0]), _VectorEncoder(input_dims[1])
    if backbone == "small":
        return SmallVideoEncoder(), SmallAudioEncoder()
    return _FrameMax(MobileNetV2(3)), _Spectrogram(MobileNetV2(1))


class PolicyNet(nn.Module):
    """AdaMML's policy: joint low-cost features per segment, an LSTM cell over segments fed the previous segment's
    decision logits, and one 2-way [skip, use] head per modality."""

    def __init__(
        self,
        backbone: str = "mobilenet_v2",
        scale: float = 160 / 224,
        input_dims: tuple[int, int] | None = None,
        width: int = JOINT_DIM,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.video, self.audio = policy_encoders(backbone, input_dims)
        self.joint = nn.Sequential(
            nn.Linear(self.video.out_dim + self.audio.out_dim, width),
            nn.ReLU(inplace=True),
            nn.Linear(width, width),
            nn.ReLU(inplace=True),
        )
        self.lstm = nn.LSTMCell(width + 2 * len(MODALITIES), LSTM_HIDDEN)
        self.heads = nn.ModuleList(nn.Linear(LSTM_HIDDEN, 2) for _ in MODALITIES)

    def low_cost_view(self, video: torch.Tensor) -> torch.Tensor:
        """Every other frame of (N, 3, T, H, W) clips, spatially resized by `scale` (feature vectors as they are)."""
        if video.dim() == 2:
            return video
        frames = video[:, :, ::2]
        size = (
            frames.shape[2],
            max(1, round(frames.shape[3] * self.scale)),
            max(1, round(frames.shape[4] * self.scale)),
        )
        return F.interpolate(frames, size=size, mode="trilinear", align_corners=False)

    def forward(self, video: torch.Tensor, audio: torch.Tensor, decide: Decide) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S, M) decisions and (B, S, M, 2) logits from (B, S, 3, t, H, W) segments and (B, S, f, mels) log-mels
        (or (B, S, D) feature vectors of each)."""
        b, s = video.shape[:2]
        features = torch.cat(
            [self.video(self.low_cost_view(video.flatten(0, 1))), self.audio(audio.flatten(0, 1))], dim=1
        )
        features = self.joint(features).view(b, s, -1)
        previous = features.new_zeros(b, 2 * len(MODALITIES))
        state: tuple[torch.Tensor, torch.Tensor] | None = None
        decisions, logits = [], []
        for step in range(s):
            state = self.lstm(torch.cat([features[:, step], previous], dim=1), state)
            step_logits = torch.stack([head(state[0]) for head in self.heads], dim=1)
            decisions.append(decide(step_logits))
            logits.append(step_logits)
            previous = step_logits.flatten(1)
        return torch.stack(decisions, dim=1), torch.stack(logits, dim=1)


class AdaMMLParts(nn.Module):
    """What AdaMML adds to the AVModel: the policy net and the gated logit fusion."""

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        backbone: str,
        scale: float,
        input_dims: tuple[int, int] | None = None,
        width: int = JOINT_DIM,
    ) -> None:
        super().__init__()
        self.policy = PolicyNet(backbone, scale, input_dims, width)
        self.fusion = GatedFusion(feature_dim, num_classes)


def split_segments(video: torch.Tensor, audio: torch.Tensor, segments: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, S, 3, T/S, H, W) and (B, S, F//S, mels): a clip's frames and log-mel cut into S equal consecutive slices
    (log-mel frames beyond the last whole slice are dropped); feature vectors (B, D) are one segment (B, 1, D)."""
    if video.dim() == 2:
        if segments != 1:
            raise AvnbError(
                f"AdaMML segments={segments} on feature vectors (--track features): a vector is one clip, so "
                f"set segments=1"
            )
        return video[:, None], audio[:, None]
    b, c, t, h, w = video.shape
    if t % segments:
        raise AvnbError(f"AdaMML segments={segments} does not divide the clip's {t} frames; choose a divisor of {t}")
    if audio.shape[1] < segments:
        raise AvnbError(f"AdaMML segments={segments} exceeds the log-mel's {audio.shape[1]} frames; choose fewer")
    frames = audio.shape[1] // segments
    video = video.reshape(b, c, segments, t // segments, h, w).transpose(1, 2)
    return video, audio[:, : frames * segments].reshape(b, segments, frames, audio.shape[2])


@dataclass(frozen=True)
class Networks:
    """The main net (the AVModel, possibly DDP-wrapped), the policy net and the fusion, run on segmented clips."""

    model: nn.Module
    policy: nn.Module
    fusion: nn.Module
    segments: int

    def forward(
        self, video: torch.Tensor, audio: torch.Tensor, decide: Decide, train: str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, K) clip logits, (B, S, M) decisions and a zero that keeps the unused fusion head in the graph (for
        DDP); `train` ("main", "policy" or None) says which part builds a graph."""
        video_s, audio_s = split_segments(video, audio, self.segments)
        b, s = video_s.shape[:2]
        with torch.set_grad_enabled(train == "main"):
            f_v, f_a, head_logits = self.model(video_s.flatten(0, 1), audio_s.flatten(0, 1))
        with torch.set_grad_enabled(train == "policy"):
            decisions = self.policy(video_s, audio_s, decide)[0]
        with torch.set_grad_enabled(train is not None):
            logits = self.fusion(f_v.view(b, s, -1), f_a.view(b, s, -1), decisions)
        return logits, decisions, 0 * head_logits.sum()


class AdaMMLPredictor:
    """Clip logits from the learned policy and the gated fusion, in eval mode, without gradients; it counts the
    modality usage of its decisions (`summary`), and a clip whose every segment switches every modality off gets
    all-zero logits, i.e. a uniform prediction (argmax: class 0)."""

    def __init__(self, networks: Networks, decide: Decide) -> None:
        self.networks, self.decide = networks, decide
        self.used = torch.zeros(len(MODALITIES))
        self.segments = self.clips = self.all_off = 0

    @torch.no_grad()
    def __call__(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        for part in (self.networks.model, self.networks.policy, self.networks.fusion):
            part.eval()
        logits, decisions, _ = self.networks.forward(video, audio, self.decide)
        self.used += decisions.sum(dim=(0, 1)).cpu()
        self.segments += decisions.shape[0] * decisions.shape[1]
        self.clips += decisions.shape[0]
        self.all_off += int((decisions.sum(dim=(1, 2)) == 0).sum())
        return logits

    def summary(self) -> dict[str, float]:
        """Test-time usage of each modality (share of segments), and the share of clips with every modality off."""
        usage = {f"usage_{m}": round(float(self.used[i]) / max(self.segments, 1), 4) for i, m in enumerate(MODALITIES)}
        return {**usage, "all_off": round(self.all_off / max(self.clips, 1), 4)}


@dataclass(frozen=True)
class Schedule:
    """AdaMML's warm-up, alternating and fine-tune phases over a budget of `epochs` (phase ends exclusive)."""

    epochs: int
    warmup_end: int
    alternate_end: int

    @classmethod
    def rescaled(cls, epochs: int, warmup: float = 5, alternate: float = 20, finetune: float = 10) -> "Schedule":
        """The original epoch counts scaled proportionally to `epochs`, boundaries rounded half up."""
        total = warmup + alternate + finetune
        if min(warmup, alternate, finetune) < 0 or total <= 0:
            raise AvnbError("AdaMML warmup_epochs, alternate_epochs and finetune_epochs must be >= 0, not all 0")
        return cls(
            epochs, math.floor(epochs * warmup / total + 0.5), math.floor(epochs * (warmup + alternate) / total + 0.5)
        )

    def phase(self, epoch: int) -> str:
        """ "warmup", "alternate" or "finetune"."""
        if epoch < self.warmup_end:
            return "warmup"
        return "alternate" if epoch < self.alternate_end else "finetune"

    def decays_before(self, epoch: int) -> int:
        """How many alternating epochs end before `epoch` starts (each decays the temperature once)."""
        return min(max(epoch - self.warmup_end, 0), self.alternate_end - self.warmup_end)

    def temperature(self, epoch: int, initial: float, decay: float) -> float:
        """The Gumbel-Softmax temperature during `epoch`."""
        return initial * decay ** self.decays_before(epoch)


def _distributed(module: nn.Module) -> nn.Module:
    """`module` wrapped for gradient averaging when running under torchrun."""
    return nn.parallel.DistributedDataParallel(module) if dist.is_initialized() else module


def _generator(device: str, seed: int, rank: int) -> torch.Generator:
    """The Gumbel noise generator of one process, seeded by the run's seed and the rank."""
    return torch.Generator(device=device).manual_seed(int(np.random.SeedSequence([seed, rank]).generate_state(1)[0]))


@dataclass(frozen=True)
class AdaMMLOptions(Options):
    """The official RGB + audio defaults (README, opts.py); the phase lengths are rescaled to the budget."""

    method: ClassVar[str] = "adamml"

    segments: int = option(2, "segments per clip (must divide its frames); the policy decides per segment", low=1)
    lambda_video: float = option(1.0, "usage cost weight of the video network", low=0)
    lambda_audio: float = option(0.05, "usage cost weight of the audio network", low=0)
    gamma: float = option(10.0, "blockdrop penalty for wrong predictions (a constant: no gradient)", low=0)
    penalty: Literal["blockdrop", "mean"] = option(
        "blockdrop", "usage cost: blockdrop (squared usage on correct clips) or mean (mean usage)"
    )
    temperature: float = option(5.0, "initial Gumbel-Softmax temperature", low=0, low_open=True)
    temperature_decay: float = option(0.965, "temperature factor after each alternating epoch", low=0, low_open=True)
    warmup_epochs: float = option(5, "warm-up share of the schedule (main net only; original 5 epochs)", low=0)
    alternate_epochs: float = option(20, "alternating share (main net, then policy; original 20 epochs)", low=0)
    finetune_epochs: float = option(10, "fine-tune share (main net, fixed policy; original 10 epochs)", low=0)
    policy_backbone: Literal["mobilenet_v2", "small"] = option(
        "mobilenet_v2",
        "policy features on clips: MobileNetV2 (random init) or the toolkit's small CPU encoders (on feature vectors, "
        "--track features, the policy reads each vector through a linear layer instead)",
    )
    policy_scale: float = option(
        160 / 224, "policy input resolution relative to the clip", low=0, high=1, low_open=True
    )
    policy_width: int = option(
        JOINT_DIM, "width of the policy's two joint layers (official 2048; the LSTM keeps 256 units)", low=1
    )
    policy_lr_ratio: float = option(10.0, "policy learning rate as a multiple of the budget's", low=0, low_open=True)
    eval_decisions: Literal["argmax", "sample"] = option(
        "argmax", "test-time decisions: argmax of the policy logits, or seeded Gumbel samples (official code)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.warmup_epochs + self.alternate_epochs + self.finetune_epochs <= 0:
            raise AvnbError("AdaMML warmup_epochs, alternate_epochs and finetune_epochs must be >= 0, not all 0")

    def schedule(self, epochs: int) -> Schedule:
        """The phases over a budget of `epochs`."""
        return Schedule.rescaled(epochs, self.warmup_epochs, self.alternate_epochs, self.finetune_epochs)


class AdaMML(Method):
    """AdaMML (Panda et al., ICCV 2021): per-segment Gumbel-Softmax modality usage policy, gated logit fusion."""

    name = "adamml"
    Options = AdaMMLOptions
    paper_name = "AdaMML"
    order = 50

    def fit(self, model: nn.Module, data: TrainData, budget: Budget, log: RunLog) -> Predictor:
        """Warm up the main net, alternate main-net and policy training, fine-tune the main net; predict with the
        learned policy."""
        o = self.options
        inner = unwrap(model)
        first = next(data.batches(0, shuffle=False))
        vectors = (first.video.shape[1], first.audio.shape[1]) if first.video.dim() == 2 else None
        parts = AdaMMLParts(
            inner.feature_dim, data.num_classes, o.policy_backbone, o.policy_scale, vectors, o.policy_width
        )
        parts.to(budget.device)
        training = Networks(model, _distributed(parts.policy), _distributed(parts.fusion), o.segments)
        main_params = [
            *inner.video_encoder.parameters(),
            *inner.audio_encoder.parameters(),
            *parts.fusion.parameters(),
        ]

        def optimizers() -> dict[str, torch.optim.Optimizer]:
            return {
                "main": adam(main_params, budget.lr),
                "policy": adam(parts.policy.parameters(), budget.lr * o.policy_lr_ratio),
            }

        schedule = o.schedule(budget.epochs)
        generator = _generator(budget.device, budget.seed, data.rank)
        optims = optimizers()
        modules = {"model": model, "adamml": parts}
        state = {"gumbel_rng": generator.get_state()}
        start = log.resume(modules, optims, state)
        generator.set_state(state["gumbel_rng"])
        for epoch in range(start, budget.epochs):
            if epoch > 0 and epoch in (schedule.warmup_end, schedule.alternate_end):
                optims = optimizers()
            tau = schedule.temperature(epoch, o.temperature, o.temperature_decay)
            phase = schedule.phase(epoch)
            metrics = self._train_epoch(training, data, epoch, phase, optims, tau, generator)
            log.epoch(epoch, phase=phase, **metrics, temperature=tau)
            log.checkpoint(epoch, modules, optims, {"gumbel_rng": generator.get_state()})
        final_tau = schedule.temperature(budget.epochs, o.temperature, o.temperature_decay)
        decide = (
            argmax_decisions
            if o.eval_decisions == "argmax"
            else partial(hard_gumbel, tau=final_tau, generator=_generator(budget.device, budget.seed, 0))
        )
        return AdaMMLPredictor(Networks(inner, parts.policy, parts.fusion, o.segments), decide)

    def _train_epoch(
        self,
        networks: Networks,
        data: TrainData,
        epoch: int,
        phase: str,
        optims: dict[str, torch.optim.Optimizer],
        tau: float,
        generator: torch.Generator,
    ) -> dict[str, float]:
        """One pass; in an alternating epoch the second half of the batches trains the policy."""
        batches = -(-len(data.epoch_order(epoch)) // data.batch_size)
        policy_from = batches // 2 if phase == "alternate" else batches
        decide = partial(hard_gumbel, tau=tau, generator=generator)
        for part in (networks.model, networks.policy, networks.fusion):
            part.train()
        total, seen, usage, segments = 0.0, 0, torch.zeros(len(MODALITIES)), 0
        for i, batch in enumerate(data.batches(epoch)):
            train = "policy" if i >= policy_from else "main"
            loss, decisions = self._step(networks, batch, decide, train, optims[train])
            total += loss * len(batch.index)
            seen += len(batch.index)
            usage += decisions.sum(dim=(0, 1)).cpu()
            segments += decisions.shape[0] * decisions.shape[1]
        sums = sum_over_processes([total, seen, segments, *usage.tolist()], data.device)
        total, seen, segments = sums[0], int(sums[1]), sums[2]
        return {
            "loss": total / max(seen, 1),
            "samples": seen,
            **{f"usage_{name}": sums[3 + m] / max(segments, 1) for m, name in enumerate(MODALITIES)},
        }

    def _step(
        self, networks: Networks, batch: Batch, decide: Decide, train: str, optim: torch.optim.Optimizer
    ) -> tuple[float, torch.Tensor]:
        """One optimisation step of the main net or the policy; the loss and the (B, S, M) decisions taken."""
        logits, decisions, keep = networks.forward(batch.video, batch.audio, decide, train)
        loss = F.cross_entropy(logits, batch.label) + keep
        if train == "policy":
            o = self.options
            lambdas = torch.tensor([o.lambda_video, o.lambda_audio], device=logits.device)
            loss = loss + policy_loss(decisions, logits, batch.label, lambdas, o.gamma, o.penalty)
        optim.zero_grad()
        loss.backward()
        optim.step()
        return float(loss.detach()), decisions.detach()

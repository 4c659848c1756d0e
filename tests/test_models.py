"""Model zoo: torchvision/PANNs layouts and weight loading, forward shapes, fusion head, AVModel, build_model."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures.make_r2plus1d_fixture import LAYOUT, REFERENCE, deterministic_clip, deterministic_state_dict

from avnoisebench.errors import AvnbError
from avnoisebench.models import (
    MODEL_NAMES,
    AVModel,
    FusionHead,
    MLPEncoder,
    PANNsResNet22,
    R2Plus1D18,
    SmallAudioEncoder,
    SmallVideoEncoder,
    SpecAugment,
    build_model,
    load_panns_checkpoint,
    load_torchvision_r2plus1d,
)


@pytest.fixture(scope="module")
def layout() -> list[tuple[str, list[int]]]:
    """torchvision r2plus1d_18's [key, shape] list, as dumped by tests/fixtures/make_r2plus1d_fixture.py."""
    return [(key, shape) for key, shape in json.loads(LAYOUT.read_text())]


@pytest.fixture(scope="module")
def r2plus1d() -> R2Plus1D18:
    torch.manual_seed(0)
    return R2Plus1D18().eval()


@pytest.fixture(scope="module")
def panns() -> PANNsResNet22:
    torch.manual_seed(0)
    return PANNsResNet22().eval()


@pytest.fixture(scope="module")
def panns_checkpoint(panns: PANNsResNet22) -> dict:
    """A dict shaped like PANNs' ResNet22 checkpoint: extractor buffers, body, AudioSet head, numpy sampler state."""
    generator = torch.Generator().manual_seed(1)
    body = {
        key: torch.randn(value.shape, generator=generator) if value.is_floating_point() else value.clone()
        for key, value in panns.state_dict().items()
        if not key.startswith("proj.")
    }
    return {
        "iteration": 540000,
        "model": {
            "spectrogram_extractor.stft.conv_real.weight": torch.zeros(513, 1, 1024),
            "spectrogram_extractor.stft.conv_imag.weight": torch.zeros(513, 1, 1024),
            "logmel_extractor.melW": torch.zeros(513, 64),
            **body,
            "fc_audioset.weight": torch.zeros(527, 2048),
            "fc_audioset.bias": torch.zeros(527),
        },
        "sampler": {
            "indexes_per_class": [np.arange(5), np.arange(3)],
            "queue": [np.int64(4)],
            "pointers_of_classes": [0],
        },
    }


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory: pytest.TempPathFactory, layout: list, panns_checkpoint: dict) -> dict[str, Path]:
    """Right and wrong weight files, saved once: r2plus1d, panns, text, partial, objects, cnn14 and a missing one."""
    folder = tmp_path_factory.mktemp("weights")
    files = {
        "r2plus1d": folder / "r2plus1d_18-91a641e6.pth",
        "panns": folder / "ResNet22_mAP=0.430.pth",
        "text": folder / "notes.txt",
        "partial": folder / "partial.pth",
        "objects": folder / "objects.pth",
        "cnn14": folder / "Cnn14_mAP=0.431.pth",
        "missing": folder / "absent.pth",
    }
    torch.save(deterministic_state_dict(layout), files["r2plus1d"])
    torch.save(panns_checkpoint, files["panns"])
    files["text"].write_text("not weights\n")
    torch.save({"stem.0.weight": torch.zeros(45, 3, 1, 5, 5)}, files["partial"])
    torch.save({"stem.0.weight": Path("x")}, files["objects"])
    torch.save({"model": {"conv_block6.conv1.weight": torch.zeros(2048, 1024, 3, 3)}}, files["cnn14"])
    return files


def test_r2plus1d_state_dict_is_torchvision_layout(r2plus1d: R2Plus1D18, layout: list) -> None:
    ours = [(key, list(value.shape)) for key, value in r2plus1d.state_dict().items()]
    assert ours == layout


def test_r2plus1d_computes_what_torchvision_computes(layout: list) -> None:
    model = R2Plus1D18().eval()
    model.load_state_dict(deterministic_state_dict(layout), strict=True)
    reference = json.loads(REFERENCE.read_text())
    with torch.no_grad():
        feature = model(deterministic_clip())
        logits = model.fc(feature)
    assert feature.shape == (1, 512) and logits.shape == (1, 400)
    torch.testing.assert_close(feature[0], torch.tensor(reference["feature"]), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(logits[0], torch.tensor(reference["logits"]), rtol=1e-4, atol=1e-4)


def test_load_torchvision_r2plus1d_ignores_fc(weight_files: dict, layout: list) -> None:
    state = deterministic_state_dict(layout)
    model = R2Plus1D18()
    fc_before = model.fc.weight.clone()
    load_torchvision_r2plus1d(model, weight_files["r2plus1d"])
    loaded = model.state_dict()
    assert all(torch.equal(loaded[key], state[key]) for key in state if not key.startswith("fc."))
    assert torch.equal(model.fc.weight, fc_before)


def test_load_torchvision_r2plus1d_tolerates_missing_bn_counters(tmp_path: Path, layout: list) -> None:
    state = {key: value for key, value in deterministic_state_dict(layout).items() if "num_batches" not in key}
    torch.save(state, tmp_path / "old.pth")
    load_torchvision_r2plus1d(R2Plus1D18(), tmp_path / "old.pth")


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "no such file"),
        ("text", "not a readable PyTorch weights file"),
        ("panns", "not a state dict of tensors"),
        ("partial", r"wrong shape stem\.0\.weight \(45, 3, 1, 5, 5\) vs \(45, 3, 1, 7, 7\)"),
        ("objects", "Python objects besides tensors"),
    ],
)
def test_load_torchvision_r2plus1d_wrong_file(
    weight_files: dict, r2plus1d: R2Plus1D18, case: str, message: str
) -> None:
    path = weight_files[case]
    with pytest.raises(AvnbError, match=message) as error:
        load_torchvision_r2plus1d(r2plus1d, path)
    assert str(path) in str(error.value) and "torchvision r2plus1d_18 state dict" in str(error.value)


def test_panns_layout_follows_checkpoint_names(panns: PANNsResNet22) -> None:
    shapes = {key: tuple(value.shape) for key, value in panns.state_dict().items()}
    assert shapes["bn0.weight"] == (64,)
    assert shapes["conv_block1.conv1.weight"] == (64, 1, 3, 3)
    assert shapes["resnet.layer1.0.conv1.weight"] == (64, 64, 3, 3)
    assert "resnet.layer1.0.downsample.1.weight" not in shapes
    assert shapes["resnet.layer2.0.downsample.1.weight"] == (128, 64, 1, 1)
    assert shapes["resnet.layer4.1.bn2.running_var"] == (512,)
    assert shapes["conv_block_after1.conv2.weight"] == (2048, 2048, 3, 3)
    assert shapes["fc1.weight"] == (2048, 2048)
    assert not any(key.startswith("fc_audioset") for key in shapes)
    body = sum(value.numel() for key, value in panns.named_parameters() if not key.startswith("proj."))
    assert round((body + 2048 * 527 + 527) / 1e6, 1) == 63.7  # ResNet22's parameter count in the PANNs paper


def test_load_panns_checkpoint(weight_files: dict, panns_checkpoint: dict) -> None:
    model = PANNsResNet22()
    proj_before = model.proj.weight.clone()
    load_panns_checkpoint(model, weight_files["panns"])
    loaded = model.state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in panns_checkpoint["model"].items() if key in loaded)
    assert torch.equal(model.proj.weight, proj_before)


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "no such file"),
        ("text", "not a readable PyTorch weights file"),
        ("r2plus1d", "no 'model' entry"),
        (
            "cnn14",
            "does not fit PANNsResNet22: missing bn0.weight, .* and 118 more; unexpected conv_block6.conv1.weight",
        ),
    ],
)
def test_load_panns_checkpoint_wrong_file(weight_files: dict, panns: PANNsResNet22, case: str, message: str) -> None:
    path = weight_files[case]
    with pytest.raises(AvnbError, match=message) as error:
        load_panns_checkpoint(panns, path)
    assert str(path) in str(error.value) and "PANNs ResNet22 checkpoint" in str(error.value)


def test_spec_augment_only_in_training() -> None:
    augment = SpecAugment(generator=torch.Generator().manual_seed(0))
    x = torch.ones(16, 1, 201, 64)
    assert torch.equal(augment.eval()(x), x)
    out = augment.train()(x)
    dropped_frames = (out == 0).all(dim=3).squeeze(1)
    dropped_mels = (out == 0).all(dim=2).squeeze(1)
    assert dropped_frames.any() and dropped_mels.any()
    assert dropped_frames.sum(dim=1).max() <= 2 * 63 and dropped_mels.sum(dim=1).max() <= 2 * 7
    assert torch.equal(out == 0, dropped_frames[:, None, :, None] | dropped_mels[:, None, None, :])


def test_spec_augment_seeded() -> None:
    x = torch.ones(8, 1, 201, 64)
    first, second, other = (SpecAugment(generator=torch.Generator().manual_seed(seed)) for seed in (3, 3, 4))
    assert torch.equal(first(x), second(x)) and not torch.equal(first(x), other(x))
    torch.manual_seed(5)
    by_default = SpecAugment()(x)
    torch.manual_seed(5)
    assert torch.equal(SpecAugment()(x), by_default)


def test_panns_train_and_eval(panns: PANNsResNet22) -> None:
    logmel = torch.randn(2, 201, 64)
    with torch.no_grad():
        evaluated = panns(logmel)
        assert evaluated.shape == (2, 512) and (evaluated >= 0).all()
        assert torch.equal(panns(logmel), evaluated)
        panns.train()
        torch.manual_seed(0)
        trained = panns(logmel)
        torch.manual_seed(0)
        assert torch.equal(panns(logmel), trained) and not torch.equal(trained, evaluated)
        panns.eval()
    with pytest.raises(ValueError, match=r"\(batch, frames, 64\)"):
        panns(torch.randn(2, 201, 40))


def test_r2plus1d_forward_shapes(r2plus1d: R2Plus1D18) -> None:
    clip = torch.randn(1, 3, 8, 112, 112)
    with torch.no_grad():
        assert r2plus1d(clip).shape == (1, 512)
        assert r2plus1d.classify(clip).shape == (1, 400)


@pytest.mark.parametrize("shape", [(2, 3, 8, 112, 112), (1, 3, 8, 8, 8), (2, 3, 16, 64, 48)])
def test_small_video_encoder_shapes(shape: tuple) -> None:
    assert SmallVideoEncoder(out_dim=32)(torch.randn(shape)).shape == (shape[0], 32)


@pytest.mark.parametrize("shape", [(2, 201, 64), (2, 8, 8)])
def test_small_audio_encoder_shapes(shape: tuple) -> None:
    assert SmallAudioEncoder(out_dim=32)(torch.randn(shape)).shape == (shape[0], 32)


def test_mlp_encoder_and_head_dims() -> None:
    assert MLPEncoder(400, 64, hidden=32)(torch.randn(5, 400)).shape == (5, 64)
    head = FusionHead(num_classes=7, video_dim=64, audio_dim=32, hidden_dim=16, dropout=0.5)
    assert [tuple(layer.weight.shape) for layer in (head.fc1, head.fc2, head.out)] == [(16, 96), (16, 16), (7, 16)]
    assert head(torch.randn(3, 64), torch.randn(3, 32)).shape == (3, 7)
    assert FusionHead(num_classes=51).fc1.in_features == 1024


def test_the_mlp_model_is_sized_to_its_feature_vectors() -> None:
    model = build_model("mlp", 10, video_dim=128, audio_dim=96)
    assert [layer.weight.shape[0] for layer in model.video_encoder.net[::2]] == [128, 128]
    assert model.head.fc1.weight.shape == (256, 256) and model.head.fc2.weight.shape == (256, 256)
    assert build_model("mlp", 10, video_dim=8, audio_dim=8, head_hidden=32).head.fc2.weight.shape == (32, 32)
    assert build_model("small", 10).head.fc2.weight.shape == (512, 512)


def test_av_model_triple() -> None:
    model = AVModel(MLPEncoder(10, 8), MLPEncoder(6, 8), FusionHead(4, 8, 8, 16))
    f_v, f_a, logits = model(torch.randn(3, 10), torch.randn(3, 6))
    assert (f_v.shape, f_a.shape, logits.shape) == ((3, 8), (3, 8), (3, 4))
    assert model.feature_dim == 8
    with pytest.raises(ValueError, match="video 8 and audio 4"):
        AVModel(MLPEncoder(10, 8), MLPEncoder(6, 4), FusionHead(4, 8, 4))


def test_build_paper_model_with_weights(weight_files: dict, panns_checkpoint: dict) -> None:
    model = build_model(
        "r2plus1d18-panns22", 51, visual_weights=weight_files["r2plus1d"], audio_weights=weight_files["panns"]
    )
    assert isinstance(model.video_encoder, R2Plus1D18) and isinstance(model.audio_encoder, PANNsResNet22)
    assert model.feature_dim == 512 and model.head.out.out_features == 51
    assert torch.equal(model.audio_encoder.fc1.weight, panns_checkpoint["model"]["fc1.weight"])
    with pytest.raises(AvnbError, match="absent.pth: no such file"):
        build_model("r2plus1d18-panns22", 51, audio_weights=weight_files["missing"])


def test_build_small_tiny_and_mlp() -> None:
    small = build_model("small", 5, feature_dim=32)
    f_v, f_a, logits = small(torch.randn(2, 3, 8, 32, 32), torch.randn(2, 201, 64))
    assert (f_v.shape, f_a.shape, logits.shape) == ((2, 32), (2, 32), (2, 5))
    tiny = build_model("tiny", 5)
    assert tiny.feature_dim == 64 and tiny(torch.randn(2, 3, 8, 32, 32), torch.randn(2, 201, 64))[2].shape == (2, 5)
    sizes = [sum(p.numel() for p in m.video_encoder.parameters()) for m in (small, tiny)]
    assert sizes[1] < sizes[0] / 3
    mlp = build_model("mlp", 5, video_dim=512, audio_dim=2048)
    assert mlp.feature_dim == 128 and mlp(torch.randn(2, 512), torch.randn(2, 2048))[2].shape == (2, 5)


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("resnet50", {}, "unknown model 'resnet50'; choose one of r2plus1d18-panns22, small, tiny, mlp"),
        ("mlp", {"video_dim": 512}, "give video_dim and audio_dim"),
        ("small", {"visual_weights": "x.pth"}, "takes no pretrained weights"),
        ("r2plus1d18-panns22", {"feature_dim": 256}, "512-d features"),
    ],
)
def test_build_model_errors(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(AvnbError, match=message):
        build_model(name, 5, **kwargs)


@pytest.mark.parametrize("name", [name for name in MODEL_NAMES if name != "r2plus1d18-panns22"])
def test_build_model_deterministic_under_seed(name: str) -> None:
    def run() -> torch.Tensor:
        torch.manual_seed(0)
        model = build_model(name, 5, video_dim=12, audio_dim=10).train()
        inputs = (
            (torch.randn(4, 3, 8, 16, 16), torch.randn(4, 16, 64))
            if name in ("small", "tiny")
            else (torch.randn(4, 12), torch.randn(4, 10))
        )
        return model(*inputs)[2]

    assert torch.equal(run(), run())


@pytest.mark.parametrize(
    "name, video, audio",
    [
        ("r2plus1d18-panns22", (2, 3, 8, 32, 32), (2, 32, 64)),
        ("small", (2, 3, 8, 16, 16), (2, 16, 64)),
        ("tiny", (2, 3, 8, 16, 16), (2, 16, 64)),
        ("mlp", (2, 12), (2, 10)),
    ],
)
def test_every_trainable_parameter_gets_a_gradient(name: str, video: tuple, audio: tuple) -> None:
    torch.manual_seed(0)
    model = build_model(name, 5, video_dim=12, audio_dim=10).train()
    model(torch.randn(video), torch.randn(audio))[2].sum().backward()
    trainable = {key: param for key, param in model.named_parameters() if param.requires_grad}
    assert [key for key, param in trainable.items() if param.grad is None] == []
    frozen = {key for key, param in model.named_parameters() if not param.requires_grad}
    assert frozen == ({"video_encoder.fc.weight", "video_encoder.fc.bias"} if name == "r2plus1d18-panns22" else set())


@pytest.mark.perf
def test_small_model_step_is_fast() -> None:
    model = build_model("small", 10)
    video, audio = torch.randn(32, 3, 8, 112, 112), torch.randn(32, 201, 64)
    model(video, audio)[2].sum().backward()
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        model(video, audio)[2].sum().backward()
        timings.append(time.perf_counter() - start)
    assert min(timings) < 1.0, f"forward + backward of batch 32 took {min(timings):.2f} s at best"

"""`avnb pretrain` and `--init`: weights written with their card and loaded back bit for bit, wrong files refused
with one line, pretraining that reads no label and no pairing, and a card whose protocol `avnb train` runs with
nothing but config, method and output (or stops before decoding with the command that makes the weights)."""

import os
from pathlib import Path

import pytest
import torch
from harnesskit import Planted
from typer.testing import CliRunner

import avnoisebench.pretrain.benchmark as benchmark
from avnoisebench.cli.main import app
from avnoisebench.dataset.folder import BenchmarkFolder
from avnoisebench.evaluation.results import read_results
from avnoisebench.models import build_model
from avnoisebench.models.weights import encoder_state, load_encoder_weights, read_card, save_encoder_weights

runner = CliRunner()
LABELS = {"label", "clean_label", "is_noisy", "class_name", "audio_clip_id", "nc_flag"}


def test_weights_round_trip_bit_for_bit_with_their_card(tmp_path: Path) -> None:
    torch.manual_seed(3)
    state = encoder_state(build_model("tiny", 5))
    digest = save_encoder_weights(tmp_path / "w.pt", state, {"recipe": "test", "seed": 3})
    model = build_model("tiny", 5)
    load_encoder_weights(model, tmp_path / "w.pt")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert read_card(tmp_path / "w.pt") == {"recipe": "test", "seed": 3, "sha256": digest}


@pytest.mark.parametrize("problem", ["key", "shape", "pickle", "card"])
def test_wrong_weights_are_refused_with_one_line(
    synthetic_bench: tuple[Path, Path], tmp_path: Path, problem: str
) -> None:
    folder, media = synthetic_bench
    weights = tmp_path / "w.pt"
    state = encoder_state(build_model("tiny", 4))
    if problem == "key":
        state["video_encoder.extra"] = torch.zeros(1)
    if problem == "shape":
        state["audio_encoder.fc.bias"] = torch.zeros(3)
    torch.save(Planted(tmp_path / "pwned") if problem == "pickle" else state, weights)
    if problem == "card":
        save_encoder_weights(weights, state, {"recipe": "x"})
        weights.write_bytes(weights.read_bytes() + b"\0")  # the card no longer matches
    args = ["train", str(folder), "--config", "clean", "--method", "late-fusion", "--out", str(tmp_path / "run")]
    args += ["--media-root", str(media), "--model", "tiny", "--init", str(weights), "--track", "features", "--quiet"]
    done = runner.invoke(app, [*args, "--cache-dir", str(tmp_path / "cache")])
    expected = {
        "key": "unexpected video_encoder.extra",
        "shape": "wrong shape audio_encoder.fc.bias (3,) vs (64,)",
        "pickle": "not loaded for safety",
        "card": "is not the card of",
    }[problem]
    assert done.exit_code == 2 and expected in done.stderr, done.output
    assert "Traceback" not in done.output and not (tmp_path / "pwned").exists() and not (tmp_path / "run").exists()


def test_pretraining_reads_no_label_and_no_pairing(
    synthetic_bench: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[list[str] | None] = []
    real_manifest, real_pretrain = BenchmarkFolder.manifest, benchmark.pretrain_encoders

    def manifest(self: BenchmarkFolder, config: str, split: str, columns: list[str] | None = None):  # noqa: ANN202
        read.append(columns)
        return real_manifest(self, config, split, columns)

    monkeypatch.setattr(BenchmarkFolder, "manifest", manifest)
    seen: dict[str, object] = {}

    def spy(video, logmel, spec, seed, progress, workdir, jobs):  # noqa: ANN001, ANN202
        seen["columns"] = list(read)
        seen["arrays"] = (video.shape, logmel.shape)
        return real_pretrain(video, logmel, spec, seed, progress, workdir, jobs)

    monkeypatch.setattr(benchmark, "pretrain_encoders", spy)
    plan = benchmark.plan_pretraining(synthetic_bench[0], synthetic_bench[1], tmp_path / "w.pt", epochs=1, jobs=1)
    card = benchmark.pretrain_folder(plan)
    assert seen["columns"] and all(columns is not None and not set(columns) & LABELS for columns in seen["columns"])
    assert seen["arrays"][0][0] == 80 and card["quality"]["test_knn"]["fused"] > 0
    assert card["source_lock_sha256"] == BenchmarkFolder(synthetic_bench[0]).lock_sha256


def test_train_runs_the_cards_protocol_with_config_method_and_out_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (data / "mnist").is_dir():
        pytest.skip(f"reference data {data} is absent")
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["build", "av-mnist", "--sources", str(data), "--limit", "60", "--quiet"]).exit_code == 0
    train = ["train", "avnb-data/av-mnist", "--config", "nc30-sym60", "--method", "late-fusion", "--out", "runs/lf"]
    missing = runner.invoke(app, train)
    assert missing.exit_code == 2 and "avnb pretrain avnb-data/av-mnist" in missing.stderr
    assert not Path("runs/lf").exists() and not any(Path(os.environ["AVNB_CACHE_DIR"]).rglob("meta.json"))
    pretrained = runner.invoke(app, ["pretrain", "avnb-data/av-mnist", "--epochs", "1", "--jobs", "1", "--quiet"])
    assert pretrained.exit_code == 0, pretrained.output
    assert "frozen-feature quality" in pretrained.stdout and "training took" in pretrained.stdout
    [weights] = Path("avnb-data/av-mnist.weights").glob("*.pt")
    quality = read_card(weights)["quality"]
    assert quality["quality_config"] == "nc30-sym60" and quality["correction"]["observed"] > 0
    done = runner.invoke(app, [*train, "--quiet"])
    assert done.exit_code == 0, done.output
    assert runner.invoke(app, ["evaluate", "runs/lf", "--results", "r.jsonl"]).exit_code == 0
    [record] = read_results(Path("r.jsonl"))
    protocol = BenchmarkFolder("avnb-data/av-mnist").protocol
    assert (record.model, record.track, record.epochs, record.lr) == ("small", "features", 60, protocol.lr)
    assert record.init_source == "simclr-av-mnist" and record.init_sha256 and record.init_card["epochs"] == 1

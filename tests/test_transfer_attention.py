"""scripts/transfer_attention.py on the real all-MiniLM-L6-v2, a few steps: it lowers the held-out attention-output
error, trains only the query/key projections and LION's own parameters, writes a loadable Hub-ready folder, and
refuses bad input before any work."""

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = REPO_ROOT / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import transfer_attention  # noqa: E402
from lion_bert import LionBertForSequenceClassification  # noqa: E402

TINY_RUN = ["--steps", "12", "--batch_size", "4", "--max_seq_length", "32", "--eval_paragraphs", "8",
            "--learning_rate", "5e-3"]


@pytest.mark.parametrize("attention_type", ["lion_s", "lion_lit"])
def test_transfer_lowers_the_error_and_trains_only_attention(tmp_path, minilm_dir, attention_type):
    out = tmp_path / "transfer"
    results = transfer_attention.main([*TINY_RUN, "--attention_type", attention_type, "--output_dir", str(out)])
    before, after = results["relative_error_before"], results["relative_error_after"]
    assert len(before) == len(after) == 6  # one per MiniLM layer
    assert results["mean_relative_error_after"] < results["mean_relative_error_before"]
    # LION-LIT's new attention LayerNorm starts at unit scale, far above BERT's attention outputs: errors near 12
    assert all(0 < x < 20 for x in before + after)
    assert json.loads((out / "transfer_results.json").read_text()) == json.loads(json.dumps(results))
    assert (out / "README.md").is_file() and not list(tmp_path.glob(".*tmp*"))

    bert = load_file(minilm_dir / "model.safetensors")
    lion = load_file(out / "model.safetensors")
    changed = {name for name, value in lion.items() if name not in bert or not torch.equal(value, bert[name])}
    trained = {name for name in lion if transfer_attention.is_trained(name)}
    assert changed <= trained  # values, feed-forward, embeddings and pooler are BERT's
    assert any(".query." in name for name in changed) and any(".key." in name for name in changed)
    model = LionBertForSequenceClassification.from_pretrained(out, num_labels=1)
    assert model.config.attention_type == attention_type


def test_refuses_a_non_empty_output_dir_before_any_work(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(SystemExit, match="--overwrite_output_dir"):
        transfer_attention.main(["--output_dir", str(out)])
    assert (out / "keep.txt").read_text() == "x"


@pytest.mark.parametrize("flag, value", [("--steps", "0"), ("--learning_rate", "0"), ("--batch_size", "-1")])
def test_bad_numbers_are_refused(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit):
        transfer_attention.main(["--output_dir", str(tmp_path / "x"), flag, value])
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "x").exists()

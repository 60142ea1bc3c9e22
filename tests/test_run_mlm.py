"""scripts/run_mlm.py end to end on tiny data: from scratch (trained WordPiece vocabulary; bert-base-uncased
vocabulary on the embedded Wikipedia corpus), from a BERT checkpoint converted on the fly and from a converted LionBert
folder, under torchrun with two processes, and the clear errors of bad input."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import metadata_load


REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = REPO_ROOT / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import run_mlm  # noqa: E402
from lion_bert.data import load_wikipedia_sample  # noqa: E402


HUB_FILES = {
    "README.md", "config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
    "tokenizer_config.json", "configuration_lion_bert.py", "modeling_lion_bert.py", "lion_attention.py",
    "tokenization_lion_bert.py", "eval_results.json",
}
# a tiny model and a few steps; no checkpoints (they would write optimizer pickles for nothing)
FLAGS = [
    "--max_seq_length", "32", "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "8",
    "--save_strategy", "no", "--logging_steps", "1", "--disable_tqdm", "true", "--dataloader_pin_memory", "false",
]
TINY = ["--hidden_size", "32", "--num_hidden_layers", "1", "--num_attention_heads", "2", "--intermediate_size", "64",
        *FLAGS]


@pytest.fixture(scope="module")
def wiki_slice(tmp_path_factory):
    """A tiny slice of the gensim Wikipedia sample as .txt files (one paragraph per line)."""
    train, validation, _ = load_wikipedia_sample()
    folder = tmp_path_factory.mktemp("wiki")
    run_mlm.write_text_file(train[:120], folder / "train.txt")
    run_mlm.write_text_file(validation[:20], folder / "validation.txt")
    return folder


def _results(output_dir):
    return (json.loads((output_dir / "eval_results.json").read_text()),
            json.loads((output_dir / "train_results.json").read_text()))


def _check_run_folder(output_dir, vocab_size=None):
    eval_results, train_results = _results(output_dir)
    assert 0.0 <= eval_results["eval_accuracy"] <= 1.0
    assert eval_results["eval_masked_tokens"] > 0
    assert eval_results["perplexity"] > 1.0
    assert train_results["train_tokens_per_second"] > 0
    assert HUB_FILES <= set(os.listdir(output_dir))
    hub = output_dir / "hub_ready"
    assert set(os.listdir(hub)) == HUB_FILES  # no pickle (training_args.bin), no checkpoints
    metadata = metadata_load(output_dir / "README.md")
    assert metadata["library_name"] == "transformers" and "lion-bert" in metadata["tags"]
    result = metadata["model-index"][0]["results"][0]
    assert result["task"]["type"] == "fill-mask"
    metrics = {m["type"]: m["value"] for m in result["metrics"]}
    assert metrics["accuracy"] == pytest.approx(eval_results["eval_accuracy"], abs=1e-6)
    assert metrics["perplexity"] == pytest.approx(eval_results["perplexity"], rel=1e-6)
    config = json.loads((output_dir / "config.json").read_text())
    assert config["auto_map"]["AutoModelForMaskedLM"] == "modeling_lion_bert.LionBertForMaskedLM"
    if vocab_size is not None:
        assert config["vocab_size"] == vocab_size
    generation = json.loads((output_dir / "generation_config.json").read_text())
    assert generation["mask_token_id"] is not None
    assert not [p for p in output_dir.rglob("*.tmp*")]  # no leftovers of atomic writes
    return eval_results, train_results, metadata


def test_paper_recipe_is_the_default(tmp_path):
    model_args, data_args, training_args = run_mlm.parse_args(["--output_dir", str(tmp_path)])
    assert data_args.mlm_probability == 0.3 and data_args.eval_mlm_probability == 0.15
    assert data_args.max_seq_length == 128
    assert (training_args.adam_beta1, training_args.adam_beta2, training_args.adam_epsilon) == (0.9, 0.98, 1e-6)
    assert training_args.weight_decay == 1e-5 and training_args.learning_rate == 8e-4
    assert training_args.warmup_steps == 0.06 and training_args.get_warmup_steps(1000) == 60
    assert str(getattr(training_args.lr_scheduler_type, "value", training_args.lr_scheduler_type)) == "linear"
    # every TrainingArguments flag still parses, and the 4.x name of the warm-up ratio is accepted
    _, _, overridden = run_mlm.parse_args(["--output_dir", str(tmp_path), "--warmup_ratio", "0.1", "--adam_beta2",
                                           "0.999", "--gradient_accumulation_steps", "2", "--seed", "7"])
    assert overridden.warmup_steps == 0.1 and overridden.adam_beta2 == 0.999
    assert overridden.gradient_accumulation_steps == 2 and overridden.seed == 7


def test_help_lists_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_mlm.parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--attention_type", "--train_tokenizer_vocab_size", "--mlm_probability", "--eval_mlm_probability",
                 "--dataset_name", "--max_seq_length", "--gradient_accumulation_steps", "--warmup_ratio"):
        assert flag in text


def test_embedded_corpus_holds_out_whole_articles():
    train, validation, articles = load_wikipedia_sample()
    assert articles > 100 and len(train) > 10 * len(validation) > 0
    assert not set(train) & set(validation)
    assert all("'''" not in p and "[[" not in p and not p.startswith("==") for p in train[:500])
    again = load_wikipedia_sample.__wrapped__(5)  # recomputed, not cached: deterministic
    assert again[1] == validation


def test_from_scratch_with_a_tokenizer_trained_on_the_corpus(tmp_path, wiki_slice):
    out = tmp_path / "run"
    run_mlm.main([
        *TINY, "--train_file", str(wiki_slice / "train.txt"), "--validation_file", str(wiki_slice / "validation.txt"),
        "--train_tokenizer_vocab_size", "400", "--attention_type", "lion_d", "--max_steps", "4",
        "--output_dir", str(out),
    ])
    eval_results, _, metadata = _check_run_folder(out, vocab_size=400)
    assert json.loads((out / "config.json").read_text())["attention_type"] == "lion_d"
    assert "lion-d" in metadata["tags"]
    vocab = json.loads((out / "tokenizer.json").read_text())["model"]["vocab"]
    assert len(vocab) == 400 and vocab["[PAD]"] == 0 and vocab["[MASK]"] == 4
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 4


def test_from_scratch_on_the_embedded_corpus_with_the_bert_vocabulary(tmp_path, capsys):
    out = tmp_path / "run"
    outputs = run_mlm.main([
        *TINY, "--max_steps", "2", "--max_train_samples", "64", "--max_eval_samples", "16", "--output_dir", str(out),
    ])
    eval_results, _, metadata = _check_run_folder(out, vocab_size=30522)
    assert metadata["model-index"][0]["results"][0]["dataset"]["name"].startswith("English Wikipedia sample")
    printed = capsys.readouterr().out
    assert "MLM pretraining results" in printed and "masked-token accuracy" in printed
    assert outputs["eval"]["eval_accuracy"] == eval_results["eval_accuracy"]
    # evaluation masks 15% of the (non-special) tokens, the same ones in every run
    masked_fraction = eval_results["eval_masked_tokens"] / (16 * 32)
    assert 0.08 < masked_fraction < 0.22
    second = run_mlm.main([*FLAGS, "--do_eval", "--model_name_or_path", str(out), "--max_eval_samples", "16",
                           "--output_dir", str(tmp_path / "eval_only")])
    assert second["eval"]["eval_masked_tokens"] == eval_results["eval_masked_tokens"]
    assert second["eval"]["eval_loss"] == pytest.approx(eval_results["eval_loss"], rel=1e-5)
    # sparse prediction (the default, saved in the config) scores exactly as full logits do
    assert json.loads((out / "config.json").read_text())["sparse_prediction"] is True
    dense = run_mlm.main([*FLAGS, "--do_eval", "--model_name_or_path", str(out), "--max_eval_samples", "16",
                          "--no_sparse_prediction", "--output_dir", str(tmp_path / "eval_dense")])
    assert dense["eval"]["eval_accuracy"] == eval_results["eval_accuracy"]
    assert dense["eval"]["eval_masked_tokens"] == eval_results["eval_masked_tokens"]
    assert dense["eval"]["eval_loss"] == pytest.approx(eval_results["eval_loss"], rel=1e-5)


def test_from_a_bert_checkpoint_converted_on_the_fly(tmp_path, wiki_slice, minilm_dir):
    out = tmp_path / "run"
    run_mlm.main([
        "--model_name_or_path", str(minilm_dir), "--attention_type", "lion_s", "--max_steps", "2",
        "--train_file", str(wiki_slice / "train.txt"), "--validation_file", str(wiki_slice / "validation.txt"),
        "--max_seq_length", "32", "--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "8",
        "--max_eval_samples", "8", "--save_strategy", "no", "--disable_tqdm", "true", "--output_dir", str(out),
    ])
    _, _, metadata = _check_run_folder(out, vocab_size=30522)
    assert metadata["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    config = json.loads((out / "config.json").read_text())
    assert config["attention_type"] == "lion_s" and config["num_hidden_layers"] == 6
    card = (out / "README.md").read_text()
    assert "newly initialised LION parameters: bert.encoder.layer.{0-5}.attention.self.gate" in card


def test_evaluating_a_headless_bert_names_the_untrained_head(tmp_path, wiki_slice, minilm_dir):
    """all-MiniLM-L6-v2 has no MLM head: evaluated without training, the card names the new head and offers no
    fill-mask example of it."""
    out = tmp_path / "eval-only"
    run_mlm.main([
        "--model_name_or_path", str(minilm_dir), "--attention_type", "lion_d", "--do_eval",
        "--train_file", str(wiki_slice / "train.txt"), "--validation_file", str(wiki_slice / "validation.txt"),
        "--max_seq_length", "32",
        "--per_device_eval_batch_size", "8", "--max_eval_samples", "8", "--disable_tqdm", "true",
        "--output_dir", str(out),
    ])
    card = (out / "README.md").read_text()
    assert metadata_load(out / "README.md")["inference"] is False
    assert "cls.predictions" in card and 'pipeline("fill-mask"' not in card


def test_from_a_converted_lion_checkpoint_folder(tmp_path, wiki_slice, minilm_dir):
    import convert_bert_to_lion

    converted = tmp_path / "lion-d-minilm"
    convert_bert_to_lion.main(["--attention_type", "lion_d", "--head", "mlm", "--output_dir", str(converted),
                               "--attention_transfer_steps", "0", "--distillation_steps", "0"])
    out = tmp_path / "run"
    run_mlm.main([
        "--model_name_or_path", str(converted), "--max_steps", "1", "--train_file", str(wiki_slice / "train.txt"),
        "--max_seq_length", "32", "--per_device_train_batch_size", "2", "--max_eval_samples", "4",
        "--save_strategy", "no", "--disable_tqdm", "true", "--inference_attention_mode", "recurrent",
        "--output_dir", str(out),
    ])
    _check_run_folder(out)
    assert json.loads((out / "config.json").read_text())["attention_type"] == "lion_d"  # the checkpoint's
    assert json.loads((out / "generation_config.json").read_text())["attention_mode"] == "recurrent"


@pytest.mark.slow
def test_two_processes_with_torchrun(tmp_path, wiki_slice):
    out = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(SCRIPTS / "run_mlm.py"), *TINY, "--train_file", str(wiki_slice / "train.txt"), "--validation_file",
        str(wiki_slice / "validation.txt"), "--train_tokenizer_vocab_size", "300", "--max_steps", "3",
        "--output_dir", str(out),
    ]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert result.stdout.count("MLM pretraining results") == 1  # only the main process reports and writes
    assert re.search(r"^\s+processes\s+2$", result.stdout, flags=re.MULTILINE), result.stdout[-3000:]
    _check_run_folder(out, vocab_size=300)
    train_results = json.loads((out / "train_results.json").read_text())
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 3 and train_results["train_samples"] > 0
    assert json.loads((out / "all_results.json").read_text())["eval_accuracy"] >= 0
    summary = metadata_load(out / "README.md")
    assert summary["model-index"][0]["results"][0]["metrics"]
    card = (out / "README.md").read_text()
    assert "| num_devices | 2 |" in card and "| steps_done | 3 |" in card  # what ran, over both processes


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d: ["--train_file", str(d / "empty.txt")], "is empty"),
        (lambda d: ["--train_file", str(d / "missing.txt")], "does not exist"),
        (lambda d: ["--train_file", str(d / "data.csv")], "no 'text' column"),
        (lambda d: ["--train_file", str(d / "data.csv"), "--text_column_name", "body"], "no 'body' column"),
        (lambda d: ["--train_file", str(d / "train.txt"), "--mlm_probability", "1.5"], "mlm_probability"),
        (lambda d: ["--dataset_name", "Salesforce/wikitext", "--dataset_config_name", "wikitext-2-raw-v1"],
         "cannot load the dataset 'Salesforce/wikitext'.*Without Hub access use --train_file"),
        (lambda d: ["--train_file", str(d / "train.txt"), "--train_tokenizer_vocab_size", "100",
                    "--model_name_or_path", str(d / "nowhere")], "trains a new vocabulary"),
        (lambda d: ["--train_file", str(d / "train.txt"), "--model_name_or_path", str(d / "nowhere"),
                    "--hidden_size", "64"], "only apply when training from scratch"),
        (lambda d: ["--train_file", str(d / "train.txt"), "--config_overrides", "attention_type=lion_x"],
         "invalid model configuration.*attention_type"),
        (lambda d: ["--train_file", str(d / "train.txt"), "--config_overrides", "hidden_size=30"],
         "(?s)invalid model configuration.*hidden_size. \\(30\\) must be a multiple"),
    ],
)
def test_bad_input_fails_early_with_a_clear_error(tmp_path, wiki_slice, make_args, message):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "data.csv").write_text("sentence,label\nhello world,1\nanother line,0\n")
    (tmp_path / "train.txt").write_text((wiki_slice / "train.txt").read_text())
    with pytest.raises(SystemExit, match=message):
        run_mlm.main([*FLAGS, *make_args(tmp_path), "--output_dir", str(tmp_path / "out")])
    assert not (tmp_path / "out" / "eval_results.json").exists()


def test_refuses_to_train_over_a_finished_run(tmp_path, wiki_slice):
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text("{}")
    with pytest.raises(SystemExit, match="overwrite_output_dir"):
        run_mlm.main([*TINY, "--train_file", str(wiki_slice / "train.txt"), "--output_dir", str(out)])


def test_push_to_hub_uploads_the_validated_hub_folder(tmp_path, wiki_slice, monkeypatch):
    import huggingface_hub

    args = [*TINY, "--train_file", str(wiki_slice / "train.txt"), "--train_tokenizer_vocab_size", "300",
            "--max_steps", "1", "--max_eval_samples", "4", "--push_to_hub", "--hub_model_id", "me/tiny-lion",
            "--hub_private_repo", "true"]
    with pytest.raises(SystemExit, match="unreachable"):  # offline: refused before any work
        run_mlm.main([*args, "--output_dir", str(tmp_path / "offline")])
    assert not (tmp_path / "offline").exists()

    uploads = []

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, **kwargs):
            uploads.append(("create_repo", repo_id, kwargs))
            return f"https://huggingface.co/{repo_id}"

        def upload_folder(self, *, repo_id, folder_path, **kwargs):
            uploads.append(("upload_folder", repo_id, sorted(os.listdir(folder_path))))

    monkeypatch.setattr(run_mlm, "hub_is_reachable", lambda timeout=5.0: True)
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    outputs = run_mlm.main([*args, "--output_dir", str(tmp_path / "run")])
    assert uploads == [
        ("create_repo", "me/tiny-lion", {"private": True, "exist_ok": True, "repo_type": "model"}),
        ("upload_folder", "me/tiny-lion", sorted(HUB_FILES)),
    ]
    assert outputs["hub_url"] == "https://huggingface.co/me/tiny-lion"

"""Checkpoints that lose nothing: save/load is bit-identical for every head, variant, form and dtype; Trainer resumed
from a mid-run checkpoint ends with the weights of the uninterrupted run; a truncated or corrupted safetensors file,
or a folder whose weights are only a pickle, gives an OSError naming the file and the fix."""

import pytest
import torch
from transformers import Trainer, TrainingArguments

from lion_bert import (
    LionBertForMaskedLM,
    LionBertForMultipleChoice,
    LionBertForQuestionAnswering,
    LionBertForSequenceClassification,
    LionBertModel,
    LionGenerationConfig,
)

from model_classes import FORMS, HEAD_CLASSES, VARIANTS
from test_robustness import VOCAB, perturbed, tiny


def _inputs(model_class):
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, VOCAB, (3, 11), generator=generator)
    attention_mask = torch.ones_like(ids)
    attention_mask[1, 7:] = 0
    attention_mask[2, :3] = 0
    token_type_ids = (torch.arange(11) > 5).long().expand(3, -1)  # two segments
    inputs = {"input_ids": ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
    if model_class is LionBertForMultipleChoice:
        inputs = {key: value[:, None, :].expand(-1, 2, -1) for key, value in inputs.items()}
    return inputs


def _build(model_class, variant, **overrides):
    torch.manual_seed(0)
    num_labels = 2 if model_class is LionBertForQuestionAnswering else 3
    return perturbed(model_class(tiny(variant, num_labels=num_labels, **overrides))).eval()


# ------------------------------------------------------------------------------------------------------------------
# Save / load
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("model_class", HEAD_CLASSES, ids=lambda c: c.__name__)
def test_save_load_is_bit_identical_in_every_form(tmp_path, model_class, variant):
    model = _build(model_class, variant)
    model.generation_config = LionGenerationConfig(attention_mode="recurrent", chunk_size=5)
    model.save_pretrained(tmp_path)
    loaded = model_class.from_pretrained(tmp_path)
    assert type(loaded) is model_class and not loaded.training
    assert loaded.generation_config.attention_mode == "recurrent" and loaded.generation_config.chunk_size == 5
    assert list(loaded.state_dict()) == list(model.state_dict())
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    inputs = _inputs(model_class)
    with torch.no_grad():
        for mode in FORMS:
            expected = model(**inputs, attention_mode=mode, chunk_size=4)
            actual = loaded(**inputs, attention_mode=mode, chunk_size=4)
            for key in expected.keys():
                assert torch.equal(actual[key], expected[key]), (mode, key)
        # no form argument: the saved generation config's form (recurrent) runs on both
        assert torch.equal(loaded(**inputs)[0], model(**inputs)[0])


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16], ids=str)
def test_save_load_keeps_the_dtype_bit_for_bit(tmp_path, dtype):
    model = _build(LionBertForMaskedLM, "lion_s").to(dtype)
    model.save_pretrained(tmp_path)
    loaded = LionBertForMaskedLM.from_pretrained(tmp_path)
    for name, tensor in model.state_dict().items():
        assert loaded.state_dict()[name].dtype == dtype and torch.equal(loaded.state_dict()[name], tensor), name
    inputs = _inputs(LionBertForMaskedLM)
    with torch.no_grad():
        expected = model(**inputs, attention_mode="chunk").logits
        assert torch.equal(loaded(**inputs, attention_mode="chunk").logits, expected)


def test_sharded_save_load_is_bit_identical(tmp_path):
    model = _build(LionBertForSequenceClassification, "lion_d")
    model.save_pretrained(tmp_path, max_shard_size="20KB")
    shards = sorted(p.name for p in tmp_path.glob("model-*.safetensors"))
    assert len(shards) > 1 and (tmp_path / "model.safetensors.index.json").is_file()
    loaded = LionBertForSequenceClassification.from_pretrained(tmp_path)
    inputs = _inputs(LionBertForSequenceClassification)
    with torch.no_grad():
        assert torch.equal(loaded(**inputs).logits, model(**inputs).logits)


def test_loaded_weights_do_not_read_the_file_any_more(tmp_path):
    """transformers keeps loaded weights as views of the memory-mapped file; LionBert copies them, so overwriting the
    file in place after loading (same size: a truncation would kill the process with SIGBUS) changes nothing."""
    model = _build(LionBertForSequenceClassification, "lion_s")
    model.save_pretrained(tmp_path)
    loaded = LionBertForSequenceClassification.from_pretrained(tmp_path)
    assert all(t.data_ptr() % 64 == 0 for t in loaded.state_dict().values())  # aligned like the saved model's
    inputs = _inputs(LionBertForSequenceClassification)
    with torch.no_grad():
        before = loaded(**inputs).logits
        weights = tmp_path / "model.safetensors"
        with open(weights, "r+b") as handle:  # keep the header, zero every tensor byte, in place
            handle.seek(8 + int.from_bytes(weights.read_bytes()[:8], "little"))
            handle.write(bytes(weights.stat().st_size - handle.tell()))
        assert torch.equal(loaded(**inputs).logits, before)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


# ------------------------------------------------------------------------------------------------------------------
# Trainer: resuming from a mid-run checkpoint
# ------------------------------------------------------------------------------------------------------------------


def _mlm_examples(count=16, length=12):
    generator = torch.Generator().manual_seed(42)
    examples = []
    for _ in range(count):
        ids = torch.randint(1, VOCAB, (length,), generator=generator)
        labels = torch.where(torch.rand(length, generator=generator) < 0.3, ids, torch.full_like(ids, -100))
        labels[0] = ids[0]  # at least one target per example
        attention_mask = torch.ones_like(ids)
        attention_mask[int(torch.randint(6, length + 1, (1,), generator=generator)):] = 0
        labels[attention_mask == 0] = -100
        examples.append({"input_ids": ids, "attention_mask": attention_mask, "labels": labels})
    return examples


def _train(output_dir, resume_from_checkpoint=None, init_seed=0):
    """8 steps of 4 examples (2 epochs of 16, shuffled), dropout on, linear schedule with warm-up, a checkpoint
    every 3 steps. Returns the trainer."""
    torch.manual_seed(init_seed)
    config = tiny("lion_s", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    model = LionBertForMaskedLM(config)
    args = TrainingArguments(
        output_dir=str(output_dir), max_steps=8, per_device_train_batch_size=4, learning_rate=1e-3, warmup_steps=2,
        lr_scheduler_type="linear", weight_decay=0.01, save_strategy="steps", save_steps=3, logging_strategy="no",
        seed=0, data_seed=0, use_cpu=True, report_to=[], dataloader_num_workers=0, disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=_mlm_examples())
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    return trainer


def test_trainer_resumed_mid_run_ends_with_the_same_weights(tmp_path, monkeypatch):
    uninterrupted = _train(tmp_path / "uninterrupted")
    checkpoint = tmp_path / "uninterrupted" / "checkpoint-3"  # mid-epoch: the resumed run must skip 3 batches
    assert (checkpoint / "model.safetensors").is_file() and not list(checkpoint.glob("pytorch_model*.bin"))
    at_checkpoint = LionBertForMaskedLM.from_pretrained(checkpoint).state_dict()

    loads = []
    real_load = torch.load

    def recording_load(*args, **kwargs):
        loads.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    # another initial model: every weight of the resumed run must come from the checkpoint
    resumed = _train(tmp_path / "resumed", resume_from_checkpoint=str(checkpoint), init_seed=123)
    monkeypatch.undo()

    assert uninterrupted.state.global_step == resumed.state.global_step == 8
    final, final_resumed = uninterrupted.model.state_dict(), resumed.model.state_dict()
    assert list(final_resumed) == list(final)
    for name, tensor in final.items():
        assert torch.equal(final_resumed[name], tensor), name
    assert any(not torch.equal(final[name], at_checkpoint[name]) for name in final)  # it trained after step 3
    # optimizer, scheduler and RNG states are torch.load-ed, each with weights_only=True
    assert len(loads) >= 3 and all(flag is True for flag in loads), loads


# ------------------------------------------------------------------------------------------------------------------
# Damaged checkpoints: an OSError naming the file and the fix
# ------------------------------------------------------------------------------------------------------------------


def _damage(path, how):
    """Damage a safetensors file: 8 bytes of header length, the JSON header, then the tensor data."""
    data = path.read_bytes()
    header_end = 8 + int.from_bytes(data[:8], "little")
    damaged = {
        "truncated": data[: len(data) // 2],
        "cut_after_header": data[:header_end],
        "last_byte_missing": data[:-1],
        "garbage": bytes(range(256)) * 40,
        "empty": b"",
        "bad_header_json": data[:8] + b"{" * (header_end - 8) + data[header_end:],
    }[how]
    path.write_bytes(damaged)


DAMAGES = ["truncated", "cut_after_header", "last_byte_missing", "garbage", "empty", "bad_header_json"]


def _assert_names_the_file(error, path):
    text = str(error.value)
    assert str(path) in text, text
    assert "truncated or corrupted" in text and "save_pretrained()" in text, text


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_safetensors_names_the_file(tmp_path, how):
    _build(LionBertForMaskedLM, "lion_s").save_pretrained(tmp_path)
    _damage(tmp_path / "model.safetensors", how)
    with pytest.raises(OSError) as error:
        LionBertForMaskedLM.from_pretrained(tmp_path)
    _assert_names_the_file(error, tmp_path / "model.safetensors")


def test_damaged_shard_is_the_one_named(tmp_path):
    _build(LionBertModel, "lion_d").save_pretrained(tmp_path, max_shard_size="20KB")
    shards = sorted(tmp_path.glob("model-*.safetensors"))
    _damage(shards[1], "truncated")
    with pytest.raises(OSError) as error:
        LionBertModel.from_pretrained(tmp_path)
    _assert_names_the_file(error, shards[1])
    assert all(str(shard) not in str(error.value) for shard in shards if shard != shards[1])


def test_damaged_file_in_the_hub_cache_names_the_cached_file(tmp_path, monkeypatch):
    """A Hub model read from the local cache (offline): the message names the cached file and force_download."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "cache" / "models--someone--tiny-lion"
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / revision
    _build(LionBertForMaskedLM, "lion_s").save_pretrained(snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    loaded = LionBertForMaskedLM.from_pretrained("someone/tiny-lion", cache_dir=str(tmp_path / "cache"))
    assert isinstance(loaded, LionBertForMaskedLM)  # the cache layout itself loads
    _damage(snapshot / "model.safetensors", "truncated")
    with pytest.raises(OSError) as error:
        LionBertForMaskedLM.from_pretrained("someone/tiny-lion", cache_dir=str(tmp_path / "cache"))
    _assert_names_the_file(error, snapshot / "model.safetensors")
    assert "force_download=True" in str(error.value)


# ------------------------------------------------------------------------------------------------------------------
# Pickled weights: refused unless asked for, and then read with weights_only=True
# ------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def pickle_only_folder(tmp_path):
    """A saved LionBert folder whose weights are only pytorch_model.bin (an old-style checkpoint)."""
    model = _build(LionBertForMaskedLM, "lion_d")
    model.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    (tmp_path / "model.safetensors").unlink()
    return tmp_path, model


def test_pickle_only_folder_is_refused_with_the_way_out(pickle_only_folder, monkeypatch):
    folder, _ = pickle_only_folder

    def no_unpickling(*args, **kwargs):
        raise AssertionError("from_pretrained unpickled a file")

    monkeypatch.setattr(torch, "load", no_unpickling)
    with pytest.raises(OSError) as error:
        LionBertForMaskedLM.from_pretrained(folder)
    text = str(error.value)
    assert str(folder) in text and "pytorch_model.bin, a pickle" in text
    assert "use_safetensors=False" in text and "save_pretrained()" in text


def test_pickle_is_read_only_when_asked_and_with_weights_only(pickle_only_folder, monkeypatch):
    folder, model = pickle_only_folder
    flags = []
    real_load = torch.load

    def recording_load(*args, **kwargs):
        flags.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    loaded = LionBertForMaskedLM.from_pretrained(folder, use_safetensors=False)
    assert flags and all(flag is True for flag in flags), flags
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_safetensors_win_over_a_pickle_in_the_same_folder(tmp_path, monkeypatch):
    model = _build(LionBertForMaskedLM, "lion_s")
    model.save_pretrained(tmp_path)
    torch.save({name: torch.zeros_like(t) for name, t in model.state_dict().items()}, tmp_path / "pytorch_model.bin")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("the pickle was read"))
    loaded = LionBertForMaskedLM.from_pretrained(tmp_path)
    assert torch.equal(loaded.cls.predictions.bias, model.cls.predictions.bias)


def test_missing_weights_keep_transformers_message(tmp_path):
    """A folder with no weights at all: transformers' own OSError, with the safetensors-only note (no pickle found)."""
    _build(LionBertModel, "lion_s").save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(OSError) as error:
        LionBertModel.from_pretrained(tmp_path)
    text = str(error.value)
    assert "no file named model.safetensors" in text and "safetensors only" in text and "a pickle." not in text

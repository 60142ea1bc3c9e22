"""A converted sentence-transformers model stays one: all-MiniLM-L6-v2 converted and saved with its modules
(mean pooling, normalisation) loads in `sentence_transformers.SentenceTransformer` and embeds long documents in the
linear-memory form."""

import pytest
import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from transformers import BertConfig, BertModel

from lion_bert.conversion import CONVERSION_RECIPES, convert, copy_sentence_transformers_modules
from lion_bert.data import embedded_stsb_dir, read_sts_csv
from lion_bert.hub import write_hub_folder

SENTENCES = ["A man is playing a guitar.", "A woman is slicing an onion.", "LION is bidirectional linear attention."]


def _saved(minilm_dir, folder, attention_type, **overrides):
    conversion = convert(str(minilm_dir), attention_type=attention_type, head="base", **overrides)
    conversion.model.save_pretrained(folder)
    conversion.tokenizer.save_pretrained(folder)
    copied = copy_sentence_transformers_modules(str(minilm_dir), folder)
    return conversion.model, copied


def test_softmax_conversion_embeds_exactly_as_the_source(tmp_path, minilm_dir):
    _, copied = _saved(minilm_dir, tmp_path, "softmax")
    assert copied == ["modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
                      "1_Pooling/config.json"]
    converted = SentenceTransformer(str(tmp_path), trust_remote_code=True, device="cpu")
    source = SentenceTransformer(str(minilm_dir), device="cpu")
    assert [type(m).__name__ for m in converted] == ["Transformer", "Pooling", "Normalize"]
    expected = source.encode(SENTENCES, convert_to_tensor=True)
    torch.testing.assert_close(converted.encode(SENTENCES, convert_to_tensor=True), expected, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_lion_s_embeds_a_long_document_in_the_chunk_form(tmp_path, minilm_dir):
    model, _ = _saved(minilm_dir, tmp_path, "lion_s", **CONVERSION_RECIPES["lion_s"].config_defaults)
    encoder = SentenceTransformer(str(tmp_path), trust_remote_code=True, device="cpu")
    encoder.max_seq_length = 2048  # no position embeddings: any length
    document = " ".join(read_sts_csv(embedded_stsb_dir() / "sts-dev.csv")["sentence1"][:400])
    embedding = encoder.encode([document], convert_to_tensor=True)
    assert embedding.shape == (1, 384) and torch.isfinite(embedding).all()
    # the same document through the parallel form, mean-pooled and normalised by hand
    ids = encoder.tokenizer(document, truncation=True, max_length=2048, return_tensors="pt")
    assert ids["input_ids"].shape[1] == 2048
    with torch.no_grad():
        tokens = model(**ids, attention_mode="parallel").last_hidden_state
    expected = F.normalize(tokens.mean(1), dim=-1)
    torch.testing.assert_close(embedding, expected, atol=1e-4, rtol=0)


def test_a_plain_bert_source_has_no_modules_to_copy(tmp_path):
    BertModel(BertConfig(hidden_size=32, num_attention_heads=4, num_hidden_layers=1, intermediate_size=37,
                         vocab_size=99)).save_pretrained(tmp_path / "bert")
    assert copy_sentence_transformers_modules(str(tmp_path / "bert"), tmp_path / "out") == []
    assert not (tmp_path / "out").exists()


def test_the_hub_folder_keeps_the_modules(tmp_path, minilm_dir):
    _saved(minilm_dir, tmp_path / "run", "lion_s", **CONVERSION_RECIPES["lion_s"].config_defaults)
    names, _, problems = write_hub_folder(tmp_path / "run", tmp_path / "hub")
    assert not problems
    assert {"modules.json", "sentence_bert_config.json", "1_Pooling/config.json"} <= set(names)
    from_run = SentenceTransformer(str(tmp_path / "run"), trust_remote_code=True, device="cpu")
    from_hub = SentenceTransformer(str(tmp_path / "hub"), trust_remote_code=True, device="cpu")
    assert [type(m).__name__ for m in from_hub] == ["Transformer", "Pooling", "Normalize"]
    torch.testing.assert_close(from_hub.encode(SENTENCES, convert_to_tensor=True),
                               from_run.encode(SENTENCES, convert_to_tensor=True), atol=0, rtol=0)

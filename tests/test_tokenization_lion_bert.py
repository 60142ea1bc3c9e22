"""LionBertTokenizer (bert-base-uncased WordPiece, Auto registration, Hub files) and train_wordpiece_tokenizer."""

import json

import pytest
from transformers import AutoTokenizer, BertTokenizer

from lion_bert import LionBertConfig, LionBertTokenizer, train_wordpiece_tokenizer


TEXTS = [
    "Hello World! LION is linear attention for bidirectional sequence modeling.",
    "Crème brûlée costs 3.50€ in Zürich, doesn't it?",
    "unaffable tokenization",
]


def test_matches_the_bert_uncased_tokenizer(minilm_dir, bert_uncased_tokenizer):
    reference = BertTokenizer.from_pretrained(str(minilm_dir))
    assert isinstance(bert_uncased_tokenizer, BertTokenizer)
    assert bert_uncased_tokenizer.vocab_size == reference.vocab_size == 30522
    assert bert_uncased_tokenizer.mask_token_id == 103 and bert_uncased_tokenizer.pad_token_id == 0
    for text in TEXTS:
        assert bert_uncased_tokenizer(text)["input_ids"] == reference(text)["input_ids"]
    pair = bert_uncased_tokenizer("a question", "a context")
    assert pair["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1]
    hello = bert_uncased_tokenizer("Hello WORLD")["input_ids"]
    assert bert_uncased_tokenizer.decode(hello) == "[CLS] hello world [SEP]"


def test_saved_folder_loads_with_auto_tokenizer(tmp_path, bert_uncased_tokenizer):
    bert_uncased_tokenizer.save_pretrained(tmp_path)
    tokenizer_config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert tokenizer_config["tokenizer_class"] == "LionBertTokenizer"
    assert tokenizer_config["auto_map"]["AutoTokenizer"][0] == "tokenization_lion_bert.LionBertTokenizer"
    assert (tmp_path / "tokenization_lion_bert.py").is_file()
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert type(loaded) is LionBertTokenizer
    for text in TEXTS:
        assert loaded(text)["input_ids"] == bert_uncased_tokenizer(text)["input_ids"]


def test_auto_tokenizer_follows_the_model_type(tmp_path, bert_uncased_tokenizer):
    """A LionBert folder whose tokenizer_config names no class resolves through model_type lion_bert."""
    LionBertConfig().save_pretrained(tmp_path)
    bert_uncased_tokenizer.save_pretrained(tmp_path)
    tokenizer_config_path = tmp_path / "tokenizer_config.json"
    tokenizer_config = json.loads(tokenizer_config_path.read_text())
    del tokenizer_config["tokenizer_class"], tokenizer_config["auto_map"]
    tokenizer_config_path.write_text(json.dumps(tokenizer_config))
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert type(loaded) is LionBertTokenizer
    assert loaded(TEXTS[0])["input_ids"] == bert_uncased_tokenizer(TEXTS[0])["input_ids"]


@pytest.fixture
def corpus(tmp_path):
    lines = [
        "The quick brown fox jumps over the lazy dog.",
        "Linear attention scales linearly with the sequence length.",
        "Bidirectional recurrent networks read the sequence in both directions.",
        "Masked language modeling predicts the masked tokens.",
    ] * 50
    first, second = tmp_path / "part1.txt", tmp_path / "part2.txt"
    first.write_text("\n".join(lines[:100]), encoding="utf-8")
    second.write_text("\n".join(lines[100:]).upper(), encoding="utf-8")  # uncased: upper case must not matter
    return [first, second]


def test_train_wordpiece_tokenizer(tmp_path, corpus):
    tokenizer = train_wordpiece_tokenizer(corpus, vocab_size=300, min_frequency=2, model_max_length=128)
    assert isinstance(tokenizer, LionBertTokenizer)
    vocab = tokenizer.get_vocab()
    assert 100 < len(vocab) <= 300
    assert [vocab[token] for token in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 1, 2, 3, 4]
    assert all(token == token.lower() for token in vocab if token not in tokenizer.all_special_tokens)
    assert any(token.startswith("##") for token in vocab)
    encoded = tokenizer("The LAZY dog reads BIDIRECTIONAL sequences")
    assert encoded["input_ids"][0] == tokenizer.cls_token_id and encoded["input_ids"][-1] == tokenizer.sep_token_id
    assert tokenizer.unk_token_id not in encoded["input_ids"]
    decoded = tokenizer.decode(encoded["input_ids"], skip_special_tokens=True)
    assert decoded == "the lazy dog reads bidirectional sequences"
    assert tokenizer.model_max_length == 128 and tokenizer.mask_token == "[MASK]"

    tokenizer.save_pretrained(tmp_path / "trained")
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "trained")
    assert type(reloaded) is LionBertTokenizer
    assert reloaded("The LAZY dog")["input_ids"] == tokenizer("The LAZY dog")["input_ids"]


def test_train_wordpiece_tokenizer_accepts_a_single_path(corpus):
    tokenizer = train_wordpiece_tokenizer(str(corpus[0]), vocab_size=200)
    assert tokenizer.unk_token_id not in tokenizer("the quick brown fox")["input_ids"]


def test_train_wordpiece_tokenizer_rejects_bad_arguments(tmp_path, corpus):
    with pytest.raises(ValueError, match="is not a file"):
        train_wordpiece_tokenizer([tmp_path / "missing.txt"])
    with pytest.raises(ValueError, match="vocab_size must exceed"):
        train_wordpiece_tokenizer(corpus, vocab_size=5)

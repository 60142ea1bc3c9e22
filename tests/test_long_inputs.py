"""Long inputs from converted models: the real all-MiniLM-L6-v2 converted with the conversion defaults takes a
16,384-token document in the linear-memory forms when the variant has a decay (LION-D, LION-S), and LION-LIT, which
keeps BERT's learned positions, refuses it with the error that says why."""

import pytest
import torch

from lion_bert.conversion import CONVERSION_RECIPES, convert
from lion_bert.data import embedded_stsb_dir, read_sts_csv

LENGTH = 16384


@pytest.fixture(scope="module")
def long_document(bert_uncased_tokenizer):
    """(1, 16384) token ids of real text: the STS-B validation sentences run together, between [CLS] and [SEP]."""
    sentences = read_sts_csv(embedded_stsb_dir() / "sts-dev.csv")["sentence1"]
    ids = bert_uncased_tokenizer(" ".join(sentences), add_special_tokens=False)["input_ids"]
    assert len(ids) >= LENGTH - 2
    return torch.tensor([[bert_uncased_tokenizer.cls_token_id, *ids[: LENGTH - 2], bert_uncased_tokenizer.sep_token_id]])


@pytest.mark.slow
@pytest.mark.parametrize("attention_type", ["lion_d", "lion_s"])
def test_converted_decay_variants_take_16k_tokens_in_chunk_and_recurrent_forms(minilm_dir, long_document,
                                                                              attention_type):
    model = convert(str(minilm_dir), attention_type=attention_type, head="base", load_tokenizer=False,
                    **CONVERSION_RECIPES[attention_type].config_defaults).model
    assert model.config.resolved_position_embedding_type == "none"  # BERT's 512 learned positions left out
    with torch.no_grad():
        chunk = model(long_document, attention_mode="chunk").last_hidden_state
        recurrent = model(long_document, attention_mode="recurrent").last_hidden_state
    assert chunk.shape == (1, LENGTH, model.config.hidden_size) and torch.isfinite(chunk).all()
    assert chunk.std() > 0.1  # real activations, not a degenerate comparison
    torch.testing.assert_close(recurrent, chunk, atol=1e-4, rtol=0)


def test_converted_lion_lit_keeps_positions_and_names_the_limit(minilm_dir, long_document):
    model = convert(str(minilm_dir), attention_type="lion_lit", head="base", load_tokenizer=False,
                    **CONVERSION_RECIPES["lion_lit"].config_defaults).model
    assert model.config.resolved_position_embedding_type == "absolute"
    with pytest.raises(ValueError, match="needs 16384 positions but the model has max_position_embeddings=512"):
        model(long_document, attention_mode="chunk")

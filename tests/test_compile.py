"""torch.compile: every variant and form of a LionBert model is captured as one graph (fullgraph=True raises on any
graph break, such as a host synchronisation that reads tensor values), forward and backward, and the compiled model
computes what the eager one does. The AOT-eager backend traces exactly what inductor would compile, without
generating code, so these tests take seconds."""

import pytest
import torch

from lion_bert import LionBertConfig, LionBertForSequenceClassification

from model_classes import FORMS, LION_VARIANTS


CASES = [(variant, form, None) for variant in LION_VARIANTS for form in FORMS]
CASES += [("lion_s", form, "hedgehog") for form in FORMS] + [("softmax", "parallel", None)]


def _model_and_inputs(attention_type, feature_map):
    torch.manual_seed(0)
    config = LionBertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=37, attention_type=attention_type, feature_map=feature_map, chunk_size=4,
                            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3)
    model = LionBertForSequenceClassification(config)
    input_ids = torch.randint(0, 99, (2, 13))
    attention_mask = torch.ones(2, 13, dtype=torch.long)
    attention_mask[1, 9:] = 0  # padding: the masked path of every kernel
    return model, dict(input_ids=input_ids, attention_mask=attention_mask, labels=torch.tensor([0, 2]))


@pytest.mark.parametrize("attention_type,form,feature_map", CASES, ids=lambda x: str(x))
def test_compiles_without_graph_breaks_and_matches_eager(attention_type, form, feature_map):
    model, inputs = _model_and_inputs(attention_type, feature_map)
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)

    eager_out = model(**inputs, attention_mode=form)
    eager_out.loss.backward()
    eager_grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    out = compiled(**inputs, attention_mode=form)
    out.loss.backward()

    torch.testing.assert_close(out.logits, eager_out.logits, atol=1e-6, rtol=1e-6)
    grads = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    assert grads.keys() == eager_grads.keys() and len(grads) > 0
    for name, grad in grads.items():
        torch.testing.assert_close(grad, eager_grads[name], atol=1e-6, rtol=1e-5, msg=lambda m: f"{name}: {m}")


def test_compiled_eval_model_keeps_the_mask_it_cannot_read():
    """Eager drops an all-ones mask after reading it; compiled code keeps it unread, with the same outputs."""
    model, inputs = _model_and_inputs("lion_d", None)
    model.eval()
    inputs = dict(input_ids=inputs["input_ids"], attention_mask=torch.ones_like(inputs["attention_mask"]))
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        for form in FORMS:
            torch.testing.assert_close(compiled(**inputs, attention_mode=form).logits,
                                       model(**inputs, attention_mode=form).logits, atol=1e-6, rtol=1e-6)

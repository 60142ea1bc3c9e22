"""lion-bert: BERT-style encoders with LION bidirectional linear attention for 🤗 Transformers.

Importing the package registers LionBert with the Auto classes (AutoConfig, AutoModel, AutoModelFor{MaskedLM,
SequenceClassification, TokenClassification, QuestionAnswering, MultipleChoice}, AutoTokenizer), and marks the
classes for `register_for_auto_class`, so that `save_pretrained` writes `auto_map` and copies the code files: the
saved folder then loads with `trust_remote_code=True` where this package is not installed.
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)

from .configuration_lion_bert import ATTENTION_VARIANTS, LionBertConfig, LionGenerationConfig
from .lion_attention import ATTENTION_MODES, FEATURE_MAPS, lion_attention, lion_attention_weights
from .modeling_lion_bert import (
    AUTO_CLASSES,
    LionBertForMaskedLM,
    LionBertForMultipleChoice,
    LionBertForQuestionAnswering,
    LionBertForSequenceClassification,
    LionBertForTokenClassification,
    LionBertModel,
    LionBertPreTrainedModel,
)
from .tokenization_lion_bert import LionBertTokenizer, train_wordpiece_tokenizer


AutoConfig.register(LionBertConfig.model_type, LionBertConfig, exist_ok=True)
LionBertConfig.register_for_auto_class("AutoConfig")
for _auto_class in (
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoModelForQuestionAnswering,
    AutoModelForMultipleChoice,
):
    _model_class = globals()[AUTO_CLASSES[_auto_class.__name__]]
    _auto_class.register(LionBertConfig, _model_class, exist_ok=True)
    _model_class.register_for_auto_class(_auto_class.__name__)
AutoTokenizer.register(LionBertConfig, tokenizer_class=LionBertTokenizer, exist_ok=True)
LionBertTokenizer.register_for_auto_class("AutoTokenizer")
del _auto_class, _model_class

__all__ = [
    "ATTENTION_MODES",
    "ATTENTION_VARIANTS",
    "FEATURE_MAPS",
    "LionBertConfig",
    "LionBertForMaskedLM",
    "LionBertForMultipleChoice",
    "LionBertForQuestionAnswering",
    "LionBertForSequenceClassification",
    "LionBertForTokenClassification",
    "LionBertModel",
    "LionBertPreTrainedModel",
    "LionBertTokenizer",
    "LionGenerationConfig",
    "lion_attention",
    "lion_attention_weights",
    "train_wordpiece_tokenizer",
]

"""What the model tests run over, read from the package's own tables so that a new variant, form or head is tested
without editing a list here: the attention variants, the LION forms and the head classes (one per Auto class)."""

import transformers

import lion_bert
from lion_bert import ATTENTION_MODES, ATTENTION_VARIANTS
from lion_bert.modeling_lion_bert import AUTO_CLASSES


VARIANTS = list(ATTENTION_VARIANTS)
LION_VARIANTS = [name for name, variant in ATTENTION_VARIANTS.items() if variant.kernel == "lion"]
FORMS = list(ATTENTION_MODES)
# head class -> the transformers Auto class that loads it, in AUTO_CLASSES' order (the base model first)
AUTO_CLASS_OF = {getattr(lion_bert, head): getattr(transformers, auto) for auto, head in AUTO_CLASSES.items()}
HEAD_CLASSES = list(AUTO_CLASS_OF)

"""Tokenizer of LionBert: the uncased WordPiece BERT tokenizer, and a trainer for new WordPiece vocabularies."""

import os
from collections.abc import Iterable

from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordPiece
from tokenizers.trainers import WordPieceTrainer
from transformers import BertTokenizer
from transformers.utils import logging


logger = logging.get_logger(__name__)

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def check_unicode(name: str, text, where: str = "") -> None:
    """Raise ValueError if a string in `text` (a str, or lists/tuples of them, nested) holds a lone surrogate.

    Lone surrogates (U+D800..U+DFFF) are valid in a Python str but not in Unicode text: the Rust tokenizer rejects
    them with an unrelated TypeError, so they are reported here with their position and the fix.
    """
    if isinstance(text, str):
        if text.isascii():
            return
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:  # only surrogates fail to encode as UTF-8
            char = text[error.start]
            raise ValueError(
                f"{name}{where} holds the lone surrogate U+{ord(char):04X} at character {error.start}, which is not "
                f"valid Unicode and cannot be tokenized. It usually comes from bytes decoded with "
                f"errors='surrogateescape' or from broken UTF-16 or JSON: clean the text first, e.g. "
                f"text.encode('utf-8', errors='replace').decode('utf-8')."
            ) from None
    elif isinstance(text, (list, tuple)):
        for i, item in enumerate(text):
            check_unicode(name, item, f"{where}[{i}]")


class LionBertTokenizer(BertTokenizer):
    r"""
    The BERT WordPiece tokenizer (uncased by default, `[CLS] A [SEP] B [SEP]` templates), under its own name so that
    `AutoTokenizer` maps model_type `lion_bert` to it and a saved folder carries it as Hub code. Arguments as in
    [`~transformers.BertTokenizer`]; load the bert-base-uncased vocabulary with
    `LionBertTokenizer.from_pretrained(<folder with vocab.txt / tokenizer.json>)`, or train a new one with
    [`train_wordpiece_tokenizer`].

    Any str is accepted (empty, control characters, emoji, any script; unknown characters become `[UNK]`), except
    one holding a lone surrogate, which raises a ValueError naming its position (see [`check_unicode`]).
    """

    def _encode_plus(self, text=None, text_pair=None, *args, **kwargs):
        # the funnel of __call__, encode and tokenize (text_target arrives here as `text`)
        check_unicode("text", text)
        check_unicode("text_pair", text_pair)
        return super()._encode_plus(text, text_pair, *args, **kwargs)


def train_wordpiece_tokenizer(
    files: str | os.PathLike | Iterable[str | os.PathLike],
    vocab_size: int = 30522,
    min_frequency: int = 2,
    limit_alphabet: int = 1000,
    lowercase: bool = True,
    strip_accents: bool | None = None,
    model_max_length: int = 512,
) -> LionBertTokenizer:
    """Train an uncased WordPiece vocabulary on text files with 🤗 `tokenizers`, for pretraining from scratch.

    Normalisation and pre-tokenisation are BERT's (clean text, split CJK characters, lowercase, strip accents as
    BERT does, split on whitespace and punctuation); continuation pieces start with `##`. The special tokens come
    first, `[PAD]` = 0 (the config's default `pad_token_id`), `[UNK]` = 1, `[CLS]` = 2, `[SEP]` = 3, `[MASK]` = 4.

    Args:
        files: a text file or files (one or more documents per file, read line by line).
        vocab_size: size of the vocabulary, special tokens included.
        min_frequency: minimum count of a merged piece.
        limit_alphabet: maximum number of initial characters kept.
        lowercase: lowercase the text (uncased model).
        strip_accents: strip accents; None follows `lowercase`, as BERT does.
        model_max_length: `model_max_length` of the returned tokenizer (inputs are truncated to it on request).

    Returns:
        A ready [`LionBertTokenizer`] (save it with `save_pretrained`).
    """
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    files = [os.fspath(f) for f in files]
    for path in files:
        if not os.path.isfile(path):
            raise ValueError(f"train_wordpiece_tokenizer: {path!r} is not a file.")
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}.")

    backend = Tokenizer(WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents, lowercase=lowercase
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        limit_alphabet=limit_alphabet,
        special_tokens=list(SPECIAL_TOKENS),
        continuing_subword_prefix="##",
        show_progress=False,
    )
    backend.train(files, trainer)
    vocab = backend.get_vocab()
    logger.info(f"Trained a WordPiece vocabulary of {len(vocab)} tokens on {len(files)} file(s).")
    return LionBertTokenizer(
        vocab=vocab, do_lower_case=lowercase, strip_accents=strip_accents, model_max_length=model_max_length
    )


__all__ = ["LionBertTokenizer", "check_unicode", "train_wordpiece_tokenizer"]

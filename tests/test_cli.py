"""lion_bert.cli: the scripts' command lines through HfArgumentParser."""

from dataclasses import dataclass, field

import pytest
from transformers import HfArgumentParser

from lion_bert.cli import parse_known_flags


@dataclass
class Lengths:
    train_lengths: list[int] = field(default_factory=lambda: [128], metadata={"help": "lengths"})
    estimate_only: bool = field(default=False, metadata={"help": "a switch"})


@dataclass
class Output:
    output_dir: str = field(default="out", metadata={"help": "a folder"})


def test_both_flag_styles_and_several_dataclasses():
    parser = HfArgumentParser((Lengths, Output))
    dashed = parse_known_flags(parser, ["--train-lengths", "64", "256", "--estimate-only", "--output-dir", "x"])
    underscored = parse_known_flags(parser, ["--train_lengths", "64", "256", "--estimate_only", "--output_dir", "x"])
    assert dashed == underscored == (Lengths([64, 256], True), Output("x"))


def test_an_unknown_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_known_flags(HfArgumentParser(Lengths), ["--train-lengths", "64", "--lengths", "3"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --lengths 3" in capsys.readouterr().err

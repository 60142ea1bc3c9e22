"""The command lines of the project's scripts: dataclasses of arguments parsed by 🤗's HfArgumentParser, which takes
each flag with underscores or dashes (``--train_lengths``, ``--train-lengths``)."""

from __future__ import annotations

from transformers import HfArgumentParser


def parse_known_flags(parser: HfArgumentParser, argv: list[str] | None = None) -> tuple:
    """The parser's dataclasses filled from `argv` (None: sys.argv). A flag the parser does not know is a usage error
    (message and exit status 2, as argparse gives), where HfArgumentParser would raise a ValueError."""
    *parsed, unknown = parser.parse_args_into_dataclasses(argv, return_remaining_strings=True)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return tuple(parsed)


__all__ = ["parse_known_flags"]

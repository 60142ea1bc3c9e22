#!/usr/bin/env python3
"""Publish a LionBert run folder to the 🤗 Hub, or write and validate exactly what would be uploaded.

    python scripts/push_to_hub.py --run_dir RUN_DIR --repo_id user/name [--private] [--token TOKEN]
    python scripts/push_to_hub.py --run_dir RUN_DIR --repo_id user/name --dry_run [--dry_run_dir DIR]

The upload folder holds exactly: config.json (with auto_map), the safetensors weights, the code files auto_map
refers to (and their relative imports), the tokenizer files, generation_config.json, eval_results.json when the run
has one, and README.md (the run's card with the repo id filled in, or a card rendered from the folder). Pickles
(training_args.bin, pytorch_model.bin, optimizer states) and checkpoints are never included (lion_bert.hub).

Before anything is uploaded the folder is validated: each required file present, the config and generation config
load, every auto_map target exists, the weights load into the architecture the config names, the tokenizer loads,
the card's metadata parses (with library_name and a model-index when the run has results) and no pickle is present.
`--dry_run` writes the folder atomically (default RUN_DIR/hub_ready; its files are hard links to the run's where the
filesystem allows, so the weights are not copied), prints the file list and the checks, and exits 1 when a check
fails (the previous dry-run folder is left untouched then). Exit status 2: the run folder lacks something, or the
Hub cannot be reached.
"""

import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser

from lion_bert.hub import (
    HUB_FOLDER_NAME,
    UNREACHABLE,
    HubFolderError,
    hub_is_reachable,
    upload_hub_folder,
    write_hub_folder,
)


@dataclass
class PushArguments:
    """What to publish, where, and whether only to write the folder."""

    run_dir: str = field(metadata={
        "help": "Output folder of a run (run_mlm.py, run_glue.py, convert_bert_to_lion.py)."})
    repo_id: str = field(metadata={"help": "Hub repository, e.g. user/lion-s-minilm."})
    private: bool = field(default=False, metadata={"help": "Create the repository as private."})
    token: str | None = field(default=None, metadata={"help": "Hub token; None: HF_TOKEN or the saved login."})
    commit_message: str = field(default="Upload LionBert model", metadata={"help": "Message of the Hub commit."})
    dry_run: bool = field(default=False, metadata={"help": "Write and validate the upload folder, upload nothing."})
    dry_run_dir: str | None = field(default=None, metadata={
        "help": f"Where --dry_run writes the folder; None: RUN_DIR/{HUB_FOLDER_NAME}."})

    def __post_init__(self):
        if not re.match(r"^[\w.-]+/[\w.-]+$", self.repo_id):
            raise ValueError(f"--repo_id must look like user/name, got {self.repo_id!r}.")
        if self.dry_run_dir is not None and not self.dry_run:
            raise ValueError("--dry_run_dir needs --dry_run (an upload builds its folder in a temporary place).")


def parse_args(args=None) -> PushArguments:
    """PushArguments from a list of strings, one .json file, or sys.argv."""
    parser = HfArgumentParser(PushArguments)
    args = sys.argv[1:] if args is None else list(args)
    if len(args) == 1 and args[0].endswith(".json"):
        return parser.parse_json_file(args[0])[0]
    return parser.parse_args_into_dataclasses(args)[0]


def _print_report(title: str, names: list[str], folder: Path, checks: list[str], problems: list[str]):
    print(title)
    for name in names:
        path = folder / name
        size = path.stat().st_size if path.is_file() else 0
        print(f"  {name:<34} {size:>14,} bytes")
    for line in checks:
        print(f"  [ok]   {line}")
    for line in problems:
        print(f"  [FAIL] {line}")


def write_and_report(run_dir: Path, dest: Path, push_args: PushArguments, title: str) -> int:
    """Write and validate the Hub folder `dest` of `run_dir` and print what it holds and the checks. Returns the exit
    status: 0 valid, 1 a check failed (nothing written), 2 the run folder lacks something."""
    try:
        names, checks, problems = write_hub_folder(run_dir, dest, repo_id=push_args.repo_id)
    except HubFolderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if problems:
        _print_report(f"Validation of the upload folder for {push_args.repo_id} FAILED:", names, run_dir, checks,
                      problems)
        print(f"error: {run_dir} is not ready for the Hub ({len(problems)} problem(s) above); nothing was written.",
              file=sys.stderr)
        return 1
    _print_report(title, names, dest, checks, problems)
    return 0


def main(args=None) -> int:
    """Run the CLI; returns the exit status (0 done, 1 validation failed, 2 unusable run folder or no Hub)."""
    push_args = parse_args(args)
    run_dir = Path(push_args.run_dir)
    if push_args.dry_run:
        dest = Path(push_args.dry_run_dir) if push_args.dry_run_dir else (
            run_dir if run_dir.name == HUB_FOLDER_NAME else run_dir / HUB_FOLDER_NAME)
        return write_and_report(run_dir, dest, push_args,
                                f"Dry run: {dest} holds exactly what would be uploaded to {push_args.repo_id}:")
    if not hub_is_reachable():
        print(f"error: {UNREACHABLE}; nothing was uploaded. Check the connection and HF_HUB_OFFLINE, or use "
              "--dry_run to write the folder locally.", file=sys.stderr)
        return 2
    # built inside the run folder, on its filesystem: the weights are linked, not copied
    with tempfile.TemporaryDirectory(prefix=".hub-upload-", dir=run_dir if run_dir.is_dir() else None) as scratch:
        dest = Path(scratch) / HUB_FOLDER_NAME
        status = write_and_report(run_dir, dest, push_args, f"Upload folder for {push_args.repo_id}:")
        if status:
            return status
        url, commit = upload_hub_folder(dest, push_args.repo_id, private=push_args.private, token=push_args.token,
                                        commit_message=push_args.commit_message)
        count = len(list(dest.iterdir()))
    print(f"Uploaded {count} files to {url} ({getattr(commit, 'commit_url', commit)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

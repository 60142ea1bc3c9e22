#!/usr/bin/env python3
"""Publish a LionBert run folder to the 🤗 Hub, or write and validate exactly what would be uploaded.

    python scripts/push_to_hub.py RUN_DIR --repo-id user/name [--private] [--token TOKEN]
    python scripts/push_to_hub.py RUN_DIR --repo-id user/name --dry-run [--dry-run-dir DIR]

The upload folder holds exactly: config.json (with auto_map), the safetensors weights, the code files auto_map
refers to (and their relative imports), the tokenizer files, generation_config.json, eval_results.json when the run
has one, and README.md (the run's card with the repo id filled in, or a card rendered from the folder). Pickles
(training_args.bin, pytorch_model.bin, optimizer states) and checkpoints are never included.

Before anything is written or uploaded the folder is validated: each required file present, the config and
generation config load, every auto_map target exists, the weights load into the architecture the config names, the
tokenizer loads, the card's YAML parses (with library_name and a model-index when the run has results) and no
pickle is present. `--dry-run` writes the folder atomically (default RUN_DIR/hub_ready), prints the file list and
the checks, and exits 1 when a check fails (the previous dry-run folder is left untouched then).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse


SCRIPTS_DIR = Path(__file__).resolve().parent
if str(SCRIPTS_DIR) not in sys.path:
    sys.path.insert(0, str(SCRIPTS_DIR))
try:
    import lion_bert  # noqa: F401  (registers the Auto classes)
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(SCRIPTS_DIR.parent))
    import lion_bert  # noqa: F401

from model_card import (  # noqa: E402
    CARD_FILENAME,
    USAGE_REPO_LINE,
    USAGE_REPO_LINE_RE,
    atomic_directory,
    read_card_metadata,
    write_model_card,
)


WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json",
                   "added_tokens.json")
RESULT_FILES = ("eval_results.json",)
REQUIRED_FILES = ("config.json", "generation_config.json", "tokenizer_config.json", CARD_FILENAME)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
HUB_FOLDER_NAME = "hub_ready"


class HubFolderError(ValueError):
    """A run folder cannot become a Hub folder (missing or broken files); the message names the fix."""


# ------------------------------------------------------------------------------------------------------------------
# Network
# ------------------------------------------------------------------------------------------------------------------


def hub_is_reachable(timeout: float = 5.0) -> bool:
    """Whether the Hub endpoint accepts a TCP connection (False at once in offline mode)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def go_offline_unless_reachable(names=(), timeout: float = 5.0) -> bool:
    """If one of `names` is not a local path and the Hub cannot be reached, switch huggingface_hub, transformers
    and datasets to offline mode (cached files only, immediate errors instead of retries). Returns True when
    offline mode is on."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return True
    remote = [name for name in names if name and not os.path.exists(os.fspath(name))]
    if not remote or hub_is_reachable(timeout):
        return False
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True
    try:
        import datasets.config

        datasets.config.HF_HUB_OFFLINE = True
        datasets.config.HF_DATASETS_OFFLINE = True
    except ImportError:
        pass
    print(f"The Hub ({constants.ENDPOINT}) is unreachable: offline mode, only locally cached copies of "
          f"{', '.join(map(str, remote))} can be used.", file=sys.stderr)
    return True


# ------------------------------------------------------------------------------------------------------------------
# Assembling the folder
# ------------------------------------------------------------------------------------------------------------------


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HubFolderError(f"{path.parent} has no {path.name} ({what}).") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise HubFolderError(f"{path} is corrupted, not valid JSON ({error}); re-save the model.") from None
    if not isinstance(data, dict):
        raise HubFolderError(f"{path} is corrupted: expected a JSON object.")
    return data


def _auto_map_modules(auto_map: dict) -> dict[str, str]:
    """{Auto class: "module.Class"} for the local entries of an auto_map (AutoTokenizer holds a [slow, fast] pair;
    "repo--module.Class" entries point to another repository and are skipped)."""
    targets = {}
    for auto_class, value in (auto_map or {}).items():
        for reference in value if isinstance(value, (list, tuple)) else [value]:
            if reference and "--" not in reference:
                targets[auto_class] = reference
    return targets


_RELATIVE_IMPORT = re.compile(r"^\s*from\s+\.(\w*)\s+import\s+([\w, ()]+)", re.MULTILINE)


def _code_closure(folder: Path, modules: set[str]) -> list[str]:
    """The .py files of `modules` and of their relative imports, as found in `folder`."""
    seen, todo = set(), list(modules)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = folder / f"{module}.py"
        if not path.is_file():
            continue
        for package_module, names in _RELATIVE_IMPORT.findall(path.read_text(encoding="utf-8")):
            if package_module:
                todo.append(package_module)
            else:  # from . import a, b
                todo.extend(name.strip() for name in names.strip("()").split(",") if name.strip())
    return sorted(f"{module}.py" for module in seen)


def _weight_files(run_dir: Path) -> list[str]:
    if (run_dir / WEIGHTS_NAME).is_file():
        return [WEIGHTS_NAME]
    if (run_dir / WEIGHTS_INDEX_NAME).is_file():
        index = _read_json(run_dir / WEIGHTS_INDEX_NAME, "the index of the sharded weights")
        return [WEIGHTS_INDEX_NAME, *sorted(set(index.get("weight_map", {}).values()))]
    pickles = sorted(p.name for p in run_dir.iterdir() if p.suffix in PICKLE_SUFFIXES and "model" in p.name)
    hint = (f" It has {', '.join(pickles)} (pickle): load the model and re-save it with save_pretrained(), which "
            "writes safetensors.") if pickles else " Save the model there with save_pretrained()."
    raise HubFolderError(f"{run_dir} has no {WEIGHTS_NAME} (safetensors weights).{hint}")


def upload_file_names(run_dir: str | os.PathLike) -> list[str]:
    """The files of `run_dir` that go to the Hub (README.md aside, which is rendered or updated)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HubFolderError(f"{run_dir} is not a folder: pass the output folder of a run (with config.json).")
    config = _read_json(run_dir / "config.json", "the model config; is this a run's output folder?")
    names = ["config.json"]
    names += _weight_files(run_dir)
    if not (run_dir / "generation_config.json").is_file():
        raise HubFolderError(
            f"{run_dir} has no generation_config.json (LionBert's inference settings); re-save the model with "
            "lion_bert installed (save_pretrained writes it)."
        )
    names.append("generation_config.json")
    tokenizer_files = [name for name in TOKENIZER_FILES if (run_dir / name).is_file()]
    if "tokenizer_config.json" not in tokenizer_files or not {"tokenizer.json", "vocab.txt"} & set(tokenizer_files):
        raise HubFolderError(
            f"{run_dir} has no complete tokenizer (tokenizer_config.json and tokenizer.json or vocab.txt); save it "
            "there with tokenizer.save_pretrained(run_dir)."
        )
    names += tokenizer_files
    modules = {ref.split(".")[0] for ref in _auto_map_modules(config.get("auto_map")).values()}
    tokenizer_config = _read_json(run_dir / "tokenizer_config.json", "the tokenizer config")
    modules |= {ref.split(".")[0] for ref in _auto_map_modules(tokenizer_config.get("auto_map")).values()}
    names += _code_closure(run_dir, modules)
    names += [name for name in RESULT_FILES if (run_dir / name).is_file()]
    return sorted(set(names))


def _update_card(text: str, repo_id: str | None) -> str:
    """The run's card with the model-index named after the repo and the usage snippet loading the repo id."""
    if not repo_id:
        return text
    from huggingface_hub import ModelCard

    try:
        card = ModelCard(text)
    except Exception:  # noqa: BLE001 - kept as is; validate_hub_folder reports the broken metadata
        return text
    if card.data.eval_results:
        card.data.model_name = repo_id.split("/")[-1]
    card.text = USAGE_REPO_LINE_RE.sub(USAGE_REPO_LINE.format(repo=repo_id).replace("\\", "\\\\"), card.text)
    return str(card)


def prepare_hub_folder(run_dir, dest_dir, *, repo_id: str | None = None, card_kwargs: dict | None = None) -> list[str]:
    """Copy the upload files of `run_dir` into the (empty or new) folder `dest_dir` and put README.md there: the run's
    card updated for `repo_id`, or a card rendered from the folder with `card_kwargs` when the run has none.
    Returns the sorted file names. Raises HubFolderError when the run folder lacks something."""
    run_dir, dest_dir = Path(run_dir), Path(dest_dir)
    names = upload_file_names(run_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(run_dir / name, dest_dir / name)
        os.chmod(dest_dir / name, 0o644)
    card = run_dir / CARD_FILENAME
    if card.is_file():
        (dest_dir / CARD_FILENAME).write_text(_update_card(card.read_text(encoding="utf-8"), repo_id), "utf-8")
    else:
        write_model_card(dest_dir, repo_id=repo_id, **(card_kwargs or {}))
    return sorted(names + [CARD_FILENAME])


class _InvalidFolder(Exception):
    pass


def write_hub_folder(run_dir, dest_dir, *, repo_id=None, card_kwargs=None) -> tuple[list[str], list[str], list[str]]:
    """Assemble and validate the Hub folder of `run_dir` in a temporary folder next to `dest_dir`; when valid, move it
    to `dest_dir` in one step (replacing an older one). Returns (file names, checks passed, problems); with problems
    nothing is written and `dest_dir` is left as it was."""
    names, checks, problems = [], [], []
    try:
        with atomic_directory(dest_dir) as tmp:
            names = prepare_hub_folder(run_dir, tmp, repo_id=repo_id, card_kwargs=card_kwargs)
            checks, problems = validate_hub_folder(tmp)
            if problems:
                raise _InvalidFolder
    except _InvalidFolder:
        pass
    return names, checks, problems


# ------------------------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------------------------


def _classes_defined(path: Path) -> set[str]:
    return {node.name for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(node, ast.ClassDef)}


def validate_hub_folder(folder) -> tuple[list[str], list[str]]:
    """Check that `folder` is a complete, loadable LionBert Hub repository. Returns (checks passed, problems)."""
    folder = Path(folder)
    checks, problems = [], []

    def check(ok: bool, passed: str, failed: str):
        (checks if ok else problems).append(passed if ok else failed)
        return ok

    names = sorted(p.name for p in folder.iterdir())
    missing = [name for name in REQUIRED_FILES if name not in names]
    has_weights = WEIGHTS_NAME in names or WEIGHTS_INDEX_NAME in names
    has_vocab = "tokenizer.json" in names or "vocab.txt" in names
    check(not missing and has_weights and has_vocab, "required files present (config, safetensors weights, "
          "generation config, tokenizer, README.md)",
          f"missing files: {', '.join(missing + ([] if has_weights else [WEIGHTS_NAME]) + ([] if has_vocab else ['tokenizer.json or vocab.txt']))}")
    pickles = [name for name in names if name.endswith(PICKLE_SUFFIXES)]
    check(not pickles, "no pickle files", f"pickle files must not be uploaded: {', '.join(pickles)}")
    dirs = [name for name in names if (folder / name).is_dir()]
    check(not dirs, "no sub-folders (checkpoints, caches)", f"unexpected sub-folders: {', '.join(dirs)}")

    # config + auto_map
    config = None
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        problems.append(f"config.json does not parse: {error}")
    if isinstance(config, dict):
        check(config.get("model_type") == "lion_bert", "config.json: model_type lion_bert",
              f"config.json: model_type is {config.get('model_type')!r}, expected 'lion_bert' (convert BERT "
              "checkpoints with scripts/convert_bert_to_lion.py)")
        targets = _auto_map_modules(config.get("auto_map"))
        if (folder / "tokenizer_config.json").is_file():
            try:
                tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
                targets.update({f"tokenizer {k}": v for k, v in _auto_map_modules(tokenizer_config.get("auto_map")).items()})
            except json.JSONDecodeError as error:
                problems.append(f"tokenizer_config.json does not parse: {error}")
        if check("AutoConfig" in targets and "AutoModel" in targets, "config.json has an auto_map",
                 "config.json has no auto_map (AutoConfig/AutoModel): save the model with lion_bert imported so "
                 "that save_pretrained writes auto_map and copies the code files"):
            bad = []
            for auto_class, reference in sorted(targets.items()):
                module, _, class_name = reference.partition(".")
                path = folder / f"{module}.py"
                if not path.is_file():
                    bad.append(f"{auto_class} -> {reference}: {path.name} is missing")
                elif class_name not in _classes_defined(path):
                    bad.append(f"{auto_class} -> {reference}: {path.name} defines no class {class_name}")
            for code in _code_closure(folder, {ref.split(".")[0] for ref in targets.values()}):
                if not (folder / code).is_file():
                    bad.append(f"{code} (imported by the code files) is missing")
            check(not bad, f"auto_map targets exist ({len(targets)} classes)", "; ".join(bad))
        try:
            from lion_bert import LionBertConfig, LionGenerationConfig

            loaded = LionBertConfig.from_pretrained(folder)
            checks.append(f"config loads ({loaded.attention_type}, {loaded.num_hidden_layers} layers)")
            generation = LionGenerationConfig.from_pretrained(folder)
            checks.append(f"generation config loads (inference form: {generation.attention_mode})")
        except Exception as error:  # noqa: BLE001 - report any loading failure
            problems.append(f"config does not load: {type(error).__name__}: {error}")
            loaded = None
        if loaded is not None and has_weights and not pickles:
            problems_before = len(problems)
            try:
                import lion_bert.modeling_lion_bert as modeling

                architecture = (config.get("architectures") or ["LionBertModel"])[0]
                model_class = getattr(modeling, architecture, None)
                if model_class is None:
                    problems.append(f"config.json names an unknown architecture {architecture!r}")
                else:
                    _, info = model_class.from_pretrained(folder, output_loading_info=True)
                    if info["missing_keys"] or info["unexpected_keys"] or info["mismatched_keys"]:
                        problems.append(
                            f"weights do not match {architecture}: missing {sorted(info['missing_keys'])[:5]}, "
                            f"unexpected {sorted(info['unexpected_keys'])[:5]}, mismatched "
                            f"{[k[0] if isinstance(k, tuple) else k for k in info['mismatched_keys']][:5]}"
                        )
            except Exception as error:  # noqa: BLE001
                problems.append(f"weights do not load: {type(error).__name__}: {error}")
            if len(problems) == problems_before:
                checks.append(f"weights load into {architecture} (no missing or unexpected keys)")
    # tokenizer
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
        vocab_ok = not isinstance(config, dict) or len(tokenizer) <= config.get("vocab_size", len(tokenizer))
        check(vocab_ok, f"tokenizer loads ({type(tokenizer).__name__}, {len(tokenizer)} tokens)",
              f"tokenizer has {len(tokenizer)} tokens but the model's vocab_size is {config.get('vocab_size')}")
    except Exception as error:  # noqa: BLE001
        problems.append(f"tokenizer does not load: {type(error).__name__}: {error}")
    # card
    if (folder / CARD_FILENAME).is_file():
        try:
            metadata = read_card_metadata(folder / CARD_FILENAME)
            from huggingface_hub import ModelCardData

            card_data = ModelCardData(**metadata)
            check(metadata.get("library_name") == "transformers", "card: library_name transformers",
                  "card: library_name must be 'transformers'")
            check("lion-bert" in (metadata.get("tags") or []), "card: tagged lion-bert", "card: tag lion-bert missing")
            has_results = (folder / "eval_results.json").is_file()
            if has_results or card_data.eval_results:
                check(bool(card_data.eval_results), f"card: model-index with {len(card_data.eval_results or [])} "
                      "metrics", "card: the run has eval_results.json but the card has no model-index results")
            checks.append("card YAML parses")
        except Exception as error:  # noqa: BLE001
            problems.append(f"card (README.md) metadata is invalid: {error}")
    return checks, problems


UNREACHABLE = "the Hub is unreachable (offline mode or no network)"


def upload_hub_folder(folder, repo_id: str, *, private: bool = False, token: str | None = None,
                      commit_message: str = "Upload LionBert model"):
    """Create the model repository (if needed) and upload `folder` (a validated Hub folder) as one commit.
    `repo_id` may omit the namespace (the token's user). Returns (repo url, commit info)."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    repo_id = getattr(url, "repo_id", None) or repo_id
    commit = api.upload_folder(repo_id=repo_id, folder_path=folder, repo_type="model", commit_message=commit_message)
    return url, commit


# ------------------------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="output folder of a run (run_mlm.py, run_glue.py, convert_bert_to_lion.py)")
    parser.add_argument("--repo-id", "--repo_id", required=True, help="Hub repository, e.g. user/lion-s-minilm")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or the saved login)")
    parser.add_argument("--commit-message", "--commit_message", default="Upload LionBert model")
    parser.add_argument("--dry-run", "--dry_run", action="store_true",
                        help="write and validate the upload folder, upload nothing")
    parser.add_argument("--dry-run-dir", "--dry_run_dir", default=None,
                        help=f"where --dry-run writes the folder (default: RUN_DIR/{HUB_FOLDER_NAME})")
    args = parser.parse_args(argv)
    if args.dry_run_dir and not args.dry_run:
        parser.error("--dry-run-dir needs --dry-run")
    if not re.match(r"^[\w.-]+/[\w.-]+$", args.repo_id):
        parser.error(f"--repo-id must look like user/name, got {args.repo_id!r}")
    return args


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


def main(argv=None) -> int:
    args = parse_args(argv)
    run_dir = Path(args.run_dir)
    try:
        if args.dry_run:
            dest = Path(args.dry_run_dir) if args.dry_run_dir else (
                run_dir if run_dir.name == HUB_FOLDER_NAME else run_dir / HUB_FOLDER_NAME)
            names, checks, problems = write_hub_folder(run_dir, dest, repo_id=args.repo_id)
            if problems:
                _print_report(f"Validation of the upload folder for {args.repo_id} FAILED:", names, run_dir,
                              checks, problems)
                print(f"error: {run_dir} is not ready for the Hub ({len(problems)} problem(s) above); nothing was "
                      "written.", file=sys.stderr)
                return 1
            _print_report(f"Dry run: {dest} holds exactly what would be uploaded to {args.repo_id}:", names, dest,
                          checks, problems)
            return 0

        with tempfile.TemporaryDirectory(prefix="lion-bert-upload-") as scratch:
            folder = Path(scratch)
            names = prepare_hub_folder(run_dir, folder, repo_id=args.repo_id)
            checks, problems = validate_hub_folder(folder)
            _print_report(f"Upload folder for {args.repo_id}:", names, folder, checks, problems)
            if problems:
                print(f"error: {run_dir} is not ready for the Hub; nothing was uploaded.", file=sys.stderr)
                return 1
            if not hub_is_reachable():
                print(f"error: {UNREACHABLE}; nothing was uploaded. Check the connection and HF_HUB_OFFLINE, or use "
                      "--dry-run to write the folder locally.", file=sys.stderr)
                return 2
            url, commit = upload_hub_folder(folder, args.repo_id, private=args.private, token=args.token,
                                            commit_message=args.commit_message)
            print(f"Uploaded {len(names)} files to {url} ({getattr(commit, 'commit_url', commit)})")
            return 0
    except HubFolderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

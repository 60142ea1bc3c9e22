"""Hub-ready folders of LionBert runs: what goes to the 🤗 Hub, how the folder is built and checked, the upload.

A Hub folder holds exactly: config.json (with auto_map), the safetensors weights, the code files auto_map names and
what they import relatively (found as trust_remote_code finds them, by
`transformers.dynamic_module_utils.get_relative_import_files`), the tokenizer files, generation_config.json,
eval_results.json when the run has one, and README.md (the run's card with the repository filled in, or a card
rendered from the folder). Pickles (training_args.bin, pytorch_model.bin, optimizer states) and checkpoints never go:
the upload is `HfApi.upload_folder` with exactly those files as `allow_patterns` and pickles as `ignore_patterns`.

The weights are hard-linked from the run folder where the filesystem allows it (copied elsewhere), so a Hub folder
next to its run costs no second copy of them; the small files are copied, so editing the run's config or tokenizer
leaves a built Hub folder as it was. A hard link shares the file: saving a model into the run folder again changes
the Hub folder's weights too, so build the Hub folder again after retraining (run_mlm.py does).

    names, checks, problems = write_hub_folder("runs/mlm", "runs/mlm/hub_ready", repo_id="me/lion-s")
    if not problems:
        upload_hub_folder("runs/mlm/hub_ready", "me/lion-s")

This module is not part of the code shipped with a model (the modeling file does not import it).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from transformers.dynamic_module_utils import get_relative_import_files
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME

from .model_card import CARD_FILENAME, atomic_directory, card_for_repo, write_model_card
from .modeling_lion_bert import PICKLED_WEIGHT_SUFFIXES


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json",
                   "added_tokens.json")
RESULT_FILES = ("eval_results.json",)
REQUIRED_FILES = ("config.json", "generation_config.json", "tokenizer_config.json", CARD_FILENAME)
# the pickled weights from_pretrained refuses, and the other pickles a run may leave (never uploaded)
PICKLE_SUFFIXES = (*PICKLED_WEIGHT_SUFFIXES, ".pickle", ".joblib")
HUB_FOLDER_NAME = "hub_ready"
UNREACHABLE = "the Hub is unreachable (offline mode or no network)"


class HubFolderError(ValueError):
    """A run folder cannot become a Hub folder (missing or broken files); the message names the fix."""


def hub_is_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hub endpoint (huggingface_hub's `ENDPOINT`) accepts a TCP connection within `timeout` seconds;
    False at once in offline mode (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE or HF_DATASETS_OFFLINE).

    The probe runs in a daemon thread, so a resolver that hangs cannot block the caller past the timeout.
    """
    from huggingface_hub import constants, is_offline_mode

    if is_offline_mode() or os.environ.get("HF_DATASETS_OFFLINE", "").upper() in constants.ENV_VARS_TRUE_VALUES:
        return False
    endpoint = urlparse(constants.ENDPOINT)
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    answer = []

    def probe():
        try:
            socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
            answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(answer and answer[0])


# ------------------------------------------------------------------------------------------------------------------
# Which files
# ------------------------------------------------------------------------------------------------------------------


def _read_json(path: Path, what: str, expected: type = dict):
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HubFolderError(f"{path.parent} has no {path.name} ({what}).") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise HubFolderError(f"{path} is corrupted, not valid JSON ({error}); re-save the model.") from None
    if not isinstance(data, expected):
        raise HubFolderError(f"{path} is corrupted: expected a JSON {'object' if expected is dict else 'list'}.")
    return data


def _auto_map_targets(auto_map: dict) -> dict[str, str]:
    """{Auto class: "module.Class"} for the local entries of an auto_map (AutoTokenizer holds a [slow, fast] pair;
    "repo--module.Class" entries point to another repository and are skipped)."""
    targets = {}
    for auto_class, value in (auto_map or {}).items():
        for reference in value if isinstance(value, (list, tuple)) else [value]:
            if reference and "--" not in reference:
                targets[auto_class] = reference
    return targets


def code_files(folder: str | os.PathLike, modules) -> list[str]:
    """The .py files of `modules` (module names in `folder`) and of everything they import relatively, as
    trust_remote_code collects them. Raises HubFolderError naming a file that is missing."""
    folder, names = Path(folder), set()
    for module in sorted(modules):
        path = folder / f"{module}.py"
        if not path.is_file():
            raise HubFolderError(f"{folder} has no {path.name}, which auto_map names: save the model with lion_bert "
                                 "imported so that save_pretrained copies the code files.")
        try:
            names |= {Path(file).name for file in [path, *get_relative_import_files(path)]}
        except FileNotFoundError as error:
            raise HubFolderError(f"{folder} has no {Path(error.filename).name}, which {path.name} imports (directly "
                                 "or through another code file); save the model again.") from None
    return sorted(names)


def _weight_files(run_dir: Path) -> list[str]:
    if (run_dir / SAFE_WEIGHTS_NAME).is_file():
        return [SAFE_WEIGHTS_NAME]
    if (run_dir / SAFE_WEIGHTS_INDEX_NAME).is_file():
        index = _read_json(run_dir / SAFE_WEIGHTS_INDEX_NAME, "the index of the sharded weights")
        return [SAFE_WEIGHTS_INDEX_NAME, *sorted(set(index.get("weight_map", {}).values()))]
    pickles = sorted(p.name for p in run_dir.iterdir() if p.suffix in PICKLE_SUFFIXES and "model" in p.name)
    hint = (f" It has {', '.join(pickles)} (pickle): load the model and re-save it with save_pretrained(), which "
            "writes safetensors.") if pickles else " Save the model there with save_pretrained()."
    raise HubFolderError(f"{run_dir} has no {SAFE_WEIGHTS_NAME} (safetensors weights).{hint}")


def sentence_transformers_module_folders(modules: list[dict]) -> list[str]:
    """The sub-folders of the modules after the encoder (pooling, normalisation), given the ``modules.json``
    entries; the encoder's path is the folder itself."""
    return [module["path"] for module in modules if module.get("path")]


def sentence_transformers_file_names(modules: list[dict]) -> list[str]:
    """The files that make a folder a sentence-transformers model, given its ``modules.json`` entries: the module list,
    the model's settings and the configuration of every module after the encoder. A module without settings
    (Normalize) may have no file."""
    names = ["modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"]
    return names + [f"{path}/config.json" for path in sentence_transformers_module_folders(modules)]


def upload_file_names(run_dir: str | os.PathLike) -> list[str]:
    """The files of `run_dir` that go to the Hub, sorted (README.md aside, which is rendered or updated). Raises
    HubFolderError when the folder lacks something."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HubFolderError(f"{run_dir} is not a folder: pass the output folder of a run (with config.json).")
    config = _read_json(run_dir / "config.json", "the model config; is this a run's output folder?")
    names = ["config.json", *_weight_files(run_dir)]
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
    tokenizer_config = _read_json(run_dir / "tokenizer_config.json", "the tokenizer config")
    references = [*_auto_map_targets(config.get("auto_map")).values(),
                  *_auto_map_targets(tokenizer_config.get("auto_map")).values()]
    names += code_files(run_dir, {reference.split(".")[0] for reference in references})
    names += [name for name in RESULT_FILES if (run_dir / name).is_file()]
    if (run_dir / "modules.json").is_file():
        modules = _read_json(run_dir / "modules.json", "the sentence-transformers modules", expected=list)
        names += [name for name in sentence_transformers_file_names(modules) if (run_dir / name).is_file()]
    return sorted(set(names))


# ------------------------------------------------------------------------------------------------------------------
# Building the folder
# ------------------------------------------------------------------------------------------------------------------


def _link_or_copy(src: Path, dst: Path):
    """A hard link (no second copy of the data) where the filesystem allows one, else a copy."""
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or one without hard links
        shutil.copyfile(src, dst)


def prepare_hub_folder(run_dir, dest_dir, *, repo_id: str | None = None, card_kwargs: dict | None = None) -> list[str]:
    """Put the upload files of `run_dir` into the (empty or new) folder `dest_dir`, the weights hard-linked where
    possible and the rest copied, and README.md beside them: the run's card updated for `repo_id`, or a card rendered from the folder with
    `card_kwargs` (see `write_model_card`) when the run has none. Returns the sorted file names. Raises
    HubFolderError when the run folder lacks something."""
    run_dir, dest_dir = Path(run_dir), Path(dest_dir)
    names = upload_file_names(run_dir)
    weights = set(_weight_files(run_dir))
    dest_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        (dest_dir / name).parent.mkdir(parents=True, exist_ok=True)  # a sentence-transformers module's folder
        (_link_or_copy if name in weights else shutil.copyfile)(run_dir / name, dest_dir / name)
    card = run_dir / CARD_FILENAME
    if card.is_file():
        (dest_dir / CARD_FILENAME).write_text(card_for_repo(card.read_text(encoding="utf-8"), repo_id), "utf-8")
    else:
        write_model_card(dest_dir, repo_id=repo_id, **(card_kwargs or {}))
    return sorted([*names, CARD_FILENAME])


class _InvalidFolder(Exception):
    pass


def write_hub_folder(run_dir, dest_dir, *, repo_id=None, card_kwargs=None) -> tuple[list[str], list[str], list[str]]:
    """Assemble and validate the Hub folder of `run_dir` in a temporary folder next to `dest_dir`; when valid, move it
    to `dest_dir` in one step (replacing an older one). Returns (file names, checks passed, problems); with problems
    nothing is written and `dest_dir` is left as it was. Raises HubFolderError when the run folder lacks something."""
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
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}


def _check_code(folder: Path, config: dict) -> tuple[list[str], list[str]]:
    """auto_map (model and tokenizer) -> the code files and classes it names, and their relative imports."""
    targets = _auto_map_targets(config.get("auto_map"))
    problems = []
    if (folder / "tokenizer_config.json").is_file():
        try:
            tokenizer_map = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8")).get("auto_map")
            targets.update({f"tokenizer {k}": v for k, v in _auto_map_targets(tokenizer_map).items()})
        except json.JSONDecodeError as error:
            problems.append(f"tokenizer_config.json does not parse: {error}")
    if "AutoConfig" not in targets or "AutoModel" not in targets:
        problems.append("config.json has no auto_map (AutoConfig/AutoModel): save the model with lion_bert imported "
                        "so that save_pretrained writes auto_map and copies the code files")
        return [], problems
    bad, present = [], set()
    for auto_class, reference in sorted(targets.items()):
        module, _, class_name = reference.partition(".")
        path = folder / f"{module}.py"
        if not path.is_file():
            bad.append(f"{auto_class} -> {reference}: {path.name} is missing")
            continue
        present.add(module)
        if class_name not in _classes_defined(path):
            bad.append(f"{auto_class} -> {reference}: {path.name} defines no class {class_name}")
    try:
        code_files(folder, present)
    except HubFolderError as error:
        bad.append(str(error))
    if bad:
        return ["config.json has an auto_map"], [*problems, "; ".join(bad)]
    return ["config.json has an auto_map", f"auto_map targets exist ({len(targets)} classes)"], problems


def _check_weights(folder: Path, config: dict) -> tuple[list[str], list[str]]:
    import lion_bert.modeling_lion_bert as modeling

    architecture = (config.get("architectures") or ["LionBertModel"])[0]
    model_class = getattr(modeling, architecture, None)
    if model_class is None:
        return [], [f"config.json names an unknown architecture {architecture!r}"]
    try:
        _, info = model_class.from_pretrained(folder, output_loading_info=True)
    except Exception as error:  # noqa: BLE001 - any loading failure is the report
        return [], [f"weights do not load: {type(error).__name__}: {error}"]
    if info["missing_keys"] or info["unexpected_keys"] or info["mismatched_keys"]:
        return [], [f"weights do not match {architecture}: missing {sorted(info['missing_keys'])[:5]}, unexpected "
                    f"{sorted(info['unexpected_keys'])[:5]}, mismatched "
                    f"{[k[0] if isinstance(k, tuple) else k for k in info['mismatched_keys']][:5]}"]
    return [f"weights load into {architecture} (no missing or unexpected keys)"], []


def _check_card(folder: Path) -> tuple[list[str], list[str]]:
    from huggingface_hub import ModelCard

    try:
        data = ModelCard.load(folder / CARD_FILENAME).data
    except Exception as error:  # noqa: BLE001 - YAML and model-index errors alike
        return [], [f"card (README.md) metadata is invalid: {type(error).__name__}: {error}"]
    checks, problems = ["card YAML parses"], []
    for ok, passed, failed in (
        (data.library_name == "transformers", "card: library_name transformers",
         "card: library_name must be 'transformers'"),
        ("lion-bert" in (data.tags or []), "card: tagged lion-bert", "card: tag lion-bert missing"),
    ):
        (checks if ok else problems).append(passed if ok else failed)
    if (folder / "eval_results.json").is_file() and not data.eval_results:
        problems.append("card: the run has eval_results.json but the card has no model-index results")
    elif data.eval_results:
        checks.append(f"card: model-index with {len(data.eval_results)} metrics")
    return checks, problems


def validate_hub_folder(folder) -> tuple[list[str], list[str]]:
    """Check that `folder` is a complete, loadable LionBert Hub repository: the required files and no pickle or
    sub-folder, config and generation config load, every auto_map target and its imports exist, the weights load
    into the architecture the config names, the tokenizer loads, and the card's metadata parses (library_name,
    tag, a model-index when the run has results). Returns (checks passed, problems)."""
    from transformers import AutoTokenizer

    from lion_bert import LionBertConfig, LionGenerationConfig

    folder = Path(folder)
    checks, problems = [], []

    def check(ok: bool, passed: str, failed: str):
        (checks if ok else problems).append(passed if ok else failed)

    names = sorted(p.name for p in folder.iterdir())
    missing = [name for name in REQUIRED_FILES if name not in names]
    has_weights = SAFE_WEIGHTS_NAME in names or SAFE_WEIGHTS_INDEX_NAME in names
    if not has_weights:
        missing.append(SAFE_WEIGHTS_NAME)
    if "tokenizer.json" not in names and "vocab.txt" not in names:
        missing.append("tokenizer.json or vocab.txt")
    check(not missing, "required files present (config, safetensors weights, generation config, tokenizer, "
          "README.md)", f"missing files: {', '.join(missing)}")
    pickles = [name for name in names if name.endswith(PICKLE_SUFFIXES)]
    check(not pickles, "no pickle files", f"pickle files must not be uploaded: {', '.join(pickles)}")
    modules = json.loads((folder / "modules.json").read_text()) if "modules.json" in names else []
    module_dirs = sentence_transformers_module_folders(modules)
    dirs = [name for name in names if (folder / name).is_dir() and name not in module_dirs]
    check(not dirs, "no sub-folders (checkpoints, caches) but sentence-transformers modules",
          f"unexpected sub-folders: {', '.join(dirs)}")

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        config = None
        problems.append(f"config.json does not parse: {error}")
    if isinstance(config, dict):
        check(config.get("model_type") == "lion_bert", "config.json: model_type lion_bert",
              f"config.json: model_type is {config.get('model_type')!r}, expected 'lion_bert' (convert BERT "
              "checkpoints with scripts/convert_bert_to_lion.py)")
        found, failed = _check_code(folder, config)
        checks += found
        problems += failed
        try:
            loaded = LionBertConfig.from_pretrained(folder)
            checks.append(f"config loads ({loaded.attention_type}, {loaded.num_hidden_layers} layers)")
            generation = LionGenerationConfig.from_pretrained(folder)
            checks.append(f"generation config loads (inference form: {generation.attention_mode})")
        except Exception as error:  # noqa: BLE001 - report any loading failure
            problems.append(f"config does not load: {type(error).__name__}: {error}")
            loaded = None
        if loaded is not None and has_weights and not pickles:
            found, failed = _check_weights(folder, config)
            checks += found
            problems += failed
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        vocab_size = config.get("vocab_size", len(tokenizer)) if isinstance(config, dict) else len(tokenizer)
        check(len(tokenizer) <= vocab_size, f"tokenizer loads ({type(tokenizer).__name__}, {len(tokenizer)} tokens)",
              f"tokenizer has {len(tokenizer)} tokens but the model's vocab_size is {vocab_size}")
    except Exception as error:  # noqa: BLE001
        problems.append(f"tokenizer does not load: {type(error).__name__}: {error}")
    if (folder / CARD_FILENAME).is_file():
        found, failed = _check_card(folder)
        checks += found
        problems += failed
    return checks, problems


# ------------------------------------------------------------------------------------------------------------------
# Upload
# ------------------------------------------------------------------------------------------------------------------


def upload_hub_folder(folder, repo_id: str, *, private: bool = False, token: str | None = None,
                      commit_message: str = "Upload LionBert model"):
    """Create the model repository (if needed) and upload the validated Hub folder `folder` as one commit: only the
    files `upload_file_names` names and README.md (`allow_patterns`), never a pickle (`ignore_patterns`), whatever
    else the folder holds. `repo_id` may omit the namespace (the token's user). Returns (repo url, commit info)."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    repo_id = getattr(url, "repo_id", None) or repo_id
    commit = api.upload_folder(
        repo_id=repo_id, folder_path=folder, repo_type="model", commit_message=commit_message,
        allow_patterns=[*upload_file_names(folder), CARD_FILENAME],
        ignore_patterns=[f"*{suffix}" for suffix in PICKLE_SUFFIXES],
    )
    return url, commit


__all__ = [
    "HUB_FOLDER_NAME",
    "HubFolderError",
    "UNREACHABLE",
    "code_files",
    "hub_is_reachable",
    "prepare_hub_folder",
    "upload_file_names",
    "upload_hub_folder",
    "validate_hub_folder",
    "write_hub_folder",
]

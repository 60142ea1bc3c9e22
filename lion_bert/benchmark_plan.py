"""The plan of the model-level benchmark (scripts/benchmark.py): its cases, the analytic FLOPs and parameters of the
encoders it compares, and the estimates of each case's time and memory from which `BenchmarkPlan` decides the
probes, skips and micro-batches of a run and the duration printed before it measures anything.

A case (`Case`) is (model, mode, feature map, compiled): (``BERT``, ``"sdpa"``) for transformers' BertModel, or
(LION variant, attention form); its feature map is ``FIXED`` (the variant's own) or ``"hedgehog"`` (learned, twice the
features per query and key), and a compiled case runs the same model through ``torch.compile`` (inductor) after a
warm-up at the timed shapes that compiles it. Hedgehog and compiled cases are measured in the forms of
``EXTRA_ROW_FORMS`` only (the parallel form in training, the chunk form at inference; BERT's SDPA for compiled), so
that they add a fraction of a run: they are not probed (a compiled case is estimated from its eager twin's probe
plus ``COMPILE_SECONDS``), and the targets read the fixed, eager rows unless a target says otherwise.
``dims`` is {"layers", "hidden", "heads", "intermediate"}, as `lion_bert.benchmarking.BERT_BASE_DIMS`. Units:
seconds, FLOPs (a multiply-add is 2), MiB (2^20 bytes) of float32 data; L is the sequence length in tokens.

A probe is what the script measured of one case with a 1-layer model before the run (a dict: "status", "length",
"tokens", "params", "build_seconds", and "seconds" for a forward or "forward_backward_seconds" and
"optimizer_seconds" for a training step, "peak_rss_growth_mib"); the estimates scale it to the full model and L.
Every estimate is a lower bound (the FLOPs at the matmul rate, the L x L tensors of the parallel form) raised to such
a measurement, so that a case is skipped for what it would really cost on this machine, not for a formula alone.
"""

from __future__ import annotations

from typing import NamedTuple

from .benchmarking import BERT, BERT_BASE_DIMS, FIXED, MIB, VOCAB_SIZE, number
from .benchmarking import LABELS as VARIANT_LABELS
from .configuration_lion_bert import ATTENTION_VARIANTS


SDPA = "sdpa"  # the baseline's attention, and its mode in a case
LABELS = {BERT: "BERT", **VARIANT_LABELS}
TRAIN_WARMUP_DIVISOR = 8  # the training warm-up step runs on batch // 8 sequences (at least one)
INFERENCE_WARMUP_TOKENS = 512  # the inference warm-up forward runs on min(L, 512) tokens
PROBE_TOKENS = 1024  # tokens of a training probe step
PROBE_MAX_LENGTH = 512  # the inference probe runs at min(shortest length, this)
CHILD_START_SECONDS = 0.5  # a child's start and the re-import of the script, for the duration estimate
DEFAULT_CHUNK_SIZE = 64  # LionBertConfig's default: the FLOP counts' chunk size until a probe says the model's
HEDGEHOG = "hedgehog"
# the LION forms of the hedgehog and compiled cases of each phase (those among --train-modes / --modes)
EXTRA_ROW_FORMS = {"training": ("parallel",), "inference": ("chunk",)}
# estimated seconds to compile a model (its first call at the timed shapes, beyond the call): (base, per layer),
# from 1- and 4-layer runs on a busy 2-core CPU with inductor's on-disk caches warm (cold: about twice)
COMPILE_SECONDS = {"training": (12.0, 4.0), "inference": (8.0, 3.0)}


class Case(NamedTuple):
    """One measured configuration (see the module docstring)."""
    model: str  # BERT or a LION variant
    mode: str  # SDPA for BERT, else the LION form
    feature_map: str = FIXED  # FIXED or HEDGEHOG
    compiled: bool = False  # run through torch.compile, else eager

    @property
    def eager(self) -> Case:
        """The eager twin of a compiled case (itself for an eager one): whose probe estimates it."""
        return self._replace(compiled=False)

    @property
    def build(self) -> tuple[str, str]:
        """(model, feature map): the model a child builds; a case's forms and its compiled twin share it."""
        return self.model, self.feature_map

    def forward_kwargs(self, chunk_size: int | None) -> dict:
        """The arguments of the model's ``forward`` that force this case's form (none for BERT)."""
        return {} if self.model == BERT else {"attention_mode": self.mode, "chunk_size": chunk_size}

    def resolved_chunk_size(self, built, length: int, chunk_size: int | None) -> int | None:
        """The chunk (or recurrent block) size the model ``built`` runs for this case at L (its own choice when
        ``chunk_size`` is None); None for the forms without chunks."""
        if self.mode not in ("chunk", "recurrent"):
            return None
        return built.resolve_attention_form(length, self.mode, chunk_size).chunk_size


def case_key(model: str, mode: str, feature_map: str = FIXED, compiled: bool = False) -> str:
    """'lion_s/chunk', 'lion_s/chunk/hedgehog/compiled': the key of a case (`Case` fields) in the probes, the
    children's results and the micro-batch plan."""
    return "/".join([model, mode] + [feature_map] * (feature_map != FIXED) + ["compiled"] * compiled)


def case_label(model: str, mode: str, feature_map: str = FIXED, compiled: bool = False) -> str:
    """'BERT (SDPA)', 'LION-S chunk', 'LION-S hedgehog chunk compiled': the name of a case in the report."""
    label = f"{LABELS[model]} ({mode.upper()})" if model == BERT else " ".join(
        [LABELS[model]] + [feature_map] * (feature_map != FIXED) + [mode])
    return label + " compiled" * compiled


def cases_of(variants, modes, feature_maps=(FIXED,), extra_modes=(), compiled=False) -> list[Case]:
    """BERT first, then per LION variant its forms ``modes`` with the fixed feature map (if FIXED is among
    ``feature_maps``), then with each learned map of ``feature_maps`` its forms of ``modes`` that are also in
    ``extra_modes``; with ``compiled``, BERT and each case in ``extra_modes`` are followed by their compiled twin.
    BERT's rows come first at each L and an eager case before its compiled twin, so that every record can be
    compared with BERT's and its eager twin's when it is made."""
    eager = [Case(BERT, SDPA)]
    for variant in variants:
        eager += [Case(variant, mode) for mode in modes if FIXED in feature_maps]
        eager += [Case(variant, mode, feature_map) for feature_map in feature_maps if feature_map != FIXED
                  for mode in modes if mode in extra_modes]
    twins = (SDPA, *extra_modes) if compiled else ()
    return [twin for case in eager for twin in [case, case._replace(compiled=True)][: 1 + (case.mode in twins)]]


def forward_flops(mode, batch, length, dims, chunk_size, feature_map=FIXED):
    """Analytic FLOPs of one forward pass of the encoder (a multiply-add is 2 FLOPs; embedding lookups, LayerNorms,
    activations, softmax, fixed feature maps, decays and the LION-S gate are not counted). Per layer and sequence,
    with h = hidden, i = intermediate, d = head dim, C = min(chunk size, L), f = 1 with a fixed feature map (d
    features per query and key), 2 with hedgehog (2 x feature_map_size = 2 d features):

        dense:     2 L (4 h^2 + 2 h i)           Q, K, V and output projections, the two feed-forward matmuls
        sdpa:      4 L^2 h                        BERT: Q K^T and A V
        parallel:  2 L^2 h (f + 1)                LION: (Q K^T * M) over f d features, and A V
        chunk:     2 L C h (f + 1) + 8 L h d f    the parallel form inside the chunks + state updates and reads
        recurrent: as chunk                       the same products, one block of C tokens at a time
        hedgehog:  + 4 L h d                      its maps of the queries and keys (d x d per head)

    times layers * batch. A training step (forward + backward) counts 3x the forward; AdamW is not counted."""
    hidden, intermediate = dims["hidden"], dims["intermediate"]
    head_dim, features = hidden // dims["heads"], 1 if feature_map == FIXED else 2
    dense = 2 * length * (4 * hidden**2 + 2 * hidden * intermediate)
    if mode in (SDPA, "parallel"):
        attention = 2 * length**2 * hidden * (features + 1)
    else:  # chunk, recurrent
        attention = (2 * length * min(chunk_size, length) * hidden * (features + 1)
                     + 8 * length * hidden * head_dim * features)
    attention += 4 * length * hidden * head_dim * (feature_map != FIXED)
    return dims["layers"] * batch * (dense + attention)


def parameter_count(model: str, dims: dict, max_positions: int, feature_map: str = FIXED) -> int:
    """Parameters of the encoder without pooler, as `lion_bert.benchmarking.build_encoder` builds it (with its
    variant's defaults, ``feature_map`` and ``max_positions`` position embeddings where the variant has them):
    counted, not built, so that the plan knows the size of a 12-layer model without allocating it."""
    hidden, intermediate, heads = dims["hidden"], dims["intermediate"], dims["heads"]
    variant = ATTENTION_VARIANTS["softmax" if model == BERT else model]
    embeddings = (VOCAB_SIZE + 2) * hidden + 2 * hidden  # words, 2 token types, LayerNorm
    if variant.position_embedding_type == "absolute":
        embeddings += max_positions * hidden
    # Q, K, V and output projections, the two feed-forward layers, two LayerNorms
    layer = 4 * (hidden * hidden + hidden) + 2 * hidden * intermediate + intermediate + hidden + 4 * hidden
    layer += 2 * hidden * variant.attention_layer_norm
    layer += {"none": 0, "per_head": heads, "selective": hidden * heads + heads}[variant.decay]
    if feature_map != FIXED:  # hedgehog: per head, a (d, d) weight and d biases, for the queries and the keys
        layer += 2 * (hidden + heads) * (hidden // heads)
    return embeddings + dims["layers"] * layer


def lxl_mib(dims: dict, length: int) -> float:
    """One float32 (1, heads, L, L) tensor, in MiB: the least the parallel form holds."""
    return dims["heads"] * length**2 * 4 / MIB


def estimate_inference(case, length, dims, chunk_size, matmul_rate, probe, last_measured):
    """(seconds per forward, peak RSS growth MiB) of one inference case at batch 1: the FLOPs at the matmul rate
    (FLOP/s) and the parallel form's L x L tensor as lower bounds, raised to the last measurement of the same case
    (``last_measured`` = (length, seconds, MiB), scaled by the FLOP ratio, and by L^2 (parallel) or L for memory),
    or, before any measurement, to the 1-layer ``probe`` scaled the same way."""
    _, mode, feature_map, _ = Case(*case)  # a Case, or a (model, mode) tuple
    flops = forward_flops(mode, 1, length, dims, chunk_size, feature_map)
    seconds, mib = flops / matmul_rate, lxl_mib(dims, length) if mode == "parallel" else 0.0
    if last_measured is not None:
        measured_length, measured_seconds, measured_mib = last_measured
        scale = flops / forward_flops(mode, 1, measured_length, dims, chunk_size, feature_map)
        power = 2 if mode == "parallel" else 1
        seconds = max(seconds, measured_seconds * scale)
        mib = max(mib, measured_mib * (length / measured_length) ** power)
    elif probe is not None and probe["status"] == "ok":
        probe_flops = forward_flops(mode, 1, probe["length"], {**dims, "layers": 1}, chunk_size, feature_map)
        seconds = max(seconds, probe["seconds"] * flops / probe_flops)
        mib = max(mib, probe["peak_rss_growth_mib"] * length / probe["length"] + (mib if mode == "parallel" else 0))
    return seconds, mib


def estimate_training(case, length, batch, dims, chunk_size, matmul_rate, probe, params):
    """(seconds per step, MiB of the activations the whole batch keeps for the backward) of a training step on
    (batch, L) tokens: the 1-layer probe's forward+backward time and memory per token, times tokens and layers, plus
    its AdamW time per parameter times ``params``; without a probe, the FLOPs at the matmul rate (FLOP/s) and the
    parallel form's L x L tensors (two per layer)."""
    case = Case(*case)  # a Case, or a (model, mode) tuple
    flops = 3 * forward_flops(case.mode, batch, length, dims, chunk_size, case.feature_map)
    seconds = flops / matmul_rate
    activations = 2 * dims["layers"] * batch * lxl_mib(dims, length) if case.mode == "parallel" else 0.0
    if probe is not None and probe["status"] == "ok":
        token_layers = batch * length * dims["layers"]
        seconds = max(seconds, probe["forward_backward_seconds"] * token_layers / probe["tokens"]
                      + probe["optimizer_seconds"] * params / probe["params"])
        # the probe's growth holds the gradients too (4 bytes per parameter): only the rest scales with the tokens
        per_token_layer = max(0.0, probe["peak_rss_growth_mib"] - probe["params"] * 4 / MIB) / probe["tokens"]
        activations = max(activations, per_token_layer * token_layers)
    return seconds, activations


def micro_batches_that_fit(batch: int, activations_mib: float, fixed_mib: float, budget_mib: float,
                           forced: int | None = None) -> int:
    """How many micro-batches a training step on ``batch`` sequences runs in: ``forced`` where given, else the
    fewest powers of two with which ``fixed_mib`` (what the step holds whatever the split) plus ``activations_mib``
    / micro-batches fits ``budget_mib``; never more than ``batch``."""
    micro_batches = forced or 1
    while not forced and micro_batches < batch and fixed_mib + activations_mib / micro_batches > budget_mib:
        micro_batches *= 2
    return min(micro_batches, batch)


def extra_forms_text(forms=EXTRA_ROW_FORMS) -> str:
    """'the parallel form in training and the chunk form at inference': the forms of the hedgehog and compiled
    rows (``forms``: EXTRA_ROW_FORMS, or a report's copy of it)."""
    return " and ".join(f"the {' and '.join(forms[phase])} form {where} {phase}"
                        for phase, where in (("training", "in"), ("inference", "at")))


def compile_seconds(phase: str, layers: int) -> float:
    """Estimated seconds a compiled case of ``phase`` ("training" or "inference") spends compiling a model of
    ``layers`` layers, beyond its call (`COMPILE_SECONDS`)."""
    base, per_layer = COMPILE_SECONDS[phase]
    return base + per_layer * layers


def build_seconds(probes: dict, params: int) -> float:
    """Estimated seconds to build (initialise) a model of ``params`` parameters: the slowest build per parameter
    among the successful ``probes`` ({key: probe}); 0 without one."""
    rates = [probe["build_seconds"] / probe["params"] for probe in probes.values()
             if probe.get("status") == "ok" and probe.get("params") and probe.get("build_seconds")]
    return max(rates) * params if rates else 0.0



# ----------------------------------------------------------------------------------------------------------
# The plan of one run
# ----------------------------------------------------------------------------------------------------------


class BenchmarkPlan:
    """What one run of scripts/benchmark.py measures and what each case should cost, from the script's parsed
    arguments ``args`` (layers, hidden, heads, intermediate, lengths, train_lengths, train_tokens, repeats, threads,
    chunk_size, variants, modes, train_modes, feature_maps, compile, train_micro_batches, skip_training,
    skip_inference, max_seconds_per_case, max_memory_gib). The runner sets ``probes`` ({key: probe}:
    "training/L/<case key>", "inference/<case key>", eager cases only) and ``matmul_rate`` (FLOP/s) once measured;
    every estimate reads them. A case is skipped when its estimate exceeds --max-seconds-per-case (inference only:
    training cases are what the targets measure) or --max-memory-gib; the skip reasons name those options. A
    compiled case's warm-up is a full call (a training step on the whole batch, a forward on all L tokens), so that
    the timed calls run the compiled code of their shapes."""

    def __init__(self, args):
        self.args = args
        self.dims = {name: getattr(args, name) for name in BERT_BASE_DIMS}
        self.train_cases = cases_of(args.variants, args.train_modes, args.feature_maps, EXTRA_ROW_FORMS["training"],
                                    args.compile)
        self.inference_cases = cases_of(args.variants, args.modes, args.feature_maps, EXTRA_ROW_FORMS["inference"],
                                        args.compile)
        self.train_max_positions = max([512, *args.train_lengths])
        self.inference_max_positions = max([512, *args.lengths])
        self.budget_mib = args.max_memory_gib * 1024
        self.probes, self.matmul_rate = {}, None

    def batch_of(self, length):
        """Sequences per training batch at L: --train-tokens // L, at least one."""
        return max(1, self.args.train_tokens // length)

    def probes_to_run(self):
        """The 1-layer probes, one per case and phase measured: {"key", "phase", "case", "length", "batch"}; a
        training step on about PROBE_TOKENS tokens at each training L, a forward at the shortest inference L (at most
        PROBE_MAX_LENGTH)."""
        probes = []
        for length in [] if self.args.skip_training else self.args.train_lengths:
            batch = max(1, min(self.batch_of(length), PROBE_TOKENS // length))
            probes += [{"key": self.probe_key("training", case, length), "phase": "training", "case": case,
                        "length": length, "batch": batch} for case in self.train_cases if not case.compiled]
        if not self.args.skip_inference:
            length = min(min(self.args.lengths), PROBE_MAX_LENGTH)
            probes += [{"key": self.probe_key("inference", case), "phase": "inference", "case": case,
                        "length": length, "batch": 1} for case in self.inference_cases if not case.compiled]
        return probes

    @staticmethod
    def probe_key(phase, case, length=None):
        """"training/L/<case key>" or "inference/<case key>" of ``case``'s eager twin: the probe that estimates it."""
        return "/".join([phase, *[str(length)] * (phase == "training"), case_key(*case.eager)])

    def chunk_size_for(self, phase):
        """The chunk size used in the FLOP counts of "training" or "inference": the argument, or what the model
        chose in the probes."""
        if self.args.chunk_size is not None:
            return self.args.chunk_size
        for key, probe in self.probes.items():
            if key.startswith(phase) and probe.get("chunk_size"):
                return probe["chunk_size"]
        return DEFAULT_CHUNK_SIZE

    def plan_training(self, length):
        """{case: None (run it) or a skip record}, the estimates of every case (seconds per step and per case, peak
        MiB, micro-batches), and the estimated seconds of the one child that runs all cases of this L."""
        batch, chunk_size = self.batch_of(length), self.chunk_size_for("training")
        params = {(model, feature_map): parameter_count(model, self.dims, self.train_max_positions, feature_map)
                  for model, feature_map in dict.fromkeys(case.build for case in self.train_cases)}
        # the child holds every model at once: weights and AdamW's two moments of all of them
        resident_mib = sum(3 * count * 4 / MIB for count in params.values())
        plan, estimates, child_seconds = {}, {}, 0.0
        for case in self.train_cases:
            probe = self.probes.get(self.probe_key("training", case, length))
            seconds, activations = estimate_training(case, length, batch, self.dims, chunk_size, self.matmul_rate,
                                                     probe, params[case.build])
            # gradients, and AdamW's temporaries (about one more copy of the parameters)
            fixed_mib = resident_mib + 2 * params[case.build] * 4 / MIB
            micro_batches = micro_batches_that_fit(batch, activations, fixed_mib, self.budget_mib,
                                                   self.args.train_micro_batches)
            mib = fixed_mib + activations / micro_batches
            total = (1 / TRAIN_WARMUP_DIVISOR + self.args.repeats) * seconds
            if case.compiled:  # its warm-up: compiling, on the whole batch
                total = (1 + self.args.repeats) * seconds + compile_seconds("training", self.dims["layers"])
            estimates[case] = {"estimated_step_seconds": seconds, "estimated_case_seconds": total,
                               "estimated_peak_mib": mib, "micro_batches": micro_batches}
            reason = None  # training cases are not skipped for time: they are what the targets measure
            if mib > self.budget_mib:
                reason = (f"est. {mib / 1024:.2f} GiB (all models' weights and AdamW state + this step in "
                          f"{micro_batches} micro-batches) > --max-memory-gib {self.args.max_memory_gib:.2f}")
            plan[case] = None if reason is None else {"status": "skipped", "reason": reason, **estimates[case]}
            child_seconds += 0 if reason else total
        if any(skip is None for skip in plan.values()):
            child_seconds += sum(build_seconds(self.probes, count) for count in params.values())
            child_seconds += CHILD_START_SECONDS
        return plan, estimates, child_seconds

    def plan_inference_case(self, case, length, last_measured, failed_at):
        """None (run it) or a skip record, the estimate (seconds per forward and of warm-up + repeats, peak RSS
        growth and model MiB), and the estimated seconds of its child (0 when skipped). ``last_measured``: (L,
        seconds, MiB) of this case's last measurement or None; ``failed_at``: the L where it failed, or None."""
        case, chunk_size = Case(*case), self.chunk_size_for("inference")
        probe = self.probes.get(self.probe_key("inference", case))
        seconds, mib = estimate_inference(case, length, self.dims, chunk_size, self.matmul_rate, probe, last_measured)
        warmup_seconds, _ = estimate_inference(case, min(length, INFERENCE_WARMUP_TOKENS), self.dims, chunk_size,
                                               self.matmul_rate, probe, None)
        if case.compiled:  # its warm-up: compiling, on all L tokens
            warmup_seconds = seconds + compile_seconds("inference", self.dims["layers"])
        params = parameter_count(case.model, self.dims, self.inference_max_positions, case.feature_map)
        total, model_mib = self.args.repeats * seconds + warmup_seconds, params * 4 / MIB
        estimate = {"estimated_forward_seconds": seconds, "estimated_case_seconds": total,
                    "estimated_peak_mib": mib, "model_mib": model_mib}
        reason = None
        if failed_at is not None:
            reason = f"failed at L={failed_at}"
        elif total > self.args.max_seconds_per_case:
            reason = f"est. {number(total)} s > --max-seconds-per-case {self.args.max_seconds_per_case:g}"
        elif mib + model_mib > self.budget_mib:
            reason = (f"est. {(mib + model_mib) / 1024:.2f} GiB (model + growth) > --max-memory-gib "
                      f"{self.args.max_memory_gib:.2f}")
        if reason is not None:
            return {"status": "skipped", "reason": reason, **estimate}, estimate, 0.0
        return None, estimate, total + build_seconds(self.probes, params) + CHILD_START_SECONDS

    def estimate_duration(self):
        """{"estimated_seconds", "estimated_training_seconds", "estimated_inference_seconds"} from the probes (before
        any measurement), and one row per case: phase, L, label, estimated seconds (warm-up + repeats) and peak
        MiB, skip reason, note."""
        training, inference, rows = 0.0, 0.0, []
        for length in [] if self.args.skip_training else self.args.train_lengths:
            plan, estimates, child_seconds = self.plan_training(length)
            training += child_seconds
            rows += [{"phase": "training", "length": length, "label": case_label(*case),
                      "seconds": estimates[case]["estimated_case_seconds"],
                      "mib": estimates[case]["estimated_peak_mib"], "skip": (plan[case] or {}).get("reason", ""),
                      "note": f"{estimates[case]['micro_batches']} micro-batches"
                      if estimates[case]["micro_batches"] > 1 else ""}
                     for case in self.train_cases]
        for length in [] if self.args.skip_inference else self.args.lengths:
            for case in self.inference_cases:
                skip, estimate, child_seconds = self.plan_inference_case(case, length, None, None)
                inference += child_seconds
                rows.append({"phase": "inference", "length": length, "label": case_label(*case),
                             "seconds": estimate["estimated_case_seconds"],
                             "mib": estimate["model_mib"] + estimate["estimated_peak_mib"],
                             "skip": (skip or {}).get("reason", ""), "note": ""})
        return {"estimated_seconds": training + inference, "estimated_training_seconds": training,
                "estimated_inference_seconds": inference}, rows

    def config(self, child_processes, targets):
        """The run's settings as its report records them ("config"), with the start method of the children and the
        targets' {"file", "source"}."""
        args = self.args
        return {
            "dims": self.dims, "base_dims": BERT_BASE_DIMS, "vocab_size": VOCAB_SIZE, "dtype": "float32",
            "lengths": args.lengths, "train_lengths": args.train_lengths, "train_tokens": args.train_tokens,
            "train_batches": {str(length): self.batch_of(length) for length in args.train_lengths},
            "variants": args.variants, "modes": args.modes, "train_modes": args.train_modes,
            "feature_maps": args.feature_maps, "compile": args.compile, "extra_row_forms": EXTRA_ROW_FORMS,
            "chunk_size": args.chunk_size, "train_chunk_size": self.chunk_size_for("training"),
            "inference_chunk_size": self.chunk_size_for("inference"), "repeats": args.repeats,
            "threads": args.threads, "max_seconds_per_case": args.max_seconds_per_case,
            "max_memory_gib": args.max_memory_gib, "child_processes": child_processes, "targets": targets,
            "train_max_position_embeddings": self.train_max_positions,
            "inference_max_position_embeddings": self.inference_max_positions,
            "training": "forward, loss = mean(last_hidden_state^2), backward, AdamW(lr=1e-5) step; all models of a "
                        "length in one process, interleaved; median over repeats rounds after one warm-up step per "
                        f"model/form on batch // {TRAIN_WARMUP_DIVISOR} sequences",
            "inference": "batch 1, eval mode, torch.inference_mode(); one fresh process per model/form and L, which "
                         "builds the model; median over repeats forwards after one warm-up forward on min(L, "
                         f"{INFERENCE_WARMUP_TOKENS}) tokens",
            "peak_rss_growth_mib": "growth of the child's peak RSS (ru_maxrss) from after building the model and the "
                                   "inputs (inference); training: the largest such growth over one step, from the "
                                   "step's start (all models and AdamW states already resident); compiled "
                                   "inference: from after the compiling warm-up",
            "flops": " ".join(forward_flops.__doc__.split()),
            "hedgehog": "feature_map='hedgehog' (learned, per layer and head, for queries and keys), feature_map_size "
                        "= head dim: 2 x head dim features; in the forms of extra_row_forms",
            "compiled": "torch.compile(model), inductor, default options; warm-up (and compilation) on the timed "
                        "shapes, compile_seconds = that warm-up minus the median call; in the forms of "
                        "extra_row_forms and BERT; vs BERT compares with compiled BERT",
        }


__all__ = [
    "CHILD_START_SECONDS", "COMPILE_SECONDS", "DEFAULT_CHUNK_SIZE", "EXTRA_ROW_FORMS", "HEDGEHOG",
    "INFERENCE_WARMUP_TOKENS", "LABELS", "PROBE_MAX_LENGTH", "PROBE_TOKENS", "SDPA", "TRAIN_WARMUP_DIVISOR",
    "BenchmarkPlan", "Case", "build_seconds", "case_key", "case_label", "cases_of", "compile_seconds",
    "estimate_inference", "estimate_training", "extra_forms_text", "forward_flops", "lxl_mib", "micro_batches_that_fit",
    "parameter_count",
]

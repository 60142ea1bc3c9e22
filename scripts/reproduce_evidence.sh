#!/usr/bin/env bash
# Issue 7's evidence, end to end, offline, on CPU:
#   1. MLM pretraining from scratch at equal budget (same config, steps, seed, data) for softmax, LION-LIT, LION-D
#      and LION-S on the gensim Wikipedia sample (whole articles held out), evaluated at 15% masking in the parallel
#      form, and every LION model once more in the recurrent form;
#   2. each pretrained model fine-tuned on GLUE STS-B (same recipe), evaluated on the dev set in both forms;
#   3. all-MiniLM-L6-v2 converted to each variant (and kept softmax) fine-tuned on STS-B with the same recipe;
#   4. levers on the converted LION-S (what the paper says helps, and distillation), one change each against
#      the plain conversion of step 3: BERT's positions kept, a post-attention LayerNorm, a lower learning rate,
#      other chunk sizes (evaluation only: the function does not depend on them), the distilled conversion before
#      the fine-tune (scripts/convert_bert_to_lion.py);
#   5. scripts/collect_evidence.py -> evidence.json + evidence.md (tables, machine, steps, seeds, gaps vs targets).
#
#   scripts/reproduce_evidence.sh           # the full run: results/evidence.{json,md}, logs in results/logs/
#   scripts/reproduce_evidence.sh --quick   # smoke run of the same pipeline with tiny step counts (< 5 min);
#                                           # writes to runs/evidence-quick/ only (results/ is left alone)
#
# Run from anywhere; it works in the repository root. Every run's stdout+stderr goes to the terminal (Trainer's
# progress bars) and to <results>/logs/<name>.log; model folders go to runs/evidence[-quick]/<name>/ (git-ignored).
# Environment overrides: PYTHON (default python3), SEED (default 42).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
SEED=${SEED:-42}
MODE=full
for arg in "$@"; do
    case "$arg" in
        --quick) MODE=quick ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $arg (use --quick or nothing)" >&2; exit 2 ;;
    esac
done

# ---- budget ----------------------------------------------------------------------------------------------------
# Measured on this project's 2-core AMD EPYC (torch 2.13 CPU, 2 threads, quiet machine), 2026-11-27/28:
#   MLM, 4 layers x 256 hidden, 4 heads, seq 128, batch 16, with sparse prediction (the MLM head on the masked
#   positions only; 1.97x faster than full logits, same loss): LION-S 1.74 steps/s; ~20 s of start-up per run.
#   STS-B, MiniLM 6 x 384 converted to LION-S, batch 16: 2.1 steps/s; the 1,500 dev pairs take 9.5 s in the
#   parallel and 12.7 s in the recurrent form. The distilled conversion: about 20 min.
#   The 2026-11-27 full run with MLM_STEPS=300 and no levers took 47 min (its stage times are in the git history).
# Full run, estimated from those: MLM 4 x ~15 min, STS-B 4 x ~1.3 min (small models) + 4 x ~3.6 min (MiniLM),
# levers 4 x ~3.6 min + distilled conversion ~20 min: about 110 min. On a loaded machine expect up to 3-4x longer.
if [[ $MODE == full ]]; then
    MLM_STEPS=1500         # per variant, batch 16 x 128 tokens (~5.4 epochs of the 4,484 training blocks)
    MLM_EVAL_BLOCKS=256    # held-out blocks of 128 tokens (~4,900 masked tokens at 15%)
    STSB_STEPS=400         # per fine-tune, batch 16 (~1.1 epoch of the 5,749 training pairs; the quickstart's recipe)
    STSB_EVAL_PAIRS=1500   # the whole STS-B dev set, in both forms
    TRANSFER_STEPS=300     # attention transfer, batch 16 Wikipedia sentence pairs and paragraphs
    DISTILLATION_STEPS=1000  # model distillation, the same data
    RESULTS_DIR=results
    RUNS_DIR=runs/evidence
    LOGGING_STEPS=25
else
    MLM_STEPS=4
    MLM_EVAL_BLOCKS=8
    STSB_STEPS=4
    STSB_EVAL_PAIRS=32
    TRANSFER_STEPS=4
    DISTILLATION_STEPS=4
    RESULTS_DIR=runs/evidence-quick
    RUNS_DIR=runs/evidence-quick
    LOGGING_STEPS=2
fi
MLM_BATCH=16
STSB_BATCH=16
STSB_LR=1e-4        # the same for every model: the quickstart's recipe
MLM_LR=8e-4         # the paper's base learning rate (run_mlm.py's default)
VARIANTS=(softmax lion_lit lion_d lion_s)

LOG_DIR="$RESULTS_DIR/logs"
mkdir -p "$LOG_DIR" "$RUNS_DIR"
export TQDM_MININTERVAL=${TQDM_MININTERVAL:-2}   # fewer progress-bar redraws in the logs
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
START=$(date +%s)
STAGE=0
# 4 pretrainings + 3 recurrent MLM evals + 8 STS-B fine-tunes + 5 levers + distilled conversion and its fine-tune
# + collect
TOTAL_STAGES=$(( ${#VARIANTS[@]} * 4 + 5 + 2 ))

elapsed() { local s=$(( $(date +%s) - START )); printf '%d:%02d' $((s / 60)) $((s % 60)); }

run_stage() {  # run_stage NAME COMMAND...: run it, log to $LOG_DIR/NAME.log, one line before and after
    local name=$1; shift
    STAGE=$((STAGE + 1))
    echo "=== [$(elapsed)] stage $STAGE/$TOTAL_STAGES: $name" >&2
    local t0; t0=$(date +%s)
    { echo "\$ $*"; "$@"; } 2>&1 | tee "$LOG_DIR/$name.log"
    echo "=== [$(elapsed)] stage $STAGE/$TOTAL_STAGES: $name done in $(( $(date +%s) - t0 )) s" >&2
}

echo "=== reproduce_evidence.sh ($MODE): MLM $MLM_STEPS steps x batch $MLM_BATCH, STS-B $STSB_STEPS steps x batch" \
     "$STSB_BATCH, seed $SEED; logs in $LOG_DIR, runs in $RUNS_DIR" >&2

MLM_COMMON=(
    --hidden_size 256 --num_hidden_layers 4 --num_attention_heads 4 --intermediate_size 1024
    --max_seq_length 128 --mlm_probability 0.3 --eval_mlm_probability 0.15
    --per_device_train_batch_size "$MLM_BATCH" --per_device_eval_batch_size 32
    --learning_rate "$MLM_LR" --max_steps "$MLM_STEPS" --max_eval_samples "$MLM_EVAL_BLOCKS"
    --seed "$SEED" --data_seed "$SEED" --save_strategy no --logging_steps "$LOGGING_STEPS" --report_to none
    --dataloader_pin_memory false --overwrite_output_dir
)
STSB_COMMON=(
    --task_name stsb --do_train --do_eval --max_seq_length 128
    --per_device_train_batch_size "$STSB_BATCH" --per_device_eval_batch_size 64
    --learning_rate "$STSB_LR" --warmup_steps 0.1 --max_steps "$STSB_STEPS" --max_eval_samples "$STSB_EVAL_PAIRS"
    --seed "$SEED" --logging_steps "$LOGGING_STEPS" --report_to none
    --distill_from_teacher false   # plain fine-tunes; scripts/reproduce_conversion.sh measures the distilled recipes
)

eval_form() {  # softmax has one form; every LION model is evaluated in the parallel and the recurrent form
    if [[ $1 == softmax ]]; then echo parallel; else echo recurrent; fi
}

# 1. pretraining at equal budget, then the recurrent-form evaluation of the same weights on the same masked blocks
for variant in "${VARIANTS[@]}"; do
    run_stage "mlm-$variant" "$PYTHON" scripts/run_mlm.py --attention_type "$variant" "${MLM_COMMON[@]}" \
        --output_dir "$RUNS_DIR/mlm-$variant"
    if [[ $variant != softmax ]]; then
        run_stage "mlm-$variant-recurrent" "$PYTHON" scripts/run_mlm.py --model_name_or_path "$RUNS_DIR/mlm-$variant" \
            --do_eval --inference_attention_mode recurrent --max_seq_length 128 --eval_mlm_probability 0.15 \
            --per_device_eval_batch_size 32 --max_eval_samples "$MLM_EVAL_BLOCKS" --seed "$SEED" --report_to none \
            --dataloader_pin_memory false --overwrite_output_dir --output_dir "$RUNS_DIR/mlm-$variant-recurrent"
    fi
done

# 2. STS-B fine-tunes of the pretrained models; 3. of all-MiniLM-L6-v2 converted to each variant
for variant in "${VARIANTS[@]}"; do
    rm -rf "$RUNS_DIR/stsb-mlm-$variant"
    run_stage "stsb-mlm-$variant" "$PYTHON" scripts/run_glue.py --model_name_or_path "$RUNS_DIR/mlm-$variant" \
        "${STSB_COMMON[@]}" --eval_attention_mode "$(eval_form "$variant")" --output_dir "$RUNS_DIR/stsb-mlm-$variant"
done
for variant in "${VARIANTS[@]}"; do
    rm -rf "$RUNS_DIR/stsb-minilm-$variant"
    run_stage "stsb-minilm-$variant" "$PYTHON" scripts/run_glue.py --attention_type "$variant" \
        "${STSB_COMMON[@]}" --eval_attention_mode "$(eval_form "$variant")" --output_dir "$RUNS_DIR/stsb-minilm-$variant"
done

# 4. levers on the converted LION-S, one change each against stsb-minilm-lion_s (same recipe otherwise)
lever() {  # lever NAME "what changed" RUN_GLUE_ARGUMENTS...: one run_glue.py run, described in its lever.json
    local name=$1 change=$2; shift 2
    rm -rf "$RUNS_DIR/lever-$name"
    run_stage "lever-$name" "$PYTHON" scripts/run_glue.py "$@" --output_dir "$RUNS_DIR/lever-$name"
    printf '{"change": "%s", "stage": %d}\n' "$change" "$STAGE" > "$RUNS_DIR/lever-$name/lever.json"
}
MINILM_LION_S=(--attention_type lion_s "${STSB_COMMON[@]}" --eval_attention_mode recurrent)
lever position-absolute "BERT's learned positions kept (LION-S leaves them out by default)" \
    "${MINILM_LION_S[@]}" --position_embedding_type absolute
lever attention-layer-norm "LayerNorm on the attention output (new, trained in the fine-tune)" \
    "${MINILM_LION_S[@]}" --attention_layer_norm true
lever lr-3e-5 "learning rate 3e-5 instead of 1e-4" "${MINILM_LION_S[@]}" --learning_rate 3e-5
for chunk in 16 256; do   # the chunk size changes the schedule of the computation, not the function
    lever "chunk-$chunk" "the fine-tuned model of the plain conversion evaluated in the chunk form, chunks of $chunk" \
        --model_name_or_path "$RUNS_DIR/stsb-minilm-lion_s" --task_name stsb --do_eval --max_seq_length 128 \
        --per_device_eval_batch_size 64 --max_eval_samples "$STSB_EVAL_PAIRS" --seed "$SEED" --report_to none \
        --eval_attention_mode chunk --chunk_size "$chunk"
done
run_stage distilled-lion_s "$PYTHON" scripts/convert_bert_to_lion.py --attention_type lion_s \
    --attention_transfer_steps "$TRANSFER_STEPS" --distillation_steps "$DISTILLATION_STEPS" --seed "$SEED" \
    --logging_steps "$LOGGING_STEPS" --output_dir "$RUNS_DIR/distilled-lion_s" --overwrite_output_dir
cp "$RUNS_DIR/distilled-lion_s/conversion_results.json" "$LOG_DIR/distilled-lion_s.json"
lever distilled-lion_s "distilled conversion (learned feature maps, $TRANSFER_STEPS steps of attention transfer, \
$DISTILLATION_STEPS of model distillation on Wikipedia) before the fine-tune" \
    --model_name_or_path "$RUNS_DIR/distilled-lion_s" "${STSB_COMMON[@]}" --eval_attention_mode recurrent

# 5. tables
WALL=$(( $(date +%s) - START ))
run_stage collect "$PYTHON" scripts/collect_evidence.py --runs_dir "$RUNS_DIR" --out_dir "$RESULTS_DIR" \
    --setting "mode=$MODE" --setting "seed=$SEED (every run)" \
    --setting "MLM=4 layers x 256 hidden, 4 heads, seq 128, batch $MLM_BATCH, $MLM_STEPS steps, lr $MLM_LR, 30%/15% masking, $MLM_EVAL_BLOCKS eval blocks" \
    --setting "STS-B=batch $STSB_BATCH, $STSB_STEPS steps, lr $STSB_LR, 10% warm-up, $STSB_EVAL_PAIRS dev pairs" \
    --setting "distilled conversion=$TRANSFER_STEPS + $DISTILLATION_STEPS steps x 16 Wikipedia texts" \
    --setting "wall time=$((WALL / 60)) min $((WALL % 60)) s (training stages)"
echo "=== [$(elapsed)] all done: $RESULTS_DIR/evidence.md, $RESULTS_DIR/evidence.json, logs in $LOG_DIR" >&2

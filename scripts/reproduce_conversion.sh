#!/usr/bin/env bash
# Does conversion keep BERT's quality? all-MiniLM-L6-v2 (a real 6-layer BERT) converted to each LION variant by
# every road the project offers, then fine-tuned on GLUE STS-B with one recipe, against the softmax model fine-tuned
# with the same recipe. Offline, on CPU:
#   1. softmax: the BERT fine-tuned as it is (the baseline, and the task teacher of step 5);
#   2. plain:   converted with the variant's fixed feature map, fine-tuned (run_glue.py --distill_from_teacher false);
#   3. convert: the distilled conversion of scripts/convert_bert_to_lion.py (learned feature maps, attention
#               transfer, model distillation on Wikipedia); its zero-shot STS-B score (mean-pooled embeddings);
#   4. converted: that model fine-tuned (plain fine-tune of a LionBert checkpoint);
#   5. teacher: the task-teacher recipe, run_glue.py's default for a BERT and a LION --attention_type (the teacher is
#               the model of step 1);
#   6. teacher, no positions: the same for LION-D and LION-S without position embeddings (inputs of any length);
#   7. scripts/collect_conversion.py -> results/conversion/conversion.{json,md,png}.
# Every fine-tuned model is scored on the STS-B validation set (the parallel and the recurrent form) and on the
# test set (1,379 pairs with gold scores in the embedded copy), which no choice of this project was tuned on.
#
#   scripts/reproduce_conversion.sh           # full run: results/conversion/, logs in results/conversion/logs/
#   scripts/reproduce_conversion.sh --quick   # the same pipeline with a few steps per run, into runs/conversion-quick/
#
# Environment overrides: PYTHON (default python3), SEED (default 42).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
SEED=${SEED:-42}
MODE=full
for arg in "$@"; do
    case "$arg" in
        --quick) MODE=quick ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $arg (use --quick or nothing)" >&2; exit 2 ;;
    esac
done

if [[ $MODE == full ]]; then
    EPOCHS=3                 # GLUE's usual recipe: 3 epochs of the 5,749 training pairs at batch 16 (1,080 steps)
    STEPS_FLAG=(--num_train_epochs "$EPOCHS")
    EVAL_FLAGS=()            # all 1,500 validation and 1,379 test pairs
    TRANSFER_STEPS=300
    DISTILLATION_STEPS=1000
    CONVERT_FLAGS=()
    RESULTS_DIR=results/conversion
    RUNS_DIR=runs/conversion
    LOGGING_STEPS=50
else
    STEPS_FLAG=(--max_steps 3)
    EVAL_FLAGS=(--max_eval_samples 32 --max_predict_samples 32)
    TRANSFER_STEPS=3
    DISTILLATION_STEPS=3
    CONVERT_FLAGS=(--max_eval_samples 16 --sts_eval_samples 64)
    RESULTS_DIR=runs/conversion-quick
    RUNS_DIR=runs/conversion-quick
    LOGGING_STEPS=1
fi
VARIANTS=(lion_lit lion_d lion_s)

LOG_DIR="$RESULTS_DIR/logs"
mkdir -p "$LOG_DIR" "$RUNS_DIR"
export TQDM_MININTERVAL=${TQDM_MININTERVAL:-5}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
START=$(date +%s)
STAGE=0
TOTAL_STAGES=$(( 1 + 4 * ${#VARIANTS[@]} + 2 + 1 ))

elapsed() { local s=$(( $(date +%s) - START )); printf '%d:%02d' $((s / 60)) $((s % 60)); }

run_stage() {  # run_stage NAME COMMAND...: log to $LOG_DIR/NAME.log, with its wall time
    local name=$1; shift
    STAGE=$((STAGE + 1))
    echo "=== [$(elapsed)] stage $STAGE/$TOTAL_STAGES: $name" >&2
    local t0; t0=$(date +%s)
    { echo "\$ $*"; "$@"; } 2>&1 | tee "$LOG_DIR/$name.log"
    echo "{\"stage\": $STAGE, \"seconds\": $(( $(date +%s) - t0 ))}" > "$LOG_DIR/$name.time.json"
    echo "=== [$(elapsed)] stage $STAGE/$TOTAL_STAGES: $name done in $(( $(date +%s) - t0 )) s" >&2
}

STSB=(
    --task_name stsb --do_train --do_eval --do_predict --max_seq_length 128
    --per_device_train_batch_size 16 --per_device_eval_batch_size 64 --learning_rate 1e-4 --warmup_steps 0.1
    "${STEPS_FLAG[@]}" "${EVAL_FLAGS[@]}" --seed "$SEED" --logging_steps "$LOGGING_STEPS" --report_to none
    --attention_transfer_steps "$TRANSFER_STEPS"
)
glue() {  # glue NAME RUN_GLUE_ARGUMENTS...
    local name=$1; shift
    rm -rf "${RUNS_DIR:?}/$name"
    run_stage "$name" "$PYTHON" scripts/run_glue.py "$@" "${STSB[@]}" --output_dir "$RUNS_DIR/$name"
}

echo "=== reproduce_conversion.sh ($MODE): seed $SEED; logs in $LOG_DIR, runs in $RUNS_DIR" >&2
glue stsb-softmax --attention_type softmax --eval_attention_mode parallel
for variant in "${VARIANTS[@]}"; do
    glue "stsb-plain-$variant" --attention_type "$variant" --distill_from_teacher false
    run_stage "convert-$variant" "$PYTHON" scripts/convert_bert_to_lion.py --attention_type "$variant" \
        --attention_transfer_steps "$TRANSFER_STEPS" --distillation_steps "$DISTILLATION_STEPS" --seed "$SEED" \
        --logging_steps "$LOGGING_STEPS" "${CONVERT_FLAGS[@]}" --overwrite_output_dir \
        --output_dir "$RUNS_DIR/convert-$variant"
    glue "stsb-converted-$variant" --model_name_or_path "$RUNS_DIR/convert-$variant"
    glue "stsb-teacher-$variant" --attention_type "$variant" --teacher_model_name_or_path "$RUNS_DIR/stsb-softmax"
done
for variant in lion_d lion_s; do
    glue "stsb-teacher-$variant-nopos" --attention_type "$variant" --position_embedding_type none \
        --teacher_model_name_or_path "$RUNS_DIR/stsb-softmax"
done
run_stage collect "$PYTHON" scripts/collect_conversion.py --runs_dir "$RUNS_DIR" --out_dir "$RESULTS_DIR" \
    --setting "mode=$MODE" --setting "seed=$SEED (every run)" \
    --setting "STS-B fine-tunes=batch 16, ${STEPS_FLAG[*]}, lr 1e-4, 10% warm-up, max_seq_length 128" \
    --setting "distilled conversion=$TRANSFER_STEPS steps of attention transfer + $DISTILLATION_STEPS of model distillation, batch 16" \
    --setting "task teacher=$TRANSFER_STEPS steps of attention transfer, then the fine-tune with label weight 0.5"
echo "=== [$(elapsed)] all done: $RESULTS_DIR/conversion.md" >&2

#!/usr/bin/env bash
# Does conversion keep BERT's quality? all-MiniLM-L6-v2 (a real 6-layer BERT) converted to each LION variant, then
# fine-tuned on GLUE STS-B with one recipe, against the softmax model fine-tuned with the same recipe. Offline, on
# CPU, in two lanes side by side (one torch thread each, so that they do not slow each other down):
#   teacher lane: 1. softmax: the BERT fine-tuned as it is (the baseline, and the task teacher of 2);
#                 2. teacher: run_glue.py's default for a BERT and a LION --attention_type: attention transfer from
#                    the fine-tuned softmax model, then the fine-tune distilled from it (LION-D and LION-S without
#                    position embeddings, their default: inputs of any length);
#   convert lane: 3. convert: scripts/convert_bert_to_lion.py's default (learned feature maps, attention transfer,
#                    model distillation on Wikipedia) for LION-S: zero-shot STS-B score (mean-pooled embeddings)
#                    and fidelity to the softmax model on held-out Wikipedia;
#                 4. positions kept: the recipe of 2 for LION-D and LION-S with BERT's learned positions (what
#                    dropping them costs), side by side once the softmax teacher of 1 is ready;
#   5. scripts/collect_conversion.py -> results/conversion/conversion.{json,md,png}.
# Every fine-tuned model is scored on the STS-B validation set (the parallel and the recurrent form) and on the
# test set (1,379 pairs with gold scores in the embedded copy), which no choice of this project was tuned on.
#
#   scripts/reproduce_conversion.sh           # full run: results/conversion/, logs in results/conversion/logs/
#   scripts/reproduce_conversion.sh --quick   # the same pipeline with a few steps per run, into runs/conversion-quick/
#   scripts/reproduce_conversion.sh --task-teacher-only   # steps 1, 2 and 5 alone, the variants of 2 in two lanes,
#       into results/conversion-task-teacher/ (a finished softmax run in runs/conversion-task-teacher/ is reused, and
#       so are the finished runs of variants left out of VARIANTS)
#   scripts/reproduce_conversion.sh --task-free-only      # step 3 alone (one thread), into results/conversion-task-free/
#
# Environment overrides: PYTHON (default python3), SEED (default 42), VARIANTS (default "lion_s lion_d lion_lit").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
SEED=${SEED:-42}
MODE=full
TASK_TEACHER_ONLY=false
TASK_FREE_ONLY=false
for arg in "$@"; do
    case "$arg" in
        --quick) MODE=quick ;;
        --task-teacher-only) TASK_TEACHER_ONLY=true ;;
        --task-free-only) TASK_FREE_ONLY=true ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $arg (use --quick, --task-teacher-only, --task-free-only or nothing)" >&2
           exit 2 ;;
    esac
done

if [[ $MODE == full ]]; then
    EPOCHS=2                 # 2 epochs of the 5,749 training pairs at batch 16 (720 steps)
    STEPS_FLAG=(--num_train_epochs "$EPOCHS")
    EVAL_FLAGS=()            # all 1,500 validation and 1,379 test pairs
    TRANSFER_FLAG=()         # attention transfer: each variant's recipe (lion_bert.conversion.CONVERSION_RECIPES)
    DISTILLATION_STEPS=1000
    CONVERT_FLAGS=()
    RESULTS_DIR=results/conversion
    RUNS_DIR=runs/conversion
    LOGGING_STEPS=50
else
    STEPS_FLAG=(--max_steps 3)
    EVAL_FLAGS=(--max_eval_samples 32 --max_predict_samples 32)
    TRANSFER_FLAG=(--attention_transfer_steps 3)
    DISTILLATION_STEPS=3
    CONVERT_FLAGS=(--max_eval_samples 16 --sts_eval_samples 64)
    RESULTS_DIR=runs/conversion-quick
    RUNS_DIR=runs/conversion-quick
    LOGGING_STEPS=1
fi
read -r -a VARIANTS <<< "${VARIANTS:-lion_s lion_d lion_lit}"
if [[ $TASK_TEACHER_ONLY == true && $TASK_FREE_ONLY == true ]]; then
    echo "error: --task-teacher-only and --task-free-only exclude each other (neither runs both)" >&2; exit 2
elif [[ $TASK_TEACHER_ONLY == true ]]; then
    RESULTS_DIR=$RESULTS_DIR-task-teacher
    RUNS_DIR=$RUNS_DIR-task-teacher
elif [[ $TASK_FREE_ONLY == true ]]; then
    RESULTS_DIR=$RESULTS_DIR-task-free
    RUNS_DIR=$RUNS_DIR-task-free
fi

LOG_DIR="$RESULTS_DIR/logs"
mkdir -p "$LOG_DIR" "$RUNS_DIR"
export TQDM_MININTERVAL=${TQDM_MININTERVAL:-5}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export OMP_NUM_THREADS=1  # per lane: two lanes on two cores
START=$(date +%s)

elapsed() { local s=$(( $(date +%s) - START )); printf '%d:%02d' $((s / 60)) $((s % 60)); }

run_stage() {  # run_stage NAME COMMAND...: log to $LOG_DIR/NAME.log, with its wall time
    local name=$1; shift
    echo "=== [$(elapsed)] start: $name (log: $LOG_DIR/$name.log)" >&2
    local t0; t0=$(date +%s)
    { echo "\$ $*"; "$@"; } > "$LOG_DIR/$name.log" 2>&1
    echo "{\"seconds\": $(( $(date +%s) - t0 ))}" > "$LOG_DIR/$name.time.json"
    echo "=== [$(elapsed)] done: $name in $(( $(date +%s) - t0 )) s" >&2
}

STSB=(
    --task_name stsb --do_train --do_eval --do_predict --max_seq_length 128
    --per_device_train_batch_size 16 --per_device_eval_batch_size 64 --learning_rate 1e-4 --warmup_steps 0.1
    "${STEPS_FLAG[@]}" "${EVAL_FLAGS[@]}" --seed "$SEED" --logging_steps "$LOGGING_STEPS" --report_to none
    "${TRANSFER_FLAG[@]}"
)
glue() {  # glue NAME RUN_GLUE_ARGUMENTS...
    local name=$1; shift
    rm -rf "${RUNS_DIR:?}/$name"
    run_stage "$name" "$PYTHON" scripts/run_glue.py "$@" "${STSB[@]}" --output_dir "$RUNS_DIR/$name"
}
positions_kept() {  # positions_kept VARIANT: step 4
    glue "stsb-teacher-$1-positions" --attention_type "$1" --position_embedding_type absolute \
        --teacher_model_name_or_path "$RUNS_DIR/stsb-softmax"
}
teacher_lane() {
    glue stsb-softmax --attention_type softmax --eval_attention_mode parallel
    for variant in "${VARIANTS[@]}"; do
        glue "stsb-teacher-$variant" --attention_type "$variant" --teacher_model_name_or_path "$RUNS_DIR/stsb-softmax"
    done
}
convert_step() {  # step 3
    run_stage convert-lion_s "$PYTHON" scripts/convert_bert_to_lion.py --attention_type lion_s \
        "${TRANSFER_FLAG[@]}" --distillation_steps "$DISTILLATION_STEPS" --seed "$SEED" \
        --logging_steps "$LOGGING_STEPS" "${CONVERT_FLAGS[@]}" --overwrite_output_dir \
        --output_dir "$RUNS_DIR/convert-lion_s"
}
convert_lane() {
    convert_step
    while [[ ! -f "$RUNS_DIR/stsb-softmax/eval_results.json" ]]; do  # the teacher of step 4
        [[ -f "$LOG_DIR/stsb-softmax.time.json" ]] && { echo "error: the softmax run failed" >&2; return 1; }
        sleep 10
    done
    # a third process while the teacher lane finishes
    positions_kept lion_s & local lion_s_pid=$!
    positions_kept lion_d & local lion_d_pid=$!
    wait "$lion_s_pid" && wait "$lion_d_pid"
}

task_teacher_lanes() {  # the softmax run (reused when finished), then the variants of step 2 in two lanes
    if [[ ! -f "$RUNS_DIR/stsb-softmax/eval_results.json" ]]; then
        glue stsb-softmax --attention_type softmax --eval_attention_mode parallel
    fi
    local index pids=() lane
    for lane in 0 1; do  # lane 0 runs VARIANTS 0, 2, ...; lane 1 runs 1, 3, ...
        (for ((index = lane; index < ${#VARIANTS[@]}; index += 2)); do
            glue "stsb-teacher-${VARIANTS[index]}" --attention_type "${VARIANTS[index]}" \
                --teacher_model_name_or_path "$RUNS_DIR/stsb-softmax"
        done) & pids+=($!)
    done
    local status=0
    for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
    return "$status"
}

echo "=== reproduce_conversion.sh ($MODE): seed $SEED; logs in $LOG_DIR, runs in $RUNS_DIR" >&2
STATUS=0
if [[ $TASK_TEACHER_ONLY == true ]]; then
    for variant in "${VARIANTS[@]}"; do rm -f "$LOG_DIR/stsb-teacher-$variant.time.json"; done  # reused runs keep theirs
    task_teacher_lanes || STATUS=$?
elif [[ $TASK_FREE_ONLY == true ]]; then
    rm -f "$LOG_DIR"/*.time.json
    convert_step || STATUS=$?  # one thread, as in the full run's convert lane
else
    rm -f "$LOG_DIR"/*.time.json
    teacher_lane & TEACHER=$!
    convert_lane & CONVERT=$!
    wait "$TEACHER" || STATUS=$?
    wait "$CONVERT" || STATUS=$?
fi
if [[ ${#TRANSFER_FLAG[@]} -gt 0 ]]; then
    TRANSFER_SETTING="${TRANSFER_FLAG[1]} steps"
else
    TRANSFER_SETTING="each variant's recipe"
fi
CONVERT_SETTING=(--setting "distilled conversion=attention transfer ($TRANSFER_SETTING) + $DISTILLATION_STEPS steps of model distillation, batch 16, no attention dropout")
TASK_SETTINGS=(
    --setting "STS-B fine-tunes=batch 16, ${STEPS_FLAG[*]}, lr 1e-4, 10% warm-up, max_seq_length 128"
    --setting "task teacher=attention transfer ($TRANSFER_SETTING), then the fine-tune with label weight 0.5, the student without attention dropout"
)
LANES_SETTING=(--setting "two lanes side by side, one torch thread each")
[[ $TASK_TEACHER_ONLY == true ]] && CONVERT_SETTING=()
[[ $TASK_FREE_ONLY == true ]] && TASK_SETTINGS=() && LANES_SETTING=(--setting "one torch thread")
run_stage collect "$PYTHON" scripts/collect_conversion.py --runs_dir "$RUNS_DIR" \
    --out_dir "$RESULTS_DIR" --setting "mode=$MODE" --setting "seed=$SEED (every run)" \
    "${TASK_SETTINGS[@]}" "${CONVERT_SETTING[@]}" "${LANES_SETTING[@]}" \
    --setting "conversion recipes=$("$PYTHON" -c 'import dataclasses; from lion_bert.conversion import CONVERSION_RECIPES as r; print({k: dataclasses.asdict(v) for k, v in r.items()})')"
cat "$RESULTS_DIR/conversion.md"
echo "=== [$(elapsed)] all done (exit status $STATUS): $RESULTS_DIR/conversion.md" >&2
exit "$STATUS"

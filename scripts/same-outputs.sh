#!/usr/bin/env bash
# Same outputs before and after a change: runs one fixed set of pads commands with the binary
# of BASE_REV and with the binary of the working tree, on this machine, and compares the
# files they write byte for byte.
#
#   scripts/same-outputs.sh BASE_REV          # e.g. HEAD~3, main, a commit id
#   BASE_BIN=/path/to/pads scripts/same-outputs.sh   # an already built base binary (no BASE_REV)
#   NEW_BIN=/path/to/pads ...                         # skip building the working tree too
#   SAME_OUTPUTS_DIR=DIR ...                          # where to work (default: target/same-outputs);
#                                                     # the folder is emptied first
#
# The commands: `pads synth` (a tiny synthetic set); a tiny PADS run and a tiny distance run
# (`pads train`: metrics.csv, pads_progression.jsonl, config.toml, summary.json, report.html,
# both checkpoints; the PNG plots, TensorBoard events and timing.csv are not compared);
# `pads eval`; `pads embed --split test` (embeddings.npy, labels.npy, paths.txt,
# classes.txt); `pads metrics --json` on those embeddings (one set and query/gallery);
# `pads export` (model.pt, preprocess.json; model.safetensors too if a future run uses
# resnet50); `pads search --json`; `pads compare` (compare.csv, compare.md); `pads data check
# --json`; every command's `--help`; and what each command prints on stdout (the seconds
# `pads synth` took left out). The WARN lines printed meanwhile come from the tiny runs'
# settings (a --tau beyond --n-epochs) and are expected. Both binaries run in the same
# folder, one after the other, so absolute paths in the outputs are equal. Exit 0 when every
# file is equal; otherwise the differing files are listed and the exit status is 1; 2 for a
# wrong call, which touches nothing.
set -euo pipefail
# Arguments first: a refused call touches nothing.
if [[ -n "${BASE_BIN:-}" && $# -gt 0 ]]; then
    echo "give BASE_REV or BASE_BIN, not both" >&2
    exit 2
fi
if [[ -z "${BASE_BIN:-}" && $# -eq 0 ]]; then
    echo "usage: $0 BASE_REV (or BASE_BIN=path $0)" >&2
    exit 2
fi
for bin in "${BASE_BIN:-}" "${NEW_BIN:-}"; do
    [[ -z "$bin" || -x "$bin" ]] || { echo "$bin is not an executable pads binary" >&2; exit 2; }
done
[[ -z "${SAME_OUTPUTS_DIR:-}" ]] || SAME_OUTPUTS_DIR="$(realpath -m "$SAME_OUTPUTS_DIR")"
[[ -z "${BASE_BIN:-}" ]] || BASE_BIN="$(realpath "$BASE_BIN")"
[[ -z "${NEW_BIN:-}" ]] || NEW_BIN="$(realpath "$NEW_BIN")"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
VENV="$REPO/.venv"
TORCH_ENV=(env VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" LIBTORCH_USE_PYTORCH=1)
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
WORK="${SAME_OUTPUTS_DIR:-$TARGET/same-outputs}"
rm -rf "$WORK"
mkdir -p "$WORK/bin/base" "$WORK/bin/new"

build_rev() { # REV -> $WORK/bin/base/pads, sharing target/ so only pads itself recompiles
    local rev="$1" tree="$WORK/base-tree"
    git worktree remove --force "$tree" 2>/dev/null || true
    git worktree add --detach "$tree" "$rev" >/dev/null
    (cd "$tree" && "${TORCH_ENV[@]}" CARGO_TARGET_DIR="$TARGET" cargo build --release --quiet --bin pads)
    cp "$TARGET/release/pads" "$WORK/bin/base/pads"
    git worktree remove --force "$tree"
}

if [[ -n "${BASE_BIN:-}" ]]; then
    cp "$BASE_BIN" "$WORK/bin/base/pads"
else
    echo "building $1 ..." >&2
    build_rev "$1"
fi
if [[ -n "${NEW_BIN:-}" ]]; then
    cp "$NEW_BIN" "$WORK/bin/new/pads"
else
    echo "building the working tree ..." >&2
    "${TORCH_ENV[@]}" cargo build --release --quiet --bin pads
    cp "$TARGET/release/pads" "$WORK/bin/new/pads"
fi

# The fixed commands, run in $WORK/run with binary $1; outputs collected in $2.
run_all() {
    local pads="$1" out="$2" d="$WORK/run"
    rm -rf "$d" && mkdir -p "$d" "$out"
    (
        cd "$d"
        export PADS_THREADS=2 PADS_LOG=warn
        local common=(--dataset synthetic --data-root data --arch small --image-size 32 --embed-dim 16
            --bs 16 --samples-per-class 4 --n-epochs 2 --lr 1e-3 --seed 5 --num-workers 2 --quiet)
        # The seconds a command took are not compared.
        "$pads" synth --out data/synthetic --classes 12 --per-class 10 --image-size 32 --seed 3 | sed 's/ in [0-9.]* s$//' >"$out/synth.txt"
        "$pads" --help >"$out/help.txt"
        for c in train eval embed export search metrics compare demo sweep synth summarize data "data check" "data resize" \
            bench "bench loader" "bench train-step" "bench miners" "bench search"; do
            "$pads" $c --help >"$out/help-${c// /-}.txt"
        done
        "$pads" data check "${common[@]:0:${#common[@]}-1}" --json >"$out/data-check.json" 2>"$out/data-check-stderr.txt" || true
        "$pads" train --out runs/pads "${common[@]}" --sampling pads --loss margin --policy-sample-freq 2 \
            --policy-metric-history 3 --eval-before >"$out/train-pads.txt"
        "$pads" train --out runs/distance "${common[@]}" --sampling distance --loss margin >"$out/train-distance.txt"
        for run in pads distance; do
            for f in config.toml metrics.csv pads_progression.jsonl summary.json checkpoint_last.safetensors checkpoint_best.safetensors skipped_images.csv report.html; do
                [[ -f runs/$run/$f ]] && cp "runs/$run/$f" "$out/$run-$f"
            done
        done
        "$pads" eval --run runs/pads --json --quiet >"$out/eval-pads.json"
        "$pads" eval --run runs/distance --checkpoint last --quiet >"$out/eval-distance.txt"
        "$pads" embed --run runs/pads --split test --out emb --quiet >"$out/embed.txt"
        for f in embeddings.npy labels.npy paths.txt classes.txt; do cp "emb/$f" "$out/embed-$f"; done
        "$pads" metrics --embeddings emb/embeddings.npy --labels emb/labels.npy --k 1,2,4 --json >"$out/metrics.json"
        "$pads" metrics --query-embeddings emb/embeddings.npy --query-labels emb/labels.npy \
            --gallery-embeddings emb/embeddings.npy --gallery-labels emb/labels.npy --k 1,5 --json >"$out/metrics-qg.json"
        "$pads" export --run runs/pads --out export >"$out/export.txt"
        cp export/preprocess.json "$out/export-preprocess.json"
        cp export/model.pt "$out/export-model.pt"
        [[ -f export/model.safetensors ]] && cp export/model.safetensors "$out/export-model.safetensors"
        "$pads" search --run runs/pads --gallery emb --query data/synthetic/images -k 3 --json >"$out/search.json"
        "$pads" compare runs/pads runs/distance --out cmp >"$out/compare.txt" 2>"$out/compare-warnings.txt"
        cp cmp/compare.csv "$out/compare.csv" && cp cmp/compare.md "$out/compare.md"
    )
}

echo "running the base binary ..." >&2
run_all "$WORK/bin/base/pads" "$WORK/base"
echo "running the new binary ..." >&2
run_all "$WORK/bin/new/pads" "$WORK/new"

status=0
for f in "$WORK"/base/*; do
    name="$(basename "$f")"
    if [[ ! -f "$WORK/new/$name" ]]; then
        echo "MISSING in new: $name"; status=1
    elif ! cmp -s "$f" "$WORK/new/$name"; then
        echo "DIFFERENT: $name"; status=1
    fi
done
for f in "$WORK"/new/*; do
    [[ -f "$WORK/base/$(basename "$f")" ]] || { echo "EXTRA in new: $(basename "$f")"; status=1; }
done
n=$(ls "$WORK/base" | wc -l)
if [[ $status -eq 0 ]]; then
    echo "same outputs: $n files byte-identical (base and new in $WORK)"
else
    echo "outputs differ (base and new in $WORK)"
fi
exit $status

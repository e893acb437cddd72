#!/usr/bin/env bash
# Every benchmark of docs/benchmarks.md, pads and its peer in the same run, same machine.
# Run through `make bench` (sets up the venv with the benchmark peers and builds pads).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PADS=target/release/pads
OUT=bench/results
mkdir -p "$OUT"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), torch threads $($PY -c 'import torch; print(torch.get_num_threads())')" | tee "$OUT/machine.txt"

echo "== 1. training iteration, pads vs PyTorch (alternating A B A B)"
$PY bench/compare_train.py --pads "$PADS" --arch small --image-size 64 --bs 112 --rounds 8 --iters 3 | tee "$OUT/train_small.json"
$PY bench/compare_train.py --pads "$PADS" --arch resnet50 --image-size 224 --bs 16 --rounds 5 --iters 2 | tee "$OUT/train_resnet50.json"
# What the allocator settings (src/allocator.rs) are worth: pads on glibc's defaults, and the
# peer given the same settings through glibc's tunables.
SAME_MALLOC=GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647
$PY bench/compare_train.py --pads "$PADS" --arch small --image-size 64 --bs 112 --rounds 8 --iters 3 \
  --pads-env PADS_SYSTEM_MALLOC=1 --label "pads on glibc malloc defaults" | tee "$OUT/train_small_system_malloc.json"
$PY bench/compare_train.py --pads "$PADS" --arch small --image-size 64 --bs 112 --rounds 8 --iters 3 \
  --peer-env "$SAME_MALLOC" --label "peer with pads' malloc settings" | tee "$OUT/train_small_peer_same_malloc.json"
$PY bench/compare_train.py --pads "$PADS" --arch resnet50 --image-size 224 --bs 16 --rounds 5 --iters 2 \
  --pads-env PADS_SYSTEM_MALLOC=1 --label "pads on glibc malloc defaults" | tee "$OUT/train_resnet50_system_malloc.json"
$PY bench/compare_train.py --pads "$PADS" --arch resnet50 --image-size 224 --bs 16 --rounds 5 --iters 2 \
  --peer-env "$SAME_MALLOC" --label "peer with pads' malloc settings" | tee "$OUT/train_resnet50_peer_same_malloc.json"

echo "== 2. miner + loss at bs 112, 128-d"
$PADS bench miners --bs 112 --dim 128 --reps 30 | tee "$OUT/miners_pads.json"
(cd bench && ../$PY peer_miners.py) | tee "$OUT/miners_peers.json"
# The Python miners (make python) against pytorch-metric-learning's, same batch, same process.
$PY bench/pml_miners.py 30 | tee "$OUT/miners_pml.json"

echo "== 3. evaluation, 60,000 x 128, 11,316 classes"
mkdir -p "$OUT/eval_data"
[ -f "$OUT/eval_data/embeddings.npy" ] || $PY bench/make_eval_data.py "$OUT/eval_data"
/usr/bin/time -f '{"seconds": %e, "peak_rss_mib": %M}' -o "$OUT/eval_pads_time.json" \
  $PADS metrics --embeddings "$OUT/eval_data/embeddings.npy" --labels "$OUT/eval_data/labels.npy" --k 1,10,100,1000 --json > "$OUT/eval_pads.json"
sed -i 's/"peak_rss_mib": \([0-9]*\)/"peak_rss_kib": \1/' "$OUT/eval_pads_time.json"
cat "$OUT/eval_pads_time.json" "$OUT/eval_pads.json"
$PY bench/peer_eval.py "$OUT/eval_data/embeddings.npy" "$OUT/eval_data/labels.npy" 1,10,100,1000 | tee "$OUT/eval_faiss.json"
# The Python package (make python): pads.evaluate against PML's AccuracyCalculator, same data.
$PY bench/py_eval.py "$OUT/eval_data/embeddings.npy" "$OUT/eval_data/labels.npy" --k 1,10,100,1000 | tee "$OUT/eval_python.json"

echo "== 4. loader, 224 px training transform from disk"
$PADS synth --out "$OUT/synth256/synthetic" --classes 20 --per-class 40 --image-size 256 > /dev/null
$PADS bench loader --dataset synthetic --data-root "$OUT/synth256" --image-size 224 --bs 112 --threads 1,2 --batches 6 | tee "$OUT/loader.json"
# Full-size photos (here 768 px JPEGs) against their `pads data resize` copy (shorter side 256).
if [ ! -d "$OUT/synth768jpg/synthetic" ]; then
  $PADS synth --out "$OUT/synth768/synthetic" --classes 20 --per-class 40 --image-size 768 > /dev/null
  $PY - "$OUT/synth768/synthetic" "$OUT/synth768jpg/synthetic" <<'PYEOF'
import os, sys
from PIL import Image
src, dst = sys.argv[1], sys.argv[2]
for d, _, files in os.walk(src):
    for f in files:
        if f.endswith(".png"):
            out = os.path.join(dst, os.path.relpath(d, src), f[:-4] + ".jpg")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            Image.open(os.path.join(d, f)).convert("RGB").save(out, quality=92)
PYEOF
fi
$PADS data resize --src "$OUT/synth768jpg" --out "$OUT/synth768jpg_256" --shorter-side 256 --json > "$OUT/resize.json"
$PADS bench loader --dataset synthetic --data-root "$OUT/synth768jpg" --image-size 224 --bs 112 --threads 2 --batches 6 | tee "$OUT/loader_full.json"
$PADS bench loader --dataset synthetic --data-root "$OUT/synth768jpg_256" --image-size 224 --bs 112 --threads 2 --batches 6 | tee "$OUT/loader_resized.json"

echo "== 4b. loader vs torchvision's DataLoader: photo-sized JPEGs, both transforms, 1 and 2 threads, with and without cached images (A B A B)"
$PY bench/loader_peer.py make "$OUT/photos"
$PADS bench loader --dataset synthetic --data-root "$OUT/photos" --image-size 224 --bs 112 --batches 4 --profile | tee "$OUT/loader_profile_train.json"
$PADS bench loader --dataset synthetic --data-root "$OUT/photos" --image-size 224 --bs 112 --batches 4 --profile --transform eval | tee "$OUT/loader_profile_eval.json"
$PY bench/loader_peer.py run --pads "$PADS" --data-root "$OUT/photos" --threads 1,2 --rounds 2 | tee "$OUT/loader_peer.jsonl"

echo "== 5. search: 1 and 1,000 queries against a 1,000,000 x 128 gallery, exact, k = 10"
SD="$OUT/search_data"
[ -f "$SD/gallery.npy" ] || $PY bench/make_search_data.py "$SD" --rows 1000000 --dim 128 --queries 1000
for Q in 1 1000; do
  $PADS bench search --gallery "$SD/gallery.npy" --queries "$SD/queries.npy" --n-queries $Q -k 10 > "$OUT/search_pads_$Q.json"
  $PY bench/peer_search.py "$SD/gallery.npy" "$SD/queries.npy" $Q 10 "$OUT/search_pads_$Q.json" | tee "$OUT/search_faiss_$Q.json"
  $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); d.pop("top1"); print(json.dumps(d))' "$OUT/search_pads_$Q.json"
done

$PY bench/report.py "$OUT" | tee "$OUT/summary.md"

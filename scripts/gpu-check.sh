#!/usr/bin/env bash
# The CUDA check of docs/gpu.md, for a machine with an NVIDIA GPU and PyTorch 2.11 (CUDA 13)
# in its python3. Uses a pads binary built on an x86-64 machine with `make build` (carried
# along as target/release/pads) and points it at this machine's libtorch. Under 8 minutes:
#  1. PyTorch vs pads, same ResNet50 training iteration at 224 px (bs 112, PADS miner), A B A B;
#  2. pads --device cuda training end to end on synthetic images generated here;
#  3. the 60k x 128 evaluation on the GPU and on the CPU: recall must be identical.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/pads-gpu-check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
TORCH_LIB=$($PY -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB:${LD_LIBRARY_PATH:-}"
PADS=${PADS:-target/release/pads}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
$PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))' | tee -a "$OUT/gpu.txt"

echo "== 1. training iteration: ResNet50, 224 px, bs 112, PADS miner"
for amp in off bf16; do
  $PY bench/compare_train.py --pads "$PADS" --arch resnet50 --image-size 224 --bs 112 --device cuda --rounds 6 --iters 5 \
    --sampling pads --amp $amp | tee "$OUT/train_resnet50_cuda_$amp.json"
done

echo "== 2. pads train --device cuda, end to end (decode + augment + PADS + eval)"
$PADS synth --out "$OUT/data/synthetic" --classes 40 --per-class 60 --image-size 256 > /dev/null
/usr/bin/time -f "%e s wall" $PADS train --device cuda --dataset synthetic --data-root "$OUT/data" --arch resnet50 --not-pretrained \
  --image-size 224 --bs 112 --samples-per-class 4 --sampling pads --policy-sample-freq 5 --n-epochs 2 --lr 1e-4 \
  --num-workers 16 --cache-images --quiet --out "$OUT/run" | tee "$OUT/train_e2e.txt"
cat "$OUT/run/timing.csv"

echo "== 3. evaluation 60,000 x 128 on GPU and CPU"
[ -f "$OUT/eval/embeddings.npy" ] || { mkdir -p "$OUT/eval"; $PY bench/make_eval_data.py "$OUT/eval"; }
for dev in cuda cpu; do
  /usr/bin/time -f "$dev %e s" $PADS metrics --device $dev --embeddings "$OUT/eval/embeddings.npy" --labels "$OUT/eval/labels.npy" \
    --k 1,10,100,1000 --json > "$OUT/eval_$dev.json"
done
$PY - "$OUT" <<'PYEOF'
import json, sys
out = sys.argv[1]
g, c = json.load(open(f"{out}/eval_cuda.json")), json.load(open(f"{out}/eval_cpu.json"))
same = all(g[k] == c[k] for k in g if k.startswith("recall@"))
print("GPU vs CPU recall identical:", same, {k: (g[k], c[k]) for k in g if k.startswith("recall@")})
for amp in ["off", "bf16"]:
    r = json.load(open(f"{out}/train_resnet50_cuda_{amp}.json"))
    print(f"amp {amp}: pads {r['pads_img_s']:.0f} img/s, PyTorch {r['pytorch_img_s']:.0f} img/s, pads/PyTorch time ratio {r['ratio']:.3f}")
PYEOF

#!/usr/bin/env python3
"""Runs the ORIGINAL PADS main.py (CVPR 2020) on CPU, patching only what needs a GPU or the
network; every other line of main.py and its modules runs as published.

  python bench/reference/run_original.py --original PATH --image-size 64 --result out.json -- \
      [main.py arguments: --dataset cub200 --source_path ... --not_pretrained ...]

Patches:
  - main.py's `torch.device('cuda')` -> `torch.device('cpu')` (the one source substitution);
  - `torch.cuda.FloatTensor` -> `torch.FloatTensor`; `nn.Module.cuda()` -> no-op;
  - `pretrainedmodels` (downloads weights) -> torchvision's resnet50 with `fc` renamed
    `last_linear`, as pretrainedmodels builds it, and pretrainedmodels' own bninception when
    the package is installed (only `pretrained=None`: bench/reference/original_stubs.py);
  - `wandb` -> absent (do not pass --wandb_log); faiss-cpu serves the faiss calls;
  - image size: the hard-coded 224 crops (and the 256 resize) scale to --image-size.
Writes --result: final and per-epoch test Recall@k / NMI / F1 and per-epoch seconds.
"""
import argparse, json, os, sys, time, types

ap = argparse.ArgumentParser()
ap.add_argument('--original', required=True)
ap.add_argument('--image-size', type=int, default=224)
ap.add_argument('--result', required=True)
ap.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: leave as is)')
ap.add_argument('main_args', nargs=argparse.REMAINDER)
args = ap.parse_args()
main_args = [a for a in args.main_args if a != '--']
ORIG = os.path.abspath(args.original)
RESULT = os.path.abspath(args.result)

import torch, torch.nn as nn, torchvision
if args.threads:
    torch.set_num_threads(args.threads)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import original_stubs  # noqa: E402  (pretrainedmodels without downloads, image size)
original_stubs.install(args.image_size)

sys.path.insert(0, ORIG)
os.chdir(ORIG)  # PADS_utilities chdir()s there on import anyway
src = open(os.path.join(ORIG, 'main.py')).read()
assert src.count("torch.device('cuda')") == 1, 'main.py changed: expected one torch.device(\'cuda\')'
src = src.replace("torch.device('cuda')", "torch.device('cpu')")
sys.argv = ['main.py'] + main_args
ns = {'__name__': '__main__', '__file__': os.path.join(ORIG, 'main.py')}
t0 = time.time()
try:
    exec(compile(src, os.path.join(ORIG, 'main.py'), 'exec'), ns)
except AttributeError as e:
    # The original's last step (training_summary.txt) reads `ov_title` of every sub-logger's
    # plotter, which exists only once that logger has plotted a group: a crash after
    # training. Training and evaluation are complete; results come from its logger.
    if 'ov_title' not in str(e) or 'LOG' not in ns:
        raise
    missing = [k for k, g in ns['LOG'].graph_writer.items() if not hasattr(g, 'ov_title')]
    print(f'run_original.py: the original crashed writing its training summary ({e}; sub-loggers never plotted: {missing}); '
          'results are read from its logger')
wall = time.time() - t0

LOG, opt = ns['LOG'], ns['opt']
test = LOG.progress_saver['Test'].groups
train = LOG.progress_saver['Train'].groups
recall = {k: test['Class_Recall'][f'Recall @ {k}']['content'] for k in opt.k_vals}
out = {
    'program': 'original', 'wall_seconds': wall, 'epochs': opt.n_epochs,
    'recall': {str(k): v for k, v in recall.items()},
    'nmi': test['Class_NMI']['NMI']['content'], 'f1': test['Class_F1']['F1']['content'],
    'train_seconds': train['time']['time']['content'], 'test_seconds': test['Time']['Time']['content'],
    'final': {'recall@1': recall[opt.k_vals[0]][-1], 'nmi': test['Class_NMI']['NMI']['content'][-1]},
    'args': main_args,
}
os.makedirs(os.path.dirname(RESULT), exist_ok=True)
json.dump(out, open(RESULT, 'w'), indent=1)
print(f'original: final Recall@1 {out["final"]["recall@1"]:.4f} NMI {out["final"]["nmi"]:.4f}, {wall:.1f} s')

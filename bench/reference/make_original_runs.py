#!/usr/bin/env python3
"""Run folders written by the ORIGINAL PADS code (CVPR 2020), for pads' import tests.

  python bench/reference/make_original_runs.py [--original PATH] [--out bench/out/original-runs]

On a tiny synthetic cub200 set (`pads synth`), runs the original main.py on CPU (through
run_original.py's stand-ins) three times, at the original's 224 px:
  CUB_R50   resnet50, margin loss, distance sampling, 1 epoch
  CUB_BNI   bninception (pretrainedmodels' class), same settings
  CUB_PADS  resnet50, learned sampler (PADS), 2 epochs, policy every 2 iterations
Each folder is what the original writes (hypa.pkl, checkpoint_Class.pth.tar, CSV_Logs, ...).
Then, per folder:
  - checkpoint_Class_legacy.pth.tar: the same checkpoint re-saved with
    `_use_new_zipfile_serialization=False` (PyTorch < 1.6's format);
  - original_test.npz: the test embeddings computed as sample_test.py does (hypa.pkl ->
    netlib.networkselect -> load_state_dict -> eval -> the testing dataloader), with the
    image paths (relative to the data root) and labels;
  - original_eval.json: aux.eval_metrics_one_dataset's Recall@k / NMI / F1 on them, as
    sample_test.py prints them.
Small copies for the committed fixtures (tests/fixtures/original/<run>/): hypa.pkl, and
checkpoint_slim(_legacy).pth.tar: the original checkpoint object with its state_dict cut to
the head's bias (opt, progress and aux are the original's own objects, re-saved).
Needs the venv with bench/reference/requirements.txt and target/release/pads.
"""
import argparse, json, os, shutil, subprocess, sys, collections

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
ap = argparse.ArgumentParser()
ap.add_argument('--original', default=None)
ap.add_argument('--out', default=os.path.join(ROOT, 'bench', 'out', 'original-runs'))
ap.add_argument('--fixtures', default=os.path.join(ROOT, 'tests', 'fixtures', 'original'))
ap.add_argument('--pads', default=os.path.join(ROOT, 'target', 'release', 'pads'))
ap.add_argument('--only', nargs='*', default=None, help='run names to (re)make')
ap.add_argument('--retrain', action='store_true', help='re-run the original even where its folder exists')
args = ap.parse_args()
if args.original is None:
    for d in (os.path.join(ROOT, '..', 'shared', 'reference', 'CVPR2020_PADS'),
              os.path.join(ROOT, 'shared', 'reference', 'CVPR2020_PADS')):
        if os.path.isfile(os.path.join(d, 'main.py')):
            args.original = os.path.abspath(d)
            break
ORIG = os.path.abspath(args.original or '')
if not os.path.isfile(os.path.join(ORIG, 'main.py')):
    sys.exit('make_original_runs.py: the original code is not found; pass --original PATH')
OUT = os.path.abspath(args.out)
DATA = os.path.join(OUT, 'data')
os.makedirs(OUT, exist_ok=True)

if not os.path.isdir(os.path.join(DATA, 'cub200', 'images')):
    subprocess.run([args.pads, 'synth', '--out', os.path.join(DATA, 'cub200'), '--classes', '12',
                    '--per-class', '8', '--image-size', '64', '--seed', '0'], check=True)

COMMON = ['--dataset', 'cub200', '--source_path', DATA, '--save_path', os.path.join(OUT, 'runs'),
          '--not_pretrained', '--bs', '8', '--samples_per_class', '2', '--embed_dim', '32',
          '--loss', 'marginloss', '--kernels', '0', '--seed', '0', '--k_vals', '1', '2', '4']
PADS = ['--sampling', 'learned', '--train_val_split', '0.67', '--policy_sample_freq', '2',
        '--policy_reward_type', '2', '--policy_state_metrics', 'recall', 'dists', 'nmi',
        '--policy_mode', 'ppo', '--policy_metric_history', '2', '--policy_action_values', '0.8', '1', '1.25',
        '--policy_old_update_iter', '2', '--policy_init_distr', 'uniform_low', '--policy_n_support', '30',
        '--policy_support_limit', '0.1', '1.4']
RUNS = {
    'CUB_R50': ['--arch', 'resnet50', '--sampling', 'distance', '--n_epochs', '1'],
    'CUB_BNI': ['--arch', 'bninception', '--sampling', 'distance', '--n_epochs', '4', '--lr', '0.0001'],
    'CUB_PADS': ['--arch', 'resnet50', '--n_epochs', '2'] + PADS,
}
names = args.only or list(RUNS)
env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '2'))
for name in names:
    folder = os.path.join(OUT, 'runs', 'cub200', name)
    if os.path.isfile(os.path.join(folder, 'checkpoint_Class.pth.tar')) and not args.retrain:
        continue
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    cmd = [sys.executable, os.path.join(HERE, 'run_original.py'), '--original', ORIG,
           '--result', os.path.join(OUT, name + '_train.json'), '--'] + COMMON + ['--savename', name] + RUNS[name]
    print('original:', name, flush=True)
    subprocess.run(cmd, check=True, env=env)

# Everything below reads the folders back the way sample_test.py does.
sys.path.insert(0, HERE)
import original_stubs
original_stubs.install(224)
sys.path.insert(0, ORIG)
cwd = os.getcwd()
os.chdir(ORIG)
import numpy as np, pickle, torch
import netlib, datasets, auxiliaries as aux
os.chdir(cwd)

for name in names:
    folder = os.path.join(OUT, 'runs', 'cub200', name)
    ckpt = torch.load(os.path.join(folder, 'checkpoint_Class.pth.tar'), map_location='cpu', weights_only=False)
    torch.save(ckpt, os.path.join(folder, 'checkpoint_Class_legacy.pth.tar'), _use_new_zipfile_serialization=False)

    opt = pickle.load(open(os.path.join(folder, 'hypa.pkl'), 'rb'))
    opt_as_saved = pickle.load(open(os.path.join(folder, 'hypa.pkl'), 'rb'))
    model = netlib.networkselect(opt)
    model.load_state_dict(ckpt['state_dict'])
    opt.source_path = os.path.join(DATA, opt.dataset)
    opt.kernels = 0
    loaders = datasets.give_dataloaders(opt.dataset, opt)
    opt.device = torch.device('cpu')
    model.eval()
    test = loaders['testing']
    feats, labels = [], []
    with torch.no_grad():
        for batch in test:
            labels.append(batch[0].numpy().reshape(-1))
            feats.append(model(batch[1]).numpy())
        metrics, _ = aux.eval_metrics_one_dataset(model, test, device=opt.device, k_vals=opt.k_vals, opt=opt,
                                                  evaltypes=['Class'])
    paths = [os.path.relpath(p[0], DATA) for p in test.dataset.image_list]
    np.savez(os.path.join(folder, 'original_test.npz'), embeddings=np.concatenate(feats).astype(np.float32),
             labels=np.concatenate(labels), paths=np.array(paths))
    m = metrics['Class']
    json.dump({'k_vals': list(opt.k_vals), 'recall': [float(r) for r in m['Recall@k']],
               'nmi': float(m['NMI']), 'f1': float(m['F1'])},
              open(os.path.join(folder, 'original_eval.json'), 'w'), indent=1)
    print(name, 'Recall@k', [round(float(r), 4) for r in m['Recall@k']], 'NMI', round(float(m['NMI']), 4), flush=True)

    # Small committed copies.
    fx = os.path.join(args.fixtures, name)
    os.makedirs(fx, exist_ok=True)
    shutil.copy(os.path.join(folder, 'hypa.pkl'), fx)
    head = collections.OrderedDict((k, v) for k, v in ckpt['state_dict'].items() if k.endswith('last_linear.bias'))
    slim = dict(ckpt, state_dict=head)
    torch.save(slim, os.path.join(fx, 'checkpoint_slim.pth.tar'))
    torch.save(slim, os.path.join(fx, 'checkpoint_slim_legacy.pth.tar'), _use_new_zipfile_serialization=False)
    # What Python reads from them, for the reader's tests: the history, the policy, the
    # distributions.
    seen = {'progress': {name: {g: {s: [float(x) for x in e['content']] for s, e in segs.items()}
                                for g, segs in saver.groups.items()} for name, saver in ckpt['progress'].items()},
            'epoch': int(ckpt['progress']['Train'].groups['epochs']['epochs']['content'][-1]),
            'aux': None if ckpt['aux'] is None else {k: [list(v.shape), float(v.double().sum())] for k, v in ckpt['aux'].items()},
            'options': {k: (v if isinstance(v, (bool, int, float, str, list, type(None))) else repr(v)) for k, v in vars(opt_as_saved).items()}}
    if os.path.isfile(os.path.join(folder, 'distr_progression.pkl')):
        shutil.copy(os.path.join(folder, 'distr_progression.pkl'), fx)
        d = pickle.load(open(os.path.join(folder, 'distr_progression.pkl'), 'rb'))
        seen['distributions'] = [[float(x) for x in p] for p in d['progression']]
    json.dump(seen, open(os.path.join(fx, 'python_reads.json'), 'w'), indent=1)
    if os.path.isdir(os.path.join(fx, 'CSV_Logs')):
        shutil.rmtree(os.path.join(fx, 'CSV_Logs'))
    shutil.copytree(os.path.join(folder, 'CSV_Logs'), os.path.join(fx, 'CSV_Logs'))
    json.dump(json.load(open(os.path.join(folder, 'original_eval.json'))), open(os.path.join(fx, 'original_eval.json'), 'w'), indent=1)
print('done:', OUT)

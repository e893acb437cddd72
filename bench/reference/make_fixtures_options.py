#!/usr/bin/env python3
"""Equivalence fixtures for the original's optional PADS training options: runs the ORIGINAL
code's own functions (CVPR2020_PADS: PADS_utilities.py, netlib.py, datasets.py) on fixed
inputs and writes tests/fixtures/reference/options.json, which tests/reference_options.rs
compares pads against:
  - StateMaker with no_avg=True (--policy_run_avgs_no_avg), parameter_history=-1 and
    include_train_metrics (state sizes);
  - Compute_Complete_Metrics.svd (the `svd` state metric; also the exact singular values,
    to measure what the randomized TruncatedSVD differs by);
  - Policy(w_init='base' / 'he_n') initialisation statistics (--policy_winit_type);
  - PADS.update with sup_metric_collect > 0: when sub-episode rewards are collected, the
    discounted reward metrics, and the policy's logged 'Gradient L2' / 'Gradient Max';
  - scramble_train_val: the re-drawn split's sizes per class / number of classes.
Stand-ins as make_fixtures.py (CUDA -> CPU, pretrainedmodels/wandb -> empty modules); the
validation metric computation inside PADS.update is scripted (its aggregation runs as is).
Usage: .venv/bin/python bench/reference/make_fixtures_options.py [--original PATH] [--out DIR]
"""
import argparse, json, os, sys, types, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
ap = argparse.ArgumentParser()
_default_orig = next((p for p in [os.path.join(REPO, '..', 'shared', 'reference', 'CVPR2020_PADS'),
                                  os.path.join(REPO, 'shared', 'reference', 'CVPR2020_PADS')]
                      if os.path.isdir(p)), os.path.join(REPO, '..', 'shared', 'reference', 'CVPR2020_PADS'))
ap.add_argument('--original', default=_default_orig)
ap.add_argument('--out', default=os.path.join(REPO, 'tests', 'fixtures', 'reference'))
args = ap.parse_args()
ORIG, OUT = os.path.abspath(args.original), os.path.abspath(args.out)
if not os.path.isfile(os.path.join(ORIG, 'PADS_utilities.py')):
    sys.exit(f'--original {ORIG}: PADS_utilities.py not found')
os.makedirs(OUT, exist_ok=True)

import numpy as np
import torch, torch.nn as nn

torch.cuda.FloatTensor = torch.FloatTensor
nn.Module.cuda = lambda self, *a, **k: self
for name in ['pretrainedmodels', 'pretrainedmodels.utils', 'wandb']:
    sys.modules[name] = types.ModuleType(name)
sys.modules['pretrainedmodels'].utils = sys.modules['pretrainedmodels.utils']
cwd = os.getcwd()
sys.path.insert(0, ORIG)
import PADS_utilities as rl      # chdir()s into ORIG on import
import datasets
os.chdir(cwd)

tmpdir = tempfile.mkdtemp(prefix='pads_fixtures_options_')
out = {}


def tolist(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x).tolist()


# ============ 1. StateMaker: no_avg, parameter_history -1, include_train_metrics ============
cases = []
for hist, avgs, phist, no_avg in [(3, [2, 4], 1, True), (1, [1, 3], 2, True), (4, [2, 8], -1, False), (4, [2, 8], -1, True)]:
    sm = rl.StateMaker(n_support=6, max_iter=1000, state_metrics=['recall', 'nmi', 'dists'], running_averages=avgs,
                       k_vals=[1, 2], metric_history=hist, parameter_history=phist, no_avg=no_avg)
    phist_used = sm.parameter_history  # the StateMaker's own rule for -1
    rs = np.random.RandomState(40 + hist)
    metric_coll, param_coll, calls = [], [], []
    for t in range(9):
        m = rs.uniform(0, 1, size=5).tolist()
        p = rs.dirichlet(np.ones(5)).tolist()
        it = 30 * (t + 1) + 1
        # as PADS.update builds the history lists (with the StateMaker's parameter history)
        metric_coll.append(m)
        while len(metric_coll) < np.clip(hist, 2, None):
            metric_coll.append(m)
        param_coll.append(p)
        while len(param_coll) < phist_used:
            param_coll.append(p)
        st = sm.make_state(metric_coll[-int(hist):], param_coll[-int(phist_used):], it)
        calls.append({'metrics': m, 'distribution': p, 'iteration': it, 'state': st.reshape(-1).tolist()})
    cases.append({'metric_history': hist, 'run_avgs': avgs, 'parameter_history': phist, 'no_avg': no_avg,
                  'max_iter': 1000, 'state_dim': sm.state_dim, 'calls': calls})
dims = []
for metrics_, train in [(['recall', 'nmi', 'dists'], True), (['recall', 'svd'], False), (['svd', 'nmi'], True)]:
    sm = rl.StateMaker(n_support=30, max_iter=10, state_metrics=metrics_, running_averages=[2, 8, 16, 32],
                       k_vals=[1, 2, 4, 8], metric_history=10, parameter_history=1, include_train_metrics=train)
    dims.append({'state_metrics': metrics_, 'include_train_metrics': train, 'state_dim': sm.state_dim})
out['state'] = {'cases': cases, 'dims': dims}

# ============ 2. The svd state metric ============
ccm = rl.Compute_Complete_Metrics(types.SimpleNamespace(dataset=types.SimpleNamespace(avail_classes=[0, 1])),
                                  None, 'Val', k_vals=[1])
svd_cases = []
rs = np.random.RandomState(5)
for n, d, spread in [(40, 8, 1.0), (150, 32, 1.0), (120, 48, 1.0), (60, 16, 0.2), (25, 3, 1.0), (20, 32, 1.0)]:
    e = rs.randn(n, d) * np.linspace(1, spread * 3, d)
    # unit rows, written with 6 decimals: the stored numbers are exactly the float32 matrix used
    e = np.round(e / np.linalg.norm(e, axis=1, keepdims=True), 6).astype(np.float32)
    case = {'embeddings': [[round(float(x), 6) for x in row] for row in e],
            'exact_singular_values': np.linalg.svd(e.astype(np.float64), compute_uv=False).tolist()}
    try:
        case['svd'] = float(ccm.svd(e)[0])
        from sklearn.decomposition import TruncatedSVD
        case['randomized_singular_values'] = TruncatedSVD(n_components=d - 1, n_iter=7, random_state=42).fit(e).singular_values_.tolist()
    except ValueError as err:   # fewer rows than D - 1: entropy() of arrays of two lengths
        case['svd'] = None
        case['error'] = str(err)
    svd_cases.append(case)
out['svd'] = svd_cases

# ============ 3. Policy weight init (w_init) ============
winit = {}
for w_init in ['none', 'base', 'he_n']:
    torch.manual_seed(3)
    pol = rl.Policy(300, 29, [256, 128], [0.5, 1, 1.5], use_a2c=True, w_init=w_init)
    winit[w_init] = {k: {'shape': list(v.shape), 'mean': float(v.mean()), 'std': float(v.std()) if v.numel() > 1 else None,
                         'max_abs': float(v.abs().max())}
                     for k, v in pol.state_dict().items()}
out['winit'] = {'input_dim': 300, 'output_dim': 29, 'policy_size': [256, 128], 'stats': winit}


# ============ 4. PADS.update with sub-episode rewards; the policy's gradient numbers ============
class _Saver:
    def __init__(self):
        self.logged = []

    def log(self, name, value, group=None):
        self.logged.append((name, float(value)))


class _Logger:
    def __init__(self):
        self.progress_saver = {'RL-Policy': _Saver(), 'Val': _Saver()}
        self.save_path = tmpdir


def build_pads(sample_frequency, sup, mode='ppo', use_a2c=True):
    n_support = 6
    general = {'policy_lr': 0.01, 'logger': _Logger(), 'logname': 'RL-Policy', 'old_policy_update': 2,
               'metric_history': 3, 'mode': mode, 'parameter_history': 1, 'ppo_ratio': 0.2, 'call_delay': 0,
               'sample_frequency': sample_frequency, 'sup_metric_collect': sup, 'wandb_log': False, 'ema_alpha': 0.05,
               'reward_update_w': 0.99, 'log_distr_plots': False}
    smp = {'n_support': n_support, 'max_iter': 100, 'num_v_classes': 2, 'state_metrics': ['recall'],
           'running_averages': [2, 4], 'no_avg': False, 'include_train_metrics': False, 'k_vals': [1],
           'metric_history': 3, 'parameter_history': 1}
    pp = {'output_dim': n_support - 1, 'policy_size': [16, 16], 'action_values': [0.8, 1, 1.25],
          'use_a2c': use_a2c, 'w_init': 'none'}
    sp = {'n_support': n_support, 'support_limit': [0.1, 1.4], 'include_same': True, 'init_distr': 'uniform_low',
          'include_pos': True, 'save_path': tmpdir, 'wandb_log': False, 'merge_oobs': False}
    vp = {'logger': general['logger'], 'logname': 'Val', 'reward_type': 1,
          'dataloader': types.SimpleNamespace(dataset=types.SimpleNamespace(avail_classes=[0, 1])),
          'k_vals': [1], 'state_metrics': ['recall'], 'wandb_log': False}
    pads = rl.PADS(general_pars=general, state_maker_pars=smp, policy_pars=pp, sampler_pars=sp, val_pars=vp)
    criterion = types.SimpleNamespace(sampler=None)
    pads.assign_sampler(criterion)
    return pads, criterion, general['logger']


sup_cases = []
for M, S, n_calls in [(10, 1, 45), (10, 3, 45), (7, 2, 40), (30, 4, 100), (6, -1, 30)]:
    torch.manual_seed(11)
    np.random.seed(11)
    pads, criterion, logger = build_pads(M, S)
    init_weights = {k: tolist(v) for k, v in pads.policy.state_dict().items()}
    rs = np.random.RandomState(M * 10 + S)
    values = rs.uniform(0.1, 0.9, size=1000).tolist()
    log = {'computes': []}

    def compute(model, log=log, values=values):
        x = values[len(log['computes'])]
        log['computes'].append(x)
        return x, [x]
    pads.calc_val_metrics.compute = compute
    calls = []
    for c in range(1, n_calls + 1):
        n_before, steps_before = len(log['computes']), pads.call_count
        saver = logger.progress_saver['RL-Policy']
        n_logged = len(saver.logged)
        pads.update(criterion, None, c, 0)
        rec = {'call': c, 'computes': log['computes'][n_before:], 'step': pads.call_count > steps_before}
        if rec['step']:
            rec['actions'] = pads.used_actions.tolist()
            rec['reward_metric'] = float(pads.reward_metric_collect[-1])
            rec['distribution'] = criterion.sampler.distr.tolist()
            grads = dict(saver.logged[n_logged:])
            rec['grad_l2'] = grads.get('Gradient L2')
            rec['grad_max'] = grads.get('Gradient Max')
        calls.append(rec)
    sup_cases.append({'sample_freq': M, 'sup_metric_collect': S, 'max_iter': 100, 'init_weights': init_weights,
                      'calls': calls})
out['sup_metric_collect'] = sup_cases


# ============ 5. scramble_train_val ============
class _Opt(types.SimpleNamespace):
    pass


def dataset(image_dict, is_val):
    opt = _Opt(arch='resnet50')
    return datasets.BaseTripletDataset({k: list(v) for k, v in image_dict.items()}, opt, samples_per_class=2, is_validation=is_val)


scramble = []
counts = [2, 3, 4, 5, 7, 10, 13, 20, 31, 9]
pool = {c: [f'c{c:02d}/img_{j:03d}.jpg' for j in range(n)] for c, n in enumerate(counts)}
for by_class, share in [(False, 0.85), (False, 0.5), (True, 0.85), (True, 0.5)]:
    if by_class:
        keys = sorted(pool)
        n_tr = int(len(keys) * share)
        tr, va = {k: pool[k] for k in keys[:n_tr]}, {k: pool[k] for k in keys[n_tr:]}
    else:   # the CUB loader's evenly spaced per-class split
        tr, va = {}, {}
        for k, v in pool.items():
            ixs = np.array(list(set(np.round(np.linspace(0, len(v) - 1, int(len(v) * share)))))).astype(int)
            tr[k] = [v[i] for i in ixs]
            va[k] = [v[i] for i in range(len(v)) if i not in ixs]
    train_dl = types.SimpleNamespace(dataset=dataset(tr, False))
    val_dl = types.SimpleNamespace(dataset=dataset(va, True))
    holder = types.SimpleNamespace()
    np.random.seed(0)
    rl.scramble_train_val(train_dl, val_dl, holder, share, by_class)
    cls = lambda paths: sorted({p.split('/')[0] for p in paths})
    t_img = sorted(str(p) for v in train_dl.dataset.image_dict.values() for p in v)
    v_img = sorted(str(p) for v in val_dl.dataset.image_dict.values() for p in v)
    per_class = {c: [sum(p.startswith(c + '/') for p in t_img), sum(p.startswith(c + '/') for p in v_img)]
                 for c in cls(t_img + v_img)}
    scramble.append({'by_class': by_class, 'share': share, 'class_sizes': counts,
                     'train_classes': len(train_dl.dataset.image_dict), 'val_classes': len(val_dl.dataset.image_dict),
                     'per_class': per_class, 'images': len(t_img) + len(v_img)})
out['scramble'] = scramble

path = os.path.join(OUT, 'options.json')
with open(path, 'w') as f:
    json.dump(out, f, separators=(',', ':'), allow_nan=False)
print(f'{path}: {os.path.getsize(path)} bytes')

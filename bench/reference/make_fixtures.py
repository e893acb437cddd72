#!/usr/bin/env python3
"""Equivalence fixtures: runs the ORIGINAL PADS code (CVPR 2020, MIT) on fixed inputs and
writes its outputs to tests/fixtures/reference/*.json, which tests/reference.rs compares
pads against. The original's modules are imported as they are; stand-ins replace only what
needs CUDA or a missing service:
  - torch.cuda.FloatTensor -> torch.FloatTensor, nn.Module.cuda -> no-op (CPU);
  - `pretrainedmodels` (weight download) and `wandb` (service) -> empty modules;
  - the validation embedding pass of Compute_Complete_Metrics -> scripted metric values
    (its reward/state aggregation code runs as it is);
  - numpy/python random draws are recorded (candidate sets, probabilities) where the
    original draws them inline.
Deps: bench/reference/requirements.txt (+ torch, numpy). Usage:
  .venv/bin/python bench/reference/make_fixtures.py [--original PATH] [--out DIR]
"""
import argparse, json, os, sys, types, tempfile, random, itertools

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))

ap = argparse.ArgumentParser()
_default_orig = next((p for p in [os.path.join(REPO, '..', 'shared', 'reference', 'CVPR2020_PADS'),
                                  os.path.join(REPO, 'shared', 'reference', 'CVPR2020_PADS')]
                      if os.path.isdir(p)), os.path.join(REPO, '..', 'shared', 'reference', 'CVPR2020_PADS'))
ap.add_argument('--original', default=_default_orig,
                help='folder of the original code (default ../shared/reference/CVPR2020_PADS from the repo, '
                     'else shared/reference/CVPR2020_PADS inside it)')
ap.add_argument('--out', default=os.path.join(REPO, 'tests', 'fixtures', 'reference'))
args = ap.parse_args()
ORIG = os.path.abspath(args.original)
OUT = os.path.abspath(args.out)
if not os.path.isfile(os.path.join(ORIG, 'PADS_utilities.py')):
    sys.exit(f'--original {ORIG}: PADS_utilities.py not found (the original CVPR2020_PADS folder expected)')
os.makedirs(OUT, exist_ok=True)

import numpy as np
import torch, torch.nn as nn

# ---- stand-ins (CUDA, weight download, wandb) ----
torch.cuda.FloatTensor = torch.FloatTensor
nn.Module.cuda = lambda self, *a, **k: self
for name in ['pretrainedmodels', 'pretrainedmodels.utils', 'wandb']:
    sys.modules[name] = types.ModuleType(name)
sys.modules['pretrainedmodels'].utils = sys.modules['pretrainedmodels.utils']

cwd = os.getcwd()
sys.path.insert(0, ORIG)
import PADS_utilities as rl      # chdir()s into ORIG on import
import losses, datasets, auxiliaries as aux
os.chdir(cwd)
import faiss
from sklearn import metrics as skm


def _clean(x):
    """NaN (e.g. the std of a one-element tensor) -> null: JSON has no NaN."""
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def dump(name, obj):
    path = os.path.join(OUT, name + '.json')
    with open(path, 'w') as f:
        json.dump(_clean(obj), f, separators=(',', ':'), allow_nan=False)
    print(f'{path}: {os.path.getsize(path)} bytes')


def tolist(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x).tolist()


def unit_batch(rs, n, dim, spread=1.0):
    e = rs.randn(n, dim) * spread
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    return e.astype(np.float32)


class Recorder:
    """Wraps np.random.choice / random.sample to record their arguments, drawing from a
    seeded generator so the original's control flow is unchanged."""
    def __init__(self, seed):
        self.rs = np.random.RandomState(seed)
        self.calls = []
        self.orig_choice = np.random.choice
        self.orig_sample = random.sample

    def choice(self, a, size=None, replace=True, p=None):
        pop = np.arange(a) if np.isscalar(a) else np.asarray(a)
        out = self.rs.choice(a, size=size, replace=replace, p=p)
        self.calls.append({'population': pop.tolist(), 'p': None if p is None else np.asarray(p, dtype=np.float64).tolist(),
                           'out': np.asarray(out).tolist()})
        return out

    def sample(self, population, k):
        out = self.orig_sample(list(population), k)
        self.calls.append({'population': [list(map(int, t)) for t in population], 'k': k})
        return out

    def __enter__(self):
        np.random.choice = self.choice
        random.sample = self.sample
        return self

    def __exit__(self, *a):
        np.random.choice = self.orig_choice
        random.sample = self.orig_sample


tmpdir = tempfile.mkdtemp(prefix='pads_fixtures_')

# ============ 1. Initial distributions, binning, negative probabilities, updates ============
INITS = ['random', 'uniform_low', 'uniform_avg', 'uniform_high', 'uniform_low_and_tight', 'uniform_lowish_and_tight',
         'normal_low', 'normal_avg', 'normal_high', 'heavyside_low', 'distance']
distr = {'inits': []}
for n_support, lim in [(30, [0.1, 1.4]), (12, [0.2, 1.8])]:
    for name in INITS:
        s = rl.Parametric_Sampler(n_support, lim, save_path=tmpdir, init_distr=name)
        distr['inits'].append({'n_support': n_support, 'limits': lim, 'init': name, 'probs': s.distr.tolist()})

# update_sample_distr over several calls (values reach the clip bounds)
s = rl.Parametric_Sampler(8, [0.1, 1.4], save_path=tmpdir, init_distr='uniform_low')
rs = np.random.RandomState(3)
steps = []
for t in range(12):
    mult = rs.choice([1e-4, 0.5, 1.0, 1.5, 1e4], size=7)
    s.update_sample_distr(mult)
    steps.append({'multipliers': mult.tolist(), 'probs': s.distr.tolist(), 'unnormalised': s.no_norm_distr.tolist()})
distr['updates'] = {'n_support': 8, 'limits': [0.1, 1.4], 'init': 'uniform_low', 'steps': steps}

# negative probabilities of the PADS sampler (give), every self-regularisation combination
rs = np.random.RandomState(5)
emb = unit_batch(rs, 16, 6)
labels = np.repeat(np.arange(4), 4)
neg = []
for include_pos, include_same in [(True, True), (False, False), (True, False), (False, True)]:
    s = rl.Parametric_Sampler(10, [0.1, 1.4], save_path=tmpdir, init_distr='uniform_low', include_pos=include_pos,
                              include_same=include_same, merge_oobs=False)
    w = rs.uniform(0.05, 1.0, size=9)
    s.no_norm_distr = w; s.distr = s.norm(w)
    with Recorder(11) as rec:
        trip = s.give(torch.from_numpy(emb), labels)
    # per anchor: one positive choice (population), then one negative choice (population, p)
    per_anchor = []
    for i in range(len(labels)):
        pc, nc = rec.calls[2 * i], rec.calls[2 * i + 1]
        full = np.zeros(len(labels))
        full[np.asarray(nc['population'])] = nc['p']
        per_anchor.append({'positives': pc['population'], 'negative_probs': full.tolist()})
    neg.append({'include_pos': include_pos, 'include_same': include_same, 'distribution': s.distr.tolist(),
                'per_anchor': per_anchor})
distr['negatives'] = {'embeddings': emb.tolist(), 'labels': labels.tolist(), 'n_support': 10, 'limits': [0.1, 1.4],
                      'cases': neg}
# distances of the sampler's pdist and their bins (support[1:-1] comparison)
s = rl.Parametric_Sampler(10, [0.1, 1.4], save_path=tmpdir)
d = s.pdist(torch.from_numpy(emb)).numpy()
bins = np.sum((d.reshape(-1) > s.support[1:-1].reshape(-1, 1)).T, axis=1).reshape(d.shape)
distr['bins'] = {'distances': d.reshape(-1).astype(np.float64).tolist(), 'bins': bins.reshape(-1).tolist(),
                 'support': s.support.tolist()}
dump('distribution', distr)

# ============ 2. State vectors ============
state_cases = []
for hist, avgs, phist, no_avg in [(3, [2, 4], 1, False), (1, [2], 2, False), (20, [2, 8, 16, 32], 1, False)]:
    sm = rl.StateMaker(n_support=6, max_iter=1000, state_metrics=['recall', 'nmi', 'dists'], running_averages=avgs,
                       k_vals=[1, 2], metric_history=hist, parameter_history=phist, no_avg=no_avg)
    rs = np.random.RandomState(hist)
    metric_coll, param_coll, out = [], [], []
    calls = []
    for t in range(6):
        m = rs.uniform(0, 1, size=5).tolist()
        p = rs.dirichlet(np.ones(5)).tolist()
        it = 30 * (t + 1) + 1
        # as PADS.update builds the history lists
        metric_coll.append(m)
        while len(metric_coll) < np.clip(hist, 2, None):
            metric_coll.append(m)
        param_coll.append(p)
        while len(param_coll) < phist:
            param_coll.append(p)
        st = sm.make_state(metric_coll[-int(hist):], param_coll[-int(phist):], it)
        calls.append({'metrics': m, 'distribution': p, 'iteration': it, 'state': st.reshape(-1).tolist()})
    state_cases.append({'metric_history': hist, 'run_avgs': avgs, 'parameter_history': phist, 'max_iter': 1000,
                        'state_dim': sm.state_dim, 'calls': calls})
dump('state', {'cases': state_cases})

# ============ 3. Policy updates (REINFORCE / PPO x A2C / EMA) through PADS.update ============
class _Saver:
    def log(self, *a, **k):
        pass


class _Logger:
    def __init__(self):
        self.progress_saver = {'RL-Policy': _Saver(), 'Val': _Saver()}
        self.save_path = tmpdir


class _Data:
    """One-batch stand-in for the validation dataloader (the embedding pass is not under test)."""
    def __init__(self):
        self.dataset = types.SimpleNamespace(avail_classes=[0, 1])

    def __iter__(self):
        return iter([(torch.tensor([0, 1]), torch.zeros(2, 2))])


def scripted_metrics(seq):
    """compute_metric(mode) returning scripted values; the original aggregation code runs."""
    it = {'i': 0}

    def compute_metric(mode):
        vals = seq[it['i']]
        if mode == 'dists':
            it['i'] += 0  # dists is read last in ['recall','nmi','dists']
        return lambda e, l, mode=mode: vals[mode]
    return compute_metric, it


def build_pads(mode, use_a2c, sample_frequency=3, call_delay=0):
    n_support, k_vals, hist, avgs = 6, [1, 2], 3, [2, 4]
    state_metrics = ['recall', 'nmi', 'dists']
    general = {'policy_lr': 0.01, 'logger': _Logger(), 'logname': 'RL-Policy', 'old_policy_update': 2,
               'metric_history': hist, 'mode': mode, 'parameter_history': 1, 'ppo_ratio': 0.2, 'call_delay': call_delay,
               'sample_frequency': sample_frequency, 'sup_metric_collect': -1, 'wandb_log': False, 'ema_alpha': 0.05,
               'reward_update_w': 0.99, 'log_distr_plots': False}
    smp = {'n_support': n_support, 'max_iter': 100, 'num_v_classes': 2, 'state_metrics': state_metrics,
           'running_averages': avgs, 'no_avg': False, 'include_train_metrics': False, 'k_vals': k_vals,
           'metric_history': hist, 'parameter_history': 1}
    pp = {'output_dim': n_support - 1, 'policy_size': [16, 16], 'action_values': [0.8, 1, 1.25],
          'use_a2c': use_a2c, 'w_init': 'none'}
    sp = {'n_support': n_support, 'support_limit': [0.1, 1.4], 'include_same': True, 'init_distr': 'uniform_low',
          'include_pos': True, 'save_path': tmpdir, 'wandb_log': False, 'merge_oobs': False}
    vp = {'logger': general['logger'], 'logname': 'Val', 'reward_type': 2, 'dataloader': _Data(), 'k_vals': k_vals,
          'state_metrics': state_metrics, 'wandb_log': False}
    pads = rl.PADS(general_pars=general, state_maker_pars=smp, policy_pars=pp, sampler_pars=sp, val_pars=vp)
    criterion = types.SimpleNamespace(sampler=None)
    pads.assign_sampler(criterion)
    return pads, criterion, (n_support, k_vals, hist, avgs)


policy_cases = []
for mode, use_a2c in [('reinforce', True), ('reinforce', False), ('ppo', True), ('ppo', False)]:
    torch.manual_seed(7)
    np.random.seed(7)
    pads, criterion, (n_support, k_vals, hist, avgs) = build_pads(mode, use_a2c)
    init_weights = {k: tolist(v) for k, v in pads.policy.state_dict().items()}
    rs = np.random.RandomState(17)
    seq = []
    for t in range(7):
        r = sorted(rs.uniform(0.2, 0.8, size=2).tolist())
        seq.append({'recall': r, 'nmi': [float(rs.uniform(0.3, 0.7))],
                    'dists': [float(rs.uniform(0.1, 0.5)), float(rs.uniform(0.5, 0.9))]})
    probe = torch.from_numpy(np.random.RandomState(23).uniform(0, 1, size=(1, pads.state_maker.state_dim)).astype(np.float32))
    calls = []
    step = {'i': 0}
    pads.calc_val_metrics.compute_metric = lambda m: (lambda e, l: seq[step['i']][m])
    net = lambda x: x
    training_iter = 0
    for t in range(len(seq)):
        step['i'] = t
        # force a policy step on this call (the timing is tested separately)
        pads.train_iter_before_update = pads.sample_frequency
        training_iter += 10
        with Recorder(100 + t) as rec:
            pads.update(criterion, net, training_iter, 0)
        actions = pads.used_actions.tolist()
        with torch.no_grad():
            v, logits = pads.policy(probe)
        calls.append({'metrics': seq[t], 'iteration': training_iter, 'actions': actions,
                      'distribution': criterion.sampler.distr.tolist(),
                      'reward_metric': float(pads.reward_metric_collect[-1]),
                      'probe_logits': tolist(logits.reshape(-1)), 'probe_value': None if v is None else float(v.reshape(-1)[0]),
                      'old_probe_logits': tolist(pads.old_policy(probe)[1].reshape(-1)) if mode == 'ppo' else None})
    policy_cases.append({'mode': mode, 'use_a2c': use_a2c, 'n_support': n_support, 'k_vals': k_vals,
                         'metric_history': hist, 'run_avgs': avgs, 'policy_size': [16, 16],
                         'action_values': [0.8, 1, 1.25], 'old_update_iter': 2, 'policy_lr': 0.01, 'max_iter': 100,
                         'state_dim': pads.state_maker.state_dim, 'init_weights': init_weights,
                         'probe_state': tolist(probe.reshape(-1)), 'calls': calls})
dump('policy', {'cases': policy_cases})

# Policy initialisation statistics (torch.nn.Linear, --policy_winit_type none)
torch.manual_seed(0)
pol = rl.Policy(198, 29, [128, 128], [0.5, 1, 1.5], use_a2c=True)
init_stats = {k: {'shape': list(v.shape), 'max_abs': float(v.abs().max()), 'std': float(v.std())}
              for k, v in pol.state_dict().items()}
state = torch.from_numpy(np.random.RandomState(0).uniform(0, 1, size=(64, 198)).astype(np.float32))
with torch.no_grad():
    _, logits = pol(state)
init_stats['_logit_std_on_uniform_states'] = float(logits.std())

# ============ 4. Losses and gradients ============
rs = np.random.RandomState(9)
emb = unit_batch(rs, 12, 5)
labels = np.repeat(np.arange(4), 3)
trip = [[a, int(rs.choice(np.where((labels == labels[a]) & (np.arange(12) != a))[0])),
         int(rs.choice(np.where(labels != labels[a])[0]))] for a in range(12)]
loss_cases = []
for beta_constant in [False, True]:
    for margin in [0.2, 0.05]:
        crit = losses.MarginLoss(margin=margin, nu=0, beta=1.0 if beta_constant else 0.0, n_classes=4,
                                 beta_constant=beta_constant, sampling_method='random')
        if not beta_constant:
            with torch.no_grad():
                crit.beta.copy_(torch.tensor([0.9, 1.1, 1.3, 0.2]))
        crit.sampler = lambda b, l, g, trip=trip: trip
        x = torch.from_numpy(emb).clone().requires_grad_(True)
        loss = crit(x, labels)
        loss.backward()
        loss_cases.append({'loss': 'margin', 'margin': margin, 'beta_constant': beta_constant,
                           'beta': [1.0] * 4 if beta_constant else [0.9, 1.1, 1.3, 0.2], 'value': float(loss),
                           'grad_emb': tolist(x.grad.reshape(-1)),
                           'grad_beta': None if beta_constant else tolist(crit.beta.grad)})
for margin in [0.2, 1.0]:
    crit = losses.TripletLoss(margin=margin, sampling_method='random')
    crit.sampler = types.SimpleNamespace(give=lambda b, l, trip=trip: trip)
    x = torch.from_numpy(emb).clone().requires_grad_(True)
    loss = crit(x, labels)
    loss.backward()
    loss_cases.append({'loss': 'triplet', 'margin': margin, 'value': float(loss), 'grad_emb': tolist(x.grad.reshape(-1))})
dump('losses', {'embeddings': emb.tolist(), 'labels': labels.tolist(), 'triplets': trip, 'cases': loss_cases,
                'policy_init': init_stats})

# ============ 5. Fixed miners: candidate sets and weights ============
rs = np.random.RandomState(13)
miners = {}
for bs, spc, dim in [(12, 3, 4), (16, 2, 8)]:
    emb = unit_batch(rs, bs, dim)
    labels = np.repeat(np.arange(bs // spc), spc)
    case = {'embeddings': emb.tolist(), 'labels': labels.tolist()}
    smp = losses.Sampler('semihard')
    with Recorder(1) as rec:
        smp.give(torch.from_numpy(emb), labels)
    case['semihard'] = [{'positive': rec.calls[2 * i]['out'], 'positives': rec.calls[2 * i]['population'],
                         'negatives': rec.calls[2 * i + 1]['population']} for i in range(bs)]
    smp = losses.Sampler('softhard')
    with Recorder(2) as rec:
        smp.give(torch.from_numpy(emb), labels)
    case['softhard'] = [{'positives': rec.calls[2 * i]['population'], 'negatives': rec.calls[2 * i + 1]['population']}
                        for i in range(bs)]
    smp = losses.Sampler('distance')
    with Recorder(3) as rec:
        smp.give(torch.from_numpy(emb), labels)
    case['distance'] = [{'positives': rec.calls[2 * i]['population'], 'weights': rec.calls[2 * i + 1]['p']}
                        for i in range(bs)]
    smp = losses.Sampler('random')
    with Recorder(4) as rec:
        out = smp.give(torch.from_numpy(emb), labels)
    case['random'] = {'population_size': len(rec.calls[0]['population']),
                      'population': sorted(rec.calls[0]['population']), 'drawn': len(out),
                      'distinct_drawn': len(set(map(tuple, out)))}
    miners[f'bs{bs}_spc{spc}'] = case
dump('miners', miners)

# ============ 6. Metrics: Recall@k, NMI, F1, class distances, faiss k-means settings ============
rs = np.random.RandomState(21)
labels = np.repeat(np.arange(5), [3, 4, 2, 5, 6])
emb = unit_batch(rs, len(labels), 4, 1.0) + 0.6 * np.eye(5, 4)[labels].astype(np.float32)
emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
ccm = rl.Compute_Complete_Metrics(_Data(), _Logger(), 'Val', k_vals=[1, 2, 4, 8])
recall = ccm.recall(emb, labels.reshape(-1, 1))
intra, inter = ccm.dists(emb, labels.reshape(-1, 1))
clusters = rs.randint(0, 5, size=len(labels))
nmi = skm.cluster.normalized_mutual_info_score(clusters, labels)
centroids = np.stack([emb[clusters == c].mean(0) if (clusters == c).any() else np.zeros(4, np.float32) for c in range(5)])
f1 = aux.f1_score(clusters, labels, emb, centroids)
c = faiss.Clustering(4, 5)
niter_default = c.niter
c.n_iter = 20  # what the original's validation metrics set
niter_after_n_iter = c.niter
c2 = faiss.Clustering(4, 5)
c2.niter = 20  # what the original's test evaluation sets
dump('metrics', {'embeddings': emb.tolist(), 'labels': labels.tolist(), 'k_vals': [1, 2, 4, 8], 'recall': recall,
                 'intra': intra, 'inter': inter, 'clusters': clusters.tolist(), 'nmi': nmi, 'f1': f1,
                 'faiss': {'version': faiss.__version__, 'niter_default': niter_default,
                           'niter_after_setting_n_iter_20': niter_after_n_iter, 'niter_test': c2.niter}})

# ============ 7. Splits (CUB and SOP loaders) and batch sampler statistics ============
root = os.path.join(tmpdir, 'cub200')
counts = [1, 2, 3, 5, 7, 10, 13, 20, 31, 60, 4, 4]
for ci, n in enumerate(counts):
    dd = os.path.join(root, 'images', f'{ci + 1:03d}.c{ci + 1}')
    os.makedirs(dd)
    for j in range(n):
        open(os.path.join(dd, f'img_{j:03d}.jpg'), 'wb').close()
split_cases = []
for by_class, share in [(False, 0.85), (False, 0.5), (False, 0.9), (True, 0.85), (True, 0.5)]:
    opt = types.SimpleNamespace(source_path=root, sampling='learned', train_val_split=share,
                                train_val_split_by_class=by_class, samples_per_class=2, arch='resnet50', dataset='cub200')
    np.random.seed(0)
    ds = datasets.give_CUB200_datasets(opt)
    name = lambda p: os.path.relpath(p, os.path.join(root, 'images'))
    tr = {ds['training'].conversion[k + 1] if False else str(k): sorted(name(p) for p in v)
          for k, v in zip(range(len(ds['training'].image_dict)), ds['training'].image_dict.values())}
    train_names = sorted(name(p) for v in ds['training'].image_dict.values() for p in v)
    val_names = sorted(name(p) for v in ds['validation'].image_dict.values() for p in v)
    split_cases.append({'by_class': by_class, 'share': share, 'train': train_names, 'val': val_names})
opt = types.SimpleNamespace(source_path=root, sampling='distance', train_val_split=0.85, train_val_split_by_class=False,
                            samples_per_class=2, arch='resnet50', dataset='cub200')
ds = datasets.give_CUB200_datasets(opt)
fixed_train = sorted(os.path.relpath(p, os.path.join(root, 'images')) for v in ds['training'].image_dict.values() for p in v)
pool = [f'{ci + 1:03d}.c{ci + 1}/img_{j:03d}.jpg' for ci, n in enumerate(counts) for j in range(n)]
train_pool = [p for p in pool if int(p[:3]) <= len(counts) // 2]


def simulate_epochs(image_counts, spc, bs, epochs, seed):
    """The original BaseTripletDataset.__getitem__ over shuffled indices (DataLoader with
    shuffle=True, drop_last=True, one worker), images replaced by their indices."""
    np.random.seed(seed)
    image_dict = {c: [(c, j) for j in range(n)] for c, n in enumerate(image_counts)}
    opt = types.SimpleNamespace(arch='resnet50')
    ds = datasets.BaseTripletDataset(image_dict, opt, samples_per_class=spc)
    ds.transform = lambda x: x
    ds.ensure_3dim = lambda x: x
    datasets.Image.open = lambda x: x
    groups = []
    for e in range(epochs):
        ds.init_setup()
        perm = np.random.permutation(ds.n_files)
        n_batches = ds.n_files // bs
        for b in range(n_batches):
            items = [ds[int(i)] for i in perm[b * bs:(b + 1) * bs]]
            for g in range(bs // spc):
                grp = items[g * spc:(g + 1) * spc]
                groups.append([list(x[1]) for x in grp])
    return groups


batch_cases = []
for image_counts, spc, bs in [([5] * 30, 2, 20), ([10] * 24, 4, 24), ([3, 8, 12, 6] * 6, 4, 16)]:
    groups = simulate_epochs(image_counts, spc, bs, 30, 0)
    dup = np.mean([len({tuple(x) for x in g}) < len(g) for g in groups])
    mixed = np.mean([len({x[0] for x in g}) > 1 for g in groups])
    classes = [g[0][0] for g in groups]
    repeat1 = np.mean([classes[i] == classes[i - 1] for i in range(1, len(classes))])
    repeat2 = np.mean([classes[i] == classes[i - 2] for i in range(2, len(classes))])
    batch_cases.append({'class_sizes': image_counts, 'samples_per_class': spc, 'bs': bs, 'groups': len(groups),
                        'duplicate_group_share': float(dup), 'mixed_group_share': float(mixed),
                        'same_class_as_previous_group': float(repeat1), 'same_class_two_groups_back': float(repeat2)})
dump('data', {'class_counts': counts, 'pool_train_classes': len(counts) // 2, 'splits': split_cases,
              'fixed_sampler_train': fixed_train, 'batches': batch_cases})

# ============ 8. LR schedule (MultiStepLR as main.py) and policy step timing ============
sched_cases = []
for tau, gamma, epochs in [([3, 5], 0.3, 8), ([150], 0.3, 152), ([2, 2, 4], 0.5, 6)]:
    p = torch.nn.Parameter(torch.zeros(1))
    opt_ = torch.optim.Adam([{'params': [p], 'lr': 1e-5}])
    sch = torch.optim.lr_scheduler.MultiStepLR(opt_, milestones=tau, gamma=gamma)
    lrs = []
    for e in range(epochs):
        lrs.append(opt_.param_groups[0]['lr'])
        opt_.step()
        sch.step()
    sched_cases.append({'tau': tau, 'gamma': gamma, 'lr': 1e-5, 'per_epoch': lrs})
timing = []
for freq, delay, iters_per_epoch, epochs in [(30, 0, 50, 3), (7, 1, 20, 3), (1, 0, 5, 2)]:
    # The original PADS.update, called after every training iteration as main.py does; a
    # policy step is seen as call_count going up.
    torch.manual_seed(0)
    pads, criterion, _ = build_pads('ppo', True, sample_frequency=freq, call_delay=delay)
    pads.calc_val_metrics.compute_metric = lambda m: (lambda e, l: {'recall': [0.5, 0.6], 'nmi': [0.5], 'dists': [0.2, 0.6]}[m])
    steps = []
    it = 0
    for epoch in range(epochs):
        for i in range(iters_per_epoch):
            it += 1
            before = pads.call_count
            pads.update(criterion, lambda x: x, it, epoch)
            if pads.call_count > before:
                steps.append(it)
    timing.append({'sample_freq': freq, 'delay': delay, 'iters_per_epoch': iters_per_epoch, 'epochs': epochs,
                   'step_iterations': steps})
dump('schedule', {'lr': sched_cases, 'policy_timing': timing})
print('done')

#!/usr/bin/env python3
"""Files the way the original PADS code (CVPR 2020) writes them, for pads' pickle reader
(src/model/torchfile) and `--pretrained` import. tests/torchfile.rs runs this at test time
into a temporary folder (nothing here is committed); it needs only torch, numpy and, with
--resnet50, torchvision.

  OUT/hypa.pkl, hypa_p0.pkl, hypa_p2.pkl   pickle.dump(opt) (auxiliaries.set_logging), protocol
                                           default / 0 / 2; opt an argparse.Namespace as main.py
                                           leaves it (torch.device('cuda') included)
  OUT/hypa_np1.pkl                         hypa_p2.pkl as numpy 1.x spells its scalars
                                           (numpy.core.multiarray.scalar)
  OUT/checkpoint_Class.pth.tar             auxiliaries.set_checkpoint: torch.save({'state_dict',
  OUT/checkpoint_legacy.pth.tar            'opt', 'progress', 'aux'}) of a small network wrapped as
                                           netlib.NetworkSuperClass_ResNet50 wraps its backbone
                                           (`.model`, `.layer_blocks`); zip and pre-1.6 format
  OUT/zoo.pth, zoo_legacy.pth              every kind of value the reader interprets
  OUT/expected.json                        what each holds, computed here by Python
  --resnet50: OUT/r50_zip.pth.tar, r50_legacy.pth.tar: the same checkpoint of a torchvision
             ResNet50 in the original's structure, and OUT/r50_plain.pth its torchvision-named
             state dict (what pads should load from the checkpoint).
Usage: .venv/bin/python bench/reference/make_torchfile_fixtures.py OUT [--resnet50]
"""
import argparse, collections, json, os, pickle, sys, types
import numpy as np
import torch

ap = argparse.ArgumentParser()
ap.add_argument('out')
ap.add_argument('--resnet50', action='store_true')
ap.add_argument('--embed-dim', type=int, default=16)
args = ap.parse_args()
OUT = args.out
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)

# The original's Progress_Saver (auxiliaries.py), under its module name so that pickle
# records `auxiliaries.Progress_Saver` as the original's checkpoints do.
aux_mod = types.ModuleType('auxiliaries')
exec('''
class Progress_Saver():
    def __init__(self):
        self.groups = {}
    def log(self, segment, content, group=None):
        if group is None: group = segment
        if group not in self.groups.keys():
            self.groups[group] = {}
        if segment not in self.groups[group].keys():
            self.groups[group][segment] = {'content':[],'saved_idx':0}
        self.groups[group][segment]['content'].append(content)
''', aux_mod.__dict__)
sys.modules['auxiliaries'] = aux_mod

opt = argparse.Namespace(dataset='cub200', lr=1e-5, n_epochs=3, kernels=8, bs=112, seed=1, embed_dim=128,
                         arch='resnet50', loss='marginloss', sampling='learned', k_vals=[1, 2, 4, 8],
                         not_pretrained=False, savename='', source_path='/home/user/Datasets/cub200',
                         save_path='/home/user/Results/cub200/run_1', policy_lr=0.01, beta_lr=0.0005)
opt.device = torch.device('cuda')
opt.all_devices = [torch.device('cpu'), torch.device('cuda', 1)]

with open(os.path.join(OUT, 'hypa.pkl'), 'wb') as f:
    pickle.dump(opt, f)
for proto in (0, 2):
    with open(os.path.join(OUT, f'hypa_p{proto}.pkl'), 'wb') as f:
        pickle.dump(opt, f, protocol=proto)

# Progress: LOG.progress_saver, one Progress_Saver per sub-logger, numpy values as main.py logs.
progress = {name: aux_mod.Progress_Saver() for name in ['Train', 'Val', 'Model Grad']}
rng = np.random.RandomState(0)
for epoch in range(3):
    progress['Train'].log('epochs', epoch)
    progress['Train'].log('loss', np.mean(rng.rand(5)))
    progress['Train'].log('time', np.round(12.3456 + epoch, 4))
    for k in [1, 2, 4, 8]:
        progress['Val'].log('Recall@{}'.format(k), float(rng.rand()), group='Recall')
    progress['Val'].log('NMI', np.float32(rng.rand()), group='NMI')
    progress['Model Grad'].log('Grad L2', np.mean(rng.rand(3)), group='L2')
    progress['Model Grad'].groups['L2']['Grad L2']['saved_idx'] = epoch + 1
with open(os.path.join(OUT, 'hypa_np1.pkl'), 'wb') as f:
    f.write(open(os.path.join(OUT, 'hypa_p2.pkl'), 'rb').read())
# numpy 1.x: protocol 2 GLOBAL lines name numpy.core.multiarray.scalar (hypa has none: add one)
ns1 = argparse.Namespace(x=np.float64(0.25), n=np.int64(-3), b=np.bool_(True))
raw = pickle.dumps(ns1, protocol=2).replace(b'numpy._core.multiarray', b'numpy.core.multiarray')
with open(os.path.join(OUT, 'hypa_np1.pkl'), 'wb') as f:
    f.write(raw)


class Net(torch.nn.Module):
    """A small backbone with the original's wrapper structure (netlib.py)."""
    def __init__(self):
        super().__init__()
        self.model = torch.nn.Module()
        self.model.conv1 = torch.nn.Conv2d(3, 4, 3, bias=False)
        self.model.bn1 = torch.nn.BatchNorm2d(4)
        self.model.layer1 = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 1, bias=False), torch.nn.BatchNorm2d(4))
        self.model.last_linear = torch.nn.Linear(4, 8)
        self.layer_blocks = torch.nn.ModuleList([self.model.layer1])


def checkpoint(model, aux=None):
    return {'state_dict': model.state_dict(), 'opt': opt, 'progress': progress, 'aux': aux}


net = Net()
policy = collections.OrderedDict([('0.weight', torch.randn(3, 4)), ('0.bias', torch.randn(3))])
torch.save(checkpoint(net, policy), os.path.join(OUT, 'checkpoint_Class.pth.tar'))
torch.save(checkpoint(net, policy), os.path.join(OUT, 'checkpoint_legacy.pth.tar'), _use_new_zipfile_serialization=False)


class Thing:
    def __init__(self):
        self.name = 'thing'
        self.values = [1, 2.5]


x = torch.arange(10.0)
shared = [1, 2, 3]
zoo = {
    'od': collections.OrderedDict([('b', 1), ('a', 2)]),
    'set': {3}, 'frozenset': frozenset([4]), 'complex': complex(1.5, -2.0),
    'cpu': torch.device('cpu'), 'cuda1': torch.device('cuda', 1),
    'arr': np.arange(6, dtype=np.float32).reshape(2, 3), 'arr_be': np.array([1, -2], dtype='>i4'),
    'size': torch.Size([2, 3]), 'param': torch.nn.Parameter(torch.ones(2, 2)),
    'bytes': b'ab\x00\xff', 'thing': Thing(), 'big': 2 ** 70, 'none': None, 'flag': True,
    'shared_a': shared, 'shared_b': shared, 'x': x, 'view': x[2:5], 'half': torch.tensor([0.5, -2.0], dtype=torch.half),
    'long': torch.tensor([-1, 2 ** 40]), 'f16': np.float16(0.5), 'i8': np.int8(-5), 'c128': np.complex128(1 + 2j),
}
torch.save(zoo, os.path.join(OUT, 'zoo.pth'))
torch.save(zoo, os.path.join(OUT, 'zoo_legacy.pth'), _use_new_zipfile_serialization=False)


def plain(v):
    if isinstance(v, torch.device):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [plain(i) for i in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


expected = {
    'opt': {k: plain(v) for k, v in vars(opt).items()},
    'progress': {name: {g: {s: {'content': [float(c) for c in d['content']], 'saved_idx': d['saved_idx']}
                            for s, d in segs.items()} for g, segs in ps.groups.items()} for name, ps in progress.items()},
    'state_dict': {k: {'shape': list(v.shape), 'values': v.flatten().double().tolist()} for k, v in net.state_dict().items()},
    'aux': {k: v.flatten().tolist() for k, v in policy.items()},
}
with open(os.path.join(OUT, 'expected.json'), 'w') as f:
    json.dump(expected, f, indent=1)

if args.resnet50:
    import torchvision

    class Original(torch.nn.Module):
        """netlib.NetworkSuperClass_ResNet50's parameters: pretrainedmodels' resnet50 (fc
        renamed last_linear) as `.model`, last_linear resized to embed_dim, layer_blocks."""
        def __init__(self):
            super().__init__()
            self.model = torchvision.models.resnet50(weights=None)
            del self.model.fc
            self.model.last_linear = torch.nn.Linear(2048, args.embed_dim)
            self.layer_blocks = torch.nn.ModuleList([self.model.layer1, self.model.layer2, self.model.layer3, self.model.layer4])

    m = Original()
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
    torch.save(checkpoint(m), os.path.join(OUT, 'r50_zip.pth.tar'))
    torch.save(checkpoint(m), os.path.join(OUT, 'r50_legacy.pth.tar'), _use_new_zipfile_serialization=False)
    sd = {k[len('model.'):]: v for k, v in m.state_dict().items() if k.startswith('model.')}
    torch.save(sd, os.path.join(OUT, 'r50_plain.pth'))

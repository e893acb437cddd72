#!/usr/bin/env python3
"""A whole checkpoint in the original's structure from a committed slim one (tests only).

  python bench/reference/fill_original_checkpoint.py SLIM.pth.tar OUT.pth.tar [--legacy]

The slim checkpoints (tests/fixtures/original/<run>/) are the original code's own checkpoint
objects with the network cut to the head's bias. This puts a whole network back, built as the
original's netlib.NetworkSuperClass_ResNet50 holds it (torchvision's resnet50 as `model`, its
`fc` replaced by `last_linear` of the slim head's size, the four blocks listed again as
`layer_blocks`), seeded, with BatchNorm running statistics randomised so that they matter; the
opt, progress and aux entries stay the original's. Unpickling them needs the original's
`auxiliaries.Progress_Saver` class: a stand-in with that name receives the fields (nothing of
the original's code is needed or run).
"""
import argparse, sys, types
import torch, torch.nn as nn, torchvision

ap = argparse.ArgumentParser()
ap.add_argument('slim')
ap.add_argument('out')
ap.add_argument('--legacy', action='store_true')
args = ap.parse_args()

aux = types.ModuleType('auxiliaries')
class Progress_Saver:  # noqa: N801 (the original's name)
    pass
Progress_Saver.__module__ = 'auxiliaries'
aux.Progress_Saver = Progress_Saver
sys.modules['auxiliaries'] = aux

ck = torch.load(args.slim, map_location='cpu', weights_only=False)
dim = ck['state_dict']['model.last_linear.bias'].shape[0]
torch.manual_seed(0)


class Wrapper(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = torchvision.models.resnet50(weights=None)
        self.model.last_linear = nn.Linear(2048, dim)
        del self.model.fc
        self.layer_blocks = nn.ModuleList([self.model.layer1, self.model.layer2, self.model.layer3, self.model.layer4])


w = Wrapper()
with torch.no_grad():
    for m in w.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0, 0.1)
ck['state_dict'] = w.state_dict()
torch.save(ck, args.out, _use_new_zipfile_serialization=not args.legacy)
print(len(ck['state_dict']), 'tensors')

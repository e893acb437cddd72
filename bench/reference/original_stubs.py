"""Stand-ins that let the ORIGINAL PADS code run on a CPU machine without network, shared by
run_original.py and make_original_runs.py. Nothing of the original's own code is changed here.

  - `pretrainedmodels` (its weights download) -> torchvision's resnet50 with `fc` renamed
    `last_linear`, as pretrainedmodels builds it; `bninception` is pretrainedmodels' own class
    when the package is installed (bench/reference/requirements.txt). Only `pretrained=None`.
  - `torch.cuda.FloatTensor` -> `torch.FloatTensor`; `nn.Module.cuda()` -> no-op.
  - image size: the hard-coded 224 crops (and the 256 resize) scale to `image_size`.
"""
import sys, types


def install(image_size=224):
    import torch, torch.nn as nn, torchvision
    torch.cuda.FloatTensor = torch.FloatTensor
    nn.Module.cuda = lambda self, *a, **k: self

    def _resnet50(num_classes=1000, pretrained=None):
        if pretrained is not None:
            sys.exit('original_stubs: only --not_pretrained is supported (no weight download)')
        m = torchvision.models.resnet50(weights=None)
        m.last_linear = m.fc
        del m.fc
        return m

    ptm = types.ModuleType('pretrainedmodels')
    ptm.resnet50 = _resnet50
    try:
        from pretrainedmodels.models.bninception import bninception as _real_bni

        def _bninception(num_classes=1000, pretrained=None):
            if pretrained is not None:
                sys.exit('original_stubs: only --not_pretrained is supported (no weight download)')
            return _real_bni(num_classes=num_classes, pretrained=None)
        ptm.bninception = _bninception
    except ImportError:
        pass
    ptm.utils = types.ModuleType('pretrainedmodels.utils')
    sys.modules['pretrainedmodels'] = ptm
    sys.modules['pretrainedmodels.utils'] = ptm.utils

    S = image_size
    if S != 224:
        from torchvision import transforms as T
        _RRC, _Resize, _CC = T.RandomResizedCrop, T.Resize, T.CenterCrop
        scale = lambda v: max(1, int(round(v * S / 224))) if isinstance(v, int) else v
        T.RandomResizedCrop = lambda size, *a, **k: _RRC(scale(size), *a, **k)
        T.Resize = lambda size, *a, **k: _Resize(scale(size), *a, **k)
        T.CenterCrop = lambda size, *a, **k: _CC(scale(size), *a, **k)

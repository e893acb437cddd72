"""Writes torch.save's oldest format (a tar archive, PyTorch before 0.1.10), which no current
torch can write, byte by byte as torch 2.11's own reader (torch/serialization.py
`_legacy_load` -> `legacy_load`) reads it, then PROVES the bytes right by loading them with
that reader (`torch.load(f, weights_only=False)`) and comparing every tensor with values
computed here independently (numpy strides over the raw storages).

The layout (the reader is the spec): a PAX tar with members
- 'sys_info':  a pickle of {protocol_version, little_endian, type_sizes};
- 'pickle':    the main pickle; a tensor is the persistent id str(key), read back as
               deserialized_objects[int(saved_id)];
- 'tensors':   a pickle of the count, then per tensor a pickle of (key, storage_id,
               tensor type), int32 ndim, 4 skipped bytes, ndim int64 sizes, ndim int64
               strides, int64 storage offset (all little-endian);
- 'storages':  a pickle of the count, then per storage a pickle of (key, location,
               storage type) followed by an int64 element count and the raw elements
               (`UntypedStorage._new_with_file`), then a pickle of the storage views
               [(view key, root key, offset, numel)].
Protocol 2 pickles, as the torch of that time wrote. Members get a float mtime, so Python's
tarfile writes a PAX extended header before each (as torch.save's `tar.add` of a temporary
file did under Python 3).

Usage: python make_tar_fixture.py OUT_DIR   -> OUT_DIR/{tar_state.pth, tar_oversize.pth,
tar_os_system.pth,
tar_tensor_beyond.pth, tar_expected.json}
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import tarfile

import numpy as np
import torch

out = sys.argv[1]
os.makedirs(out, exist_ok=True)

# Root storages: key -> (storage type, numpy values).
storages = {
    101: (torch.FloatStorage, (np.arange(24, dtype=np.float32) * 0.5 - 3.0)),
    102: (torch.LongStorage, np.array([7, -2, 1 << 40, 0, 3], dtype=np.int64)),
    103: (torch.DoubleStorage, np.linspace(-1.0, 2.0, 10)),
}
# Storage views: (view key, root key, offset, numel), in elements.
views = [(104, 103, 2, 6)]
# Tensors: name -> (tensor key, storage key, tensor type, size, stride, offset).
tensors = collections.OrderedDict([
    ("a.weight", (201, 101, torch.FloatTensor, (2, 3), (3, 1), 0)),
    ("a.transposed", (202, 101, torch.FloatTensor, (3, 2), (1, 3), 6)),
    ("count", (203, 102, torch.LongTensor, (5,), (1,), 0)),
    ("in_view", (204, 104, torch.DoubleTensor, (2, 2), (2, 1), 1)),
    ("scalar", (205, 101, torch.FloatTensor, (), (), 23)),
])


def view_values(skey):
    """The elements a storage key names (a view is a slice of its root)."""
    for vkey, root, off, n in views:
        if vkey == skey:
            return storages[root][1][off:off + n]
    return storages[skey][1]


def expected(name):
    _, skey, _, size, stride, off = tensors[name]
    vals = view_values(skey)
    item = vals.itemsize
    return np.lib.stride_tricks.as_strided(vals[off:], shape=size, strides=[s * item for s in stride]).copy()


def dump(obj, f, persistent=None):
    p = pickle.Pickler(f, protocol=2)
    if persistent:
        p.persistent_id = persistent
    p.dump(obj)


def storages_member():
    f = io.BytesIO()
    dump(len(storages), f)
    for key, (stype, vals) in storages.items():
        dump((key, "cpu", stype), f)
        f.write(struct.pack("<q", vals.size))
        f.write(vals.astype(vals.dtype.newbyteorder("<")).tobytes())
    dump(views, f)
    return f.getvalue()


def tensors_member(recs=tensors):
    f = io.BytesIO()
    dump(len(recs), f)
    for key, skey, ttype, size, stride, off in recs.values():
        dump((key, skey, ttype), f)
        f.write(struct.pack("<i", len(size)) + b"\0\0\0\0")
        f.write(struct.pack(f"<{len(size)}q", *size))
        f.write(struct.pack(f"<{len(stride)}q", *stride))
        f.write(struct.pack("<q", off))
    return f.getvalue()


class TensorRef:
    def __init__(self, key):
        self.key = key


def main_member(obj):
    f = io.BytesIO()
    dump(obj, f, lambda o: str(o.key) if isinstance(o, TensorRef) else None)
    return f.getvalue()


def sys_info():
    f = io.BytesIO()
    dump(dict(protocol_version=1000, little_endian=True, type_sizes=dict(short=2, int=4, long=8)), f)
    return f.getvalue()


def write_tar(path, members):
    """Members in the order torch.save wrote them; returns the end of the last one's data."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1487000000.25  # a float: Python writes a PAX header for it
            tar.addfile(info, io.BytesIO(data))
    with tarfile.open(path, "r:") as tar:
        last = tar.getmembers()[-1]
        return last.offset_data + last.size


def members(main):
    return [("sys_info", sys_info()), ("pickle", main), ("tensors", tensors_member()), ("storages", storages_member())]


state = collections.OrderedDict((name, TensorRef(t[0])) for name, t in tensors.items())
good = os.path.join(out, "tar_state.pth")
data_end = write_tar(good, members(main_member(state)))

# Proof: torch's own reader gives the values computed above.
loaded = torch.load(good, weights_only=False)
assert list(loaded.keys()) == list(tensors.keys()), list(loaded.keys())
for name in tensors:
    want = torch.from_numpy(expected(name))
    got = loaded[name]
    assert got.dtype == want.dtype and got.shape == want.shape and torch.equal(got, want), (name, got, want)

# Hostile: a storage declaring 2**40 floats in a member that holds 24.
big = storages_member().replace(struct.pack("<q", 24), struct.pack("<q", 1 << 40), 1)
write_tar(os.path.join(out, "tar_oversize.pth"), members(main_member(state))[:3] + [("storages", big)])

# Hostile: a tensor reaching past its storage (5 x 5 floats over a storage of 24).
beyond = collections.OrderedDict(tensors, **{"a.weight": (201, 101, torch.FloatTensor, (5, 5), (5, 1), 0)})
m = members(main_member(state))
write_tar(os.path.join(out, "tar_tensor_beyond.pth"), m[:2] + [("tensors", tensors_member(beyond))] + m[3:])


# Hostile: the main pickle calls os.system (never to be run).
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + os.path.join(out, "PWNED"),))


evil = collections.OrderedDict([("a.weight", TensorRef(201)), ("evil", Evil())])
write_tar(os.path.join(out, "tar_os_system.pth"), members(main_member(evil)))

json.dump(
    {
        "data_end": data_end,
        "names": list(tensors),
        "tensors": {
            n: {"dtype": str(expected(n).dtype), "shape": list(expected(n).shape), "values": expected(n).ravel().tolist()}
            for n in tensors
        },
    },
    open(os.path.join(out, "tar_expected.json"), "w"),
)
print("tar fixtures written to", out, "; torch.load agrees on", len(tensors), "tensors")

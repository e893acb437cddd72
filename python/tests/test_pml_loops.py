"""pytorch-metric-learning code run unchanged with pads miners: the README loop, the MNIST
notebook's loop (it reads mining_func.num_triplets), CrossBatchMemory, the
DistributedMinerWrapper on two gloo processes, a spawn DataLoader whose dataset holds
miners, nn.ModuleDict, pickle / deepcopy / torch.save of miners and agents, and the pair
losses (MultiSimilarityLoss, ContrastiveLoss) that refuse a pair both positive and negative."""
import copy
import datetime
import io
import os
import pickle
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from pytorch_metric_learning import distances, losses, reducers
from pytorch_metric_learning.miners import BaseMiner
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.distributed import DistributedMinerWrapper
from pytorch_metric_learning.utils.inference import CustomKNN

import pads
import pads.pml

PML_MINERS = ["PADSMiner", "RandomMiner", "SemihardMiner", "SofthardMiner", "DistanceMiner"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def triplets(t):
    a, p, n = t
    assert a.dtype == p.dtype == n.dtype == torch.int64 and len(a) == len(p) == len(n)
    return list(zip(a.tolist(), p.tolist(), n.tolist()))


def clustered_batch(seed, n_classes=8, per_class=4, dim=16, noise=0.05):
    """Embeddings = class centre + small noise (classes 8 x 4 by default)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    emb = torch.randn(n_classes, dim, generator=gen)[labels] + noise * torch.randn(len(labels), dim, generator=gen)
    return emb, labels


def assert_label_valid(t, labels, ref_labels=None):
    """PML's triplet conditions; one set when ref_labels is None (then a != p)."""
    same_set = ref_labels is None
    ref_labels = labels if same_set else ref_labels
    for a, p, n in triplets(t):
        assert 0 <= a < len(labels) and 0 <= p < len(ref_labels) and 0 <= n < len(ref_labels)
        assert labels[a] == ref_labels[p] and labels[a] != ref_labels[n] and (a != p or not same_set)


def input_data(seed, n_classes=8, per_class=16, dim=32, noise=1.0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n_classes).repeat_interleave(per_class)
    x = torch.randn(n_classes, dim, generator=gen)[y] + noise * torch.randn(len(y), dim, generator=gen)
    return x, y


@pytest.mark.parametrize("miner_kind", ["pml", "core"])
def test_readme_loop(miner_kind):
    # PML's README: miner(embeddings, labels) -> loss_func(embeddings, labels, hard_pairs)
    torch.manual_seed(0)
    x, y = input_data(0)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    model = torch.nn.Linear(32, 16)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    start = model.weight.detach().clone()
    miner = pads.pml.PADSMiner(seed=0) if miner_kind == "pml" else pads.PADSMiner(seed=0)
    loss_func = losses.TripletMarginLoss()
    with torch.no_grad():
        before = loss_func(model(x), y).item()  # every triplet of the set
    steps_with_grad = 0
    for epoch in range(10):
        for data, labels in loader:
            optimizer.zero_grad()
            embeddings = model(data)
            hard_pairs = miner(embeddings, labels)
            loss = loss_func(embeddings, labels, hard_pairs)
            loss.backward()
            assert torch.isfinite(loss)
            steps_with_grad += int(model.weight.grad.abs().sum() > 0)
            optimizer.step()
    assert steps_with_grad >= 5 and not torch.equal(model.weight, start)
    with torch.no_grad():
        after = loss_func(model(x), y).item()
    if miner_kind == "pml":  # label-valid triplets: the loss over every triplet falls
        assert after < 0.9 * before, (before, after)


@pytest.mark.parametrize("name", PML_MINERS)
def test_mnist_notebook_loop(name):
    # PML's examples/notebooks/TripletMarginLossMNIST.ipynb: train() prints
    # mining_func.num_triplets every few batches; test() runs AccuracyCalculator(k=1)
    torch.manual_seed(1)
    x, y = input_data(1)
    tx, ty = input_data(1, per_class=6)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(1))
    model = torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    distance = distances.CosineSimilarity()
    reducer = reducers.ThresholdReducer(low=0)
    loss_func = losses.TripletMarginLoss(margin=0.2, distance=distance, reducer=reducer)
    mining_func = getattr(pads.pml, name)(seed=1)
    assert isinstance(mining_func, BaseMiner)
    counts = []
    for epoch in range(2):
        for data, labels in loader:
            optimizer.zero_grad()
            embeddings = model(data)
            indices_tuple = mining_func(embeddings, labels)
            loss = loss_func(embeddings, labels, indices_tuple)
            loss.backward()
            optimizer.step()
            assert mining_func.num_triplets == len(indices_tuple[0])
            assert_label_valid(indices_tuple, labels)
            counts.append(mining_func.num_triplets)
    assert len(counts) == 8 and min(counts) > 0
    with torch.no_grad():
        train_emb, test_emb = model(x), model(tx)
    calc = AccuracyCalculator(include=("precision_at_1",), k=1, device=torch.device("cpu"), knn_func=CustomKNN(distance))
    acc = calc.get_accuracy(test_emb, ty, train_emb, y, False)
    got = pads.evaluate(test_emb, ty, train_emb, y, False, k=(1,), map_at_r=False)
    assert got["recall@1"] == pytest.approx(acc["precision_at_1"], rel=1e-6)
    assert acc["precision_at_1"] > 0.5  # it learned (8 classes: chance is 1/8)


def test_cross_batch_memory():
    miner = pads.pml.PADSMiner(seed=2)
    seen = []
    miner.register_forward_hook(lambda module, args, out: seen.append((args, out)))
    xbm = losses.CrossBatchMemory(losses.TripletMarginLoss(), embedding_size=16, memory_size=96, miner=miner)
    torch.manual_seed(2)
    model = torch.nn.Linear(16, 16)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(6):
        data, labels = clustered_batch(100 + step, noise=0.5)
        optimizer.zero_grad()
        loss = xbm(model(data), labels)
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss) and model.weight.grad is not None
        (emb, lab, mem_emb, mem_labels), out = seen[-1]
        assert len(mem_labels) == min(32 * (step + 1), 96) and len(emb) == 32
        assert miner.num_triplets == len(out[0]) > 0
        assert_label_valid(out, lab, mem_labels)  # anchors in the batch, the rest in memory
    assert any(max(p, n) >= 32 for _, p, n in triplets(out))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _distributed_worker(rank, world_size, port, out_dir):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=datetime.timedelta(seconds=60))
    try:
        lines = []
        for efficient in (False, True):
            wrapper = DistributedMinerWrapper(pads.pml.PADSMiner(seed=rank), efficient=efficient)
            used_other_rank = mined = 0
            for call in range(5):
                emb, labels = clustered_batch(10 * call + rank, n_classes=4, noise=1.0)
                labels = labels + 2 * rank  # classes 2, 3 on both ranks
                a, p, n = wrapper(emb, labels)
                gathered = [torch.empty_like(labels) for _ in range(world_size)]
                dist.all_gather(gathered, labels)
                # PML's order: this rank's batch first, then the others'
                all_labels = torch.cat([labels] + [g for r, g in enumerate(gathered) if r != rank])
                if efficient:  # anchors in the local batch, the rest in the gathered one
                    assert_label_valid((a, p, n), labels, all_labels)
                    assert bool((a != p).all())
                else:  # everything indexes the gathered batch
                    assert_label_valid((a, p, n), all_labels)
                mined += len(a)
                used_other_rank += int(((p >= len(labels)) | (n >= len(labels))).sum())
            lines.append(f"efficient={efficient} mined={mined} other={used_other_rank}")
        with open(os.path.join(out_dir, f"rank{rank}.txt"), "w") as f:
            f.write("\n".join(lines))
    finally:
        dist.destroy_process_group()


def test_distributed_miner_wrapper(tmp_path):
    mp.spawn(_distributed_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        lines = (tmp_path / f"rank{rank}.txt").read_text().splitlines()
        assert [line.split()[0] for line in lines] == ["efficient=False", "efficient=True"]
        # triplets were mined, some using the other rank's items
        assert all(int(line.split("mined=")[1].split()[0]) > 0 and int(line.split("other=")[1]) > 0 for line in lines), lines


def _loader_batch(i):
    return clustered_batch(200 + i, n_classes=4, noise=0.3)


class MiningDataset(torch.utils.data.Dataset):
    """Item i: the triplets each held miner draws on batch i (the miners travel to the
    workers by pickling)."""

    def __init__(self, miners):
        self.miners = miners

    def __len__(self):
        return 6

    def __getitem__(self, i):
        emb, labels = _loader_batch(i)
        return i, [torch.stack(m(emb, labels)) for m in self.miners]


def test_spawn_dataloader_pickles_miners():
    miners = [pads.PADSMiner(seed=3), pads.pml.PADSMiner(seed=3), pads.SemihardMiner(seed=3)]
    loader = torch.utils.data.DataLoader(MiningDataset(miners), batch_size=None, num_workers=2, multiprocessing_context="spawn")
    got = {i: out for i, out in loader}
    assert sorted(got) == list(range(6))
    # worker w gets items w, w + 2, ... in order, each with its own copy of the miners
    twins = [copy.deepcopy(miners), copy.deepcopy(miners)]
    for i in range(6):
        emb, labels = _loader_batch(i)
        for j, m in enumerate(twins[i % 2]):
            want = torch.stack(m(emb, labels))
            assert torch.equal(got[i][j], want), (i, j)
        assert_label_valid(tuple(got[i][1]), labels)
        assert_label_valid(tuple(got[i][2]), labels)


def test_module_dict():
    md = torch.nn.ModuleDict({"m": pads.pml.PADSMiner(seed=4)})
    twin = pads.pml.PADSMiner(seed=4)
    assert md["m"] in list(md.modules())
    md.eval()
    md.to("cpu")
    md.train()
    for k in range(3):
        emb, labels = clustered_batch(300 + k)
        want = triplets(twin(emb, labels))
        assert triplets(md["m"](emb, labels)) == want and want
        assert md["m"].num_triplets == twin.num_triplets == len(want)
    assert isinstance(md.state_dict(), dict)  # nn.Module recursion into the miner works


def test_module_dict_state_dict_round_trip():
    md = torch.nn.ModuleDict({"m": pads.pml.PADSMiner(seed=5)})
    md["m"](*clustered_batch(400))
    other = torch.nn.ModuleDict({"m": pads.pml.PADSMiner(seed=6)})
    other.load_state_dict(md.state_dict())
    emb, labels = clustered_batch(401)
    assert triplets(other["m"](emb, labels)) == triplets(md["m"](emb, labels))


def _torch_save_load(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


ROUND_TRIPS = {
    "pickle": lambda obj: pickle.loads(pickle.dumps(obj)),
    "deepcopy": copy.deepcopy,
    "torch.save": _torch_save_load,
}


def _core(miner):
    return miner.core if isinstance(miner, torch.nn.Module) else miner


def _via_state_dict(miner):
    fresh = type(miner)(seed=123)
    fresh.load_state_dict(miner.state_dict())
    return fresh


@pytest.mark.parametrize("how", [*ROUND_TRIPS, "state_dict"])
@pytest.mark.parametrize("kind", ["core", "pml"])
def test_miner_round_trip(kind, how):
    miner = (pads.PADSMiner if kind == "core" else pads.pml.PADSMiner)(seed=7)
    miner(*clustered_batch(500))  # the generator has moved
    twin = _via_state_dict(miner) if how == "state_dict" else ROUND_TRIPS[how](miner)
    assert twin is not miner and type(twin) is type(miner)
    assert _core(twin).distribution == _core(miner).distribution
    for k in range(3):  # the next call, then two more; the copy first (no shared state)
        emb, labels = clustered_batch(501 + k)
        want = triplets(twin(emb, labels))
        assert triplets(miner(emb, labels)) == want and want
        assert twin.num_triplets == miner.num_triplets and twin.dropped_triplets == miner.dropped_triplets


def _val_set(k):
    return clustered_batch(600 + k, n_classes=10, per_class=5, noise=0.6 + 0.1 * k)


@pytest.mark.parametrize("how", ROUND_TRIPS)
@pytest.mark.parametrize("kind", ["core", "pml"])
def test_agent_round_trip(kind, how):
    torch.manual_seed(8)  # the policy's initial weights
    miner = (pads.PADSMiner if kind == "core" else pads.pml.PADSMiner)(seed=8)
    agent = pads.PADSAgent(miner, seed=8)
    agent.step(*_val_set(0), progress=0.1)
    miner(*clustered_batch(700))
    twin = ROUND_TRIPS[how](agent)
    assert twin is not agent and twin.miner is not agent.miner
    for k, progress in enumerate((0.5, 0.6, 0.7)):
        val_emb, val_labels = _val_set(k + 1)
        want = twin.step(val_emb, val_labels, progress=progress)
        assert agent.step(val_emb, val_labels, progress=progress) == want
        assert want["reward"] is not None
        emb, labels = clustered_batch(701 + k)
        assert triplets(agent.miner(emb, labels)) == triplets(twin.miner(emb, labels))
    assert twin.history == agent.history and len(agent.history) == 4
    assert _core(agent.miner).distribution != pads.PADSMiner(seed=8).distribution  # the policy moved it


def _conflicts(t):
    """Pairs a pair loss would see both as positive (a, p) and negative (a, n)."""
    pos = {(a, p) for a, p, _ in triplets(t)}
    return sum((a, n) in pos for a, _, n in triplets(t))


@pytest.mark.parametrize("loss_cls", [losses.MultiSimilarityLoss, losses.ContrastiveLoss])
def test_pair_losses_take_pads_pml_triplets(loss_cls):
    pml_miner, core_miner = pads.pml.PADSMiner(seed=9), pads.PADSMiner(seed=9)
    loss_func = loss_cls()
    dropped = same_label_negatives = core_conflicts = 0
    for k in range(30):
        emb, labels = clustered_batch(800 + k)
        emb.requires_grad_(True)
        t = pml_miner(emb, labels)
        loss = loss_func(emb, labels, t)  # PML asserts each pair is positive or negative
        loss.backward()
        assert torch.isfinite(loss) and emb.grad is not None
        assert_label_valid(t, labels)
        assert pml_miner.num_triplets + pml_miner.dropped_triplets == len(labels)
        dropped += pml_miner.dropped_triplets
        # the original's sampling on the same batch: pads.pml keeps exactly its label-valid part
        raw = triplets(core_miner(emb, labels))
        valid = [(a, p, n) for a, p, n in raw if a != p and labels[a] == labels[p] and labels[n] != labels[a]]
        assert triplets(t) == valid
        same_label_negatives += sum(labels[a] == labels[n] for a, _, n in raw)
        core_conflicts += _conflicts(tuple(torch.tensor(c, dtype=torch.int64) for c in zip(*raw)) if raw else ())
    assert dropped > 0 and same_label_negatives > 0
    assert core_conflicts > 0  # what the pair losses' assertion would refuse


def test_plain_pads_miner_self_regularises_and_pair_loss_refuses_it():
    """The original's PADS sampling draws same-class 'negatives' (policy_include_pos) on
    clustered batches; PML's MultiSimilarityLoss refuses such tuples, pads.pml does not give them."""
    miner = pads.PADSMiner(seed=10)
    refused = 0
    for k in range(30):
        emb, labels = clustered_batch(900 + k)
        t = miner(emb, labels)
        if _conflicts(t):
            with pytest.raises(AssertionError, match="either be positive or negative"):
                losses.MultiSimilarityLoss()(emb, labels, t)
            refused += 1
    assert refused > 0
    assert miner.dropped_triplets == 0  # valid_triplets_only=False drops nothing

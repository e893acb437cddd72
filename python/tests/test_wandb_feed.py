"""The wandb feeder (src/run/wandb_feed.py, which `pads train --wandb-log` starts): a real pads
run folder fed to an offline wandb run, read back from the run's `.wandb` transaction log.

wandb 0.31 no longer ships a Python reader of that log (the old
`wandb.sdk.internal.datastore` is gone; wandb-core writes it): `wandb_records` reads its
framing (a 7-byte `:W&B` header, then LevelDB-log blocks of 32 KiB: crc32, length, type,
payload) and parses every payload with wandb's own protobuf, `wandb_internal_pb2.Record`,
checking each chunk's CRC as wandb-core writes it.
"""
import glob
import json
import math
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import time
import zlib

import pytest

from conftest import ROOT, pads_bin, run_pads

pytest.importorskip("wandb")
from wandb.proto import wandb_internal_pb2  # noqa: E402

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = pytest.importorskip("tomli")

FEEDER = ROOT / "src" / "run" / "wandb_feed.py"
PROJECT, GROUP, NAME = "pads-tests", "SYNTH_V1", "SYNTH_V1_s0"
# 8 classes x 12 images: 4 training classes, 48 images, 85 % kept for training (40) ->
# 2 batches of 16 per epoch, so the global iteration (the step) differs from the epoch.
ITERS_PER_EPOCH = 2
TRAIN_ARGS = ["--dataset", "synthetic", "--arch", "small", "--image-size", "32", "--embed-dim", "16",
              "--bs", "16", "--samples-per-class", "4", "--n-epochs", "2", "--sampling", "pads",
              "--policy-sample-freq", "1", "--eval-before", "--seed", "0", "--quiet"]


# ------------------------------------------------------------------ reading an offline run

def wandb_records(run_dir):
    """Every Record of the one offline wandb run under `run_dir`/wandb."""
    paths = glob.glob(str(pathlib.Path(run_dir) / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(paths) == 1, f"expected one offline run under {run_dir}/wandb, found {paths}"
    data = pathlib.Path(paths[0]).read_bytes()
    ident, magic, version = struct.unpack_from("<4sHB", data, 0)
    assert (ident, magic, version) == (b":W&B", 0xBEE1, 0)
    block, pos, pending, out = 32768, 7, None, []
    while True:
        left = block - pos % block
        if left < 7:  # a block's tail too short for a chunk header is padding
            pos += left
            continue
        if pos + 7 > len(data):
            break
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        chunk = data[pos + 7:pos + 7 + length]
        assert len(chunk) == length, "truncated .wandb file"
        assert crc == zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF, f"bad CRC at {pos}"
        pos += 7 + length
        if kind == 1:  # FULL
            payload = chunk
        elif kind == 2:  # FIRST
            pending = chunk
            continue
        elif kind == 3:  # MIDDLE
            pending += chunk
            continue
        elif kind == 4:  # LAST
            payload, pending = pending + chunk, None
        else:
            raise AssertionError(f"unknown chunk type {kind}")
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        out.append(record)
    return out


def of_kind(records, kind):
    return [getattr(r, kind) for r in records if r.WhichOneof("record_type") == kind]


def item_key(item):
    return "/".join(item.nested_key) if item.nested_key else item.key


def nest(items):
    """History / summary items as a dict; nested keys (a histogram's fields) as dicts."""
    out = {}
    for item in items:
        path = list(item.nested_key) or [item.key]
        d = out
        for k in path[:-1]:
            d = d.setdefault(k, {})
        d[path[-1]] = json.loads(item.value_json)
    return out


def history(records):
    """step -> the logged row (wandb's `_step`, `_runtime`, `_timestamp` dropped); steps in
    the order the run logged them."""
    rows = []
    for h in of_kind(records, "history"):
        row = nest(h.item)
        rows.append((h.step.num, {k: v for k, v in row.items() if not k.startswith("_")}))
    return rows


def summary(records):
    out = {}
    for s in of_kind(records, "summary"):
        for k, v in nest(s.update).items():
            out[k] = v
        for r in s.remove:
            out.pop(item_key(r), None)
    return out


def config(records):
    out = {}
    for c in [r.config for r in of_kind(records, "run")] + of_kind(records, "config"):
        for item in c.update:
            out[item_key(item)] = json.loads(item.value_json)
    out.pop("_wandb", None)
    return out


# ------------------------------------------------------------------ the run folder and the feeder

def wandb_env(tmp_path, **extra):
    """An offline wandb that keeps every file it writes under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(WANDB_MODE="offline", WANDB_DIR=str(tmp_path / "wandb-dir"),
               WANDB_CONFIG_DIR=str(tmp_path / "wandb-config"), WANDB_CACHE_DIR=str(tmp_path / "wandb-cache"),
               WANDB_DATA_DIR=str(tmp_path / "wandb-data"), WANDB_ARTIFACT_DIR=str(tmp_path / "wandb-artifacts"))
    env.update(extra)
    return env


def feeder_cmd(run_dir, *extra):
    # As the binary starts it: the file's text through `python -c`.
    return [sys.executable, "-c", FEEDER.read_text(), str(run_dir), "--project", PROJECT, "--group", GROUP,
            "--name", NAME, *map(str, extra)]


def run_feeder(run_dir, env, *extra, timeout=60):
    t0 = time.monotonic()
    out = subprocess.run(feeder_cmd(run_dir, *extra), env=env, capture_output=True, text=True, timeout=timeout)
    return out, time.monotonic() - t0


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 2-epoch PADS run (untrained row, 3 policy steps) made by the real binary."""
    d = tmp_path_factory.mktemp("wandb_run")
    run_pads("synth", "--out", d / "data" / "synthetic", "--classes", 8, "--per-class", 12,
             "--image-size", 32, "--seed", 0)
    run_pads("train", "--out", d / "run", "--data-root", d / "data", *TRAIN_ARGS)
    return d / "run"


def copy_logs(run, dest):
    """The run's logs without checkpoints and plots (what the feeder reads)."""
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("*.safetensors", "*.png", "*.html", "wandb"))
    return dest


def metrics_rows(run):
    lines = (run / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","))) for line in lines[1:]]


def progression(run):
    return [json.loads(line) for line in (run / "pads_progression.jsonl").read_text().splitlines()]


def expected_row(row):
    """A metrics.csv row under the TensorBoard log's names (what the feeder must log)."""
    epoch = int(row["epoch"])
    out = {"epoch": epoch, "pads/policy_updates": float(row["policy_updates"])}
    for col, cell in row.items():
        if col in ("epoch", "policy_updates") or cell == "":
            continue
        # The TensorBoard names (docs/pads.md "Gradient numbers"): the network's gradient
        # numbers are training scalars, the policy's PADS scalars.
        if col in ("loss", "lr", "beta_mean", "grad_l2", "grad_max"):
            if epoch > 0:
                out[f"train/{col}"] = float(cell)
        elif col in ("policy_grad_l2", "policy_grad_max"):
            out[f"pads/{col}"] = float(cell)
        else:
            out[f"test/{col}"] = float(cell)
    return out


def assert_matches_run(run, records, rows=None, n_records=None):
    """The offline run's history holds each metrics.csv row (first `rows`) at epoch x
    iterations per epoch and each policy step (first `n_records`) at its iteration, every
    step once and in increasing order, with the distribution as a histogram."""
    table = metrics_rows(run)[:rows]
    steps = progression(run)[:n_records]
    hist = history(records)
    logged_steps = [s for s, _ in hist]
    assert logged_steps == sorted(set(logged_steps)), f"steps not logged once each, in order: {logged_steps}"
    want_steps = sorted({int(r["epoch"]) * ITERS_PER_EPOCH for r in table} | {p["iteration"] for p in steps})
    assert logged_steps == want_steps
    by_step = dict(hist)
    for r in table:
        got = by_step[int(r["epoch"]) * ITERS_PER_EPOCH]
        for k, v in expected_row(r).items():
            assert got[k] == v, (r["epoch"], k)
        if r["epoch"] == "0":
            assert not any(k.startswith("train/") for k in got), "the untrained row logs only test metrics"
    cfg = tomllib.loads((run / "config.toml").read_text())
    lo, hi = cfg["policy_support_limit"]
    n = cfg["policy_n_support"]
    support = [lo + (hi - lo) * i / (n - 1) for i in range(n)]
    for p in steps:
        got = by_step[p["iteration"]]
        for name, v in p["val_metrics"]:
            assert got[f"val/{name}"] == v
        assert got["val/reward_metric"] == p["reward_metric"]
        for name in ("reward", "advantage", "policy_loss", "value_loss"):
            assert got.get(f"pads/{name}") == p[name]
        h = got["pads/distribution"]
        assert h["_type"] == "histogram"
        assert h["values"] == p["distribution"]
        assert h["bins"] == pytest.approx(support, abs=1e-12) and len(h["bins"]) == len(h["values"]) + 1
        log_h = got["pads/distribution_log"]
        assert log_h["values"] == pytest.approx([math.log(max(q, 1e-20)) - math.log(1e-20) for q in p["distribution"]])


# ------------------------------------------------------------------ tests

def test_finished_run_offline(finished_run, tmp_path):
    run = copy_logs(finished_run, tmp_path / "run")
    out, seconds = run_feeder(run, wandb_env(tmp_path), "--poll", "0.1")
    assert out.returncode == 0, out.stderr
    assert all(line.startswith("pads wandb:") for line in out.stderr.splitlines()), out.stderr
    assert "offline run in" in out.stderr and "run finished" in out.stderr
    assert seconds < 30
    records = wandb_records(run)

    (r,) = of_kind(records, "run")
    assert (r.project, r.run_group, r.display_name) == (PROJECT, GROUP, NAME)
    assert config(records) == tomllib.loads((run / "config.toml").read_text())

    # the fixture's shape: 3 rows at steps 0, 2, 4; policy steps at 2, 3, 4 (two share a row's step)
    assert [int(x["epoch"]) for x in metrics_rows(run)] == [0, 1, 2]
    assert [p["iteration"] for p in progression(run)] == [2, 3, 4]
    assert progression(run)[-1]["iteration"] == 2 * ITERS_PER_EPOCH
    assert_matches_run(run, records)

    s = summary(records)
    for k, v in json.loads((run / "summary.json").read_text()).items():
        assert s[k] == v, k
    assert [e.exit_code for e in of_kind(records, "exit")] == [0], "the run was not finished (wandb.finish)"


def test_unreachable_wandb_warns_and_exits(finished_run, tmp_path):
    run = copy_logs(finished_run, tmp_path / "run")
    env = wandb_env(tmp_path, WANDB_MODE="online", WANDB_BASE_URL="http://127.0.0.1:9",
                    WANDB_API_KEY="0123456789abcdef0123456789abcdef01234567", WANDB_INIT_TIMEOUT="5")
    out, seconds = run_feeder(run, env, "--poll", "0.1", timeout=90)
    assert seconds < 60
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pads wandb: cannot start the W&B run"), out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


def tfrecord_offsets(data):
    """(start, end) of each TFRecord of a TensorBoard events file."""
    pos, out = 0, []
    while pos + 12 <= len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        out.append((pos, pos + 12 + n + 4))
        pos += 12 + n + 4
    return out


def test_live_run_logs_each_row_once_in_order(finished_run, tmp_path):
    """The folder is written while the feeder runs, in the trainer's order, with half-written
    lines and a half-written TensorBoard record seen by the feeder before they complete."""
    src = finished_run
    run = tmp_path / "run"
    (run / "tensorboard").mkdir(parents=True)
    (tb_src,) = (src / "tensorboard").iterdir()
    tb = tb_src.read_bytes()
    loss_end = next(end for start, end in tfrecord_offsets(tb) if b"train/loss" in tb[start:end])
    lines = (src / "metrics.csv").read_text().splitlines(keepends=True)
    prog = (src / "pads_progression.jsonl").read_text().splitlines(keepends=True)
    tick = 0.35  # > 3 polls of the feeder

    def put(path, text, mode="a"):
        with open(path, mode) as f:
            f.write(text)

    def write():
        m, p = run / "metrics.csv", run / "pads_progression.jsonl"
        (run / "tensorboard" / tb_src.name).write_bytes(tb[:loss_end - 9])  # cut inside train/loss
        put(m, "".join(lines[:2]), "w")  # header + epoch 0
        time.sleep(tick)
        put(p, prog[0][:40])  # epoch 1's policy step, half written
        time.sleep(tick)
        put(p, prog[0][40:])
        put(m, lines[2])  # epoch 1's row: its step needs train/loss's event
        time.sleep(tick)
        (run / "tensorboard" / tb_src.name).write_bytes(tb)
        time.sleep(tick)
        put(p, prog[1] + prog[2][:-1])
        time.sleep(tick)
        put(p, prog[2][-1:])
        put(m, lines[3][:-2])  # epoch 2's row up to its last cell (empty): not a row yet
        time.sleep(tick)
        put(m, lines[3][-2:])
        time.sleep(tick)
        shutil.copy(src / "summary.json", run / "summary.json")

    put(run / "config.toml", (src / "config.toml").read_text(), "w")
    proc = subprocess.Popen(feeder_cmd(run, "--poll", "0.1", "--parent-pid", os.getpid()),
                            env=wandb_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()  # wandb.init returned: the feeder reads from now on
        assert first.startswith("pads wandb: offline run in"), first
        write()
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    records = wandb_records(run)
    assert_matches_run(src, records)
    assert summary(records)["best_epoch"] == json.loads((src / "summary.json").read_text())["best_epoch"]


def test_parent_gone_flushes_and_finishes(finished_run, tmp_path):
    """Training killed in epoch 2: what the trainer wrote after the feeder's last read is
    logged too, the wandb run is finished without a summary.json and the feeder exits 0."""
    src = finished_run
    run = tmp_path / "run"
    shutil.copytree(src / "tensorboard", run / "tensorboard")
    shutil.copy(src / "config.toml", run / "config.toml")
    (run / "metrics.csv").write_text("".join((src / "metrics.csv").read_text().splitlines(keepends=True)[:3]))
    prog = (src / "pads_progression.jsonl").read_text().splitlines(keepends=True)
    (run / "pads_progression.jsonl").write_text(prog[0])
    parent = subprocess.Popen(["sleep", "60"])
    proc = subprocess.Popen(feeder_cmd(run, "--poll", "3", "--parent-pid", parent.pid),
                            env=wandb_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()  # said once wandb.init returned; the first read follows
        assert first.startswith("pads wandb: offline run in"), first
        time.sleep(0.5)
        assert proc.poll() is None, "the feeder left while its parent was alive"
        with open(run / "pads_progression.jsonl", "a") as f:
            f.write(prog[1])  # epoch 2's first policy step, then the trainer dies
        parent.kill()
        parent.wait()
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=30)
        assert time.monotonic() - t0 < 10
    finally:
        parent.kill()
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped before the end of training" in err
    records = wandb_records(run)
    assert_matches_run(src, records, rows=2, n_records=2)
    assert "best" not in summary(records)
    assert [e.exit_code for e in of_kind(records, "exit")] == [1], "a run that ended early is finished as failed"


def test_pads_train_wandb_log_end_to_end(finished_run, tmp_path):
    """`pads train` with the original's flags (`--save_path`, `--wandb_log`,
    `--wandb_project_name`, `--wandb_group`, savename group_plus_seed): the run folder is
    SAVE/<dataset>/<group>_s<seed>, the offline wandb run is named the same, in the project and
    group given, and holds the run's metrics, policy steps, config and summary once
    `pads train` returns (it waits for the feeder)."""
    env = wandb_env(tmp_path, PADS_PYTHON=sys.executable)
    out = subprocess.run([str(pads_bin()), "train", "--save_path", tmp_path / "save",
                          "--data-root", finished_run.parent / "data", *TRAIN_ARGS,
                          "--wandb_log", "--wandb_project_name", PROJECT, "--wandb_group", "SYNTH_V1"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    run = tmp_path / "save" / "synthetic" / NAME
    assert (run / "summary.json").is_file(), f"no run folder {run}: {out.stdout}"
    # The feeder's lines say where the offline run is (even with --quiet: the only pointer to
    # it); nothing went wrong.
    said = [line for line in out.stderr.splitlines() if line.startswith("pads wandb:")]
    assert any("offline run in" in line and "wandb sync" in line for line in said), out.stderr
    assert not [line for line in said if "cannot" in line or "error" in line.lower()], out.stderr
    records = wandb_records(run)
    (r,) = of_kind(records, "run")
    assert (r.project, r.run_group, r.display_name) == (PROJECT, "SYNTH_V1", NAME)
    assert config(records) == tomllib.loads((run / "config.toml").read_text())
    # the same seeded run as the fixture's: the same rows, logged at the same steps
    assert (run / "metrics.csv").read_text() == (finished_run / "metrics.csv").read_text()
    assert_matches_run(run, records)
    s = summary(records)
    for k, v in json.loads((run / "summary.json").read_text()).items():
        assert s[k] == v, k
    assert [e.exit_code for e in of_kind(records, "exit")] == [0]


def test_config_reader_without_tomllib(finished_run, monkeypatch):
    """On a Python without tomllib / tomli (before 3.11) the feeder reads pads's config.toml
    to the same dict."""
    monkeypatch.setitem(sys.modules, "tomllib", None)  # `import tomllib` raises ImportError
    monkeypatch.setitem(sys.modules, "tomli", None)
    feeder = {"__name__": "wandb_feed"}
    exec(compile(FEEDER.read_text(), str(FEEDER), "exec"), feeder)
    text = (finished_run / "config.toml").read_text()
    parsed = feeder["parse_toml"](text)  # imports tomllib when called: still hidden here
    monkeypatch.undo()
    assert parsed == tomllib.loads(text)

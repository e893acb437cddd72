"""pads wandb feeder: follows a pads run folder and logs it to Weights & Biases.

`pads train --wandb-log` starts this file (embedded in the binary) in the background:

    PYTHON wandb_feed.py RUN_DIR --project P --group G --name NAME [--parent-pid PID]
                         [--not-before UNIX_SECONDS] [--poll SECONDS] [--quiet]

It only reads the run folder (wandb writes its own files under RUN_DIR/wandb):

- config.toml (waited for; with --not-before, one written at or after that time, so that a
  folder's earlier run, being replaced or resumed, is not taken for this one): the run's
  `config` in `wandb.init(project, group, name, dir=RUN_DIR, config=...)`.
- metrics.csv: each new complete row, logged at the TensorBoard log's step, the global
  training iteration (epoch x iterations per epoch, the latter read from the first
  `train/loss` event of RUN_DIR/tensorboard), under TensorBoard's names: `train/loss`,
  `train/lr`, `train/beta_mean`, `train/grad_l2`, `train/grad_max`, `test/<metric>` (recall@k, nmi, f1, map@r, intra, inter),
  `val/recall@1` (the `val_recall@1` column), plus `epoch`, `pads/policy_updates`,
  `pads/policy_grad_l2` and `pads/policy_grad_max`. Empty
  cells (unevaluated epochs, the untrained row's loss) are left out; the untrained row
  (epoch 0) logs only its test metrics, at step 0, as TensorBoard does.
- pads_progression.jsonl: each new complete line (one PADS policy step), at its `iteration`:
  `val/<metric>` and `val/reward_metric`, `pads/reward`, `pads/advantage`,
  `pads/policy_loss`, `pads/value_loss` (when set), `epoch`, and the sampling distribution
  as `pads/distribution`, a wandb.Histogram(np_histogram=(probabilities, support points)),
  with `pads/distribution_log` (log(max(p, 1e-20)) - log(1e-20), the original's
  "Log Dist. Distr.").
- summary.json (the run finished; one whose `epochs` differs from config.toml's n_epochs is
  a finished run being extended and is not the end): its content goes into
  `wandb.run.summary`, then `wandb.finish()` and exit 0.

Steps only grow: a policy line is held back until the metrics rows before it are seen.
Half-written last lines are not read. When the parent (`--parent-pid`, the trainer) is gone,
or on SIGTERM / SIGINT, what the folder holds is logged, then the run is finished (with the
summary when summary.json is there, else with exit code 1: W&B shows a run that ended before
its last epoch as failed) and the feeder exits 0.

It never fails training: any error of wandb (not installed, no API key, no network) becomes
one line `pads wandb: ...` on stderr and exit status 1. Only the standard library and wandb.
"""
import argparse
import glob
import json
import math
import os
import signal
import struct
import sys
import time

PREFIX = "pads wandb:"


def say(msg):
    print(f"{PREFIX} {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- reading the run folder

def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return None


def parse_toml(text):
    """config.toml as a dict: tomllib (Python 3.11+), tomli, else a reader of the flat
    `key = value` layout pads writes (values as JSON once trailing commas are dropped)."""
    try:
        import tomllib
        return tomllib.loads(text)
    except ImportError:
        pass
    try:
        import tomli
        return tomli.loads(text)
    except ImportError:
        pass
    import re
    out, key, buf = {}, None, ""
    for line in text.splitlines():
        if key is None:
            stripped = line.strip()
            if not stripped or stripped.startswith(("#", "[")) or "=" not in stripped:
                continue
            key, _, buf = line.partition("=")
            key = key.strip().strip('"')
        else:
            buf += "\n" + line
        if buf.count("[") == buf.count("]"):
            value = re.sub(r",\s*\]", "]", buf.strip())
            try:
                out[key] = json.loads(value)
            except ValueError:
                out[key] = value
            key, buf = None, ""
    return out


def complete_lines(text):
    """The lines of `text` that end in a newline (a half-written last line is not one yet)."""
    if not text:
        return []
    return text.split("\n")[:-1]


def read_metrics(run_dir):
    """metrics.csv as (header, rows): each row a dict column -> cell (complete lines only)."""
    lines = complete_lines(read_text(os.path.join(run_dir, "metrics.csv")))
    if not lines:
        return [], []
    header = lines[0].split(",")
    rows = []
    for line in lines[1:]:
        cells = line.split(",")
        if line and len(cells) == len(header):
            rows.append(dict(zip(header, cells)))
    return header, rows


def row_epoch(row):
    try:
        return int(row.get("epoch", ""))
    except ValueError:
        return None


def number(cell):
    try:
        return float(cell)
    except (TypeError, ValueError):
        return None


def metrics_scalars(row):
    """One metrics.csv row under the TensorBoard log's names (empty cells left out)."""
    epoch = row_epoch(row)
    out = {"epoch": epoch}
    for col, cell in row.items():
        v = number(cell)
        if col == "epoch" or v is None:
            continue
        if col in ("loss", "lr", "beta_mean", "grad_l2", "grad_max"):
            if epoch == 0:  # the untrained row: TensorBoard logs only its test metrics
                continue
            out[f"train/{col}"] = v
        elif col in ("policy_updates", "policy_grad_l2", "policy_grad_max"):
            out[f"pads/{col}"] = v
        elif col.startswith("val_"):
            out[f"val/{col[4:]}"] = v
        else:
            out[f"test/{col}"] = v
    return out


def varint(buf, pos):
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, pos


def proto_fields(buf):
    """(field number, wire type, value) of a protobuf message (varint, fixed64, bytes, fixed32)."""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            n, pos = varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            return
        yield field, wire, value


def first_step_of(run_dir, tag):
    """The step of the first TensorBoard event holding a scalar `tag` (None before one is
    written completely). Events are TFRecords: u64 length, u32 crc, Event, u32 crc."""
    want = tag.encode()
    for path in sorted(glob.glob(os.path.join(run_dir, "tensorboard", "events.out.tfevents.*"))):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        pos = 0
        while pos + 12 <= len(data):
            (n,) = struct.unpack_from("<Q", data, pos)
            if pos + 12 + n + 4 > len(data):
                break
            event = data[pos + 12:pos + 12 + n]
            pos += 12 + n + 4
            if want not in event:
                continue
            step, summary = 0, None
            try:
                for field, _, value in proto_fields(event):
                    if field == 2:
                        step = value
                    elif field == 5:
                        summary = value
                for field, _, value in proto_fields(summary or b""):
                    if field == 1 and any(f == 1 and v == want for f, _, v in proto_fields(value)):
                        return step
            except IndexError:  # not an Event as pads writes them: skip it
                continue
    return None


def support_points(config, n_bins):
    """The distribution's n_bins + 1 support points: linspace(policy_support_limit,
    policy_n_support) as pads builds them (bin indices when the config does not fit)."""
    n = config.get("policy_n_support")
    lim = config.get("policy_support_limit") or []
    if isinstance(n, int) and n == n_bins + 1 and len(lim) == 2:
        return [lim[0] + (lim[1] - lim[0]) * i / (n - 1) for i in range(n)]
    return [float(i) for i in range(n_bins + 1)]


def policy_scalars(record, config, wandb):
    out = {"epoch": record.get("epoch")}
    for name, value in record.get("val_metrics") or []:
        out[f"val/{name}"] = value
    out["val/reward_metric"] = record.get("reward_metric")
    for name in ("reward", "advantage", "policy_loss", "value_loss"):
        if record.get(name) is not None:
            out[f"pads/{name}"] = record[name]
    probs = [p if isinstance(p, (int, float)) else 0.0 for p in record.get("distribution") or []]
    if probs:
        support = support_points(config, len(probs))
        logs = [math.log(max(p, 1e-20)) - math.log(1e-20) for p in probs]
        try:
            out["pads/distribution"] = wandb.Histogram(np_histogram=(probs, support))
            out["pads/distribution_log"] = wandb.Histogram(np_histogram=(logs, support))
        except ValueError:  # over wandb's 512 bins: the scalars still go
            pass
    return {k: v for k, v in out.items() if v is not None}


class Progression:
    """pads_progression.jsonl, read on from the last complete line (from the start again
    when the file was replaced or shrank: a resumed run rewrites it); records come once
    each, by `call`."""

    def __init__(self, path):
        self.path, self.offset, self.next_call, self.inode = path, 0, 0, None

    def new_records(self):
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                if st.st_size < self.offset or st.st_ino != self.inode:
                    self.offset, self.inode = 0, st.st_ino
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        out = []
        for line in data[:end].decode("utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            call = record.get("call", self.next_call)
            if isinstance(call, int) and call >= self.next_call:
                self.next_call = call + 1
                out.append(record)
        return out


# ---------------------------------------------------------------- the feeder

class Feeder:
    def __init__(self, run_dir, config, wandb, run):
        self.run_dir, self.config, self.wandb, self.run = run_dir, config, wandb, run
        self.progression = Progression(os.path.join(run_dir, "pads_progression.jsonl"))
        self.pending = []  # policy records read but not logged yet
        self.logged_epoch = -1
        self.ipe = None
        self.last_step = -1

    def finished_summary(self):
        """summary.json's content once it is this run's (its epochs = config's n_epochs)."""
        text = read_text(os.path.join(self.run_dir, "summary.json"))
        try:
            summary = json.loads(text) if text else None
        except ValueError:
            return None
        if not isinstance(summary, dict):
            return None
        n = self.config.get("n_epochs")
        if n is not None and summary.get("epochs") is not None and summary.get("epochs") != n:
            return None
        return summary

    def poll(self, final=False):
        """Logs what is new, in step order; `final`: nothing more will come, hold nothing back."""
        _, rows = read_metrics(self.run_dir)  # metrics.csv first, then the progression
        self.pending += self.progression.new_records()
        rows = [r for r in rows if row_epoch(r) is not None and row_epoch(r) > self.logged_epoch]
        seen_epoch = max([self.logged_epoch] + [row_epoch(r) for r in rows])
        if self.ipe is None and any(row_epoch(r) > 0 for r in rows):
            self.ipe = first_step_of(self.run_dir, "train/loss")
            if self.ipe is None and final:
                self.ipe = 1  # no TensorBoard events: epochs as steps, the best left
        items = [(row_epoch(r) * (self.ipe or 0), 1, "row", r) for r in rows]
        items += [(int(rec.get("iteration") or 0), 0, "policy", rec) for rec in self.pending]
        items.sort(key=lambda it: (it[0], it[1]))
        batch, logged = {}, 0
        for step, _, kind, payload in items:
            if not final:
                # A row's step needs the iterations per epoch; a policy line of epoch E
                # follows the row of epoch E - 1, which may not have been read yet.
                if kind == "row" and row_epoch(payload) > 0 and self.ipe is None:
                    break
                if kind == "policy" and (payload.get("epoch") or 0) - 1 > seen_epoch:
                    break
            if kind == "row":
                batch.setdefault(step, {}).update(metrics_scalars(payload))
                self.logged_epoch = row_epoch(payload)
            else:
                batch.setdefault(step, {}).update(policy_scalars(payload, self.config, self.wandb))
            logged += 1
        self.pending = [p for _, _, kind, p in items[logged:] if kind == "policy"]
        for step in sorted(batch):
            if step < self.last_step:
                continue  # wandb keeps steps increasing; nothing pads writes gets here
            self.wandb.log(batch[step], step=step)
            self.last_step = step

    def finish(self, summary):
        if summary is not None:
            self.run.summary.update(summary)
        self.wandb.finish(exit_code=0 if summary is not None else 1)


def first_line(e):
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def parent_alive(pid, initial_ppid):
    if pid is None:
        return True
    if pid == initial_ppid and os.getppid() != pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(prog="wandb_feed.py", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--project", required=True)
    parser.add_argument("--group", default=None)
    parser.add_argument("--name", default=None)
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--not-before", type=float, default=None,
                        help="ignore a config.toml last written before this time (seconds since 1970)")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between reads (2)")
    parser.add_argument("--quiet", action="store_true", help="no line but warnings")
    args = parser.parse_args(argv)
    args.run_dir = os.path.abspath(args.run_dir)
    initial_ppid = os.getppid()
    try:  # never a login prompt on the trainer's terminal: no stdin
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        sys.stdin = open(os.devnull)
    except OSError:
        pass
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))

    def parent_gone():
        return bool(stop) or not parent_alive(args.parent_pid, initial_ppid)

    config_path = os.path.join(args.run_dir, "config.toml")

    def config_ready():
        try:
            mtime = os.stat(config_path).st_mtime
        except OSError:
            return False
        return args.not_before is None or mtime >= args.not_before - 1.0  # coarse mtimes

    while not config_ready():
        if parent_gone():
            return 0  # the run ended before it wrote anything
        time.sleep(args.poll)
    try:
        config = parse_toml(read_text(config_path) or "")
    except Exception as e:  # a malformed config.toml still gets its metrics logged
        say(f"cannot read {config_path} ({e}); the W&B run has no config")
        config = {}

    os.environ.setdefault("WANDB_SILENT", "true")  # wandb's own lines; ours say what matters
    try:
        import wandb
    except ImportError as e:
        say(f"cannot import wandb ({e}): install it (pip install wandb) in {sys.executable}; training goes on without W&B")
        return 1
    try:
        settings = wandb.Settings(silent=True, console="off")
        try:
            run = wandb.init(project=args.project, group=args.group, name=args.name, dir=args.run_dir,
                             config=config, settings=settings)
        except Exception as e:
            say(f"cannot start the W&B run ({first_line(e)}); training goes on without W&B")
            return 1
        if run is None or getattr(run, "disabled", False):
            return 0  # WANDB_MODE=disabled
        if not args.quiet:
            if run.offline:
                say(f"offline run in {run.settings.sync_dir} (upload it with: wandb sync {run.settings.sync_dir})")
            else:
                say(f"logging to {run.url}")
        feeder = Feeder(args.run_dir, config, wandb, run)
        while True:
            summary = feeder.finished_summary()
            gone = summary is None and parent_gone()
            if gone:
                summary = feeder.finished_summary()  # the run may have finished just now
            feeder.poll(final=summary is not None or gone)
            if summary is not None or gone:
                feeder.finish(summary)
                if not args.quiet:
                    what = "finished" if summary is not None else "stopped before the end of training; logged what it wrote"
                    say(f"run {what}" + ("" if run.offline else f": {run.url}"))
                return 0
            time.sleep(args.poll)
    except Exception as e:
        say(f"W&B logging stopped ({first_line(e)}); training goes on without it")
        return 1


if __name__ == "__main__":
    sys.exit(main())

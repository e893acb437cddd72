"""Alternates pads and the PyTorch peer (A B A B ...) on the same training iteration and
reports the median time per iteration of each and the ratio pads / PyTorch."""
import argparse, json, statistics, subprocess, sys, os

ap = argparse.ArgumentParser()
ap.add_argument("--pads", required=True)
ap.add_argument("--arch", default="small")
ap.add_argument("--image-size", type=int, default=64)
ap.add_argument("--bs", type=int, default=112)
ap.add_argument("--device", default="cpu")
ap.add_argument("--sampling", default="distance", choices=["distance", "pads"])
ap.add_argument("--amp", default="off", choices=["off", "bf16"])
ap.add_argument("--rounds", type=int, default=6)
ap.add_argument("--iters", type=int, default=3)
ap.add_argument("--pads-env", action="append", default=[], metavar="KEY=VALUE", help="extra environment for pads")
ap.add_argument("--peer-env", action="append", default=[], metavar="KEY=VALUE", help="extra environment for the PyTorch peer")
ap.add_argument("--label", default="", help="free text copied into the output")
a = ap.parse_args()


def env_with(pairs):
    env = dict(os.environ)
    env.update(p.split("=", 1) for p in pairs)
    return env


here = os.path.dirname(os.path.abspath(__file__))
common = ["--arch", a.arch, "--image-size", str(a.image_size), "--bs", str(a.bs), "--device", a.device,
          "--sampling", a.sampling, "--amp", a.amp]
procs = {
    "pads": subprocess.Popen([a.pads, "bench", "train-step"] + common, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env=env_with(a.pads_env)),
    "pytorch": subprocess.Popen([sys.executable, os.path.join(here, "peer_train_step.py")] + common, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, env=env_with(a.peer_env)),
}
for name, p in procs.items():
    assert p.stdout.readline().strip() == "ready", name


def run(p, k):
    p.stdin.write(f"run {k}\n")
    p.stdin.flush()
    return [float(t) for t in p.stdout.readline().split()]


for p in procs.values():  # warm-up, not timed
    run(p, 2)
times = {n: [] for n in procs}
for _ in range(a.rounds):
    for n, p in procs.items():
        times[n] += run(p, a.iters)
for p in procs.values():
    p.stdin.write("quit\n")
    p.stdin.flush()
    p.wait()
med = {n: statistics.median(t) for n, t in times.items()}
print(json.dumps({"label": a.label, "pads_env": a.pads_env, "peer_env": a.peer_env, "arch": a.arch, "sampling": a.sampling, "amp": a.amp, "image_size": a.image_size, "bs": a.bs, "device": a.device,
                  "pads_ms": med["pads"], "pytorch_ms": med["pytorch"], "ratio": med["pads"] / med["pytorch"],
                  "pads_img_s": a.bs * 1e3 / med["pads"], "pytorch_img_s": a.bs * 1e3 / med["pytorch"],
                  "samples": len(times["pads"])}))

"""pads.evaluate (the Python package) against pytorch-metric-learning's AccuracyCalculator
(faiss kNN and k-means inside) on the same embeddings, each in its own process: wall seconds
of the metric call (loading excluded) and the process' peak RSS.

    python bench/py_eval.py EMB.npy LABELS.npy [--k 1,10,100,1000]   (bench/run.sh, section 3b)

Prints one JSON object: {"pads": {...}, "pml": {...}} with seconds, peak_rss_mib and the
metrics each computed (pads: Recall@k, NMI, F1, mAP@R; PML: precision_at_1 = Recall@1, NMI,
mAP@R), so the numbers can be compared as well as the costs.
"""
import argparse
import json
import resource
import subprocess
import sys
import time


def one(which, emb_path, labels_path, ks):
    import numpy as np
    import torch

    emb = torch.from_numpy(np.load(emb_path))
    labels = torch.from_numpy(np.load(labels_path))
    t0 = time.perf_counter()
    if which == "pads":
        import pads

        metrics = pads.evaluate(emb, labels, k=ks)
    else:
        from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

        # k="max_bin_count": neighbours up to the largest class, all that mAP@R and precision@1
        # need (PML's default k=None asks for every item: an N x N result, 29 GB at N = 60,000).
        calc = AccuracyCalculator(include=("precision_at_1", "NMI", "mean_average_precision_at_r"), k="max_bin_count", device=torch.device("cpu"))
        metrics = calc.get_accuracy(emb, labels, ref_includes_query=True)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"seconds": round(seconds, 3), "peak_rss_mib": round(peak, 1), "metrics": {k: float(v) if v is not None else None for k, v in metrics.items()}}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("embeddings")
    ap.add_argument("labels")
    ap.add_argument("--k", default="1,10,100,1000")
    ap.add_argument("--one", choices=["pads", "pml"])
    a = ap.parse_args()
    ks = [int(x) for x in a.k.split(",")]
    if a.one:
        one(a.one, a.embeddings, a.labels, ks)
        return
    out = {}
    for which in ["pads", "pml"]:
        r = subprocess.run([sys.executable, __file__, a.embeddings, a.labels, "--k", a.k, "--one", which], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"{which} failed:\n{r.stderr}")
        out[which] = json.loads(r.stdout.strip().splitlines()[-1])
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

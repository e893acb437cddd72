"""Markdown summary of bench/results: medians and ratios against the peers of the same run."""
import json, os, sys

out = sys.argv[1]


def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else None


print("| benchmark | pads | peer | pads / peer |")
print("|---|---|---|---|")
for arch in ["small", "resnet50"]:
    for f in [f"train_{arch}.json", f"train_{arch}_system_malloc.json", f"train_{arch}_peer_same_malloc.json"]:
        r = load(f)
        if r:
            label = f", {r['label']}" if r.get("label") else ""
            print(f"| training iteration, {r['arch']} {r['image_size']} px, bs {r['bs']} ({r['device']}){label} | {r['pads_ms']:.1f} ms | PyTorch {r['pytorch_ms']:.1f} ms | {r['ratio']:.2f} |")
mp, mq = load("miners_pads.json"), load("miners_peers.json")
if mp and mq:
    for k in mp:
        loop, vec = mq[k]["python_loop"], mq[k]["torch_vectorised"]
        print(f"| miner + loss, {k}, bs 112, 128-d | {mp[k]:.2f} ms | loop {loop:.2f} ms / vectorised {vec:.2f} ms | {mp[k]/loop:.3f} / {mp[k]/vec:.2f} |")
et, ep, ef = load("eval_pads_time.json"), load("eval_pads.json"), load("eval_faiss.json")
if et and ep and ef:
    same = all(abs(ep[f"recall@{k}"] - v) == 0 for k, v in ef["recall"].items())
    print(f"| evaluation 60k x 128 (R@1,10,100,1000 + NMI) | {et['seconds']:.1f} s, {et['peak_rss_kib']/1024:.0f} MiB | faiss + sklearn {ef['seconds']:.1f} s, {ef['peak_rss_mib']:.0f} MiB | {et['seconds']/ef['seconds']:.2f} (time) |")
    print()
    print("recall identical: " + ("yes" if same else "NO") + "; " + ", ".join(
        f"R@{k} pads {ep[f'recall@{k}']:.6f} faiss {v:.6f}" for k, v in ef["recall"].items()) + f"; NMI pads {ep['nmi']:.4f} faiss+sklearn {ef['nmi']:.4f}")
py = load("eval_python.json")
if py:
    a, b = py["pads"], py["pml"]
    print()
    print(f"| Python: pads.evaluate vs PML AccuracyCalculator, 60k x 128 | {a['seconds']:.1f} s, {a['peak_rss_mib']:.0f} MiB | PML (faiss) {b['seconds']:.1f} s, {b['peak_rss_mib']:.0f} MiB | {a['seconds']/b['seconds']:.2f} (time), {a['peak_rss_mib']/b['peak_rss_mib']:.2f} (memory) |")
    am, bm = a["metrics"], b["metrics"]
    print(f"\nR@1 pads {am['recall@1']:.6f} PML precision_at_1 {bm['precision_at_1']:.6f}; mAP@R pads {am['map@r']:.6f} PML {bm['mean_average_precision_at_r']:.6f}; NMI pads {am['nmi']:.4f} PML {bm['NMI']:.4f}")
lo = load("loader.json")
if lo:
    print()
    print("loader images/s: " + ", ".join(f"{t} thread(s) {v:.0f}" for t, v in lo.items()) + (f"; scaling {lo['2']/lo['1']:.2f}x" if "1" in lo and "2" in lo else ""))
lf, lr = load("loader_full.json"), load("loader_resized.json")
if lf and lr:
    print()
    print(f"loader on 768 px JPEGs, 2 threads: {lf['2']:.0f} img/s; on the `pads data resize` copy (256): {lr['2']:.0f} img/s ({lr['2']/lf['2']:.2f}x)")
for q in [1, 1000]:
    sp, sf = load(f"search_pads_{q}.json"), load(f"search_faiss_{q}.json")
    if sp and sf:
        agree = f", top-1 same as pads {sf['top1_same_as_pads']:.3f}" if "top1_same_as_pads" in sf else ""
        print(f"| search, {q} quer{'y' if q == 1 else 'ies'} vs {sp['gallery_rows']:,} x {sp['dim']}, k {sp['k']} (exact; gallery read from disk included) | "
              f"{sp['seconds']:.2f} s, {sp['peak_rss_mib']:.0f} MiB | faiss IndexFlatL2 {sf['seconds']:.2f} s (search alone {sf['search_seconds']:.2f} s), "
              f"{sf['peak_rss_mib']:.0f} MiB{agree} | {sp['seconds']/sf['seconds']:.2f} (time) |")

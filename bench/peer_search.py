"""The faiss side of the search benchmark: exact kNN with IndexFlatL2 of the first N query
rows against the gallery. Times the whole job (np.load of the gallery + add + search, as
pads' time includes streaming the gallery from disk) and the search alone; peak RSS; and the
share of queries whose nearest row equals pads' (from pads' JSON, when given).
usage: peer_search.py gallery.npy queries.npy N K [pads.json]"""
import json, resource, sys, time
import numpy as np
import faiss

gallery_file, queries_file, n, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
q = np.ascontiguousarray(np.load(queries_file)[:n].astype(np.float32))
t0 = time.perf_counter()
g = np.load(gallery_file).astype(np.float32, copy=False)
index = faiss.IndexFlatL2(g.shape[1])
index.add(g)
t1 = time.perf_counter()
_, nn = index.search(q, k)
t2 = time.perf_counter()
out = {"queries": len(q), "gallery_rows": int(g.shape[0]), "k": k, "seconds": t2 - t0, "search_seconds": t2 - t1,
       "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "faiss_threads": faiss.omp_get_max_threads()}
if len(sys.argv) > 5:
    pads = json.load(open(sys.argv[5]))
    out["top1_same_as_pads"] = float(np.mean(nn[:, 0] == np.array(pads["top1"])))
print(json.dumps(out))

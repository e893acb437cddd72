"""The usual evaluation of the original code: faiss IndexFlatL2 for Recall@k (self excluded),
faiss k-means (k = number of classes, 20 iterations) + nearest-centroid assignment, and
scikit-learn's NMI. Prints wall time, peak resident memory and the values (JSON)."""
import json, resource, sys, time
import numpy as np
import faiss
from sklearn.metrics import normalized_mutual_info_score

emb = np.load(sys.argv[1]).astype(np.float32)
labels = np.load(sys.argv[2]).reshape(-1)
ks = [int(k) for k in sys.argv[3].split(",")]
t0 = time.perf_counter()
index = faiss.IndexFlatL2(emb.shape[1])
index.add(emb)
_, nn = index.search(emb, max(ks) + 1)
# Drop each query itself (it is not always in column 0 when duplicates exist).
rows = []
for i, r in enumerate(nn):
    rows.append(r[r != i][: max(ks)])
nn_labels = labels[np.stack(rows)]
recall = {k: float(np.mean((nn_labels[:, :k] == labels[:, None]).any(1))) for k in ks}
t_knn = time.perf_counter() - t0
n_classes = len(np.unique(labels))
km = faiss.Clustering(emb.shape[1], n_classes)
km.niter, km.min_points_per_centroid, km.max_points_per_centroid = 20, 1, 1000000000
km.seed = 0
km.train(emb, faiss.IndexFlatL2(emb.shape[1]))
centroids = faiss.vector_float_to_array(km.centroids).reshape(n_classes, emb.shape[1])
ci = faiss.IndexFlatL2(emb.shape[1])
ci.add(centroids)
_, assign = ci.search(emb, 1)
nmi = float(normalized_mutual_info_score(labels, assign.reshape(-1)))
total = time.perf_counter() - t0
print(json.dumps({"seconds": total, "knn_seconds": t_knn, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "recall": recall, "nmi": nmi, "faiss_threads": faiss.omp_get_max_threads()}))

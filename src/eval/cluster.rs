//! k-means (seeded, Lloyd iterations, as faiss.Clustering with k = number of classes) and
//! the clustering scores NMI and pairwise F1.
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap as HashMap; // ordered: sums in a fixed order, bit-identical results
use tch::{Device, Kind, Tensor};

/// Index of the nearest centroid for each row, in chunks (ties to the lower index).
pub fn assign(emb: &Tensor, centroids: &Tensor) -> Vec<i64> {
    let n = emb.size()[0];
    let c_sq = (centroids * centroids).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    let chunk = ((256i64 << 20) / (4 * centroids.size()[0].max(1))).clamp(1, 16384);
    let mut out = Vec::with_capacity(n as usize);
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        let q = emb.narrow(0, start, len);
        // |q|^2 is constant per row and does not change the argmin.
        let d = c_sq.unsqueeze(0) - q.matmul(&centroids.tr()) * 2.0;
        let a = d.argmin(1, false);
        out.extend(Vec::<i64>::try_from(a.to_device(Device::Cpu)).unwrap());
        start += len;
    }
    out
}

/// k-means++ seeding: each next centre drawn with probability proportional to the squared
/// distance to the nearest centre so far (O(k N D), about half a Lloyd step).
pub fn kmeans_pp_init(emb: &Tensor, k: usize, rng: &mut ChaCha8Rng) -> Tensor {
    use rand::Rng;
    let n = emb.size()[0] as usize;
    let sq = (emb * emb).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    let dist_to = |i: usize| -> Tensor {
        let c = emb.get(i as i64);
        (&sq + (&c * &c).sum(Kind::Float) - emb.mv(&c) * 2.0).clamp_min(0.0)
    };
    let first = rng.gen_range(0..n);
    let mut chosen = vec![first];
    let mut min_d = dist_to(first);
    for _ in 1..k {
        let cum = min_d.cumsum(0, Kind::Double);
        let total = cum.double_value(&[n as i64 - 1]);
        let next = if total > 0.0 {
            // First index whose cumulative weight reaches u.
            let u = rng.gen::<f64>() * total;
            (cum.lt(u).sum(Kind::Int64).int64_value(&[]) as usize).min(n - 1)
        } else {
            // Every point sits on a centre: any point not yet taken.
            (0..n).find(|i| !chosen.contains(i)).unwrap_or(0)
        };
        chosen.push(next);
        min_d = min_d.minimum(&dist_to(next));
    }
    let idx: Vec<i64> = chosen.into_iter().map(|i| i as i64).collect();
    emb.index_select(0, &Tensor::from_slice(&idx).to_device(emb.device()))
}

/// Largest k seeded with k-means++.
pub const KMEANS_PP_MAX_K: usize = 1024;

/// k-means: k-means++ seeding (random distinct points above KMEANS_PP_MAX_K), then `iters` Lloyd steps; an emptied cluster is re-seeded at
/// a random point. Returns each row's final cluster. Seeded, so repeatable.
pub fn kmeans(emb: &Tensor, k: usize, iters: usize, seed: u64) -> Vec<i64> {
    let n = emb.size()[0] as usize;
    let k = k.clamp(1, n);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0C1A_57E2);
    let dev = emb.device();
    // k-means++ seeding costs k sequential passes; for many clusters (SOP: 11,316) start
    // from k distinct random points instead, as faiss does.
    let mut centroids = if k <= KMEANS_PP_MAX_K {
        kmeans_pp_init(emb, k, &mut rng)
    } else {
        let init: Vec<i64> = sample(&mut rng, n, k).into_iter().map(|i| i as i64).collect();
        emb.index_select(0, &Tensor::from_slice(&init).to_device(dev))
    };
    for _ in 0..iters {
        let a = assign(emb, &centroids);
        let a_t = Tensor::from_slice(&a).to_device(dev);
        let sums = Tensor::zeros([k as i64, emb.size()[1]], (Kind::Float, dev)).index_add(0, &a_t, emb);
        let counts = Tensor::zeros([k as i64], (Kind::Float, dev)).index_add(0, &a_t, &Tensor::ones([n as i64], (Kind::Float, dev)));
        let counts_host = Vec::<f32>::try_from(counts.to_device(Device::Cpu)).unwrap();
        centroids = &sums / counts.clamp_min(1.0).unsqueeze(1);
        for (c, &cnt) in counts_host.iter().enumerate() {
            if cnt == 0.0 {
                let pick = sample(&mut rng, n, 1).index(0) as i64;
                let row = emb.get(pick);
                centroids.get(c as i64).copy_(&row);
            }
        }
    }
    assign(emb, &centroids)
}

fn contingency(a: &[i64], b: &[i64]) -> (HashMap<(i64, i64), f64>, HashMap<i64, f64>, HashMap<i64, f64>) {
    let mut joint = HashMap::new();
    let mut ma = HashMap::new();
    let mut mb = HashMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *joint.entry((x, y)).or_insert(0.0) += 1.0;
        *ma.entry(x).or_insert(0.0) += 1.0;
        *mb.entry(y).or_insert(0.0) += 1.0;
    }
    (joint, ma, mb)
}

fn entropy(counts: &HashMap<i64, f64>, n: f64) -> f64 {
    counts.values().map(|&c| {
        let p = c / n;
        -p * p.ln()
    }).sum()
}

/// Normalised mutual information with the arithmetic mean of the entropies
/// (scikit-learn's default); 1 when both labelings are a single cluster.
pub fn nmi(a: &[i64], b: &[i64]) -> f64 {
    let n = a.len() as f64;
    let (joint, ma, mb) = contingency(a, b);
    let (ha, hb) = (entropy(&ma, n), entropy(&mb, n));
    if ha == 0.0 && hb == 0.0 {
        return 1.0;
    }
    let mut mi = 0.0;
    for (&(x, y), &c) in &joint {
        mi += c / n * ((c * n) / (ma[&x] * mb[&y])).ln();
    }
    let denom = (ha + hb) / 2.0;
    if denom <= 0.0 {
        0.0
    } else {
        (mi / denom).clamp(0.0, 1.0)
    }
}

fn pairs(c: f64) -> f64 {
    c * (c - 1.0) / 2.0
}

/// Pairwise clustering F1: precision and recall over pairs of items put in one cluster.
pub fn pairwise_f1(clusters: &[i64], labels: &[i64]) -> f64 {
    let (joint, mc, ml) = contingency(clusters, labels);
    let tp: f64 = joint.values().map(|&c| pairs(c)).sum();
    let pred: f64 = mc.values().map(|&c| pairs(c)).sum();
    let truth: f64 = ml.values().map(|&c| pairs(c)).sum();
    if tp == 0.0 || pred == 0.0 || truth == 0.0 {
        return 0.0;
    }
    let (p, r) = (tp / pred, tp / truth);
    2.0 * p * r / (p + r)
}

//! k-means (seeded, Lloyd iterations, as faiss.Clustering with k = number of classes) and
//! the clustering scores NMI and pairwise F1.
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap as HashMap; // ordered: sums in a fixed order, bit-identical results
use tch::{Device, Kind, Tensor};

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

/// Nearest and second-nearest centroid of the given rows (all when `rows` is None), with
/// true Euclidean distances, in chunks of the [rows, k] distance block.
fn nearest_two(emb: &Tensor, sq: &Tensor, host: Option<&HostPoints>, centroids: &Tensor, rows: Option<&Tensor>) -> (Tensor, Tensor, Tensor) {
    if let Some(host) = host {
        return nearest_two_host(host, centroids, rows);
    }
    let m = rows.map(|r| r.size()[0]).unwrap_or(emb.size()[0]);
    let k = centroids.size()[0];
    let c_sq = (centroids * centroids).sum_dim_intlist([1i64].as_slice(), false, Kind::Float).unsqueeze(0);
    let c_t = centroids.tr() * -2.0;
    let chunk = ((256i64 << 20) / (4 * k.max(1))).clamp(1, 16384);
    let (mut a, mut d1, mut d2) = (Vec::new(), Vec::new(), Vec::new());
    let mut start = 0;
    while start < m {
        let len = chunk.min(m - start);
        let idx = match rows {
            Some(r) => r.narrow(0, start, len),
            None => Tensor::arange_start(start, start + len, (Kind::Int64, emb.device())),
        };
        let q = emb.index_select(0, &idx);
        let q_sq = sq.index_select(0, &idx);
        // |q - c|^2 = |q|^2 + |c|^2 - 2 q.c, the last two as one GEMM onto the broadcast |c|^2.
        let d = c_sq.addmm(&q, &c_t);
        let (vals, arg) = d.topk(2.min(k), 1, false, true);
        let true_dist = |v: Tensor| (v + &q_sq).clamp_min(0.0).sqrt();
        a.push(arg.select(1, 0));
        d1.push(true_dist(vals.select(1, 0)));
        d2.push(if k > 1 { true_dist(vals.select(1, 1)) } else { Tensor::full([len], f64::INFINITY, (Kind::Float, emb.device())) });
        start += len;
    }
    (Tensor::cat(&a, 0), Tensor::cat(&d1, 0), Tensor::cat(&d2, 0))
}

/// A CPU tensor's values as a flat host vector.
fn to_host(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.contiguous().flatten(0, -1)).expect("float tensor")
}

/// The points and their squared norms on the host, copied once per k-means run for the
/// CPU paths below.
struct HostPoints {
    emb: Vec<f32>,
    sq: Vec<f32>,
    dim: usize,
}

impl HostPoints {
    fn new(emb: &Tensor, sq: &Tensor) -> Self {
        HostPoints { emb: to_host(emb), sq: to_host(sq), dim: emb.size()[1] as usize }
    }
}

/// `nearest_two` on the CPU: host GEMM blocks (eval::blas), each row's two smallest in parallel.
fn nearest_two_host(host: &HostPoints, centroids: &Tensor, rows: Option<&Tensor>) -> (Tensor, Tensor, Tensor) {
    use rayon::prelude::*;
    let (emb_h, sq_h, dim) = (&host.emb, &host.sq, host.dim);
    let k = centroids.size()[0] as usize;
    let cent_h = to_host(centroids);
    let rows: Vec<usize> = match rows {
        Some(r) => Vec::<i64>::try_from(r).expect("row indices").into_iter().map(|i| i as usize).collect(),
        None => (0..sq_h.len()).collect(),
    };
    let c_sq = super::blas::row_sq_norms(&cent_h, dim);
    let chunk = super::blas::block_rows(k);
    let (mut assign, mut d1, mut d2) = (vec![0i64; rows.len()], vec![0f32; rows.len()], vec![f32::INFINITY; rows.len()]);
    let (mut queries, mut block) = (Vec::new(), Vec::new());
    for (c, rows) in rows.chunks(chunk).enumerate() {
        queries.clear();
        for &r in rows {
            queries.extend_from_slice(&emb_h[r * dim..(r + 1) * dim]);
        }
        super::blas::minus_two_inner(&queries, &cent_h, dim, &mut block);
        let at = c * chunk;
        let out = assign[at..at + rows.len()].par_iter_mut().zip(&mut d1[at..at + rows.len()]).zip(&mut d2[at..at + rows.len()]);
        out.zip(block.par_chunks(k)).zip(rows.par_iter()).for_each(|((((a, d1), d2), row), &r)| {
            // Two smallest by (value, index).
            let (mut b1, mut i1, mut b2) = (f32::INFINITY, 0usize, f32::INFINITY);
            for (j, (&v, &c)) in row.iter().zip(&c_sq).enumerate() {
                let v = v + c;
                if v < b1 {
                    b2 = b1;
                    b1 = v;
                    i1 = j;
                } else if v < b2 {
                    b2 = v;
                }
            }
            let true_dist = |v: f32| (v + sq_h[r]).max(0.0).sqrt();
            *a = i1 as i64;
            *d1 = true_dist(b1);
            *d2 = if k > 1 { true_dist(b2) } else { f32::INFINITY };
        });
    }
    (Tensor::from_slice(&assign), Tensor::from_slice(&d1), Tensor::from_slice(&d2))
}

/// Lloyd takes the moved-centres path when at most 1 / MOVED_SHARE_MAX of the centres moved.
const MOVED_SHARE_MAX: usize = 4;

/// For each point: the exact distance to its own centre when that centre is among `moved`
/// (NaN otherwise), and the distance to the nearest moved centre other than its own
/// (infinity when there is none). Host GEMM blocks of [rows, moved].
fn moved_distances(host: &HostPoints, centroids: &Tensor, moved: &Tensor, assign: &Tensor) -> (Tensor, Tensor) {
    use rayon::prelude::*;
    let (emb_h, sq_h, dim) = (&host.emb, &host.sq, host.dim);
    let moved_h = to_host(&centroids.index_select(0, moved));
    let moved_ids = Vec::<i64>::try_from(moved).expect("centre indices");
    let assign_h = Vec::<i64>::try_from(assign).expect("assignments");
    let m = moved_ids.len();
    let mut pos_in_moved = vec![usize::MAX; centroids.size()[0] as usize];
    for (j, &c) in moved_ids.iter().enumerate() {
        pos_in_moved[c as usize] = j;
    }
    let c_sq = super::blas::row_sq_norms(&moved_h, dim);
    let n = sq_h.len();
    let (mut own, mut other) = (vec![f32::NAN; n], vec![f32::INFINITY; n]);
    super::blas::for_each_block(emb_h, &moved_h, dim, |start, len, block| {
        let rows = own[start..start + len].par_iter_mut().zip(&mut other[start..start + len]).zip(block.par_chunks(m)).enumerate();
        rows.for_each(|(i, ((own, other), row))| {
            let r = start + i;
            let mine = pos_in_moved[assign_h[r] as usize];
            for (j, (&v, &c)) in row.iter().zip(&c_sq).enumerate() {
                // The same float steps as nearest_two_host: (v + |c|^2) + |x|^2.
                let d = (v + c + sq_h[r]).max(0.0).sqrt();
                if j == mine {
                    *own = d;
                } else if d < *other {
                    *other = d;
                }
            }
        });
    });
    (Tensor::from_slice(&own), Tensor::from_slice(&other))
}

/// k-means as the original's faiss.Clustering: k distinct random points as the initial
/// centres, then `iters` Lloyd updates; an emptied cluster is re-seeded at a random point.
/// Returns each row's cluster under the final centroids. Seeded, so repeatable.
/// `kmeans_with(.., true)` seeds with k-means++ instead (`--kmeans-plusplus`).
///
/// The assignment step keeps Hamerly's bounds (an upper bound on the distance to the own
/// centre, a lower bound on the distance to any other, both moved by how far centres moved):
/// a point whose bounds cannot cross keeps its cluster without computing its k distances.
/// On the CPU, once at most a quarter of the centres moved in a step, the bounds are kept
/// exactly instead: distances to the moved centres are computed for every point and the
/// bound on the unmoved ones stays as it is (Hamerly's rule would lower every point's bound
/// by the largest shift, which with thousands of small clusters is large every step). The
/// result is Lloyd's; only the work shrinks as clusters settle.
pub fn kmeans(emb: &Tensor, k: usize, iters: usize, seed: u64) -> Vec<i64> {
    kmeans_with(emb, k, iters, seed, false)
}

/// `kmeans` with a choice of seeding: `plusplus` = k-means++ (for k <= KMEANS_PP_MAX_K; above
/// it, random points as faiss), else k distinct random points (faiss, the original).
/// `emb` `[N, D]` (any device), k clamped to [1, N]; returns N cluster indices in 0..k.
pub fn kmeans_with(emb: &Tensor, k: usize, iters: usize, seed: u64, plusplus: bool) -> Vec<i64> {
    let n = emb.size()[0] as usize;
    let k = k.clamp(1, n);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0C1A_57E2);
    let dev = emb.device();
    let emb = emb.to_kind(Kind::Float);
    let centroids = if plusplus && k <= KMEANS_PP_MAX_K {
        kmeans_pp_init(&emb, k, &mut rng)
    } else {
        let init: Vec<i64> = sample(&mut rng, n, k).into_iter().map(|i| i as i64).collect();
        emb.index_select(0, &Tensor::from_slice(&init).to_device(dev))
    };
    lloyd(&emb, centroids, iters, &mut rng)
}

/// `iters` Lloyd updates from the given centres (bounded assignment, see `kmeans`).
pub fn lloyd(emb: &Tensor, mut centroids: Tensor, iters: usize, rng: &mut ChaCha8Rng) -> Vec<i64> {
    let n = emb.size()[0] as usize;
    let k = centroids.size()[0] as usize;
    let dev = emb.device();
    let emb = emb.to_kind(Kind::Float);
    let sq = (&emb * &emb).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    let host = (dev == Device::Cpu).then(|| HostPoints::new(&emb, &sq));
    let (mut assign, mut upper, mut lower) = nearest_two(&emb, &sq, host.as_ref(), &centroids, None);
    let ones = Tensor::ones([n as i64], (Kind::Float, dev));
    for _ in 0..iters {
        let sums = Tensor::zeros([k as i64, emb.size()[1]], (Kind::Float, dev)).index_add(0, &assign, &emb);
        let counts = Tensor::zeros([k as i64], (Kind::Float, dev)).index_add(0, &assign, &ones);
        let next = &sums / counts.clamp_min(1.0).unsqueeze(1);
        let counts_host = Vec::<f32>::try_from(counts.to_device(Device::Cpu)).unwrap();
        for (c, &cnt) in counts_host.iter().enumerate() {
            if cnt == 0.0 {
                let pick = sample(rng, n, 1).index(0) as i64;
                next.get(c as i64).copy_(&emb.get(pick));
            }
        }
        let shift = (&next - &centroids).norm_scalaropt_dim(2, [1i64].as_slice(), false);
        let max_shift = shift.max().double_value(&[]);
        centroids = next;
        if max_shift == 0.0 {
            continue;
        }
        let moved = shift.gt(0.0).nonzero().squeeze_dim(1);
        if moved.size()[0] == 0 {
            // Only possible with non-finite shifts (NaN input): nothing measurable moved.
            continue;
        }
        if let Some(host) = host.as_ref().filter(|_| moved.size()[0] as usize * MOVED_SHARE_MAX <= k) {
            // Few centres moved (late iterations: under 1 % of them): exact distances to
            // those, and the others did not move, so a bound on the distance to them stays
            // valid as it is. Hamerly's rule would lower every bound by the largest shift.
            let (own, other) = moved_distances(host, &centroids, &moved, &assign);
            upper = upper.where_self(&own.isnan(), &own);
            lower = lower.minimum(&other);
        } else {
            upper = upper + shift.index_select(0, &assign);
            lower = lower - max_shift;
        }
        let maybe = upper.gt_tensor(&lower).nonzero().squeeze_dim(1);
        if maybe.size()[0] == 0 {
            continue;
        }
        // Tighten the upper bound with the exact distance to the own centre.
        let own = centroids.index_select(0, &assign.index_select(0, &maybe));
        let exact = (emb.index_select(0, &maybe) - own).norm_scalaropt_dim(2, [1i64].as_slice(), false);
        upper = upper.index_put(&[Some(maybe.shallow_clone())], &exact, false);
        let still = maybe.index_select(0, &upper.index_select(0, &maybe).gt_tensor(&lower.index_select(0, &maybe)).nonzero().squeeze_dim(1));
        if still.size()[0] == 0 {
            continue;
        }
        tracing::debug!("lloyd: {} centres moved (max {max_shift:.4}), {} bound-crossing, {} recomputed of {n}", moved.size()[0], maybe.size()[0], still.size()[0]);
        let (a, d1, d2) = nearest_two(&emb, &sq, host.as_ref(), &centroids, Some(&still));
        assign = assign.index_put(&[Some(still.shallow_clone())], &a, false);
        upper = upper.index_put(&[Some(still.shallow_clone())], &d1, false);
        lower = lower.index_put(&[Some(still)], &d2, false);
    }
    Vec::<i64>::try_from(assign.to_device(Device::Cpu)).unwrap()
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

//! Metrics on hand-worked examples and against second methods.
use pads::eval::cluster::{kmeans, nmi, pairwise_f1};
use pads::eval::knn::{map_at_r, nearest_neighbours, recall_at_k};
use pads::eval::{class_distances, compute_metrics, EvalOptions};
use tch::{Device, Kind, Tensor};

fn points(xs: &[[f32; 2]]) -> Tensor {
    let flat: Vec<f32> = xs.iter().flatten().copied().collect();
    Tensor::from_slice(&flat).view([xs.len() as i64, 2])
}

#[test]
fn recall_and_map_hand_worked() {
    // On a line: 0.0, 0.1, 1.0, 1.1, 5.0 with labels 0 0 1 1 0.
    let e = points(&[[0.0, 0.0], [0.1, 0.0], [1.0, 0.0], [1.1, 0.0], [5.0, 0.0]]);
    let labels = [0i64, 0, 1, 1, 0];
    let nn = nearest_neighbours(&e, 4);
    assert_eq!(nn.row(4), &[3, 2, 1, 0]);
    assert_eq!(nn.row(0), &[1, 2, 3, 4]);
    assert!((recall_at_k(&nn, &labels, 1, false).unwrap() - 0.8).abs() < 1e-12);
    assert!((recall_at_k(&nn, &labels, 2, false).unwrap() - 0.8).abs() < 1e-12);
    assert!((recall_at_k(&nn, &labels, 4, false).unwrap() - 1.0).abs() < 1e-12);
    // AP@R per query: 0.5, 0.5, 1, 1, 0.
    assert!((map_at_r(&nn, &labels).unwrap() - 0.6).abs() < 1e-12);
    // Item 4 alone in class 2 (labels 0 0 1 1 2): it can never hit. The original divides by
    // every item (hits 1, 1, 1, 1 at k = 1 -> 4/5); pytorch-metric-learning leaves it out (4/4).
    let lone = [0i64, 0, 1, 1, 2];
    assert!((recall_at_k(&nn, &lone, 1, false).unwrap() - 0.8).abs() < 1e-12);
    assert!((recall_at_k(&nn, &lone, 1, true).unwrap() - 1.0).abs() < 1e-12);
    // A repeated k is computed and reported once.
    assert_eq!(EvalOptions::new(vec![2, 1, 2, 1]).ks, vec![2, 1]);
    // Every item alone: no query can hit, undefined under either rule.
    assert_eq!(recall_at_k(&nn, &[0, 1, 2, 3, 4], 1, false), None);
    assert_eq!(recall_at_k(&nn, &[0, 1, 2, 3, 4], 1, true), None);
}

#[test]
fn ties_go_to_the_lower_index() {
    // Three copies of (1,0) are equally far from the query (0,0).
    let e = points(&[[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [5.0, 5.0], [1.0, 0.0]]);
    let nn = nearest_neighbours(&e, 2);
    assert_eq!(nn.row(0), &[1, 2]);
    let nn = nearest_neighbours(&e, 3);
    assert_eq!(nn.row(0), &[1, 2, 3]);
    // From a copy: the other copies at distance 0, lowest first, then the origin.
    let nn = nearest_neighbours(&e, 4);
    assert_eq!(nn.row(2), &[1, 3, 5, 0]);
}

#[test]
fn chunked_knn_equals_brute_force() {
    tch::manual_seed(4);
    let e = Tensor::randn([300, 16], (Kind::Float, Device::Cpu));
    let nn = nearest_neighbours(&e, 5);
    let host: Vec<Vec<f64>> = (0..300).map(|i| Vec::<f64>::try_from(e.get(i).to_kind(Kind::Double)).unwrap()).collect();
    for i in 0..300 {
        let mut d: Vec<(f64, usize)> = (0..300)
            .filter(|&j| j != i)
            .map(|j| (host[i].iter().zip(&host[j]).map(|(a, b)| (a - b) * (a - b)).sum(), j))
            .collect();
        d.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let want: Vec<u32> = d[..5].iter().map(|x| x.1 as u32).collect();
        assert_eq!(nn.row(i), want.as_slice(), "query {i}");
    }
}

#[test]
fn sampled_threshold_knn_equals_brute_force_with_ties() {
    // Small integer coordinates: every distance is exact in f32 and many are equal, so the
    // (distance, index) order across the k-th place is tested, on rows long enough for the
    // sampled-threshold path (n >= 1024, k <= n / 8). Rows sorted by a coarse key put
    // near neighbours at nearby indices, the case a strided sample sees worst.
    let (n, d, k) = (2000usize, 6usize, 200usize);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    use rand::{Rng, SeedableRng};
    let mut rows: Vec<Vec<i64>> = (0..n).map(|_| (0..d).map(|_| rng.gen_range(0..4)).collect()).collect();
    rows.sort_by_key(|r| r[0] * 4 + r[1]);
    let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    let e = Tensor::from_slice(&flat).reshape([n as i64, d as i64]);
    let nn = nearest_neighbours(&e, k);
    for i in 0..n {
        let mut dist: Vec<(i64, usize)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| (rows[i].iter().zip(&rows[j]).map(|(a, b)| (a - b) * (a - b)).sum(), j))
            .collect();
        dist.sort();
        let want: Vec<u32> = dist[..k].iter().map(|x| x.1 as u32).collect();
        assert_eq!(nn.row(i), want.as_slice(), "query {i}");
    }
}

#[test]
fn perfect_clusters_score_one() {
    // 6 tight, well separated clusters of 8 points in 4-D.
    tch::manual_seed(0);
    let centres = Tensor::randn([6, 4], (Kind::Float, Device::Cpu)) * 10.0;
    let labels: Vec<i64> = (0..48).map(|i| i / 8).collect();
    let idx = Tensor::from_slice(&labels);
    let e = centres.index_select(0, &idx) + Tensor::randn([48, 4], (Kind::Float, Device::Cpu)) * 0.01;
    // k-means++ seeding: k random points (the original's faiss init, the default) would
    // usually put two centres in one of these clusters and none in another.
    let mut opts = EvalOptions::new(vec![1, 2, 4, 8]);
    opts.kmeans_plusplus = true;
    let m = compute_metrics(&e, &labels, &opts).unwrap();
    for (k, r) in &m.recall {
        assert_eq!(*r, 1.0, "recall@{k}");
    }
    assert!((m.nmi - 1.0).abs() < 1e-12, "nmi {}", m.nmi);
    assert!((m.f1 - 1.0).abs() < 1e-12, "f1 {}", m.f1);
    assert!((m.map_at_r - 1.0).abs() < 1e-12, "map@r {}", m.map_at_r);
    // Same seed, same clustering.
    assert_eq!(kmeans(&e, 6, 20, 3), kmeans(&e, 6, 20, 3));
}

#[test]
fn nmi_and_f1_known_values() {
    let labels = [0i64, 0, 1, 1, 2, 2];
    // A relabelling of the classes is a perfect clustering.
    assert!((nmi(&[2, 2, 0, 0, 1, 1], &labels) - 1.0).abs() < 1e-12);
    assert!((pairwise_f1(&[2, 2, 0, 0, 1, 1], &labels) - 1.0).abs() < 1e-12);
    // Two clusters {0,1,2}, {3,4,5}: MI = (2/3) ln 2, H = ln 3 and ln 2.
    let clusters = [0i64, 0, 0, 1, 1, 1];
    let want = (2.0 / 3.0) * 2f64.ln() / ((3f64.ln() + 2f64.ln()) / 2.0);
    assert!((nmi(&clusters, &labels) - want).abs() < 1e-12);
    // Pairs: TP 2, predicted 6, true 3 -> P 1/3, R 2/3, F1 4/9.
    assert!((pairwise_f1(&clusters, &labels) - 4.0 / 9.0).abs() < 1e-12);
    // Independent labelings: NMI 0.
    assert!(nmi(&[0, 1, 0, 1], &[0, 0, 1, 1]).abs() < 1e-12);
}

#[test]
fn class_distances_equal_pairwise_means() {
    tch::manual_seed(2);
    let e = Tensor::randn([12, 5], (Kind::Float, Device::Cpu));
    let labels: Vec<i64> = vec![0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2];
    let (intra, inter) = class_distances(&e, &labels);
    let host: Vec<Vec<f64>> = (0..12).map(|i| Vec::<f64>::try_from(e.get(i).to_kind(Kind::Double)).unwrap()).collect();
    let cos = |a: &[f64], b: &[f64]| {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
        1.0 - dot / (na * nb)
    };
    let mut per_class = Vec::new();
    let mut centroids = Vec::new();
    for c in 0..3 {
        let idx: Vec<usize> = (0..12).filter(|&i| labels[i] == c).collect();
        let mut s = 0.0;
        let mut n = 0.0;
        for &i in &idx {
            for &j in &idx {
                if i != j {
                    s += cos(&host[i], &host[j]);
                    n += 1.0;
                }
            }
        }
        per_class.push(s / n);
        // Centroid of the normalised embeddings.
        let mut cen = vec![0.0; 5];
        for &i in &idx {
            let norm: f64 = host[i].iter().map(|x| x * x).sum::<f64>().sqrt();
            for d in 0..5 {
                cen[d] += host[i][d] / norm / idx.len() as f64;
            }
        }
        centroids.push(cen);
    }
    let want_intra = per_class.iter().sum::<f64>() / 3.0;
    let mut s = 0.0;
    for i in 0..3 {
        for j in 0..3 {
            if i != j {
                s += cos(&centroids[i], &centroids[j]);
            }
        }
    }
    let want_inter = s / 6.0;
    assert!((intra - want_intra).abs() < 1e-9, "{intra} vs {want_intra}");
    assert!((inter - want_inter).abs() < 1e-9, "{inter} vs {want_inter}");
}

#[test]
fn bounded_lloyd_equals_plain_lloyd() {
    use rand::SeedableRng;
    tch::manual_seed(11);
    // 400 points around 12 centres; start from 12 data points.
    let centres = Tensor::randn([12, 8], (Kind::Float, Device::Cpu)) * 3.0;
    let idx = Tensor::randint(12, [400], (Kind::Int64, Device::Cpu));
    let e = centres.index_select(0, &idx) + Tensor::randn([400, 8], (Kind::Float, Device::Cpu));
    let init = e.narrow(0, 0, 12).copy();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let got = pads::eval::cluster::lloyd(&e, init.copy(), 15, &mut rng);
    // Plain Lloyd: full distance matrix every step.
    let mut c = init;
    let assign = |c: &Tensor| -> Tensor {
        let d = (e.unsqueeze(1) - c.unsqueeze(0)).pow_tensor_scalar(2).sum_dim_intlist([2i64].as_slice(), false, Kind::Float);
        d.argmin(1, false)
    };
    for _ in 0..15 {
        let a = assign(&c);
        let sums = Tensor::zeros([12, 8], (Kind::Float, Device::Cpu)).index_add(0, &a, &e);
        let counts = Tensor::zeros([12], (Kind::Float, Device::Cpu)).index_add(0, &a, &Tensor::ones([400], (Kind::Float, Device::Cpu)));
        assert!(Vec::<f32>::try_from(&counts).unwrap().iter().all(|&x| x > 0.0), "fixture should keep clusters non-empty");
        c = sums / counts.unsqueeze(1);
    }
    let want = Vec::<i64>::try_from(assign(&c)).unwrap();
    assert_eq!(got, want);
}

#[test]
fn lloyd_with_few_moving_centres_equals_plain_lloyd() {
    // 200 centres, so late iterations move only a few of them and take the moved-centres
    // path (exact distances to those, other bounds kept); the result must be plain Lloyd's.
    use rand::SeedableRng;
    tch::manual_seed(12);
    let (k, n, d) = (200i64, 3000i64, 8i64);
    let centres = Tensor::randn([k, d], (Kind::Float, Device::Cpu)) * 2.0;
    let idx = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(k);
    let e = centres.index_select(0, &idx) + Tensor::randn([n, d], (Kind::Float, Device::Cpu));
    let init = e.narrow(0, 0, k).copy();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let iters = 25;
    let got = pads::eval::cluster::lloyd(&e, init.copy(), iters, &mut rng);
    let assign = |c: &Tensor| -> Tensor {
        let dist = (e.unsqueeze(1) - c.unsqueeze(0)).pow_tensor_scalar(2).sum_dim_intlist([2i64].as_slice(), false, Kind::Float);
        dist.argmin(1, false)
    };
    let mut c = init;
    let mut changes = Vec::new();
    let mut prev = assign(&c);
    for _ in 0..iters {
        let sums = Tensor::zeros([k, d], (Kind::Float, Device::Cpu)).index_add(0, &prev, &e);
        let counts = Tensor::zeros([k], (Kind::Float, Device::Cpu)).index_add(0, &prev, &Tensor::ones([n], (Kind::Float, Device::Cpu)));
        assert!(Vec::<f32>::try_from(&counts).unwrap().iter().all(|&x| x > 0.0), "fixture should keep clusters non-empty");
        c = sums / counts.unsqueeze(1);
        let next = assign(&c);
        changes.push(next.ne_tensor(&prev).sum(Kind::Int64).int64_value(&[]));
        prev = next;
    }
    // The fixture has to exercise the path: assignments still change after the first steps.
    assert!(changes[0] > 0 && changes[3..].iter().any(|&x| x > 0), "changes per step: {changes:?}");
    assert_eq!(got, Vec::<i64>::try_from(prev).unwrap(), "changes per step: {changes:?}");
}

// ---- query -> gallery metrics (eval::query_gallery), pytorch-metric-learning semantics ----

/// Gallery on a line: 0 (A), 1 (B), 2 (A), 10 (C); A, B, C, D = 1, 2, 3, 4.
const GALLERY_X: [f32; 4] = [0.0, 1.0, 2.0, 10.0];
const GALLERY_Y: [i64; 4] = [1, 2, 1, 3];

#[test]
fn query_gallery_recall_and_map_hand_worked() {
    use pads::eval::query_gallery::query_gallery_metrics;
    // q0 = 0.4 (A): order g0 A, g1 B, g2 A, g3; R = 2, so the first 2 places count:
    //   A, B -> AP = (1/1) / 2 = 1/2 (the A at place 3 is beyond R); hit@1.
    // q1 = 1.6 (B): order g2 A (0.4), g1 B (0.6), g0, g3; R = 1; miss@1, hit@2; AP = 0.
    // q2 = 5.0 (D): no D in the gallery: a lone query, left out.
    // q3 = 9.0 (C): g3 first; R = 1; AP = 1.
    // Over the 3 counted queries: R@1 = 2/3, R@2 = 1, mAP@R = (1/2 + 0 + 1) / 3 = 1/2.
    let q = [0.4f32, 1.6, 5.0, 9.0];
    let ql = [1i64, 2, 4, 3];
    let m = query_gallery_metrics(&q, &ql, &GALLERY_X, &GALLERY_Y, 1, &[1, 2], false, true).unwrap();
    assert_eq!(m.lone_queries, 1);
    assert!((m.recall[0].1 - 2.0 / 3.0).abs() < 1e-12, "{m:?}");
    assert!((m.recall[1].1 - 1.0).abs() < 1e-12);
    assert!((m.map_at_r - 0.5).abs() < 1e-12, "{}", m.map_at_r);
    // The original's rule: the lone q2 is a miss over all 4 queries (R@1 2/4, R@2 3/4); mAP@R
    // leaves it out either way.
    let miss = query_gallery_metrics(&q, &ql, &GALLERY_X, &GALLERY_Y, 1, &[1, 2], false, false).unwrap();
    assert_eq!((miss.recall.clone(), miss.map_at_r, miss.lone_queries), (vec![(1, 0.5), (2, 0.75)], m.map_at_r, 1));
    assert_eq!(m.named().last().unwrap().0, "map@r");
    // A repeated k is reported once.
    let twice = query_gallery_metrics(&q, &ql, &GALLERY_X, &GALLERY_Y, 1, &[1, 2, 2, 1], false, true).unwrap();
    assert_eq!(twice.recall, m.recall);
}

#[test]
fn query_gallery_self_matches_are_left_out_only_for_the_same_set() {
    use pads::eval::query_gallery::query_gallery_metrics;
    // Same set: i0 (0, A) -> g1 B, g2 A: R = 1, miss@1, hit@2, AP 0. i1 (B) and i3 (C) have
    // no other item of their label: lone. i2 (2, A) -> g1 B (1), g0 A (2): R = 1, AP 0.
    let m = query_gallery_metrics(&GALLERY_X, &GALLERY_Y, &GALLERY_X, &GALLERY_Y, 1, &[1, 2], true, true).unwrap();
    assert_eq!((m.lone_queries, m.recall[0].1, m.recall[1].1, m.map_at_r), (2, 0.0, 1.0, 0.0), "{m:?}");
    // The same vectors as a separate gallery: each query finds itself at distance 0 and
    // counts it (R includes it): R@1 = 1 for all four; mAP@R: i0 R 2 -> [A, B] AP 1/2,
    // i2 R 2 -> [A, B] (g2, then g1 at 1 before g0 at 2) AP 1/2, i1 and i3 R 1 AP 1 -> 3/4.
    let m = query_gallery_metrics(&GALLERY_X, &GALLERY_Y, &GALLERY_X, &GALLERY_Y, 1, &[1], false, true).unwrap();
    assert_eq!((m.lone_queries, m.recall[0].1), (0, 1.0), "{m:?}");
    assert!((m.map_at_r - 0.75).abs() < 1e-12, "{}", m.map_at_r);
    // The queries as the gallery's first rows (PML's ref_includes_query): q0 = g0 (0, A)
    // ranks g1 B (1), g2 A (2), g3 with itself left out: R = 1, miss@1, hit@2, AP 0; q1 = g1
    // (B) has no other B: lone. Over the 1 counted query: R@1 0, R@2 1, mAP@R 0.
    let m = query_gallery_metrics(&GALLERY_X[..2], &GALLERY_Y[..2], &GALLERY_X, &GALLERY_Y, 1, &[1, 2], true, true).unwrap();
    assert_eq!((m.lone_queries, m.recall[0].1, m.recall[1].1, m.map_at_r), (1, 0.0, 1.0, 0.0), "{m:?}");
    assert!(m.ref_includes_query && !m.same_set);
    // Without the rule each query finds itself first: R@1 = 1.
    let own = query_gallery_metrics(&GALLERY_X[..2], &GALLERY_Y[..2], &GALLERY_X, &GALLERY_Y, 1, &[1], false, true).unwrap();
    assert_eq!(own.recall[0].1, 1.0);
    // A gallery that does not start with the queries is refused.
    let err = format!("{:#}", query_gallery_metrics(&GALLERY_X[1..3], &GALLERY_Y[1..3], &GALLERY_X, &GALLERY_Y, 1, &[1], true, true).unwrap_err());
    assert!(err.contains("first 2 rows"), "{err}");
    // The single-set evaluation agrees with the same-set query/gallery one on mAP@R.
    let e = Tensor::from_slice(&GALLERY_X).view([4, 1]);
    let nn = nearest_neighbours(&e, 3);
    assert_eq!(map_at_r(&nn, &GALLERY_Y), Some(0.0));
}

#[test]
fn query_gallery_from_tensors_checks_normalises_and_warns() {
    // The tensor entry point the CLI's files path and `pads.evaluate(..., gallery_*)` share.
    use pads::eval::query_gallery::{query_gallery_from_tensors, query_gallery_metrics, EvalSet};
    let g = Tensor::from_slice(&GALLERY_X).view([4, 1]);
    let set = EvalSet { embeddings: &g, labels: &GALLERY_Y, name: "G" };
    // gallery None = the same set, self-matches left out; raw distances without normalize.
    let m = query_gallery_from_tensors(&set, None, true, &[1, 2], false, true).unwrap();
    let want = query_gallery_metrics(&GALLERY_X, &GALLERY_Y, &GALLERY_X, &GALLERY_Y, 1, &[1, 2], true, true).unwrap();
    assert_eq!((m.recall.clone(), m.map_at_r, m.same_set), (want.recall, want.map_at_r, true));
    assert_eq!(m.warnings, vec!["2 of 4 queries have no same-label item in the gallery other than themselves: mAP@R leaves them out, Recall@k too (--count-lone-queries counts them as misses, as the original does)".to_string()]);
    // Normalised: the all-zero row 0 is an error naming the set; without it, the count of
    // rows that were not unit-norm is a warning.
    let err = format!("{:#}", query_gallery_from_tensors(&set, None, true, &[1], true, true).err().unwrap());
    assert!(err.starts_with("G: row 0 (0-based) is all zeros"), "{err}");
    let q = Tensor::from_slice(&[3.0f32, 1.0]).view([2, 1]);
    let g2 = Tensor::from_slice(&[1.0f32, -2.0]).view([2, 1]);
    let m = query_gallery_from_tensors(
        &EvalSet { embeddings: &q, labels: &[1, 2], name: "Q" },
        Some(&EvalSet { embeddings: &g2, labels: &[1, 2], name: "G2" }),
        false,
        &[1],
        true,
        true,
    )
    .unwrap();
    assert_eq!((m.recall[0].1, m.same_set), (0.5, false), "{m:?}"); // both queries are +1 after normalising
    assert_eq!(m.warnings, vec!["Q: 1 of 2 rows were not unit-norm and were L2-normalised before every metric (--no-normalize keeps raw Euclidean distances)".to_string(), "G2: 1 of 2 rows were not unit-norm and were L2-normalised before every metric (--no-normalize keeps raw Euclidean distances)".to_string()]);
    // Label count, width and finiteness are checked per set.
    let bad = |qe: &Tensor, ql: &[i64], ge: &Tensor, gl: &[i64]| {
        let r = query_gallery_from_tensors(&EvalSet { embeddings: qe, labels: ql, name: "Q" }, Some(&EvalSet { embeddings: ge, labels: gl, name: "G" }), false, &[1], false, true);
        format!("{:#}", r.err().unwrap())
    };
    assert!(bad(&q, &[1, 2], &g2, &[1]).contains("G: 1 labels, but the embeddings have 2 rows"));
    assert!(bad(&q, &[1, 2], &Tensor::zeros([2, 2], (Kind::Float, Device::Cpu)), &[1, 2]).contains("Q is 1-d but G is 2-d"));
    assert!(bad(&Tensor::from_slice(&[f32::NAN, 1.0]).view([2, 1]), &[1, 2], &g2, &[1, 2]).contains("Q: embeddings must be finite"));
}

#[test]
fn query_gallery_refuses_undefined_inputs() {
    use pads::eval::query_gallery::query_gallery_metrics;
    let err = |r: anyhow::Result<_>| format!("{:#}", r.err().unwrap());
    assert!(err(query_gallery_metrics(&[0.0], &[1], &GALLERY_X, &GALLERY_Y, 1, &[5], false, true)).contains("--k 5"));
    assert!(err(query_gallery_metrics(&GALLERY_X, &GALLERY_Y, &GALLERY_X, &GALLERY_Y, 1, &[4], true, true)).contains("1 <= k <= 3"));
    assert!(err(query_gallery_metrics(&[0.0], &[1], &GALLERY_X, &GALLERY_Y, 1, &[0], false, true)).contains("--k 0"));
    // Every query lone: undefined (NaN), not an error and not a number.
    let lone = query_gallery_metrics(&[0.0], &[9], &GALLERY_X, &GALLERY_Y, 1, &[1], false, true).unwrap();
    assert!(lone.recall[0].1.is_nan() && lone.map_at_r.is_nan() && lone.lone_queries == 1, "{lone:?}");
    assert!(lone.to_json()["recall@1"].is_null() && lone.to_json()["map@r"].is_null());
    assert!(err(query_gallery_metrics(&[0.0, 1.0], &[1], &GALLERY_X, &GALLERY_Y, 1, &[1], false, true)).contains("2 rows but there are 1 query labels"));
}

#[test]
fn metrics_command_query_gallery_files() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n);
    Tensor::from_slice(&[0.4f32, 1.6, 5.0, 9.0]).view([4, 1]).write_npy(p("q.npy")).unwrap();
    Tensor::from_slice(&[1i64, 2, 4, 3]).write_npy(p("ql.npy")).unwrap();
    Tensor::from_slice(&GALLERY_X).view([4, 1]).write_npy(p("g.npy")).unwrap();
    Tensor::from_slice(&GALLERY_Y).write_npy(p("gl.npy")).unwrap();
    Tensor::from_slice(&[1.5f32, 2.0, 1.0, 3.0]).write_npy(p("float_labels.npy")).unwrap();
    Tensor::from_slice(&[0.0f32, f32::NAN, 1.0, 2.0]).view([4, 1]).write_npy(p("nan.npy")).unwrap();
    let s = |n: &str| p(n).to_str().unwrap().to_string();
    let run = |args: &[String]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pads")).arg("metrics").args(args).env("PADS_LOG", "warn").output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let args = |q: &str, ql: &str, g: &str, gl: &str, k: &str| -> Vec<String> {
        vec!["--query-embeddings".into(), s(q), "--query-labels".into(), s(ql), "--gallery-embeddings".into(), s(g), "--gallery-labels".into(), s(gl), "--k".into(), k.into(), "--json".into(), "--no-normalize".into()]
    };
    let (ok, out, err) = run(&args("q.npy", "ql.npy", "g.npy", "gl.npy", "1,2"));
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!((v["recall@1"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12 && (v["map@r"].as_f64().unwrap() - 0.5).abs() < 1e-12, "{v}");
    assert_eq!(v["lone_queries"], 1);
    assert_eq!(v["same_set"], false);
    assert!(v.get("nmi").is_none(), "no clustering metric is printed in query/gallery mode");
    assert!(err.contains("1 of 4 queries have no same-label item"), "{err}");
    // The same files for both: one set, self-matches left out.
    let (ok, out, _) = run(&args("g.npy", "gl.npy", "g.npy", "gl.npy", "1,2"));
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["same_set"].clone(), v["recall@1"].as_f64().unwrap(), v["lone_queries"].clone()), (serde_json::json!(true), 0.0, serde_json::json!(2)));
    let (ok, _, err) = run(&args("g.npy", "ql.npy", "g.npy", "gl.npy", "1"));
    assert!(!ok && err.contains("the same file"), "{err}");
    let (ok, _, err) = run(&args("q.npy", "float_labels.npy", "g.npy", "gl.npy", "1"));
    assert!(!ok && err.contains("float_labels.npy") && err.contains("labels must be integers"), "{err}");
    let (ok, _, err) = run(&args("nan.npy", "ql.npy", "g.npy", "gl.npy", "1"));
    assert!(!ok && err.contains("nan.npy") && err.contains("row 1"), "{err}");
    let (ok, _, err) = run(&["--query-embeddings".into(), s("q.npy")]);
    assert!(!ok && err.contains("--query-labels"), "{err}");
}

#[test]
fn non_finite_embeddings_are_refused_not_clustered() {
    // A diverged network (NaN rows) used to reach k-means and panic there.
    let mut v: Vec<f32> = (0..40).map(|i| (i as f32 * 0.37).sin()).collect();
    v[5] = f32::NAN;
    v[22] = f32::INFINITY;
    let e = Tensor::from_slice(&v).view([10, 4]);
    let labels: Vec<i64> = (0..10).map(|i| i / 5).collect();
    let err = format!("{:#}", compute_metrics(&e, &labels, &EvalOptions::new(vec![1])).err().unwrap());
    assert!(err.contains("2 of 10 rows") && err.contains("NaN or Inf"), "{err}");
}

fn metrics_cli(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pads")).arg("metrics").args(args).env("PADS_LOG", "warn").output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn metrics_query_gallery_normalises_by_default_like_single_mode() {
    // Query [1, 0] (label 1). Gallery: [0, 1] (label 2, Euclidean distance 1.41) and
    // [5, 0.1] (label 1, distance 4.0 raw, 0.02 once unit-norm): raw distances put the
    // wrong label first, unit rows the right one.
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    Tensor::from_slice(&[1.0f32, 0.0]).view([1, 2]).write_npy(p("q.npy")).unwrap();
    Tensor::from_slice(&[1i64]).write_npy(p("ql.npy")).unwrap();
    Tensor::from_slice(&[0.0f32, 1.0, 5.0, 0.1]).view([2, 2]).write_npy(p("g.npy")).unwrap();
    Tensor::from_slice(&[2.0f32, 1.0]).write_npy(p("gl.npy")).unwrap(); // integral floats, as single mode takes them
    let (q, ql, g, gl) = (p("q.npy"), p("ql.npy"), p("g.npy"), p("gl.npy"));
    let base = ["--query-embeddings", &q, "--query-labels", &ql, "--gallery-embeddings", &g, "--gallery-labels", &gl, "--k", "1", "--json"];
    let (ok, out, err) = metrics_cli(&base);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["recall@1"].as_f64(), Some(1.0), "{v}");
    assert!(err.contains("g.npy: 1 of 2 rows were not unit-norm and were L2-normalised before every metric (--no-normalize keeps raw Euclidean distances)"), "{err}");
    assert!(!err.contains("q.npy:"), "the query row is unit-norm: {err}");
    let mut raw = base.to_vec();
    raw.push("--no-normalize");
    let (ok, out, err) = metrics_cli(&raw);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["recall@1"].as_f64(), Some(0.0), "{v}");
    assert!(!err.contains("unit-norm"), "{err}");
    // An all-zero row cannot be normalised: the error names the file and --no-normalize.
    Tensor::from_slice(&[0.0f32, 0.0, 5.0, 0.1]).view([2, 2]).write_npy(p("z.npy")).unwrap();
    let z = p("z.npy");
    let (ok, _, err) = metrics_cli(&["--query-embeddings", &q, "--query-labels", &ql, "--gallery-embeddings", &z, "--gallery-labels", &gl, "--k", "1"]);
    assert!(!ok && err.contains("z.npy") && err.contains("row 0 (0-based) is all zeros") && err.contains("--no-normalize"), "{err}");
    // Labels of another length than the embeddings: the same message as single mode.
    Tensor::from_slice(&[1i64, 2, 3]).write_npy(p("l3.npy")).unwrap();
    let l3 = p("l3.npy");
    let (ok, _, err) = metrics_cli(&["--query-embeddings", &q, "--query-labels", &ql, "--gallery-embeddings", &g, "--gallery-labels", &l3, "--k", "1"]);
    assert!(!ok && err.contains("l3.npy: 3 labels, but the embeddings have 2 rows"), "{err}");
}

#[test]
fn metrics_no_normalize_says_intra_and_inter_stay_cosine() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    Tensor::from_slice(&[1.0f32, 0.0, 3.0, 0.1, 0.0, 2.0, 0.1, 1.0]).view([4, 2]).write_npy(p("e.npy")).unwrap();
    Tensor::from_slice(&[0i64, 0, 1, 1]).write_npy(p("l.npy")).unwrap();
    let (e, l) = (p("e.npy"), p("l.npy"));
    let (ok, raw, err) = metrics_cli(&["--embeddings", &e, "--labels", &l, "--k", "1", "--json", "--no-normalize"]);
    assert!(ok, "{err}");
    assert!(err.contains("intra/inter are mean cosine distances, always computed on unit rows"), "{err}");
    let (ok, unit, err) = metrics_cli(&["--embeddings", &e, "--labels", &l, "--k", "1", "--json"]);
    assert!(ok && !err.contains("intra/inter"), "{err}");
    let (raw, unit): (serde_json::Value, serde_json::Value) = (serde_json::from_str(&raw).unwrap(), serde_json::from_str(&unit).unwrap());
    for m in ["intra", "inter"] {
        assert!((raw[m].as_f64().unwrap() - unit[m].as_f64().unwrap()).abs() < 1e-6, "{m}: cosine distances do not depend on --no-normalize: {raw} vs {unit}");
    }
    let (ok, help, _) = metrics_cli(&["--help"]);
    assert!(ok && help.contains("intra/inter are mean cosine distances"), "{help}");
}

#[test]
fn metrics_text_table_aligns_long_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    Tensor::from_slice(&[1.0f32, 0.0, 0.9, 0.1, 0.0, 1.0, 0.1, 0.9]).view([4, 2]).write_npy(p("e.npy")).unwrap();
    Tensor::from_slice(&[0i64, 0, 1, 1]).write_npy(p("l.npy")).unwrap();
    let (ok, out, err) = metrics_cli(&["--embeddings", &p("e.npy"), "--labels", &p("l.npy"), "--k", "1,1000000000"]);
    assert!(ok, "{err}");
    let starts: Vec<usize> = out.lines().map(|l| l.rfind(' ').unwrap() + 1).collect();
    assert!(out.contains("recall@1000000000") && starts.windows(2).all(|w| w[0] == w[1]), "values not in one column:\n{out}");
}

#[test]
fn big_endian_npy_is_named_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("be.npy");
    let header = "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }";
    let mut h = header.to_string();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
    bytes.extend_from_slice(h.as_bytes());
    for x in [1.0f32, 0.0, 0.0, 1.0] {
        bytes.extend_from_slice(&x.to_be_bytes());
    }
    std::fs::write(&f, bytes).unwrap();
    let err = format!("{:#}", pads::eval::input::read_embeddings(&f).err().unwrap());
    assert!(err.contains("be.npy") && err.contains("expected little-endian float32 ('<f4'), got '>f4'"), "{err}");
}

#[test]
fn retrieval_picture_rows_are_queries_against_the_gallery_for_in_shop() {
    use pads::eval::picks::retrieval_picks;
    // On a line: items 0..8 at 0, 1, ..., 7. All-against-all: 3 rows spread over the 8 items.
    let e = [0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    let picks = retrieval_picks(&e, 1, None, 3, 2);
    assert_eq!(picks, vec![(0, vec![1, 2]), (2, vec![1, 3]), (5, vec![4, 6])]);
    // Query/gallery: queries are items 1, 4, 6; neighbours only gallery items (not 1, 4, 6).
    let is_query = [false, true, false, false, true, false, true, false];
    let picks = retrieval_picks(&e, 1, Some(&is_query), 6, 3);
    assert_eq!(picks, vec![(1, vec![0, 2, 3]), (4, vec![3, 5, 2]), (6, vec![5, 7, 3])]);
    // Five neighbours whenever five exist, whatever k the metrics used (a row holds every
    // gallery item here: 5 of them).
    let picks = retrieval_picks(&e, 1, Some(&is_query), 1, 9);
    assert_eq!(picks, vec![(1, vec![0, 2, 3, 5, 7])]);
}

//! Nearest neighbours of embeddings that lie close together far from the origin (unit
//! vectors a barely trained network maps near one point): the ranks must be the exact
//! distances', here computed in float64 by brute force, not float32 rounding's.
use pads::eval::knn::nearest_neighbours;
use rand::{Rng, SeedableRng};

#[test]
fn neighbours_of_nearly_coincident_unit_vectors_are_exact() {
    let (n, d) = (60usize, 32usize);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let centre: Vec<f64> = (0..d).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut rows: Vec<Vec<f32>> = Vec::new();
    for _ in 0..n {
        // Spread 3e-4 around the centre, then unit norm: distances of ~1e-4, far below what
        // |x|^2 + |y|^2 - 2 x.y resolves in float32 at norm 1 (~1e-7 on squares).
        let v: Vec<f64> = centre.iter().map(|c| c + rng.gen_range(-3e-4..3e-4)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        rows.push(v.iter().map(|x| (x / norm) as f32).collect());
    }
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    let emb = tch::Tensor::from_slice(&flat).view([n as i64, d as i64]);
    let nn = nearest_neighbours(&emb, 3);
    for i in 0..n {
        let dist = |j: usize| rows[i].iter().zip(&rows[j]).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum::<f64>();
        let mut order: Vec<usize> = (0..n).filter(|&j| j != i).collect();
        order.sort_by(|&a, &b| dist(a).total_cmp(&dist(b)).then(a.cmp(&b)));
        let got: Vec<usize> = nn.row(i).iter().map(|&j| j as usize).collect();
        assert_eq!(got[0], order[0], "row {i}: nearest {} vs exact {}", got[0], order[0]);
    }
}

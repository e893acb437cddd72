//! Losses on hand-worked inputs; miner invariants; distance-weighted frequencies vs formula.
use pads::loss::{margin_loss, triplet_loss};
use pads::miners::fixed::{DistanceMiner, RandomMiner, SemihardMiner, SofthardMiner};
use pads::miners::{Miner, Triplets};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

fn t2(rows: &[[f32; 2]]) -> Tensor {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, 2])
}

fn trip(v: &[(i64, i64, i64)]) -> Triplets {
    Triplets {
        anchors: v.iter().map(|t| t.0).collect(),
        positives: v.iter().map(|t| t.1).collect(),
        negatives: v.iter().map(|t| t.2).collect(),
    }
}

#[test]
fn margin_loss_hand_computed() {
    // rows: 0 (1,0) class 0; 1 (0,1) class 1; 2 (-1,0) class 1; 3 (0.6,0.8) class 1
    let emb = t2(&[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.6, 0.8]]);
    let beta = Tensor::from_slice(&[1.2f32, 0.5]).set_requires_grad(true);
    // (0, 1, 2): d_ap = sqrt(2), d_an = 2 -> pos 0.414214, neg 0.
    // (0, 0, 3): d_ap = 1e-4 -> pos 0; d_an = 0.894427 -> neg 1.4 - 0.894427 = 0.505573.
    // (1, 1, 0): class 1, beta 0.5: pos 0; d_an = sqrt(2) -> neg 0 (both zero, not counted).
    let t = trip(&[(0, 1, 2), (0, 0, 3), (1, 1, 0)]);
    let classes = Tensor::from_slice(&[0i64, 0, 1]);
    let loss = margin_loss(&emb, &t, &classes, &beta, 0.2);
    let want = (2f64.sqrt() - 1.0 + (1.4 - 0.8f64.sqrt())) / 2.0;
    assert!((loss.double_value(&[]) - want).abs() < 1e-5, "{} vs {want}", loss.double_value(&[]));
    loss.backward();
    let g = Vec::<f32>::try_from(beta.grad()).unwrap();
    // d/dbeta0: pos term -1, neg term +1, over 2 active triplets -> 0; beta1 unused -> 0.
    assert!(g[0].abs() < 1e-6 && g[1] == 0.0, "{g:?}");

    // All-zero case: the plain sum, 0.
    let t = trip(&[(1, 1, 0)]);
    let loss = margin_loss(&emb, &t, &Tensor::from_slice(&[1i64]), &beta, 0.2);
    assert_eq!(loss.double_value(&[]), 0.0);

    // Only the positive term: gradient -1/1 on beta0.
    let beta = Tensor::from_slice(&[1.2f32, 0.5]).set_requires_grad(true);
    let loss = margin_loss(&emb, &trip(&[(0, 1, 2)]), &Tensor::from_slice(&[0i64]), &beta, 0.2);
    loss.backward();
    assert!((Vec::<f32>::try_from(beta.grad()).unwrap()[0] + 1.0).abs() < 1e-6);
}

#[test]
fn triplet_loss_hand_computed() {
    let emb = t2(&[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.6, 0.8]]);
    // (0,1,2): 2 - 4 + 0.2 < 0 -> 0.  (0,1,3): 2 - 0.8 + 0.2 = 1.4.  (0,3,1): 0.8 - 2 + 0.2 -> 0.
    let loss = triplet_loss(&emb, &trip(&[(0, 1, 2), (0, 1, 3), (0, 3, 1)]), 0.2);
    assert!((loss.double_value(&[]) - 1.4).abs() < 1e-5);
    assert_eq!(triplet_loss(&emb, &trip(&[(0, 1, 2)]), 0.2).double_value(&[]), 0.0);
}

fn batch(seed: i64, classes: i64, per: i64, dim: i64) -> (Tensor, Vec<i64>) {
    tch::manual_seed(seed);
    let e = Tensor::randn([classes * per, dim], (Kind::Float, Device::Cpu));
    let e = pads::ops::l2_normalize(&e);
    let labels = (0..classes * per).map(|i| i / per).collect();
    (e, labels)
}

fn dist(e: &Tensor, i: i64, j: i64) -> f64 {
    (e.get(i) - e.get(j)).norm().double_value(&[])
}

#[test]
fn miners_respect_classes_and_conditions() {
    let (e, labels) = batch(3, 8, 4, 16);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let miners: Vec<Box<dyn Miner>> = vec![
        Box::new(RandomMiner),
        Box::new(SemihardMiner { margin: 0.2 }),
        Box::new(SofthardMiner),
        Box::new(DistanceMiner { lower_cutoff: 0.5 }),
    ];
    for mut m in miners {
        for _ in 0..20 {
            let t = m.mine(&e, &labels, &mut rng);
            assert_eq!(t.len(), labels.len(), "{}: one triplet per batch element", m.name());
            for i in 0..t.len() {
                let (a, p, n) = (t.anchors[i], t.positives[i], t.negatives[i]);
                assert_eq!(labels[a as usize], labels[p as usize], "{}: positive of another class", m.name());
                assert_ne!(a, p, "{}: anchor used as its own positive", m.name());
                assert_ne!(labels[a as usize], labels[n as usize], "{}: negative of the same class", m.name());
            }
            if m.name() != "random" {
                let mut anchors = t.anchors.clone();
                anchors.sort();
                assert_eq!(anchors, (0..labels.len() as i64).collect::<Vec<_>>(), "every element is an anchor once");
            }
            if m.name() == "semihard" {
                for i in 0..t.len() {
                    let (a, p, n) = (t.anchors[i], t.positives[i], t.negatives[i]);
                    let d_ap = dist(&e, a, p);
                    let exists = (0..labels.len() as i64).any(|j| {
                        labels[j as usize] != labels[a as usize] && dist(&e, a, j) > d_ap && dist(&e, a, j) < d_ap + 0.2
                    });
                    if exists {
                        let d_an = dist(&e, a, n);
                        assert!(d_an > d_ap - 1e-5 && d_an < d_ap + 0.2 + 1e-5, "semihard violated: {d_ap} {d_an}");
                    }
                }
            }
            if m.name() == "softhard" {
                for i in 0..t.len() {
                    let (a, n) = (t.anchors[i], t.negatives[i]);
                    let max_ap = (0..labels.len() as i64)
                        .filter(|&j| j != a && labels[j as usize] == labels[a as usize])
                        .map(|j| dist(&e, a, j))
                        .fold(0.0, f64::max);
                    let exists = (0..labels.len() as i64).any(|j| labels[j as usize] != labels[a as usize] && dist(&e, a, j) < max_ap);
                    if exists {
                        assert!(dist(&e, a, n) < max_ap + 1e-5);
                    }
                }
            }
        }
    }
}

#[test]
fn random_miner_is_uniform_over_valid_triplets() {
    // Classes of unequal size: anchors of the big class own more triplets.
    let e = Tensor::zeros([6, 4], (Kind::Float, Device::Cpu));
    let labels = vec![0, 0, 0, 0, 1, 1];
    // anchor in class 0: 3 positives * 2 negatives = 6 triplets each (24); class 1: 1 * 4 = 4 each (8).
    // Six triplets per batch drawn without replacement from the 32 (as the original), so the
    // draws of one batch are dependent: 20,000 batches (sd of the share about 0.0012).
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut from_big = 0usize;
    let mut total = 0usize;
    for _ in 0..20000 {
        let t = RandomMiner.mine(&e, &labels, &mut rng);
        from_big += t.anchors.iter().filter(|&&a| a < 4).count();
        total += t.len();
    }
    let share = from_big as f64 / total as f64;
    assert!((share - 24.0 / 32.0).abs() < 0.01, "share of class-0 anchors {share}");
}

#[test]
fn distance_weighted_frequencies_match_the_formula() {
    let (e, labels) = batch(11, 4, 3, 8);
    let dim = 8.0f64;
    let a = 0i64;
    // Independent computation of q(d)^-1 for anchor 0.
    let mut w: Vec<f64> = (0..labels.len() as i64)
        .map(|j| {
            if labels[j as usize] == labels[a as usize] {
                return 0.0;
            }
            let d = dist(&e, a, j).max(0.5);
            ((2.0 - dim) * d.ln() - ((dim - 3.0) / 2.0) * (1.0 - d * d / 4.0).ln()).exp()
        })
        .collect();
    let s: f64 = w.iter().sum();
    w.iter_mut().for_each(|x| *x /= s);
    let mut counts = vec![0usize; labels.len()];
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let draws = 20000;
    let mut miner = DistanceMiner { lower_cutoff: 0.5 };
    for _ in 0..draws {
        let t = miner.mine(&e, &labels, &mut rng);
        counts[t.negatives[0] as usize] += 1;
    }
    let tv: f64 = counts.iter().zip(&w).map(|(&c, &p)| (c as f64 / draws as f64 - p).abs()).sum::<f64>() / 2.0;
    assert!(tv < 0.02, "total variation {tv}; weights {w:?}, counts {counts:?}");
}

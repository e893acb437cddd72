//! The miners against a reference set (pytorch-metric-learning's `ref_emb` / `ref_labels`),
//! the label-valid filter and the semihard window, each checked by hand-worked batches.
use pads::miners::fixed::{all_triplets, candidates, semihard_negatives};
use pads::miners::{miner_rng, MinerOptions, Mining, MiningInput, Triplets};
use pads::options::Sampling;
use tch::Tensor;

/// Points on a line (1-d embeddings): distances are |x_i - x_j|.
fn line(xs: &[f32]) -> Tensor {
    Tensor::from_slice(xs).view([xs.len() as i64, 1])
}

#[test]
fn a_separate_reference_set_has_no_self_pairs_and_the_batch_has() {
    let x = line(&[0.0, 1.0, 5.0]);
    let labels = [0i64, 0, 1];
    let batch = MiningInput::batch(&x, &labels);
    // The batch: anchor 0's positive is 1 only (not itself), negative 2.
    assert_eq!(candidates(&batch, 0), (vec![1], vec![2]));
    // The same rows as a separate reference set (an equal copy, as PML's ref_emb): candidate 0
    // is another item, so it is a positive of anchor 0 too.
    let copy = x.copy();
    let reference = MiningInput::with_reference(&x, &labels, &copy, &labels);
    assert_eq!(candidates(&reference, 0), (vec![0, 1], vec![2]));
    assert_eq!(reference.d.get(0, 2), 5.0);
    // Every valid triplet: anchors index the batch, positives and negatives the reference.
    assert_eq!(all_triplets(&batch), vec![(0, 1, 2), (1, 0, 2)]);
    assert_eq!(all_triplets(&reference), vec![(0, 0, 2), (0, 1, 2), (1, 0, 2), (1, 1, 2), (2, 2, 0), (2, 2, 1)]);
}

#[test]
fn a_reference_set_of_another_size_gives_triplets_into_it() {
    // Anchors: 2 items; reference: 4 items of labels 0, 0, 1, 1 at 0, 0.5, 3, 9.
    let x = line(&[0.1, 8.9]);
    let labels = [0i64, 1];
    let r = line(&[0.0, 0.5, 3.0, 9.0]);
    let ref_labels = [0i64, 0, 1, 1];
    let input = MiningInput::with_reference(&x, &labels, &r, &ref_labels);
    assert_eq!((input.d.n, input.d.cols), (2, 4));
    // |x|^2 + |y|^2 - 2xy in f32, as the batch's own distances.
    assert!((input.d.get(1, 3) - 0.1).abs() < 2e-3, "{}", input.d.get(1, 3));
    for &sampling in Sampling::ALL {
        let opts = MinerOptions { sampling, policy_no_self_reg: true, ..MinerOptions::default() };
        let mut miner = Mining::new(&opts);
        let mut rng = miner_rng(3);
        for _ in 0..20 {
            let t = miner.mine_input(&input, &mut rng);
            assert_eq!(t.len(), 2, "{sampling}: one triplet per anchor");
            for i in 0..t.len() {
                let (a, p, n) = (t.anchors[i] as usize, t.positives[i] as usize, t.negatives[i] as usize);
                assert!(a < 2 && p < 4 && n < 4, "{sampling}: {t:?}");
                assert_eq!(ref_labels[p], labels[a], "{sampling}: positive");
                assert_ne!(ref_labels[n], labels[a], "{sampling}: negative");
            }
        }
    }
}

#[test]
fn label_valid_drops_and_counts_without_redrawing() {
    let x = line(&[0.0, 1.0, 5.0, 6.0]);
    let labels = [0i64, 0, 1, 1];
    let input = MiningInput::batch(&x, &labels);
    let mut t = Triplets::default();
    t.push(0, 1, 2); // valid
    t.push(0, 0, 2); // a == p
    t.push(1, 0, 1); // negative of the anchor's class
    t.push(2, 0, 3); // positive of another class
    t.push(3, 2, 0); // valid
    let (kept, dropped) = t.label_valid(&input);
    assert_eq!((kept.anchors, kept.positives, kept.negatives, dropped), (vec![0, 3], vec![1, 2], vec![2, 0], 3));
    // Against a separate reference set, index equality is not self-equality: (0, 0, 2) is valid.
    let copy = x.copy();
    let reference = MiningInput::with_reference(&x, &labels, &copy, &labels);
    let mut t = Triplets::default();
    t.push(0, 0, 2);
    assert_eq!(t.label_valid(&reference).1, 0);
}

#[test]
fn the_pads_sampler_keeps_its_self_regularisation_and_the_filter_removes_it() {
    // Two tight clusters: with include_pos / include_same (the original's defaults), the PADS
    // sampler returns same-label negatives and a == p; label_valid removes exactly those.
    let xs: Vec<f32> = (0..16).map(|i| if i < 8 { 0.3 * (i as f32) / 8.0 } else { 1.0 + 0.3 * (i as f32 - 8.0) / 8.0 }).collect();
    let x = line(&xs);
    let labels: Vec<i64> = (0..16).map(|i| (i / 8) as i64).collect();
    let input = MiningInput::batch(&x, &labels);
    let mut miner = Mining::new(MinerOptions::default());
    let mut rng = miner_rng(1);
    let (mut invalid, mut total, mut dropped_sum) = (0, 0, 0);
    for _ in 0..30 {
        let t = miner.mine_input(&input, &mut rng);
        let bad = (0..t.len()).filter(|&i| t.anchors[i] == t.positives[i] || labels[t.negatives[i] as usize] == labels[t.anchors[i] as usize]).count();
        let (kept, dropped) = t.label_valid(&input);
        assert_eq!(dropped, bad);
        assert_eq!(kept.len() + dropped, t.len());
        invalid += bad;
        total += t.len();
        dropped_sum += dropped;
    }
    assert!(invalid > 0 && invalid < total, "self-regularisation: {invalid} of {total}");
    assert_eq!(dropped_sum, invalid);
}

#[test]
fn the_semihard_window_follows_its_margin() {
    // Anchor 0 at 0, positive 1 at 0.1; negatives at 0.15, 0.5 and 3.0.
    let x = line(&[0.0, 0.1, 0.15, 0.5, 3.0]);
    let labels = [0i64, 0, 1, 1, 1];
    let input = MiningInput::batch(&x, &labels);
    // d_ap = 0.1: the window is (0.1, 0.1 + margin).
    assert_eq!(semihard_negatives(&input, 0, 1, 0.2), vec![2]);
    assert_eq!(semihard_negatives(&input, 0, 1, 0.5), vec![2, 3]);
    assert_eq!(semihard_negatives(&input, 0, 1, 5.0), vec![2, 3, 4]);
    // Nothing in the window: every negative.
    assert_eq!(semihard_negatives(&input, 0, 1, 0.01), vec![2, 3, 4]);
    // The factory passes semihard_margin through (default: the original's 0.2).
    assert_eq!(MinerOptions::default().semihard_margin, 0.2);
    let pick = |m: f64| {
        let mut miner = Mining::new(MinerOptions { sampling: Sampling::Semihard, semihard_margin: m, ..MinerOptions::default() });
        let mut rng = miner_rng(5);
        (0..40).flat_map(|_| miner.mine_input(&input, &mut rng).negatives.into_iter().take(1)).collect::<std::collections::BTreeSet<i64>>()
    };
    assert_eq!(pick(0.2), [2].into());
    assert_eq!(pick(5.0), [2, 3, 4].into());
    let bad = MinerOptions { sampling: Sampling::Semihard, semihard_margin: -1.0, ..MinerOptions::default() };
    assert!(format!("{:#}", bad.validate().unwrap_err()).contains("semihard"));
}

#[test]
fn the_run_configuration_passes_semihard_margin_through_and_checks_it() {
    use pads::config::RunConfig;
    // The CLI default keeps the original's fixed 0.2, whatever --margin says.
    let cfg = RunConfig { margin: 0.5, ..RunConfig::default() };
    assert_eq!(MinerOptions::from(&cfg).semihard_margin, 0.2);
    let cfg = RunConfig { semihard_margin: 0.05, ..RunConfig::default() };
    assert_eq!(MinerOptions::from(&cfg).semihard_margin, 0.05);
    let bad = RunConfig { semihard_margin: f64::NAN, ..RunConfig::default() };
    let err = format!("{:#}", bad.validate().unwrap_err());
    assert!(err.contains("--semihard-margin"), "{err}");
}

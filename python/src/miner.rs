//! `pads._pads.Miner`: one of the library's samplers (`miners::Mining`) with its own seeded
//! generator, mining a batch against itself or against a reference set (PML's `ref_emb`).
use crate::checks::{check_embeddings, guard, host_labels, options_from_json, reference_set, value_err};
use pads::miners::{miner_rng, MinerOptions, MiningInput, Triplets};
use pads::options::Sampling;
use pyo3::prelude::*;
use pyo3_tch::PyTensor;
use rand_chacha::ChaCha8Rng;
use tch::Kind;

/// A negative sampler: one of the fixed miners or the PADS sampler, with its own seeded
/// generator (the trainer's miner stream of the seed).
#[pyclass(unsendable, module = "pads._pads")]
pub struct Miner {
    pub inner: pads::miners::Mining,
    rng: ChaCha8Rng,
    pub opts: MinerOptions,
    normalize: bool,
}

fn parse_sampling(name: &str) -> PyResult<Sampling> {
    Sampling::ALL
        .iter()
        .copied()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| value_err(format!("unknown sampler `{name}`; expected random, semihard, softhard, distance or pads")))
}

/// The options a sampler reads, by name: the seed, the semihard window, the PADS
/// distribution's options.
fn own_options(o: &MinerOptions) -> serde_json::Value {
    let all = serde_json::to_value(o).unwrap_or_default();
    let keep = |k: &str| match o.sampling {
        Sampling::Pads => k == "seed" || k.starts_with("policy_"),
        Sampling::Semihard => k == "seed" || k == "semihard_margin",
        _ => k == "seed",
    };
    match all {
        serde_json::Value::Object(m) => serde_json::Value::Object(m.into_iter().filter(|(k, _)| keep(k)).collect()),
        other => other,
    }
}

#[pymethods]
impl Miner {
    #[new]
    #[pyo3(signature = (sampling, options_json, normalize))]
    fn new(sampling: &str, options_json: &str, normalize: bool) -> PyResult<Self> {
        let mut opts: MinerOptions = options_from_json(options_json, sampling, &[])?;
        opts.sampling = parse_sampling(sampling)?;
        opts.validate().map_err(|e| value_err(format!("{sampling}: {e:#}")))?;
        Ok(Miner { inner: pads::miners::Mining::new(&opts), rng: miner_rng(opts.seed), opts, normalize })
    }

    /// (anchors, positives, negatives, dropped): int64 `[T]` tensors on the embeddings'
    /// device and, with `valid_only`, how many label-invalid triplets were dropped. With a
    /// reference set, positives and negatives index it; `same_set` says that the reference is
    /// the batch itself (PML: `ref_labels is labels`), so an anchor is never its own positive
    /// unless the PADS sampler's include_same allows it.
    #[pyo3(signature = (embeddings, labels, ref_emb, ref_labels, same_set, valid_only))]
    fn mine(&mut self, embeddings: PyTensor, labels: PyTensor, ref_emb: Option<PyTensor>, ref_labels: Option<PyTensor>, same_set: bool, valid_only: bool) -> PyResult<(PyTensor, PyTensor, PyTensor, usize)> {
        let what = self.inner.name();
        guard(what, || {
            check_embeddings(&embeddings, what)?;
            let labels = host_labels(&labels, &embeddings, what)?;
            let prep = |t: &tch::Tensor| {
                let t = t.detach();
                if self.normalize {
                    pads::ops::l2_normalize(&t.to_kind(Kind::Float))
                } else {
                    t
                }
            };
            let emb = prep(&embeddings);
            let reference = match (&ref_emb, &ref_labels) {
                (Some(r), Some(rl)) => {
                    let rl = reference_set(r, rl, &embeddings, what)?;
                    Some((prep(r), rl))
                }
                (None, None) => None,
                _ => return Err(value_err(format!("{what}: give ref_emb and ref_labels together, or neither"))),
            };
            let input = match &reference {
                Some((r, rl)) => {
                    if same_set && rl.len() != labels.len() {
                        return Err(value_err(format!("{what}: ref_labels is labels but ref_emb has {} rows for {} labels", rl.len(), labels.len())));
                    }
                    MiningInput { same_set, ..MiningInput::with_reference(&emb, &labels, r, rl) }
                }
                None => MiningInput::batch(&emb, &labels),
            };
            let t: Triplets = self.inner.mine_input(&input, &mut self.rng);
            let (t, dropped) = if valid_only { t.label_valid(&input) } else { (t, 0) };
            let (a, p, n) = t.to_tensors(embeddings.device());
            Ok((PyTensor(a), PyTensor(p), PyTensor(n), dropped))
        })
    }

    #[getter]
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    /// Bin probabilities (PADS only, else None).
    #[getter]
    fn distribution(&self) -> Option<Vec<f64>> {
        self.inner.distribution().map(|d| d.probs.clone())
    }

    /// Support points (n_support, PADS only, else None).
    #[getter]
    fn support(&self) -> Option<Vec<f64>> {
        self.inner.distribution().map(|d| d.support.clone())
    }

    #[getter]
    fn normalize(&self) -> bool {
        self.normalize
    }

    /// The options this sampler reads (`MinerOptions` fields, the original's names), JSON.
    fn options_json(&self) -> PyResult<String> {
        serde_json::to_string(&own_options(&self.opts)).map_err(value_err)
    }

    /// JSON of the generator and (PADS) distribution.
    fn state_json(&self) -> PyResult<String> {
        let v = serde_json::json!({
            "sampling": self.inner.name(),
            "rng": self.rng,
            "distribution": self.inner.distribution(),
        });
        serde_json::to_string(&v).map_err(value_err)
    }

    fn load_state_json(&mut self, text: &str) -> PyResult<()> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| value_err(format!("miner state: {e}")))?;
        if v.get("sampling").and_then(|s| s.as_str()) != Some(self.inner.name()) {
            return Err(value_err(format!("miner state is for sampler {:?}, this miner is {}", v.get("sampling"), self.inner.name())));
        }
        let rng: ChaCha8Rng = serde_json::from_value(v["rng"].clone()).map_err(|e| value_err(format!("miner state rng: {e}")))?;
        if let Some(dst) = self.inner.distribution_mut() {
            let d: pads::miners::distribution::Distribution =
                serde_json::from_value(v["distribution"].clone()).map_err(|e| value_err(format!("miner state distribution: {e}")))?;
            if d.probs.len() != dst.probs.len() {
                return Err(value_err(format!("miner state has {} bins, this miner {}", d.probs.len(), dst.probs.len())));
            }
            *dst = d;
        }
        self.rng = rng;
        Ok(())
    }
}

//! `pads._pads`: the Python extension behind `import pads`. A thin layer over the pads
//! library: keyword arguments become the library's own options structs (`MinerOptions`,
//! `AgentOptions`, `EvalOptions`: the original's names, defaults and checks), tensors cross
//! without a copy through pyo3-tch (same libtorch, same autograd graph), and every
//! computation is the library's own (`miners::Mining`, `policy::agent::Agent`,
//! `loss::margin_loss`, `eval::evaluate`). Library messages name options in Python's
//! spelling (`python_spelling`). What lives here is only input checking, so that bad input
//! is a Python exception naming the argument, never a panic or a crash.
use pads::config::RunConfig;
use pads::eval::query_gallery::EvalSet;
use pads::eval::{evaluate_sets, Gallery, Metrics};
use pads::miners::{miner_rng, MinerOptions, Triplets};
use pads::options::Sampling;
use pads::policy::agent::{Agent as RustAgent, PolicyRecord};
use pads::policy::AgentOptions;
use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_tch::PyTensor;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use tch::{Device, Kind, Tensor};

fn value_err(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn anyhow_err(e: anyhow::Error) -> PyErr {
    PyValueError::new_err(format!("{e:#}"))
}

/// How Python messages write an option: its keyword (`policy_lr`), with a value as Python
/// spells it (`normalize=False`, `k=10`). Registered at import (`options::set_spelling`).
fn python_spelling(field: &str, value: Option<&str>) -> String {
    match value {
        None => field.to_string(),
        Some("true") => format!("{field}=True"),
        Some("false") => format!("{field}=False"),
        Some(v) => format!("{field}={v}"),
    }
}

/// Options of type `T` (a library options struct) from the JSON object of keyword arguments
/// (None values already dropped by the Python side). `fill` adds keys the caller derives
/// (the agent's seed and bins from its miner) when absent. An unknown key is a TypeError
/// naming it; a wrong value a ValueError.
fn options_from_json<T: serde::de::DeserializeOwned>(options_json: &str, what: &str, fill: &[(&str, serde_json::Value)]) -> PyResult<T> {
    let mut obj: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(options_json).map_err(|e| value_err(format!("{what}: options are not a JSON object: {e}")))?;
    for (k, v) in fill {
        obj.entry(k.to_string()).or_insert_with(|| v.clone());
    }
    serde_json::from_value(serde_json::Value::Object(obj.clone())).map_err(|e| {
        let text = e.to_string();
        if text.starts_with("unknown field") {
            return PyTypeError::new_err(format!("{what}: {text}"));
        }
        // serde names no field for a wrong type or value: find the key that fails alone.
        let bad = obj.iter().find(|(k, v)| serde_json::from_value::<T>(serde_json::json!({ k.as_str(): v })).is_err());
        let text = match bad {
            Some((k, v)) => format!("{what}: {k}={v}: {text}"),
            None => format!("{what}: {text}"),
        };
        // A value of the wrong type is a TypeError, as Python's own checks raise.
        if text.contains("invalid type") {
            PyTypeError::new_err(text)
        } else {
            value_err(text)
        }
    })
}

/// The JSON object of `a`'s fields with `b`'s laid over them.
fn merged_json(a: &impl serde::Serialize, b: &impl serde::Serialize) -> PyResult<String> {
    let mut all = serde_json::to_value(a).map_err(value_err)?;
    if let (Some(obj), serde_json::Value::Object(more)) = (all.as_object_mut(), serde_json::to_value(b).map_err(value_err)?) {
        obj.extend(more);
    }
    serde_json::to_string(&all).map_err(value_err)
}

fn device_name(d: Device) -> String {
    pads::device::name(d)
}

fn is_float(k: Kind) -> bool {
    matches!(k, Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16)
}

fn is_integer(k: Kind) -> bool {
    matches!(k, Kind::Int64 | Kind::Int | Kind::Int16 | Kind::Int8 | Kind::Uint8)
}

/// Embeddings `[N, D]`, floating point, finite.
fn check_embeddings(emb: &Tensor, what: &str) -> PyResult<()> {
    if emb.dim() != 2 {
        return Err(value_err(format!("{what}: embeddings must be 2-D [N, D], got shape {:?}", emb.size())));
    }
    if !is_float(emb.kind()) {
        return Err(PyTypeError::new_err(format!(
            "{what}: embeddings must be float16/bfloat16/float32/float64, got {:?}",
            emb.kind()
        )));
    }
    if emb.size()[1] < 1 {
        return Err(value_err(format!("{what}: embeddings have 0 columns (shape {:?})", emb.size())));
    }
    pads::eval::check_finite(emb).map_err(|e| value_err(format!("{what}: embeddings must be finite: {e:#}")))
}

/// Integer labels `[N]` on the embeddings' device, copied to the host.
fn host_labels(labels: &Tensor, emb: &Tensor, what: &str) -> PyResult<Vec<i64>> {
    if labels.dim() != 1 {
        return Err(value_err(format!("{what}: labels must be 1-D [N], got shape {:?}", labels.size())));
    }
    if !is_integer(labels.kind()) {
        return Err(PyTypeError::new_err(format!(
            "{what}: labels must be an integer tensor (class ids), got {:?}",
            labels.kind()
        )));
    }
    if labels.device() != emb.device() {
        return Err(value_err(format!(
            "{what}: labels are on {} but embeddings on {}; put both on one device",
            device_name(labels.device()),
            device_name(emb.device())
        )));
    }
    if labels.size()[0] != emb.size()[0] {
        return Err(value_err(format!(
            "{what}: {} labels for {} embedding rows; expected one label per row",
            labels.size()[0],
            emb.size()[0]
        )));
    }
    Vec::<i64>::try_from(labels.to_device(Device::Cpu).to_kind(Kind::Int64)).map_err(|e| value_err(format!("{what}: labels: {e}")))
}

/// A negative sampler: one of the fixed miners or the PADS sampler, with its own seeded
/// generator (the trainer's miner stream of the seed).
#[pyclass(unsendable, module = "pads._pads")]
struct Miner {
    inner: pads::miners::Mining,
    rng: ChaCha8Rng,
    opts: MinerOptions,
    normalize: bool,
}

fn parse_sampling(name: &str) -> PyResult<Sampling> {
    Sampling::ALL
        .iter()
        .copied()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| value_err(format!("unknown sampler `{name}`; expected random, semihard, softhard, distance or pads")))
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

    /// (anchors, positives, negatives), int64 `[T]` each, on the embeddings' device.
    fn mine(&mut self, embeddings: PyTensor, labels: PyTensor) -> PyResult<(PyTensor, PyTensor, PyTensor)> {
        let what = self.inner.name();
        check_embeddings(&embeddings, what)?;
        let labels = host_labels(&labels, &embeddings, what)?;
        let emb = embeddings.detach();
        let emb = if self.normalize { pads::ops::l2_normalize(&emb.to_kind(Kind::Float)) } else { emb };
        let t: Triplets = self.inner.mine(&emb, &labels, &mut self.rng);
        let (a, p, n) = t.to_tensors(embeddings.device());
        Ok((PyTensor(a), PyTensor(p), PyTensor(n)))
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

    /// The miner's options (`MinerOptions`) and the agent defaults a PADSAgent over it starts
    /// from (`AgentOptions`), as JSON with the original's names.
    fn options_json(&self) -> PyResult<String> {
        merged_json(&AgentOptions { seed: self.opts.seed, ..AgentOptions::default() }, &self.opts)
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

/// The PADS agent over a PADS miner's distribution.
#[pyclass(unsendable, module = "pads._pads")]
struct Agent {
    inner: RustAgent,
    miner: Py<Miner>,
    opts: AgentOptions,
    history: Vec<PolicyRecord>,
}

fn record_json(r: &PolicyRecord) -> PyResult<String> {
    serde_json::to_string(r).map_err(value_err)
}

fn tensor_dict<'py>(py: Python<'py>, items: Vec<(String, Tensor)>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, t) in items {
        d.set_item(k, PyTensor(t))?;
    }
    Ok(d)
}

fn dict_tensors(d: &Bound<'_, PyDict>, what: &str) -> PyResult<HashMap<String, Tensor>> {
    let mut out = HashMap::new();
    for (k, v) in d.iter() {
        let k: String = k.extract().map_err(|_| PyTypeError::new_err(format!("{what}: keys must be strings")))?;
        let t: PyTensor = v.extract().map_err(|_| PyTypeError::new_err(format!("{what}: `{k}` is not a torch.Tensor")))?;
        out.insert(k, t.0.to_device(Device::Cpu));
    }
    Ok(out)
}

impl Agent {
    fn apply(&mut self, py: Python<'_>, m: &Metrics, progress: f64, epoch: usize, iteration: usize) -> PyResult<String> {
        if !(0.0..=1.0).contains(&progress) {
            return Err(value_err(format!("progress must be in [0, 1] (share of training done), got {progress}")));
        }
        let mut miner = self.miner.try_borrow_mut(py).map_err(|e| PyRuntimeError::new_err(format!("the agent's miner is in use: {e}")))?;
        let dist = miner.inner.distribution_mut().ok_or_else(|| value_err("the agent's miner is not a PADS miner"))?;
        // The policy update runs libtorch's autograd engine, which refuses to run while the
        // GIL is held (it may call back into Python hooks), and needs grad mode whatever the
        // caller's (`agent.step` is naturally called under `torch.no_grad()`).
        let inner = &mut self.inner;
        let record = py
            .allow_threads(move || tch::with_grad(|| inner.step(m, dist, progress, epoch, iteration)))
            .map_err(|e| PyRuntimeError::new_err(format!("{e:#}")))?;
        let text = record_json(&record)?;
        self.history.push(record);
        Ok(text)
    }
}

#[pymethods]
impl Agent {
    #[new]
    fn new(py: Python<'_>, miner: Py<Miner>, options_json: &str) -> PyResult<Self> {
        let (seed, n_support) = {
            let m = miner.borrow(py);
            if m.inner.distribution().is_none() {
                return Err(PyTypeError::new_err(format!("PADSAgent needs a PADSMiner, got a {} miner", m.inner.name())));
            }
            (m.opts.seed, m.opts.policy_n_support)
        };
        // The seed defaults to the miner's; the bins are always the miner's.
        let fill = [("seed", serde_json::json!(seed)), ("policy_n_support", serde_json::json!(n_support))];
        let opts: AgentOptions = options_from_json(options_json, "PADSAgent", &fill)?;
        if opts.policy_n_support != n_support {
            return Err(value_err(format!("PADSAgent: policy_n_support is the miner's ({n_support}), got {}", opts.policy_n_support)));
        }
        opts.validate().map_err(|e| value_err(format!("PADSAgent: {e:#}")))?;
        let inner = RustAgent::new(&opts, opts.recall_ks().len());
        Ok(Agent { inner, miner, opts, history: Vec::new() })
    }

    /// Validation metrics as the trainer computes them, then one policy step. Returns the
    /// step's record (JSON).
    #[pyo3(signature = (embeddings, labels, progress, normalize, epoch, iteration))]
    fn step(&mut self, py: Python<'_>, embeddings: PyTensor, labels: PyTensor, progress: f64, normalize: bool, epoch: usize, iteration: usize) -> PyResult<String> {
        check_embeddings(&embeddings, "PADSAgent.step")?;
        let labels = host_labels(&labels, &embeddings, "PADSAgent.step")?;
        let emb = embeddings.detach();
        let mut opts = self.opts.eval_options();
        opts.normalize = normalize;
        let m = py
            .allow_threads(move || pads::policy::agent::validation_metrics(&emb, &labels, opts))
            .map_err(|e| value_err(format!("PADSAgent.step: {e:#}")))?;
        self.apply(py, &m, progress, epoch, iteration)
    }

    /// One policy step with metrics the caller computed: a JSON object with recall@k for
    /// every k of k_vals, nmi, intra and inter (None = undefined, entering as 0 as in the
    /// trainer).
    #[pyo3(signature = (metrics_json, progress, epoch, iteration))]
    fn step_metrics(&mut self, py: Python<'_>, metrics_json: &str, progress: f64, epoch: usize, iteration: usize) -> PyResult<String> {
        let obj: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(metrics_json).map_err(|e| value_err(format!("metrics must be a dict of numbers: {e}")))?;
        let get = |k: &str| -> PyResult<f64> {
            match obj.get(k) {
                None => Err(PyKeyError::new_err(format!(
                    "metrics lack `{k}`; expected recall@k for k in {:?}, nmi, intra and inter",
                    self.opts.recall_ks()
                ))),
                Some(serde_json::Value::Null) => Ok(f64::NAN),
                Some(v) => v.as_f64().ok_or_else(|| value_err(format!("metrics `{k}` must be a number or None, got {v}"))),
            }
        };
        let mut recall = Vec::new();
        for k in self.opts.recall_ks() {
            recall.push((k, get(&format!("recall@{k}"))?));
        }
        let m = Metrics { recall, nmi: get("nmi")?, f1: f64::NAN, map_at_r: f64::NAN, intra: get("intra")?, inter: get("inter")? };
        let m = pads::policy::agent::policy_view(m);
        self.apply(py, &m, progress, epoch, iteration)
    }

    /// Every record so far (JSON list).
    fn history_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.history).map_err(value_err)
    }

    /// The agent's options with its miner's (JSON, the original's names).
    fn options_json(&self, py: Python<'_>) -> PyResult<String> {
        merged_json(&self.miner.borrow(py).opts, &self.opts)
    }

    /// (plain state JSON, {group: {name: tensor}}) as in a pads checkpoint.
    fn state<'py>(&self, py: Python<'py>) -> PyResult<(String, Bound<'py, PyDict>)> {
        let miner = self.miner.borrow(py);
        let plain = serde_json::json!({
            "agent": self.inner.snapshot(),
            "distribution": miner.inner.distribution(),
            "history": self.history,
            "policy_n_support": self.opts.policy_n_support,
        });
        let groups = PyDict::new(py);
        for (name, tensors) in self.inner.checkpoint_groups() {
            groups.set_item(name, tensor_dict(py, tensors)?)?;
        }
        Ok((serde_json::to_string(&plain).map_err(value_err)?, groups))
    }

    fn load_state(&mut self, py: Python<'_>, plain: &str, groups: &Bound<'_, PyDict>) -> PyResult<()> {
        let v: serde_json::Value = serde_json::from_str(plain).map_err(|e| value_err(format!("agent state: {e}")))?;
        let n_support = v.get("policy_n_support").and_then(|x| x.as_u64()).unwrap_or(0) as usize;
        if n_support != self.opts.policy_n_support {
            return Err(value_err(format!(
                "agent state has policy_n_support {n_support}, this agent {}",
                self.opts.policy_n_support
            )));
        }
        let agent_state = serde_json::from_value(v["agent"].clone()).map_err(|e| value_err(format!("agent state: {e}")))?;
        let dist: pads::miners::distribution::Distribution =
            serde_json::from_value(v["distribution"].clone()).map_err(|e| value_err(format!("agent state distribution: {e}")))?;
        let history: Vec<PolicyRecord> = serde_json::from_value(v["history"].clone()).map_err(|e| value_err(format!("agent state history: {e}")))?;
        // The groups the agent's own `checkpoint_groups` writes; states saved before it named
        // the PPO old policy `old_policy`.
        let mut tensors: HashMap<String, HashMap<String, Tensor>> = HashMap::new();
        for (k, g) in groups.iter() {
            let k: String = k.extract().map_err(|_| PyTypeError::new_err("agent state: group names must be strings"))?;
            let g = g.downcast::<PyDict>().map_err(|_| PyTypeError::new_err(format!("agent state `{k}` must be a dict")))?;
            let name = if k == "old_policy" { pads::policy::agent::GROUP_POLICY_OLD.to_string() } else { k.clone() };
            tensors.insert(name, dict_tensors(g, &k)?);
        }
        for (name, _) in self.inner.checkpoint_groups() {
            if !tensors.contains_key(name) {
                return Err(PyKeyError::new_err(format!("agent state lacks `{name}`")));
            }
        }
        self.inner.load_groups(|name| Ok(tensors[name].iter().map(|(k, t)| (k.clone(), t.shallow_clone())).collect())).map_err(anyhow_err)?;
        self.inner.restore(agent_state);
        let mut miner = self.miner.borrow_mut(py);
        if let Some(dst) = miner.inner.distribution_mut() {
            *dst = dist;
        }
        self.history = history;
        Ok(())
    }
}

/// Margin loss (Wu et al. 2017) with per-class beta, the library's `loss::margin_loss`; the
/// result carries autograd into `embeddings` and `beta`.
#[pyfunction]
#[pyo3(signature = (embeddings, anchors, positives, negatives, labels, beta, margin))]
fn margin_loss(embeddings: PyTensor, anchors: PyTensor, positives: PyTensor, negatives: PyTensor, labels: PyTensor, beta: PyTensor, margin: f64) -> PyResult<PyTensor> {
    const W: &str = "MarginLoss";
    if embeddings.dim() != 2 || !is_float(embeddings.kind()) {
        return Err(value_err(format!("{W}: embeddings must be a float [N, D] tensor, got {:?} of shape {:?}", embeddings.kind(), embeddings.size())));
    }
    let labels = host_labels(&labels, &embeddings, W)?;
    let n = embeddings.size()[0];
    let mut idx = Vec::new();
    for (name, t) in [("anchors", &anchors), ("positives", &positives), ("negatives", &negatives)] {
        if t.dim() != 1 || !is_integer(t.kind()) {
            return Err(value_err(format!("{W}: {name} must be a 1-D integer tensor, got {:?} of shape {:?}", t.kind(), t.size())));
        }
        let v: Vec<i64> = Vec::try_from(t.to_device(Device::Cpu).to_kind(Kind::Int64)).map_err(value_err)?;
        if let Some(bad) = v.iter().find(|&&i| i < 0 || i >= n) {
            return Err(value_err(format!("{W}: {name} holds index {bad}, outside the batch of {n}")));
        }
        idx.push(v);
    }
    if idx[0].len() != idx[1].len() || idx[0].len() != idx[2].len() {
        return Err(value_err(format!("{W}: anchors, positives, negatives have lengths {}, {}, {}", idx[0].len(), idx[1].len(), idx[2].len())));
    }
    if beta.dim() != 1 || beta.device() != embeddings.device() {
        return Err(value_err(format!("{W}: beta must be 1-D [n_classes] on the embeddings' device ({}), got shape {:?} on {}", device_name(embeddings.device()), beta.size(), device_name(beta.device()))));
    }
    let n_classes = beta.size()[0];
    if let Some(bad) = labels.iter().find(|&&l| l < 0 || l >= n_classes) {
        return Err(value_err(format!("{W}: label {bad} outside 0..{n_classes} (n_classes); labels must be class ids 0..n_classes-1")));
    }
    let t = Triplets { anchors: idx[0].clone(), positives: idx[1].clone(), negatives: idx[2].clone() };
    let beta = beta.to_kind(embeddings.kind());
    Ok(PyTensor(pads::loss::margin_loss_for_labels(&embeddings, &t, &labels, &beta, margin)))
}

/// `pads metrics` on tensors: (metrics JSON as `pads metrics --json`, warnings).
#[pyfunction]
#[pyo3(signature = (embeddings, labels, ks, nmi, map_at_r, normalize, seed, count_lone_queries))]
#[allow(clippy::too_many_arguments)]
fn evaluate(py: Python<'_>, embeddings: PyTensor, labels: PyTensor, ks: Vec<usize>, nmi: bool, map_at_r: bool, normalize: bool, seed: Option<u64>, count_lone_queries: bool) -> PyResult<(String, Vec<String>)> {
    check_embeddings(&embeddings, "evaluate")?;
    let labels = host_labels(&labels, &embeddings, "evaluate")?;
    let mut opts = pads::eval::EvalOptions::new(ks);
    if let Some(s) = seed {
        opts.seed = s;
    }
    opts.normalize = normalize;
    opts.with_map = map_at_r;
    opts.with_nmi = nmi;
    opts.skip_lone_queries = !count_lone_queries;
    let emb = embeddings.detach();
    let m = py
        .allow_threads(move || evaluate_sets(&EvalSet { embeddings: &emb, labels: &labels, name: "embeddings" }, None, &opts))
        .map_err(|e| value_err(format!("evaluate: {e:#}")))?;
    let mut json = m.to_json();
    if let Some(o) = json.as_object_mut() {
        if !nmi {
            o.remove("nmi");
            o.remove("f1");
        }
        if !map_at_r {
            o.remove("map@r");
        }
    }
    Ok((json.to_string(), m.warnings().to_vec()))
}

/// `pads metrics --query-* --gallery-*` on tensors: (metrics JSON as its `--json`,
/// warnings). `gallery = None`: the queries are their own gallery (same_set, self-matches
/// left out). Checks, normalisation and metrics are the library's
/// (`eval::evaluate_sets`, shared with the CLI's files path).
#[pyfunction]
#[pyo3(signature = (embeddings, labels, gallery_embeddings, gallery_labels, ks, map_at_r, normalize, count_lone_queries))]
#[allow(clippy::too_many_arguments)]
fn evaluate_query_gallery(
    py: Python<'_>,
    embeddings: PyTensor,
    labels: PyTensor,
    gallery_embeddings: Option<PyTensor>,
    gallery_labels: Option<PyTensor>,
    ks: Vec<usize>,
    map_at_r: bool,
    normalize: bool,
    count_lone_queries: bool,
) -> PyResult<(String, Vec<String>)> {
    check_embeddings(&embeddings, "evaluate (queries)")?;
    let qlab = host_labels(&labels, &embeddings, "evaluate (queries)")?;
    let gallery = match (gallery_embeddings, gallery_labels) {
        (None, None) => None,
        (Some(g), Some(gl)) => {
            check_embeddings(&g, "evaluate (gallery)")?;
            let glab = host_labels(&gl, &g, "evaluate (gallery)")?;
            Some((g.0.detach(), glab))
        }
        _ => return Err(value_err("evaluate: give both gallery_embeddings and gallery_labels, or neither")),
    };
    let q = embeddings.detach();
    let mut opts = pads::eval::EvalOptions::new(ks);
    opts.normalize = normalize;
    opts.skip_lone_queries = !count_lone_queries;
    let m = py
        .allow_threads(move || {
            let query = EvalSet { embeddings: &q, labels: &qlab, name: "embeddings (queries)" };
            match &gallery {
                None => evaluate_sets(&query, Some(Gallery::QuerySet), &opts),
                Some((g, glab)) => evaluate_sets(&query, Some(Gallery::Set(&EvalSet { embeddings: g, labels: glab, name: "gallery_embeddings" })), &opts),
            }
        })
        .map_err(|e| value_err(format!("evaluate: {e:#}")))?;
    let mut json = m.to_json();
    if !map_at_r {
        if let Some(o) = json.as_object_mut() {
            o.remove("map@r");
        }
    }
    Ok((json.to_string(), m.warnings().to_vec()))
}

/// Every option's default (RunConfig::default, JSON).
#[pyfunction]
fn defaults_json() -> PyResult<String> {
    serde_json::to_string(&RunConfig::default()).map_err(value_err)
}

#[pymodule]
fn _pads(m: &Bound<'_, PyModule>) -> PyResult<()> {
    pads::options::set_spelling(python_spelling);
    m.add_class::<Miner>()?;
    m.add_class::<Agent>()?;
    m.add_function(wrap_pyfunction!(margin_loss, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_query_gallery, m)?)?;
    m.add_function(wrap_pyfunction!(defaults_json, m)?)?;
    m.add("KMEANS_SEED", pads::eval::KMEANS_SEED)?;
    Ok(())
}

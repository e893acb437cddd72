//! `pads._pads.Agent`: the library's PADS policy (`policy::agent::Agent`) over a PADS
//! miner's distribution, with its history and a checkpoint-style state for pickling.
use crate::checks::{anyhow_err, check_embeddings, guard, host_labels, options_from_json, value_err};
use crate::miner::Miner;
use pads::eval::Metrics;
use pads::policy::agent::{Agent as RustAgent, PolicyRecord};
use pads::policy::AgentOptions;
use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_tch::PyTensor;
use std::collections::HashMap;
use tch::{Device, Tensor};

/// The PADS agent over a PADS miner's distribution.
#[pyclass(unsendable, module = "pads._pads")]
pub struct Agent {
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
    /// One policy step from `m`; the record's val_metrics leave out `not_computed` (mAP@R is
    /// never part of the validation metrics; F1 is not given to `step_metrics`).
    fn apply(&mut self, py: Python<'_>, m: &Metrics, progress: f64, epoch: usize, iteration: usize, not_computed: &[&str]) -> PyResult<String> {
        if !(0.0..=1.0).contains(&progress) {
            return Err(value_err(format!("progress must be in [0, 1] (share of training done), got {progress}")));
        }
        let mut miner = self.miner.try_borrow_mut(py).map_err(|e| PyRuntimeError::new_err(format!("the agent's miner is in use: {e}")))?;
        let dist = miner.inner.distribution_mut().ok_or_else(|| value_err("the agent's miner is not a PADS miner"))?;
        // The policy update runs libtorch's autograd engine, which refuses to run while the
        // GIL is held (it may call back into Python hooks), and needs grad mode whatever the
        // caller's (`agent.step` is naturally called under `torch.no_grad()`).
        let inner = &mut self.inner;
        let mut record = py
            .allow_threads(move || tch::with_grad(|| inner.step(m, dist, progress, epoch, iteration)))
            .map_err(|e| PyRuntimeError::new_err(format!("{e:#}")))?;
        record.val_metrics.retain(|(name, _)| !not_computed.contains(&name.as_str()));
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
        guard("PADSAgent.step", || {
            check_embeddings(&embeddings, "PADSAgent.step")?;
            let labels = host_labels(&labels, &embeddings, "PADSAgent.step")?;
            let emb = embeddings.detach();
            let mut opts = self.opts.eval_options();
            opts.normalize = normalize;
            let m = py
                .allow_threads(move || pads::policy::agent::validation_metrics(&emb, &labels, opts))
                .map_err(|e| value_err(format!("PADSAgent.step: {e:#}")))?;
            self.apply(py, &m, progress, epoch, iteration, &["map@r"])
        })
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
        self.apply(py, &m, progress, epoch, iteration, &["map@r", "f1"])
    }

    /// Policy steps taken so far.
    #[getter]
    fn steps(&self) -> usize {
        self.history.len()
    }

    /// Every record so far (JSON list).
    fn history_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.history).map_err(value_err)
    }

    /// The agent's options (`AgentOptions`, the original's names), JSON.
    fn options_json(&self, py: Python<'_>) -> PyResult<String> {
        let _ = py;
        serde_json::to_string(&self.opts).map_err(value_err)
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


//! `pads._pads`: the Python extension behind `import pads`. A thin layer over the pads
//! library: keyword arguments become the library's own options structs (`MinerOptions`,
//! `AgentOptions`, `EvalOptions`: the original's names, defaults and checks), tensors cross
//! without a copy through pyo3-tch (same libtorch, same autograd graph), and every
//! computation is the library's own (`miners::Mining`, `policy::agent::Agent`,
//! `loss::margin_loss`, `eval::evaluate`). Library messages name options in Python's
//! spelling (`python_spelling`). What lives here is only input checking (checks.rs), so that
//! bad input is a Python exception naming the argument, never a panic or a crash.
mod agent;
mod checks;
mod evaluate;
mod miner;

use pads::config::RunConfig;
use pyo3::prelude::*;

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

/// Every option's default (RunConfig::default, JSON).
#[pyfunction]
fn defaults_json() -> PyResult<String> {
    serde_json::to_string(&RunConfig::default()).map_err(checks::value_err)
}

#[pymodule]
fn _pads(m: &Bound<'_, PyModule>) -> PyResult<()> {
    pads::options::set_spelling(python_spelling);
    m.add_class::<miner::Miner>()?;
    m.add_class::<agent::Agent>()?;
    m.add_function(wrap_pyfunction!(evaluate::margin_loss, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate::evaluate_query_gallery, m)?)?;
    m.add_function(wrap_pyfunction!(defaults_json, m)?)?;
    m.add("KMEANS_SEED", pads::eval::KMEANS_SEED)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

//! Input checks shared by the extension's classes and functions: every bad argument becomes
//! a Python exception naming it (TypeError for a wrong type, ValueError for a wrong value),
//! never a panic.
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use tch::{Device, Kind, Tensor};

pub fn value_err(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

pub fn anyhow_err(e: anyhow::Error) -> PyErr {
    PyValueError::new_err(format!("{e:#}"))
}

/// Options of type `T` (a library options struct) from the JSON object of keyword arguments
/// (None values already dropped by the Python side). `fill` adds keys the caller derives
/// (the agent's seed and bins from its miner) when absent. An unknown key is a TypeError
/// naming it; a wrong value a ValueError.
pub fn options_from_json<T: serde::de::DeserializeOwned>(options_json: &str, what: &str, fill: &[(&str, serde_json::Value)]) -> PyResult<T> {
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

pub fn device_name(d: Device) -> String {
    pads::device::name(d)
}

pub fn is_float(k: Kind) -> bool {
    matches!(k, Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16)
}

pub fn is_integer(k: Kind) -> bool {
    matches!(k, Kind::Int64 | Kind::Int | Kind::Int16 | Kind::Int8 | Kind::Uint8)
}

/// A dense (strided) tensor: sparse layouts are refused before any operation reads them.
fn dense(t: &Tensor, what: &str, name: &str) -> PyResult<()> {
    if t.is_sparse() {
        return Err(PyTypeError::new_err(format!("{what}: {name} must be a dense tensor, got a sparse one; call .to_dense() first")));
    }
    Ok(())
}

/// Embeddings `[N, D]`, floating point, finite.
pub fn check_embeddings(emb: &Tensor, what: &str) -> PyResult<()> {
    dense(emb, what, "embeddings")?;
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
pub fn host_labels(labels: &Tensor, emb: &Tensor, what: &str) -> PyResult<Vec<i64>> {
    dense(labels, what, "labels")?;
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

/// Runs `f`, turning a Rust panic (a bug, or a libtorch error tch unwraps) into a ValueError
/// that names `what`, so that `except Exception` catches it (pyo3's PanicException is a
/// BaseException). Input checks come first; this is the net under them.
pub fn guard<T>(what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("unknown error");
            let first = msg.lines().next().unwrap_or(msg);
            Err(PyValueError::new_err(format!("{what}: the input could not be processed: {first}")))
        }
    }
}

/// Reference set of a miner call (PML's `ref_emb` / `ref_labels`): `[M, D]` float with the
/// batch's D and device, one integer label per row.
pub fn reference_set(reference: &Tensor, ref_labels: &Tensor, emb: &Tensor, what: &str) -> PyResult<Vec<i64>> {
    check_embeddings(reference, &format!("{what} (ref_emb)"))?;
    if reference.size()[1] != emb.size()[1] {
        return Err(value_err(format!(
            "{what}: ref_emb has {} columns but embeddings have {}; expected the same embedding size",
            reference.size()[1],
            emb.size()[1]
        )));
    }
    if reference.device() != emb.device() {
        return Err(value_err(format!(
            "{what}: ref_emb is on {} but embeddings on {}; put both on one device",
            device_name(reference.device()),
            device_name(emb.device())
        )));
    }
    host_labels(ref_labels, reference, &format!("{what} (ref_labels)"))
}

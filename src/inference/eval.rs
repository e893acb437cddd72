//! `pads eval`: a run's test metrics from one of its checkpoints.
use super::{load_model, LoadedModel};
use crate::data::load_splits;
use crate::data::loader::ImageStore;
use crate::data::scan::prepare_test_split;
use crate::eval::Metrics;
use crate::model::embed::{embed_store, EmbedOptions};
use crate::progress::Progress;
use crate::run::CheckpointChoice;
use anyhow::Result;
use std::path::Path;
use std::sync::Arc;

/// `pads eval --checkpoint best|last`: embeds the run's test split with the chosen
/// checkpoint's model and computes every metric (query -> gallery for in_shop; undefined
/// metrics warned and NaN). Bad test images stop it, or with the run's --skip-bad-images are
/// dropped, as in training. Returns the metrics and the loaded model (which checkpoint,
/// `LoadedModel::describe`). Errors: the run folder or that checkpoint is missing (the
/// message names it), or the data root does not hold the run's dataset.
pub fn evaluate_checkpoint(run_dir: &Path, data_root: Option<&Path>, which: CheckpointChoice, quiet: bool) -> Result<(Metrics, LoadedModel)> {
    let loaded = load_model(run_dir, Some(which), data_root, None)?;
    let cfg = &loaded.cfg;
    if !cfg.data_root.is_dir() {
        anyhow::bail!(
            "the data root {} (stored in {}) does not exist here: pass --data-root DIR, the folder holding {}/",
            cfg.data_root.display(),
            run_dir.display(),
            cfg.dataset.as_str()
        );
    }
    let splits = load_splits(cfg)?;
    let now = [crate::run::splits::record("test", &splits.test, &cfg.data_root)];
    for d in crate::run::splits::check(run_dir, &now)? {
        tracing::warn!("{d}: these metrics are not the run's test split's");
    }
    let progress = Progress::new(quiet);
    let (test, test_is_query, _) = prepare_test_split(splits.test, splits.test_is_query.as_deref(), cfg.skip_bad_images, cfg.num_workers, &progress)?;
    let test = Arc::new(ImageStore::new(test, cfg.caches_images(), false));
    let (emb, labels) = embed_store(&loaded.model, &test, &EmbedOptions::from(cfg), loaded.device, &progress, "test")?;
    let (m, warnings) = crate::eval::evaluate_split(&emb, &labels, test_is_query.as_deref(), &cfg.eval_options())?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    Ok((m, loaded))
}

/// `pads eval` with the best checkpoint: `evaluate_checkpoint(.., CheckpointChoice::Best, ..)`.
pub fn evaluate_run(run_dir: &Path, data_root: Option<&Path>, quiet: bool) -> Result<Metrics> {
    Ok(evaluate_checkpoint(run_dir, data_root, CheckpointChoice::Best, quiet)?.0)
}

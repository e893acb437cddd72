//! pads: deep metric learning with Policy-Adapted Sampling (Roth, Milbich, Ommer, CVPR 2020).
//!
//! Layers, each using only the ones below it (docs/architecture.md):
//! - L0: util, device, npy, allocator, optim, ops, options, progress
//! - L1: model, loss, miners, eval, data (each with its own small options struct)
//! - L2: policy (the PADS agent)
//! - L3: config (RunConfig, presets, layering, validation, conversion into the options
//!   structs below), run (run folder, checkpoint, logs, resume; uses config)
//! - L4: report, train, inference
//! - L5: sweep, demo, bench
//!
//! The binary (src/main.rs, src/cli/) parses arguments and dispatches to these.

// ---- L0 ----
pub mod allocator;
pub mod device;
pub mod npy;
pub mod ops;
pub mod optim;
pub mod options;
pub mod progress;
pub mod util;
// ---- L1 ----
pub mod data;
pub mod eval;
pub mod loss;
pub mod miners;
pub mod model;
// ---- L2 ----
pub mod policy;
// ---- L3 ----
pub mod config;
pub mod run;
// ---- L4 ----
pub mod inference;
/// The original code's run folders (reads their options with clap: the `cli` feature).
#[cfg(feature = "cli")]
pub mod original;
pub mod report;
pub mod train;
// ---- L5 ----
pub mod bench;
pub mod demo;
pub mod sweep;

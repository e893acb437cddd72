//! pads: deep metric learning with Policy-Adapted Sampling (Roth, Milbich, Ommer, CVPR 2020).
pub mod allocator;
pub mod bench;
pub mod config;
pub mod data;
pub mod demo;
pub mod device;
pub mod eval;
pub mod loss;
pub mod miner;
pub mod model;
pub mod optim;
pub mod pads;
pub mod report;
pub mod run;
pub mod sweep;
pub mod train;
pub mod util;

//! The binary's side of the command line: clap argument structs.
pub mod args;
pub mod train;

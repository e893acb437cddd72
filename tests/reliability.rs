//! Faults: SIGKILL mid-epoch then --resume; a diverging run stops at the first NaN with the
//! epoch and iteration and leaves the last good checkpoint loadable.
mod common;
use pads::data::synth::{self, SynthOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn data_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pads-train-tests");
    synth::ensure(&root, &SynthOptions { classes: 40, per_class: 80, image_size: 32, seed: 0 }).unwrap();
    root
}

fn args(root: &Path, out: &Path, epochs: usize) -> Vec<String> {
    let s = |x: &str| x.to_string();
    vec![
        s("train"), s("--dataset"), s("synthetic"), s("--data-root"), root.display().to_string(),
        s("--arch"), s("small"), s("--image-size"), s("32"), s("--embed-dim"), s("32"), s("--bs"), s("32"),
        s("--lr"), s("3e-3"), s("--sampling"), s("pads"), s("--policy-sample-freq"), s("7"),
        s("--policy-metric-history"), s("3"), s("--policy-mode"), s("ppo"), s("--num-workers"), s("2"),
        s("--n-epochs"), epochs.to_string(), s("--quiet"), s("--out"), out.display().to_string(),
    ]
}

fn run_ok(args: &[String]) {
    let out = Command::new(common::pads_bin()).args(args).env("PADS_LOG", "warn").output().unwrap();
    assert!(out.status.success(), "pads {:?} failed:\n{}", args, String::from_utf8_lossy(&out.stderr));
}

#[test]
fn sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run() {
    let root = data_root();
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    let victim = tmp.path().join("victim");
    run_ok(&args(&root, &reference, 3));
    let mut child = Command::new(common::pads_bin()).args(args(&root, &victim, 3)).env("PADS_LOG", "warn").spawn().unwrap();
    // Wait for the first checkpoint, then kill inside the next epoch.
    let start = Instant::now();
    while !victim.join("checkpoint_last.safetensors").exists() {
        assert!(start.elapsed() < Duration::from_secs(120), "no checkpoint appeared");
        assert!(child.try_wait().unwrap().is_none(), "training ended before it could be killed");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run finished before the kill; make the test run longer");
    run_ok(&[
        "train".to_string(),
        "--resume".to_string(),
        victim.display().to_string(),
        "--quiet".to_string(),
    ]);
    for f in ["metrics.csv", "pads_progression.jsonl"] {
        let a = std::fs::read_to_string(reference.join(f)).unwrap();
        let b = std::fs::read_to_string(victim.join(f)).unwrap();
        assert!(a == b, "{f} differs after kill + resume:\n{a}\n---\n{b}");
    }
}

#[test]
fn nan_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let root = data_root();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    run_ok(&args(&root, &run, 1));
    // --resume refuses a new learning rate (it would mix two runs), so the divergence is
    // planted in the run's own config.toml, as a run that diverges by itself would be.
    let out = Command::new(common::pads_bin())
        .args(["train", "--resume", run.to_str().unwrap(), "--n-epochs", "2", "--lr", "1e30", "--quiet"])
        .env("PADS_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--lr: the run has 0.003, this command"), "{}", String::from_utf8_lossy(&out.stderr));
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    let diverging = config.replace("lr = 0.003\n", "lr = 1e30\n");
    assert_ne!(diverging, config);
    std::fs::write(run.join("config.toml"), diverging).unwrap();
    let out = Command::new(common::pads_bin())
        .args(["train", "--resume", run.to_str().unwrap(), "--n-epochs", "2", "--quiet"])
        .env("PADS_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NaN") && err.contains("epoch 2, iteration"), "{err}");
    assert!(err.contains("checkpoint_last.safetensors"), "{err}");
    let ck = pads::run::checkpoint::Checkpoint::load(&run.join("checkpoint_last.safetensors")).unwrap();
    assert_eq!(ck.state["epoch"], 1);
    let out = Command::new(common::pads_bin()).args(["eval", "--run", run.to_str().unwrap(), "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(m["recall@1"].as_f64().unwrap() > 0.0);
}

#[test]
fn malloc_settings_do_not_change_results() {
    // pads tunes glibc's malloc at start (src/allocator.rs); with the defaults kept the
    // same run must produce the same bytes.
    let root = data_root();
    let tmp = tempfile::tempdir().unwrap();
    let (tuned, system) = (tmp.path().join("tuned"), tmp.path().join("system"));
    run_ok(&args(&root, &tuned, 1));
    let out = Command::new(common::pads_bin()).args(args(&root, &system, 1)).env("PADS_LOG", "warn").env("PADS_SYSTEM_MALLOC", "1").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["metrics.csv", "pads_progression.jsonl"] {
        let a = std::fs::read_to_string(tuned.join(f)).unwrap();
        let b = std::fs::read_to_string(system.join(f)).unwrap();
        assert!(!a.is_empty() && a == b, "{f} differs between malloc settings:\n{a}\n---\n{b}");
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn malloc_settings_are_accepted_by_glibc() {
    // mallopt returns 0 for a value glibc refuses; the opt-out keeps the defaults.
    std::env::set_var("PADS_SYSTEM_MALLOC", "1");
    assert!(!pads::allocator::tune_for_training());
    std::env::remove_var("PADS_SYSTEM_MALLOC");
    assert!(pads::allocator::tune_for_training());
}

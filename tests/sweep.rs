//! Sweeps: run folders, summary equal to statistics of the runs' own metrics.csv, skipping
//! finished runs, and the Slurm array script.
mod common;
use pads::config::RunConfig;
use pads::options::{Arch, DatasetKind, Sampling};
use pads::data::synth::{self, SynthOptions};
use pads::run::CsvTable;
use pads::sweep::{plan, run_local, summarize, write_slurm, LocalOptions, SlurmOptions};
use std::path::PathBuf;

fn tiny_config() -> RunConfig {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pads-sweep-tests");
    synth::ensure(&root, &SynthOptions { classes: 8, per_class: 12, image_size: 16, seed: 0 }).unwrap();
    RunConfig {
        dataset: DatasetKind::Synthetic,
        data_root: root,
        arch: Arch::Small,
        image_size: 16,
        embed_dim: 8,
        bs: 8,
        samples_per_class: 2,
        n_epochs: 2,
        lr: 1e-3,
        // Explicit, not the (original's) defaults these tests were written under.
        loss: pads::options::LossKind::Margin,
        seed: 0,
        tau: vec![80],
        policy_mode: pads::options::PolicyMode::Reinforce,
        ..RunConfig::default()
    }
}

fn local(jobs: usize) -> LocalOptions {
    LocalOptions { jobs, quiet: true, overwrite: false }
}

fn last_recall1(dir: &std::path::Path) -> f64 {
    let t = CsvTable::read(&dir.join("metrics.csv")).unwrap();
    *t.column("recall@1").unwrap().last().unwrap()
}

#[test]
fn a_2x2_sweep_runs_summarises_and_resumes() {
    let out = tempfile::tempdir().unwrap();
    let runs = plan(&tiny_config(), &[Sampling::Random, Sampling::Distance], &[0, 1], out.path());
    assert_eq!(runs.len(), 4);
    let (ran, skipped) = run_local(&common::pads_bin(), &runs, out.path(), &local(2)).unwrap();
    assert_eq!((ran, skipped), (4, 0));
    for r in &runs {
        assert!(r.dir.join("summary.json").is_file(), "{} unfinished", r.dir.display());
        let cfg = RunConfig::from_toml_file(&r.dir.join("config.toml")).unwrap();
        assert_eq!((cfg.sampling, cfg.seed), (r.sampler, r.seed));
    }
    summarize(out.path()).unwrap();
    let summary = CsvTable::read(&out.path().join("summary.csv")).unwrap();
    assert_eq!(summary.rows.len(), 2);
    let col = |name: &str| summary.header.iter().position(|h| h == name).unwrap();
    for (row, sampler) in summary.rows.iter().zip(["random", "distance"]) {
        assert_eq!(row[0], sampler);
        let vals: Vec<f64> = [0, 1].iter().map(|s| last_recall1(&out.path().join(format!("runs/{sampler}_seed{s}")))).collect();
        let mean = (vals[0] + vals[1]) / 2.0;
        let std = ((vals[0] - mean).powi(2) + (vals[1] - mean).powi(2)).sqrt(); // n - 1 = 1
        let got_mean: f64 = row[col("final_recall@1_mean")].parse().unwrap();
        let got_std: f64 = row[col("final_recall@1_std")].parse().unwrap();
        assert!((got_mean - mean).abs() < 1e-6, "{sampler}: {got_mean} vs {mean}");
        assert!((got_std - std).abs() < 1e-6, "{sampler}: {got_std} vs {std}");
    }
    let md = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(md.contains("| distance | 2 |") && md.contains(" +- "), "{md}");
    assert!(image::open(out.path().join("recall1.png")).is_ok());
    // One run per sampler has no standard deviation: the table shows its value alone.
    let one = tempfile::tempdir().unwrap();
    let single = one.path().join("runs/distance_seed0");
    std::fs::create_dir_all(&single).unwrap();
    for f in ["metrics.csv", "config.toml", "summary.json"] {
        std::fs::copy(out.path().join("runs/distance_seed0").join(f), single.join(f)).unwrap();
    }
    // An unfinished run (no summary.json) and a planned one never started stay out of the
    // table, named: an unfinished run's "final" is another epoch's.
    let unfinished = one.path().join("runs/distance_seed1");
    std::fs::create_dir_all(&unfinished).unwrap();
    for f in ["metrics.csv", "config.toml"] {
        std::fs::copy(out.path().join("runs/distance_seed1").join(f), unfinished.join(f)).unwrap();
    }
    let planned = one.path().join("runs/random_seed0");
    std::fs::create_dir_all(&planned).unwrap();
    std::fs::copy(out.path().join("runs/random_seed0/config.toml"), planned.join("sweep-config.toml")).unwrap();
    summarize(one.path()).unwrap();
    let md = std::fs::read_to_string(one.path().join("summary.md")).unwrap();
    let row = md.lines().find(|l| l.starts_with("| distance | 1 |")).unwrap_or_else(|| panic!("{md}"));
    assert!(!row.contains("+-") && row.contains(&format!("{:.2}", last_recall1(&single) * 100.0)), "{row}");
    assert!(md.contains("not in the table: distance_seed1 (unfinished") && md.contains("random_seed0 (not started)") && !md.contains("| random |"), "{md}");
    // Running again trains nothing and leaves the runs untouched.
    let stamp = std::fs::metadata(runs[0].dir.join("checkpoint_last.safetensors")).unwrap().modified().unwrap();
    assert_eq!(run_local(&common::pads_bin(), &runs, out.path(), &local(2)).unwrap(), (0, 4));
    assert_eq!(std::fs::metadata(runs[0].dir.join("checkpoint_last.safetensors")).unwrap().modified().unwrap(), stamp);
}

#[test]
fn slurm_script_has_one_array_index_per_run() {
    let out = tempfile::tempdir().unwrap();
    let cuda = RunConfig { device: "cuda".into(), ..tiny_config() };
    let runs = plan(&cuda, &[Sampling::Semihard, Sampling::Pads, Sampling::Random], &[3, 4], out.path());
    let opts = SlurmOptions { time: "02:00:00".into(), cpus: 4, mem: "16G".into(), gpus: Some(1), partition: Some("gpu".into()), overwrite: false };
    let script = std::fs::read_to_string(write_slurm(&common::pads_bin(), &runs, out.path(), &opts).unwrap()).unwrap();
    assert!(script.contains("#SBATCH --array=0-5\n"));
    assert!(script.contains("#SBATCH --gres=gpu:1") && script.contains("#SBATCH --partition=gpu"));
    // The RUNS array, in order: index i -> runs[i], whose config holds its sampler and seed.
    let start = script.find("RUNS=(\n").unwrap() + 7;
    let end = script[start..].find(")\n").unwrap() + start;
    let entries: Vec<&str> = script[start..end].lines().map(|l| l.trim().trim_matches('"')).collect();
    assert_eq!(entries.len(), 6);
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(entries[i], r.dir.display().to_string());
        let cfg = RunConfig::from_toml_file(&r.dir.join("sweep-config.toml")).unwrap();
        assert_eq!((cfg.sampling, cfg.seed), (r.sampler, r.seed));
    }
    assert!(script.contains("\"$RUN/sweep-config.toml\" --out \"$RUN\" --quiet --overwrite"));
    assert!(script.contains("--resume \"$RUN\""));
}

#[test]
fn slurm_requests_a_gpu_only_for_runs_that_use_one() {
    use pads::sweep::slurm_gpus;
    let script_for = |device: &str, gpus: Option<usize>| -> anyhow::Result<String> {
        let out = tempfile::tempdir().unwrap();
        let cfg = RunConfig { device: device.into(), ..tiny_config() };
        let runs = plan(&cfg, &[Sampling::Random], &[0], out.path());
        let opts = SlurmOptions { time: "01:00:00".into(), cpus: 2, mem: "8G".into(), gpus, partition: None, overwrite: false };
        Ok(std::fs::read_to_string(write_slurm(&common::pads_bin(), &runs, out.path(), &opts)?).unwrap())
    };
    // CPU runs: no --gres, and the line says why.
    assert!(!script_for("cpu", None).unwrap().contains("--gres"));
    let (n, note) = slurm_gpus("cpu", None).unwrap();
    assert!(n == 0 && note.contains("no GPU requested") && note.contains("--device cpu"), "{note}");
    // cuda, cuda:N and auto: one GPU by default, or the number asked for.
    for device in ["cuda", "cuda:1", "auto"] {
        assert!(script_for(device, None).unwrap().contains("#SBATCH --gres=gpu:1\n"), "{device}");
        let (n, note) = slurm_gpus(device, None).unwrap();
        assert!(n == 1 && note.contains("requesting 1 GPU") && note.contains(device), "{note}");
    }
    assert!(script_for("cuda", Some(2)).unwrap().contains("#SBATCH --gres=gpu:2\n"));
    // Contradictions are refused, naming both options.
    let err = format!("{:#}", script_for("cpu", Some(1)).unwrap_err());
    assert!(err.contains("--slurm-gpus 1") && err.contains("--device cpu"), "{err}");
    let err = format!("{:#}", slurm_gpus("cuda", Some(0)).unwrap_err());
    assert!(err.contains("--slurm-gpus 0") && err.contains("cuda"), "{err}");
    let (n, note) = slurm_gpus("auto", Some(0)).unwrap();
    assert!(n == 0 && note.contains("CPU"), "{note}");
}

#[test]
fn sweep_slurm_command_says_which_device_it_requests_for() {
    // Written on a machine without a GPU (a login node) for runs on cuda: valid.
    for (device, gres, said) in [("cuda", true, "requesting 1 GPU(s) per task"), ("cpu", false, "no GPU requested")] {
        let out = tempfile::tempdir().unwrap();
        let o = std::process::Command::new(common::pads_bin())
            .args(["sweep", "--dataset", "synthetic", "--data-root", "/nonexistent", "--arch", "small", "--device", device])
            .args(["--samplers", "random,pads", "--seeds", "0", "--slurm", "--out", out.path().to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(err.contains(said) && err.contains(&format!("--device {device}")), "{err}");
        let script = std::fs::read_to_string(out.path().join("sweep.sbatch")).unwrap();
        assert_eq!(script.contains("#SBATCH --gres=gpu:1\n"), gres, "{script}");
    }
}

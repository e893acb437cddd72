//! Run folders written by the original code (bench/reference/make_original_runs.py runs its
//! main.py on CPU). The committed fixtures (tests/fixtures/original/<run>/) hold its
//! hypa.pkl, its checkpoint object with the network cut to the head's bias (both torch
//! formats), distr_progression.pkl, and what Python reads from them (python_reads.json).
//! The full folders (networks of 40-95 MB) are made by the script into
//! bench/out/original-runs/; the tests that need them say so and stop when it is absent.
mod common;
use pads::original::{history::Progress, OriginalRun};
use std::path::{Path, PathBuf};
use std::process::Command;

const RUNS: [&str; 3] = ["CUB_R50", "CUB_BNI", "CUB_PADS"];

fn fixture(run: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original").join(run)
}

fn python_reads(run: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(run).join("python_reads.json")).unwrap()).unwrap()
}

/// An original folder in a temp dir: hypa.pkl, the slim checkpoint (`legacy`: the pre-1.6
/// file) as checkpoint_Class.pth.tar, and distr_progression.pkl when the run has one.
fn slim_folder(run: &str, legacy: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture(run).join("hypa.pkl"), dir.path().join("hypa.pkl")).unwrap();
    let ck = if legacy { "checkpoint_slim_legacy.pth.tar" } else { "checkpoint_slim.pth.tar" };
    std::fs::copy(fixture(run).join(ck), dir.path().join("checkpoint_Class.pth.tar")).unwrap();
    if fixture(run).join("distr_progression.pkl").is_file() {
        std::fs::copy(fixture(run).join("distr_progression.pkl"), dir.path().join("distr_progression.pkl")).unwrap();
    }
    dir
}

#[test]
fn hypa_pkl_gives_the_runs_options() {
    let data = tempfile::tempdir().unwrap();
    for run in RUNS {
        let dir = slim_folder(run, false);
        let got = OriginalRun::open(dir.path()).unwrap().config(Some(data.path())).unwrap();
        let seen = &python_reads(run)["options"];
        let c = &got.cfg;
        assert_eq!(c.dataset.as_str(), seen["dataset"].as_str().unwrap());
        assert_eq!(c.embed_dim as u64, seen["embed_dim"].as_u64().unwrap(), "{run}");
        assert_eq!(c.n_epochs as u64, seen["n_epochs"].as_u64().unwrap(), "{run}");
        assert_eq!(c.bs as u64, seen["bs"].as_u64().unwrap(), "{run}");
        assert_eq!(c.lr, seen["lr"].as_f64().unwrap(), "{run}");
        assert_eq!(c.arch.as_str(), seen["arch"].as_str().unwrap(), "{run}");
        let ks: Vec<u64> = seen["k_vals"].as_array().unwrap().iter().map(|k| k.as_u64().unwrap()).collect();
        assert_eq!(c.recall_ks().iter().map(|k| *k as u64).collect::<Vec<_>>(), ks, "{run}");
        let sampling = if seen["sampling"] == "learned" { "pads" } else { seen["sampling"].as_str().unwrap() };
        assert_eq!(c.sampling.as_str(), sampling, "{run}");
        assert_eq!(c.data_root, data.path());
        // The fields main.py adds after parsing are listed, not taken as options.
        assert!(got.not_carried.iter().any(|(n, _)| n == "device"), "{run}: {:?}", got.not_carried);
    }
}

#[test]
fn the_checkpoint_reads_the_same_in_both_torch_formats_and_as_python_reads_it() {
    for run in RUNS {
        let seen = python_reads(run);
        let mut progress = Vec::new();
        for legacy in [false, true] {
            let dir = slim_folder(run, legacy);
            let ck = OriginalRun::open(dir.path()).unwrap().checkpoint().unwrap();
            let p: Progress = ck.progress.clone().unwrap();
            // Every logged value, as Python reads it.
            for (name, groups) in seen["progress"].as_object().unwrap() {
                for (group, segments) in groups.as_object().unwrap() {
                    for (segment, values) in segments.as_object().unwrap() {
                        let want: Vec<f64> = values.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                        let got = p.values(name, group, segment).unwrap_or_else(|| panic!("{run}: {name}/{group}/{segment} missing"));
                        assert_eq!(got.len(), want.len(), "{run} {name}/{group}/{segment}");
                        for (a, b) in got.iter().zip(&want) {
                            assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-12), "{run} {name}/{group}/{segment}: {a} vs {b}");
                        }
                    }
                }
            }
            assert_eq!(ck.epoch, Some(seen["epoch"].as_u64().unwrap() as usize), "{run}");
            match (&ck.policy, seen["aux"].as_object()) {
                (None, None) => {}
                (Some(policy), Some(aux)) => {
                    assert_eq!(policy.len(), aux.len(), "{run}");
                    for (k, v) in aux {
                        // network.2 -> network1: pads' names for the same layers.
                        let name = pads::original::policy_names(vec![(k.clone(), tch::Tensor::zeros([1], tch::kind::FLOAT_CPU))]).into_keys().next().unwrap();
                        let t = &policy[&name];
                        let shape: Vec<i64> = v[0].as_array().unwrap().iter().map(|d| d.as_i64().unwrap()).collect();
                        assert_eq!(t.size(), shape, "{run} {k}");
                        let sum = t.to_kind(tch::Kind::Double).sum(tch::Kind::Double).double_value(&[]);
                        assert!((sum - v[1].as_f64().unwrap()).abs() < 1e-9 * (1.0 + sum.abs()), "{run} {k}");
                    }
                }
                (a, b) => panic!("{run}: policy {} vs aux {}", a.is_some(), b.is_some()),
            }
            progress.push(p);
        }
        assert_eq!(progress[0], progress[1], "{run}: zip and legacy formats differ");
    }
}

#[test]
fn the_history_becomes_metrics_rows_one_epoch_later() {
    let dir = slim_folder("CUB_PADS", false);
    let run = OriginalRun::open(dir.path()).unwrap();
    let cfg = run.config(None).unwrap().cfg;
    let p = run.checkpoint().unwrap().progress.unwrap();
    let table = p.metrics_table(pads::run::log::metrics_header(&cfg)).unwrap();
    let seen = &python_reads("CUB_PADS")["progress"]["Test"];
    let epochs = seen["Epochs"]["Epochs"].as_array().unwrap();
    assert_eq!(table.rows.len(), epochs.len());
    let col = |name: &str| table.column(name).unwrap();
    for (i, e) in epochs.iter().enumerate() {
        assert_eq!(col("epoch")[i], e.as_f64().unwrap() + 1.0);
        assert!((col("recall@1")[i] - seen["Class_Recall"]["Recall @ 1"][i].as_f64().unwrap()).abs() < 1e-6);
        assert!((col("nmi")[i] - seen["Class_NMI"]["NMI"][i].as_f64().unwrap()).abs() < 1e-6);
        assert!((col("intra")[i] - seen["Class_Distances"]["Intraclass"][i].as_f64().unwrap()).abs() < 1e-6);
        // Not logged by the original: left empty, not made up.
        assert!(col("map@r")[i].is_nan() && col("lr")[i].is_nan() && col("beta_mean")[i].is_nan());
    }
    let train_loss = python_reads("CUB_PADS")["progress"]["Train"]["loss"]["loss"][0].as_f64().unwrap();
    assert!((col("loss")[0] - train_loss).abs() < 1e-6);
}

#[test]
fn distr_progression_becomes_progression_records() {
    let file = pads::model::torchfile::read_torch_file(&fixture("CUB_PADS").join("distr_progression.pkl")).unwrap();
    let records = pads::original::history::progression_records(&file.root).unwrap();
    let seen = python_reads("CUB_PADS")["distributions"].as_array().unwrap().clone();
    assert_eq!(records.len(), seen.len());
    for (r, want) in records.iter().zip(&seen) {
        let want: Vec<f64> = want.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(r.distribution, want);
        assert!(r.epoch.is_none() && r.reward_metric.is_none(), "the file records no epoch or reward");
    }
}

fn pads(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pads")).args(args).output().unwrap()
}

#[test]
fn import_of_a_checkpoint_without_the_network_names_the_missing_tensors_and_writes_nothing() {
    let dir = slim_folder("CUB_R50", true);
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("run");
    let o = pads(&["import", dir.path().to_str().unwrap(), "--out", target.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("checkpoint_Class.pth.tar") && err.contains("lacks") && err.contains("conv1.weight"), "{err}");
    assert!(!target.join("config.toml").exists(), "nothing written on failure");
    // The original folder is untouched.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn import_refuses_to_write_into_the_original_folder() {
    let dir = slim_folder("CUB_R50", false);
    let inside = dir.path().join("pads");
    let o = pads(&["import", dir.path().to_str().unwrap(), "--out", inside.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("never writes into it"));
}

#[test]
fn the_originals_csv_logs_hold_the_whole_history() {
    let p = Progress::from_csv_logs(&fixture("CUB_PADS").join("CSV_Logs")).unwrap();
    // Two epochs trained and evaluated; the checkpoint's copy stops before the last.
    assert_eq!(p.values("Test", "Epochs", "Epochs").unwrap(), &[0.0, 1.0]);
    assert_eq!(p.values("Train", "epochs", "epochs").unwrap(), &[0.0, 1.0]);
    let seen = &python_reads("CUB_PADS")["progress"]["Test"]["Class_Recall"]["Recall @ 1"];
    assert_eq!(p.values("Test", "Class_Recall", "Recall @ 1").unwrap()[0], seen[0].as_f64().unwrap());
    assert_eq!(p.values("Model Grad", "L2", "Grad L2").unwrap().len(), 2);
    assert!(p.values("RL-Policy", "Gradient L2", "Gradient L2").is_some());
    // A per-epoch file cut after its header (or emptied) is refused, not read as blanks.
    let cut = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixture("CUB_PADS").join("CSV_Logs")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), cut.path().join(e.file_name())).unwrap();
    }
    std::fs::write(cut.path().join("Data_Test_Class_Recall.csv"), "Recall @ 1,Recall @ 2,Recall @ 4\n").unwrap();
    let err = format!("{:#}", Progress::from_csv_logs(cut.path()).unwrap_err());
    assert!(err.contains("Data_Test_Class_Recall.csv holds 0 row(s)") && err.contains("2 epoch(s)"), "{err}");
    std::fs::write(cut.path().join("Data_Test_Class_Recall.csv"), "").unwrap();
    assert!(format!("{:#}", Progress::from_csv_logs(cut.path()).unwrap_err()).contains("is empty"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Data_Test_Class_NMI.csv"), "NMI\n0.5\nx\n").unwrap();
    let err = format!("{:#}", Progress::from_csv_logs(dir.path()).unwrap_err());
    assert!(err.contains("Data_Test_Class_NMI.csv line 3") && err.contains("\"x\""), "{err}");
}

#[test]
fn a_hypa_pkl_that_is_not_a_namespace_is_refused_naming_what_it_is() {
    let dir = slim_folder("CUB_R50", false);
    let hypa = dir.path().join("hypa.pkl");
    let script = "import pickle, sys, types\nm = types.ModuleType('argparsX'); sys.modules['argparsX'] = m\nclass Namespace: pass\nNamespace.__module__ = 'argparsX'; m.Namespace = Namespace\nn = Namespace(); n.dataset = 'cub200'\npickle.dump(n, open(sys.argv[1], 'wb'))\n";
    let o = Command::new(common::python()).args(["-c", script, hypa.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = format!("{:#}", OriginalRun::open(dir.path()).unwrap().config(None).unwrap_err());
    assert!(err.contains("hypa.pkl") && err.contains("argparsX.Namespace") && err.contains("not an argparse.Namespace"), "{err}");
}

#[test]
fn an_original_folder_is_fenced_off_but_a_stray_hypa_pkl_above_is_not() {
    use pads::run::folder::refuse_original_folder;
    let top = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("CUB_R50").join("hypa.pkl"), top.path().join("hypa.pkl")).unwrap();
    // hypa.pkl alone: the folder itself is refused, a folder below it is not.
    assert!(format!("{:#}", refuse_original_folder(top.path(), "--out").unwrap_err()).contains("never writes into it"));
    refuse_original_folder(&top.path().join("runs/a"), "--out").unwrap();
    // With what the original writes beside it, everything below is fenced off, also via a link.
    std::fs::write(top.path().join("Parameter_Info.txt"), "x").unwrap();
    let err = format!("{:#}", refuse_original_folder(&top.path().join("runs/a"), "--out").unwrap_err());
    assert!(err.contains("is inside a run folder of the original code"), "{err}");
    let elsewhere = tempfile::tempdir().unwrap();
    let link = elsewhere.path().join("link");
    std::os::unix::fs::symlink(top.path(), &link).unwrap();
    assert!(refuse_original_folder(&link.join("x"), "--out").is_err());
}

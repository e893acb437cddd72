//! The original's command lines run as they are: each line of its SAMPLE_RUNS.sh resolves to
//! the matching preset (except what the line itself sets), every option its argparse
//! declares is accepted (mapped, implemented, or dropped with a warning naming it), and the
//! translation itself (config::original) on hand-written lines.
mod common;
use common::pads_bin;
use pads::config::original::{no_op_names, renamed, translate};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The original's SAMPLE_RUNS.sh lines and argparse options, as
/// bench/reference/make_cli_fixture.py reads them from the reference code.
fn fixture() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference/original_cli.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("tests/fixtures/reference/original_cli.json")).unwrap()
}

fn pads(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(pads_bin()).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// The TOML a `--dry-run` prints, parsed (comments dropped by the parser).
fn dry_run_table(args: &[&str]) -> toml::Table {
    let (ok, out, err) = pads(args);
    assert!(ok, "pads {}:\n{err}", args.join(" "));
    toml::from_str(&out).unwrap_or_else(|e| panic!("dry-run output is not TOML ({e}):\n{out}"))
}

/// The lines of SAMPLE_RUNS.sh that run main.py, as argument lists (after `main.py`).
fn sample_lines() -> Vec<Vec<String>> {
    fixture()["sample_runs"].as_array().unwrap().iter().map(|l| l.as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect()).collect()
}

/// pads' key of an original option name as the line types it (`--beta_lr` -> `beta_lr`).
fn key_of(flag: &str) -> String {
    let name = flag.trim_start_matches("--").replace('-', "_");
    match renamed().iter().find(|(from, _)| *from == name) {
        Some((_, to)) => to.trim_start_matches("--").replace('-', "_"),
        None => name,
    }
}

#[test]
fn translation_spells_the_original_as_pads() {
    let t = translate(
        os(&["pads", "train", "--source_path", "/d", "--gpu", "1", "--kernels", "4", "--policy_lr=0.1", "--nu", "0", "--policy_init_params", "0.5", "0.04", "--no_weights", "--k_vals", "1", "2", "--loss", "marginloss", "--", "--n_epochs"]),
        true,
    );
    let args: Vec<String> = t.args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    assert_eq!(
        args,
        ["pads", "train", "--data-root", "/d", "--device", "cuda:1", "--num-workers", "4", "--policy-lr=0.1", "--k-vals", "1", "2", "--loss", "marginloss", "--", "--n_epochs"]
    );
    assert_eq!(t.dropped.len(), 3, "{:?}", t.dropped);
    assert!(t.dropped[0].starts_with("--nu 0 (") && t.dropped[1].starts_with("--policy_init_params 0.5 0.04 (") && t.dropped[2].starts_with("--no_weights ("));
    // Without CUDA, --gpu N trains on the CPU, announced.
    let t = translate(os(&["pads", "train", "--gpu", "0"]), false);
    assert_eq!(t.args.iter().skip(2).map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>(), ["--device", "cpu"]);
    assert!(t.notes[0].contains("no CUDA device"), "{:?}", t.notes);
    // `--scheduler exp` is the step schedule in the original's main.py: so here, announced.
    let t = translate(os(&["pads", "train", "--scheduler", "exp"]), false);
    assert_eq!(t.args.iter().skip(2).map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>(), ["--scheduler", "step"]);
    assert!(t.notes[0].contains("MultiStepLR"), "{:?}", t.notes);
    // Other commands are left as typed.
    let t = translate(os(&["pads", "eval", "--data_root", "x"]), true);
    assert_eq!(t.args, os(&["pads", "eval", "--data_root", "x"]));
}

#[test]
fn each_sample_run_line_resolves_to_its_preset() {
    let lines = sample_lines();
    assert_eq!(lines.len(), 3, "SAMPLE_RUNS.sh has the CUB200, CARS196 and SOP lines");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    let root_s = root.to_str().unwrap();
    for line in lines {
        let line: Vec<String> = line.iter().map(|a| a.replace("$datapath", root_s)).collect();
        let dataset = line.iter().position(|a| a == "--dataset").map(|i| line[i + 1].clone()).unwrap_or_else(|| "cub200".into());
        let mut args = vec!["train", "--out", "unused", "--dry-run"];
        args.extend(line.iter().map(String::as_str));
        let got = dry_run_table(&args);
        let want = dry_run_table(&["train", "--out", "unused", "--dry-run", "--preset", &dataset, "--data-root", root_s]);
        // The keys the line sets itself, and on a machine without CUDA `--gpu 0` = cpu.
        let set: Vec<String> = line.iter().filter(|a| a.starts_with("--")).map(|a| key_of(a)).collect();
        let mut differ = BTreeMap::new();
        for (key, value) in &want {
            if got.get(key) != Some(value) {
                differ.insert(key.clone(), (got.get(key).cloned(), value.clone()));
            }
        }
        for key in differ.keys() {
            assert!(set.contains(key), "{dataset}: {key} differs from --preset {dataset} though the line does not set it: {differ:?}");
        }
        // The sample lines set nothing the preset does not already hold.
        assert!(differ.is_empty(), "{dataset}: {differ:?}");
    }
}

#[test]
fn the_cub_and_cars_sample_lines_train_when_shrunk() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    for (line, dataset) in sample_lines().into_iter().zip(["cub200", "cars196"]) {
        let (ok, _, err) = pads(&["synth", "--out", root.join(dataset).to_str().unwrap(), "--classes", "8", "--per-class", "8", "--image-size", "32", "--seed", "0"]);
        assert!(ok, "{err}");
        let line: Vec<String> = line.iter().map(|a| a.replace("$datapath", root.to_str().unwrap())).collect();
        let save = tmp.path().join("results");
        let mut args: Vec<&str> = vec!["train"];
        args.extend(line.iter().map(String::as_str));
        // Shrunk: one epoch of small images, a small batch, the policy acting every 2 iterations.
        args.extend(["--n_epochs", "1", "--image-size", "32", "--bs", "8", "--not_pretrained", "--policy_sample_freq", "2", "--save_path", save.to_str().unwrap(), "--quiet"]);
        let wandb: Vec<&str> = vec!["--wandb_log"];
        let args: Vec<&str> = args.into_iter().filter(|a| !wandb.contains(a)).collect();
        let (ok, out, err) = pads(&args);
        assert!(ok, "{dataset}: {err}");
        // The original's folder: save_path/dataset/savename; without wandb a dated name.
        let made: Vec<PathBuf> = std::fs::read_dir(save.join(dataset)).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(made.len(), 1, "{made:?}");
        let name = made[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(&format!("{}_RESNET50_", dataset.to_uppercase())), "{name}");
        assert!(made[0].join("metrics.csv").exists() && out.contains("run folder"), "{out}");
        let cfg: toml::Table = toml::from_str(&std::fs::read_to_string(made[0].join("config.toml")).unwrap()).unwrap();
        assert_eq!(cfg["loss"].as_str(), Some("margin"));
        assert_eq!(cfg["n_epochs"].as_integer(), Some(1));
    }
}

/// Every `add_argument('--NAME', ...)` of main.py and PADS_utilities.py, with the values
/// `--dry-run` can take: the default for a typed option, nothing for a store_true.
fn original_options() -> Vec<(String, Vec<String>)> {
    fixture()["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap().to_string(), o["values"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()))
        .collect()
}

#[test]
fn every_option_of_the_original_is_accepted() {
    let options = original_options();
    assert!(options.len() > 60, "{} options found", options.len());
    let tmp = tempfile::tempdir().unwrap();
    let no_ops = no_op_names();
    for (name, values) in options {
        // The original's default values that name its own machine are replaced.
        let values: Vec<String> = match name.as_str() {
            "gpu" => vec!["0".into()],
            "save_path" => vec![tmp.path().join("save").to_string_lossy().into_owned()],
            "source_path" => vec![tmp.path().to_string_lossy().into_owned()],
            _ => values,
        };
        let flag = format!("--{name}");
        // --save_path names the run folder itself (with --out it would name two).
        let mut args = if name == "save_path" { vec!["train", "--dry-run", flag.as_str()] } else { vec!["train", "--out", "unused", "--dry-run", flag.as_str()] };
        args.extend(values.iter().map(String::as_str));
        let (ok, out, err) = pads(&args);
        assert!(ok, "pads train {flag} {values:?} is refused:\n{err}");
        if no_ops.contains(&name.as_str()) {
            assert!(err.contains("ignored, as they do nothing in the original either") && err.contains(&flag), "{flag}: {err}");
        } else {
            assert!(!err.contains("ignored"), "{flag}: {err}");
            // beta, beta_lr, beta_constant with the default triplet loss warn that they do nothing.
            if !name.starts_with("beta") {
                assert!(!err.contains("WARN") || err.contains("--gpu") || err.contains("--scheduler"), "{flag}: {err}");
            }
            assert!(out.contains(" = "), "{flag}: no options printed");
        }
    }
}

#[test]
fn dry_run_names_where_each_value_came_from_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("opts.toml");
    std::fs::write(&file, "lr = 0.001\nbeta = 0.9\n").unwrap();
    let out_dir = tmp.path().join("run");
    let (ok, out, err) = pads(&["train", "--out", out_dir.to_str().unwrap(), "--preset", "cars196", "--config", file.to_str().unwrap(), "--beta", "0.7", "--dry-run"]);
    assert!(ok, "{err}");
    let line = |key: &str| out.lines().find(|l| l.starts_with(&format!("{key} = "))).unwrap_or_else(|| panic!("{key} missing:\n{out}")).to_string();
    assert!(line("beta").ends_with("# flag --beta") && line("beta").starts_with("beta = 0.7"), "{}", line("beta"));
    assert!(line("lr").ends_with(&format!("# config file {}", file.display())), "{}", line("lr"));
    assert!(line("tau").ends_with("# preset cars196"), "{}", line("tau"));
    assert!(!line("margin").contains('#'), "a default value has no origin: {}", line("margin"));
    assert!(!out_dir.exists(), "--dry-run wrote {}", out_dir.display());
    // What it prints is what config.toml would hold.
    let table: toml::Table = toml::from_str(&out).unwrap();
    assert_eq!(table["beta"].as_float(), Some(0.7));
    assert_eq!(table["lr"].as_float(), Some(0.001));
    // The original's other network, and an architecture pads lacks refused with the ones it has.
    let (ok, out, err) = pads(&["train", "--out", "unused", "--dry-run", "--arch", "bninception"]);
    assert!(ok && out.contains("arch = \"bninception\""), "{out}{err}");
    let (ok, _, err) = pads(&["train", "--out", "unused", "--dry-run", "--arch", "alexnet"]);
    assert!(!ok && err.contains("alexnet") && err.contains("resnet50") && err.contains("bninception") && err.contains("small"), "{err}");
    // data check and sweep take it too, and write nothing.
    let (ok, out, err) = pads(&["data", "check", "--preset", "cub200", "--dry-run"]);
    assert!(ok && out.contains("# preset cub200"), "{out}{err}");
    let sweep = tmp.path().join("sweep");
    let (ok, out, err) = pads(&["sweep", "--out", sweep.to_str().unwrap(), "--samplers", "pads,distance", "--seeds", "0,1", "--dry-run"]);
    assert!(ok && out.contains("# 4 runs") && !sweep.exists(), "{out}{err}");
}

#[test]
fn save_path_names_the_run_folder_as_the_original_and_never_reuses_one() {
    use pads::run::folder::original_run_folder;
    let tmp = tempfile::tempdir().unwrap();
    let t = chrono::NaiveDate::from_ymd_opt(2020, 6, 3).unwrap().and_hms_opt(14, 5, 9).unwrap();
    let p = original_run_folder(tmp.path(), "cub200", "resnet50", "group_plus_seed", Some("CUB_V1"), 3, t);
    assert_eq!(p, tmp.path().join("cub200/CUB_V1_s3"));
    let dated = original_run_folder(tmp.path(), "cub200", "resnet50", "group_plus_seed", None, 3, t);
    assert_eq!(dated, tmp.path().join("cub200/CUB200_RESNET50_2020-6-3-14-5-9"));
    std::fs::create_dir_all(&p).unwrap();
    assert_eq!(original_run_folder(tmp.path(), "cub200", "resnet50", "group_plus_seed", Some("CUB_V1"), 3, t), tmp.path().join("cub200/CUB_V1_s3_1"));
    std::fs::create_dir_all(tmp.path().join("cub200/CUB_V1_s3_1")).unwrap();
    assert_eq!(original_run_folder(tmp.path(), "cub200", "resnet50", "group_plus_seed", Some("CUB_V1"), 3, t), tmp.path().join("cub200/CUB_V1_s3_2"));
    assert_eq!(original_run_folder(tmp.path(), "cars196", "resnet50", "mine", None, 0, t), tmp.path().join("cars196/mine"));
}

#[test]
fn no_self_reg_clears_include_pos_and_include_same_only_and_config_toml_says_so() {
    use pads::miners::MinerOptions;
    // The original: include_pos = include_same = not no_self_reg; its `policy_include_merge`
    // is never read, so out-of-support distances still merge into the edge bins.
    let o = MinerOptions { policy_no_self_reg: true, ..MinerOptions::default() };
    assert_eq!(o.effective_self_reg(), (false, false, true));
    let o = MinerOptions { policy_no_self_reg: true, policy_merge_oobs: false, ..MinerOptions::default() };
    assert_eq!(o.effective_self_reg(), (false, false, false));
    let t = dry_run_table(&["train", "--out", "unused", "--dry-run", "--policy_no_self_reg"]);
    assert_eq!((t["policy_include_pos"].as_bool(), t["policy_include_same"].as_bool(), t["policy_merge_oobs"].as_bool()), (Some(false), Some(false), Some(true)));
}

#[test]
fn online_products_k_vals_given_are_used_with_a_warning() {
    // The original forces Recall@1,10,100,1000 on SOP whatever --k_vals says; pads follows
    // it unless --k-vals is given, which `pads data check` (and training) warn about.
    let sop = pads::config::RunConfig::preset(pads::options::Preset::OnlineProducts);
    assert_eq!(sop.recall_ks(), vec![1, 10, 100, 1000]);
    let given = pads::config::RunConfig { k_vals: vec![1, 2], ..sop.clone() };
    assert_eq!(given.recall_ks(), vec![1, 2]);
    let warnings = pads::train::check::option_warnings(&given);
    assert!(warnings.iter().any(|w| w.contains("the original ignores --k_vals there")), "{warnings:?}");
    assert!(pads::train::check::option_warnings(&sop).is_empty());
}

#[test]
fn margin_loss_options_with_the_triplet_loss_are_refused() {
    for (flag, value) in [("--beta", "0.6"), ("--beta-lr", "0.001"), ("--beta-constant", "true")] {
        let (ok, _, err) = pads(&["train", "--out", "unused", "--dry-run", "--loss", "triplet", flag, value]);
        assert!(!ok && err.contains(flag) && err.contains("--loss triplet has no beta"), "{flag}: {err}");
    }
    // With the triplet loss by default (the original's default): accepted, with a warning.
    let (ok, _, err) = pads(&["train", "--out", "unused", "--dry-run", "--beta", "0.6"]);
    assert!(ok && err.contains("--beta has no effect"), "{err}");
    // A preset's beta (the sample runs' margin loss) with --loss triplet is not typed: accepted.
    let (ok, _, err) = pads(&["train", "--out", "unused", "--dry-run", "--preset", "cub200", "--loss", "triplet"]);
    assert!(ok, "{err}");
}

#[test]
fn newcomer_cases_of_the_original_spelling() {
    let tmp = tempfile::tempdir().unwrap();
    // An option typed twice: the last value, lists included (argparse), said once.
    let (ok, out, err) = pads(&["train", "--out", "unused", "--dry-run", "--tau", "10", "--tau", "20", "--k_vals", "1", "2", "--k-vals", "4"]);
    assert!(ok && err.contains("typed again later"), "{err}");
    let t: toml::Table = toml::from_str(&out).unwrap();
    assert_eq!((t["tau"].as_array().unwrap().len(), t["tau"][0].as_integer()), (1, Some(20)));
    assert_eq!(t["k_vals"].as_array().unwrap().iter().map(|v| v.as_integer().unwrap()).collect::<Vec<_>>(), [4]);
    // --gpu and --device are one option: the later wins, and a bad --gpu names --gpu.
    let (ok, out, _) = pads(&["train", "--out", "unused", "--dry-run", "--gpu", "0", "--device", "cpu"]);
    assert!(ok && out.contains("device = \"cpu\""), "{out}");
    let (ok, _, err) = pads(&["train", "--out", "unused", "--dry-run", "--gpu", "abc"]);
    assert!(!ok && err.contains("--gpu abc: expected a GPU index"), "{err}");
    // A line copied with its program name; data check and sweep drop train's own options.
    let (ok, _, err) = pads(&["train", "python", "main.py", "--out", "unused", "--dry-run", "--seed", "3"]);
    assert!(ok && err.contains("`python` dropped") && err.contains("`main.py` dropped"), "{err}");
    let (ok, _, err) = pads(&["data", "check", "--dry-run", "--wandb_log", "--wandb_group", "G", "--save_path", "/x"]);
    assert!(ok && err.contains("--wandb_log ignored") && err.contains("--save_path /x ignored"), "{err}");
    // A line without --out or --save_path goes where the original's would: ./Training_Results.
    let out = std::process::Command::new(pads_bin()).current_dir(tmp.path()).args(["train", "--dry-run", "--seed", "3"]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("Run folder: Training_Results/cub200/CUB200_RESNET50_") && stderr.contains("Training_Results"), "{stdout}{stderr}");
    assert!(!tmp.path().join("Training_Results").exists());
    // --savename is a folder name under --save_path, never a path out of it.
    let (ok, _, err) = pads(&["train", "--dry-run", "--save_path", "/tmp/x", "--savename", "/tmp/elsewhere"]);
    assert!(!ok && err.contains("--savename /tmp/elsewhere"), "{err}");
    // --policy-no-self-reg: what it implies is said, and a contradiction refused.
    let (ok, out, _) = pads(&["train", "--out", "unused", "--dry-run", "--policy_no_self_reg"]);
    assert!(ok && out.contains("policy_include_pos = false  # implied by --policy-no-self-reg"), "{out}");
    let (ok, _, err) = pads(&["train", "--out", "unused", "--dry-run", "--policy_no_self_reg", "--policy_include_pos", "true"]);
    assert!(!ok && err.contains("--policy-include-pos true with --policy-no-self-reg"), "{err}");
    // PADS options with a fixed sampler are named as doing nothing.
    let (ok, _, err) = pads(&["train", "--out", "unused", "--dry-run", "--sampling", "semihard", "--policy_lr", "5"]);
    assert!(ok && err.contains("--policy-lr only act with --sampling pads"), "{err}");
    // --stop-after-epoch 0 would stop nothing: refused.
    let (ok, _, err) = pads(&["train", "--out", "unused", "--stop-after-epoch", "0"]);
    assert!(!ok && err.contains("--stop-after-epoch 0"), "{err}");
    // A dry run on a folder that holds a run says the real run would stop there.
    let run = tmp.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("config.toml"), "").unwrap();
    let (ok, out, _) = pads(&["train", "--out", run.to_str().unwrap(), "--dry-run"]);
    assert!(ok && out.contains("# note: pads train would stop here"), "{out}");
}

#[test]
fn a_sweep_plans_each_run_once_however_often_it_is_named() {
    let runs = pads::sweep::plan(
        &pads::config::RunConfig::default(),
        &[pads::options::Sampling::Pads, pads::options::Sampling::Pads, pads::options::Sampling::Distance],
        &[0, 0, 1],
        Path::new("/sweep"),
    );
    let dirs: Vec<String> = runs.iter().map(|r| r.dir.display().to_string()).collect();
    assert_eq!(dirs, ["/sweep/runs/pads_seed0", "/sweep/runs/pads_seed1", "/sweep/runs/distance_seed0", "/sweep/runs/distance_seed1"]);
    // `learned` is `pads`: one run too.
    let (ok, out, err) = pads(&["sweep", "--out", "/tmp/unused-sweep", "--samplers", "pads,learned", "--seeds", "0,0", "--dry-run"]);
    assert!(ok && out.contains("# 1 runs") && err.contains("name a run twice"), "{out}{err}");
}

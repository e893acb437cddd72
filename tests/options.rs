//! options.rs: one spelling per value (the flag's, the TOML's and the reports'), each core
//! options struct's `Default` equal to the run defaults (the original's), and option names
//! in library messages as the front end spells them.
use clap::ValueEnum;
use pads::config::RunConfig;
use pads::data::DataOptions;
use pads::loss::LossOptions;
use pads::miners::MinerOptions;
use pads::model::ModelOptions;
use pads::options::*;
use pads::policy::AgentOptions;

/// `as_str` of every value equals its clap value name and its serde (TOML/JSON) name.
fn one_spelling<T: ValueEnum + serde::Serialize + std::fmt::Display + Copy>(all: &[T], as_str: fn(T) -> &'static str) {
    assert_eq!(all.len(), T::value_variants().len(), "ALL lists every value");
    for &v in all {
        let clap_name = v.to_possible_value().unwrap().get_name().to_string();
        let serde_name = serde_json::to_value(v).unwrap().as_str().unwrap().to_string();
        assert_eq!((as_str(v), as_str(v)), (clap_name.as_str(), serde_name.as_str()));
        assert_eq!(v.to_string(), as_str(v));
    }
}

#[test]
fn every_value_has_one_spelling() {
    one_spelling(DatasetKind::ALL, DatasetKind::as_str);
    one_spelling(Arch::ALL, Arch::as_str);
    one_spelling(Amp::ALL, Amp::as_str);
    one_spelling(LossKind::ALL, LossKind::as_str);
    one_spelling(Sampling::ALL, Sampling::as_str);
    one_spelling(PolicyMode::ALL, PolicyMode::as_str);
    one_spelling(StateMetric::ALL, StateMetric::as_str);
    one_spelling(InitDistr::ALL, InitDistr::as_str);
    one_spelling(SelectOn::ALL, SelectOn::as_str);
    one_spelling(Preset::ALL, Preset::as_str);
    assert_eq!(DatasetKind::OnlineProducts.as_str(), "online_products");
}

#[test]
fn core_option_defaults_are_the_run_defaults() {
    let run = RunConfig::default();
    assert_eq!(DataOptions::default(), DataOptions::from(&run));
    assert_eq!(MinerOptions::default(), MinerOptions::from(&run));
    assert_eq!(ModelOptions::default(), ModelOptions::from(&run));
    assert_eq!(LossOptions::default(), LossOptions::from(&run));
    // The agent's k_vals default (empty) means the run default's 1, 2, 4, 8.
    let agent = AgentOptions::from(&run);
    assert_eq!(agent.k_vals, vec![1, 2, 4, 8]);
    assert_eq!(AgentOptions { k_vals: vec![1, 2, 4, 8], ..AgentOptions::default() }, agent);
    assert_eq!(AgentOptions::default().recall_ks(), vec![1, 2, 4, 8]);
    // A preset changes the structs built from it.
    let sop = RunConfig::preset(Preset::OnlineProducts);
    assert_eq!(AgentOptions::from(&sop).k_vals, vec![1, 10, 100, 1000]);
    assert_eq!(DataOptions::from(&RunConfig { sampling: Sampling::Distance, ..run.clone() }).hold_out_val, false);
}

#[test]
fn messages_spell_options_as_the_front_end_does() {
    // One test: the spelling is process-wide.
    assert_eq!(opt("policy_lr"), "--policy-lr");
    assert_eq!(spell("normalize", Some("false")), "--no-normalize");
    assert_eq!(spell("k", Some("5")), "--k 5");
    let bad = MinerOptions { policy_n_support: 2, ..MinerOptions::default() };
    let cli = format!("{:#}", bad.validate().unwrap_err());
    assert!(cli.starts_with("--policy-n-support must be from 3"), "{cli}");
    let cfg = format!("{:#}", RunConfig { policy_lr: -1.0, ..RunConfig::default() }.validate().unwrap_err());
    assert!(cfg.starts_with("--policy-lr must be a positive number, got -1"), "{cfg}");
    // A zero window would divide by zero in the state's running means: refused up front.
    let avgs = format!("{:#}", RunConfig { policy_run_avgs: vec![2, 0], ..RunConfig::default() }.validate().unwrap_err());
    assert!(avgs.starts_with("--policy-run-avgs takes windows of at least 1 policy update, got [2, 0]"), "{avgs}");
    fn keyword(field: &str, value: Option<&str>) -> String {
        match value {
            Some(v) => format!("{field}={v}"),
            None => format!("<{field}>"),
        }
    }
    set_spelling(keyword);
    let other = format!("{:#}", bad.validate().unwrap_err());
    let agent = format!("{:#}", AgentOptions { policy_size: vec![], ..AgentOptions::default() }.validate().unwrap_err());
    set_spelling(command_line_spelling);
    assert!(other.starts_with("<policy_n_support> must be from 3"), "{other}");
    assert!(agent.starts_with("<policy_size> takes one or more"), "{agent}");
    assert_eq!(opt("policy_lr"), "--policy-lr");
}

#[test]
fn stored_paths_are_absolute_without_dot_dot() {
    use pads::util::absolute_clean;
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(absolute_clean(std::path::Path::new("a/b/../data")).unwrap(), cwd.join("a/data"));
    assert_eq!(absolute_clean(std::path::Path::new("/x/./y/../z")).unwrap(), std::path::PathBuf::from("/x/z"));
    // A run folder stores its data root that way: from a folder that may later be removed.
    let cfg = pads::config::RunConfig { data_root: "some/where/../data".into(), ..pads::config::RunConfig::default() };
    assert_eq!(cfg.with_absolute_paths().unwrap().data_root, cwd.join("some/data"));
}

//! The layout of `--help` for the run options: the headings (each RunConfig field names its
//! own with `help_heading`, and its doc comment is its description), their order, and list
//! defaults written with commas as the README and the flags take them (`0.5,1,1.5`, not
//! clap's `0.5 1 1.5`). `tests/cli.rs` checks that every option of `pads train` has a
//! description and a heading.
use clap::Command;

pub const RUN: &str = "Run";
pub const DATA: &str = "Data";
pub const MODEL: &str = "Model";
pub const OPTIMISATION: &str = "Optimisation";
pub const SAMPLING: &str = "Sampling";
pub const PADS_POLICY: &str = "PADS policy (see docs/pads.md)";
pub const EVALUATION: &str = "Evaluation";

/// The order of the headings in `--help` (arguments without a heading come first).
pub const HEADING_ORDER: [&str; 7] = [RUN, DATA, MODEL, OPTIMISATION, SAMPLING, PADS_POLICY, EVALUATION];

/// Orders the headings of `cmd` as `HEADING_ORDER` when `cmd` flattens RunConfig (train,
/// sweep, data check, bench loader; other commands are returned as they are).
pub fn describe_run_options(mut cmd: Command) -> Command {
    let has = |cmd: &Command, id: &str| cmd.get_arguments().any(|a| a.get_id() == id);
    if !(has(&cmd, "policy_sample_freq") && has(&cmd, "dataset")) {
        return cmd;
    }
    // clap lists the headings in the order their first argument appears: re-append the
    // arguments heading by heading (each keeps its display order inside its heading).
    let rank = |h: Option<&str>| h.map_or(0, |h| 1 + HEADING_ORDER.iter().position(|o| *o == h).unwrap_or(HEADING_ORDER.len()));
    let mut order: Vec<(usize, usize, String)> =
        cmd.get_arguments().map(|a| (rank(a.get_help_heading()), a.get_display_order(), a.get_id().to_string())).collect();
    order.sort();
    for (_, _, id) in order {
        cmd = cmd.mut_arg(id.as_str(), |a| a);
    }
    cmd
}

/// Shows every list option's default with commas (`[default: 0.5,1,1.5]`), as it is typed,
/// in `cmd` and all its subcommands.
pub fn comma_defaults(mut cmd: Command) -> Command {
    let lists: Vec<(String, String)> = cmd
        .get_arguments()
        .filter(|a| a.get_value_delimiter() == Some(',') && a.get_default_values().len() > 1)
        .map(|a| {
            let values: Vec<String> = a.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
            (a.get_id().to_string(), values.join(","))
        })
        .collect();
    for (id, default) in lists {
        cmd = cmd.mut_arg(id.as_str(), |a| {
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            let long = a.get_long_help().map(|h| h.to_string());
            let long = long.unwrap_or_else(|| help.clone());
            a.hide_default_value(true).help(format!("{help} [default: {default}]")).long_help(format!("{long}\n\n[default: {default}]"))
        });
    }
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    for name in names {
        cmd = cmd.mut_subcommand(name.as_str(), comma_defaults);
    }
    cmd
}

/// The whole `pads` command with the run options described (train, sweep, data check,
/// bench loader) and list defaults with commas.
pub fn describe(cmd: Command) -> Command {
    fn walk(mut cmd: Command) -> Command {
        cmd = describe_run_options(cmd);
        let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
        for name in names {
            cmd = cmd.mut_subcommand(name.as_str(), walk);
        }
        cmd
    }
    comma_defaults(walk(cmd))
}

//! The clap side of RunConfig: its command alone (for callers that build configs from
//! argument lists, and the tests), and negative numbers as values.
use super::RunConfig;
use clap::{CommandFactory, Parser};

/// The clap command of RunConfig alone (`pads` with every run option), for callers that
/// build configs from argument lists.
pub fn run_config_command() -> clap::Command {
    #[derive(Parser)]
    #[command(name = "pads")]
    struct Wrap {
        #[command(flatten)]
        cfg: RunConfig,
    }
    allow_negative_numbers(Wrap::command())
}

/// Lets every (sub)command take negative numbers as values (`--lr -0.001`), so that pads'
/// own range checks answer with the option's name and range instead of clap's "unexpected
/// argument '-0'".
pub fn allow_negative_numbers(cmd: clap::Command) -> clap::Command {
    // An option typed twice takes its last value, as argparse does (the original's command
    // lines are read as they are).
    let cmd = cmd.allow_negative_numbers(true).args_override_self(true);
    let names: Vec<String> = cmd.get_subcommands().map(|c| c.get_name().to_string()).collect();
    names.into_iter().fold(cmd, |cmd, name| cmd.mut_subcommand(name, allow_negative_numbers))
}


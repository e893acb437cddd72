//! The original's command line (its main.py with `include_pads_args`) as one more spelling of
//! pads' options, so that a line of its SAMPLE_RUNS.sh runs as it is: underscores read as
//! dashes (`--policy_lr` = `--policy-lr`), its names for what pads calls otherwise
//! (`--source_path` = `--data-root`, `--gpu N` = `--device cuda:N`, `--kernels` =
//! `--num-workers`), and its options that do nothing there either accepted and dropped, with
//! one warning naming them. Values keep their spelling (`--loss marginloss` and `--sampling
//! learned` are value aliases of the options themselves).
use std::ffi::OsString;

/// An option of the original that does nothing in the original's code either: its name and
/// how many values follow it (`None`: one or more, as argparse's `nargs='+'`).
struct NoOp {
    name: &'static str,
    values: Option<usize>,
    why: &'static str,
}

/// The original's options that change nothing there, found by reading main.py and
/// PADS_utilities.py: accepted and dropped with a warning.
const NO_OPS: &[NoOp] = &[
    NoOp { name: "nu", values: Some(1), why: "a regulariser of the margin loss's beta that the margin loss never reads" },
    NoOp { name: "proxy_lr", values: Some(1), why: "the learning rate of ProxyNCA's proxies; no proxy loss runs" },
    NoOp { name: "l2npair", values: Some(1), why: "the N-pair loss's L2 weight; no N-pair loss runs" },
    NoOp { name: "no_weights", values: Some(0), why: "declared and never read" },
    NoOp { name: "policy_no_baseline", values: Some(0), why: "declared and never read" },
    NoOp { name: "policy_init_params", values: None, why: "declared and never read (the initial distributions have fixed parameters)" },
    NoOp { name: "policy_log_distr_plots", values: Some(0), why: "declared and never read" },
];

/// The original's names for options pads spells otherwise (underscored form -> pads' flag).
const RENAMED: &[(&str, &str)] = &[
    ("source_path", "--data-root"),
    ("kernels", "--num-workers"),
    ("gpu", "--device"),
];

/// The command line after translation; the original's no-op options it dropped (each as
/// typed, with its values and why it does nothing), for one warning; and what else the
/// caller must announce (a `--gpu` on a machine without CUDA).
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    pub args: Vec<OsString>,
    pub dropped: Vec<String>,
    pub notes: Vec<String>,
    /// A value the translation cannot take (`--gpu abc`): the caller stops with it.
    pub error: Option<String>,
}

/// The options of `pads train` alone (its run folder and wandb logging), dropped with a note
/// from the other commands that read the original's spelling.
const TRAIN_ONLY: &[&str] = &["save_path", "savename", "wandb_log", "wandb_project_name", "wandb_group"];

/// An option's name as the same option whatever its spelling (`--policy-lr`, `--policy_lr`;
/// `--gpu`, `--device`).
fn same_option(name: &str) -> String {
    let key = name.replace('-', "_");
    match key.as_str() {
        "gpu" => "device".into(),
        "source_path" => "data_root".into(),
        "kernels" => "num_workers".into(),
        _ => key,
    }
}

/// The part of the command line after the subcommand, before `--`, cut into options (a
/// `--name` and the values after it); tokens before the first option are positional.
fn segments(texts: &[Option<String>], start: usize, end: usize) -> Vec<(Option<String>, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut i = start;
    while i < end {
        let is_flag = |j: usize| texts[j].as_deref().is_some_and(|t| t.starts_with("--"));
        let key = is_flag(i).then(|| texts[i].as_deref().unwrap_or("")[2..].split('=').next().unwrap_or("").to_string());
        let mut j = i + 1;
        while j < end && !is_flag(j) && key.is_some() {
            j += 1;
        }
        out.push((key, i..j));
        i = j;
    }
    out
}

/// Before the spelling is translated: a leading `python` / `main.py` (a line copied whole)
/// dropped, options of `pads train` alone dropped from the other commands, and an option
/// typed twice kept once, its last value winning as argparse does; each said in `notes`.
fn tidy(args: Vec<OsString>, texts: &[Option<String>], start: usize, command: &str, notes: &mut Vec<String>) -> Vec<OsString> {
    let end = texts.iter().skip(start).position(|t| t.as_deref() == Some("--")).map_or(args.len(), |p| start + p);
    let segs = segments(texts, start, end);
    let mut last = std::collections::HashMap::new();
    for (n, (key, _)) in segs.iter().enumerate() {
        if let Some(k) = key {
            last.insert(same_option(k), n);
        }
    }
    let mut out: Vec<OsString> = args[..start].to_vec();
    let mut leading = true;
    for (n, (key, range)) in segs.iter().enumerate() {
        let text = || range.clone().filter_map(|j| texts[j].clone()).collect::<Vec<_>>().join(" ");
        match key {
            None if leading && range.clone().all(|j| matches!(texts[j].as_deref(), Some("python" | "python3" | "main.py"))) => {
                notes.push(format!("`{}` dropped: pads train takes the original's options, not its program name", text()));
                continue;
            }
            None => out.extend(range.clone().map(|j| args[j].clone())),
            Some(k) if command != "train" && TRAIN_ONLY.contains(&same_option(k).as_str()) => {
                notes.push(format!("{} ignored: pads {command} has no run folder or wandb logging (an option of pads train)", text()));
            }
            Some(k) if last[&same_option(k)] != n => {
                notes.push(format!("{} is typed again later: the last value is used, as the original's argparse does", text()));
            }
            Some(_) => out.extend(range.clone().map(|j| args[j].clone())),
        }
        leading = false;
    }
    out.extend(args[end..].iter().cloned());
    out
}

/// Subcommands whose options are a RunConfig: the ones that take the original's spelling.
pub const COMMANDS: &[&[&str]] = &[&["train"], &["data", "check"], &["sweep"]];

/// `args` (the whole command line, program name first) with the original's spelling of the
/// options of `pads train`, `pads data check` and `pads sweep` turned into pads' (module
/// doc); other commands, and everything after `--`, are left as typed. Arguments that are
/// not valid UTF-8 are kept as they are (clap reports them). `cuda_available`: whether
/// `--gpu N` can become `--device cuda:N`; without CUDA it becomes `--device cpu`, announced
/// in `notes` (the original cannot run without CUDA).
pub fn translate(args: Vec<OsString>, cuda_available: bool) -> Translated {
    let texts: Vec<Option<String>> = args.iter().map(|a| a.to_str().map(str::to_string)).collect();
    let start = COMMANDS.iter().find_map(|cmd| {
        let at = texts.iter().position(|t| t.as_deref() == Some(cmd[0]))?;
        let all = cmd.iter().enumerate().all(|(i, c)| texts.get(at + i).and_then(|t| t.as_deref()) == Some(*c));
        all.then_some(at + cmd.len())
    });
    let Some(start) = start else { return Translated { args, dropped: Vec::new(), notes: Vec::new(), error: None } };
    let command = texts[start - 1].clone().unwrap_or_default();
    let mut notes = Vec::new();
    let args = tidy(args, &texts, start, &command, &mut notes);
    let texts: Vec<Option<String>> = args.iter().map(|a| a.to_str().map(str::to_string)).collect();
    let mut out: Vec<OsString> = args[..start].to_vec();
    let mut dropped = Vec::new();
    let mut error = None;
    let mut i = start;
    while i < args.len() {
        let Some(text) = texts[i].as_deref() else {
            out.push(args[i].clone());
            i += 1;
            continue;
        };
        if text == "--" {
            out.extend(args[i..].iter().cloned());
            break;
        }
        let Some(flag) = text.strip_prefix("--") else {
            out.push(args[i].clone());
            i += 1;
            continue;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        let key = name.replace('-', "_");
        if let Some(noop) = NO_OPS.iter().find(|n| n.name == key) {
            let mut typed = vec![text.to_string()];
            i += 1;
            if inline.is_none() {
                let takes = |t: &Option<String>| t.as_deref().is_some_and(|v| !v.starts_with("--"));
                match noop.values {
                    Some(n) => {
                        for _ in 0..n {
                            if i < args.len() && takes(&texts[i]) {
                                typed.push(texts[i].clone().unwrap_or_default());
                                i += 1;
                            }
                        }
                    }
                    None => {
                        while i < args.len() && takes(&texts[i]) {
                            typed.push(texts[i].clone().unwrap_or_default());
                            i += 1;
                        }
                    }
                }
            }
            dropped.push(format!("{} ({})", typed.join(" "), noop.why));
            continue;
        }
        let renamed = RENAMED.iter().find(|(from, _)| *from == key).map(|(_, to)| *to);
        let new_name = renamed.map(str::to_string).unwrap_or_else(|| format!("--{}", name.replace('_', "-")));
        i += 1;
        if key == "gpu" {
            // `--gpu N` (the original's CUDA_VISIBLE_DEVICES index) is `--device cuda:N`.
            let value = inline.or_else(|| {
                let v = texts.get(i).cloned().flatten().filter(|v| !v.starts_with("--"));
                if v.is_some() {
                    i += 1;
                }
                v
            });
            out.push(new_name.into());
            match value {
                Some(v) if v.parse::<u32>().is_ok() && cuda_available => out.push(format!("cuda:{v}").into()),
                Some(v) if v.parse::<u32>().is_ok() => {
                    notes.push(format!("--gpu {v}: this machine has no CUDA device, so the run trains on the CPU (--device cpu)"));
                    out.push("cpu".into());
                }
                other => {
                    error = Some(format!("--gpu {}: expected a GPU index (0, 1, ...), as the original's --gpu", other.unwrap_or_default()));
                    out.push("cpu".into());
                }
            }
            continue;
        }
        // `--scheduler exp`: the original's main.py builds the step schedule for it too.
        if key == "scheduler" {
            let value = inline.clone().or_else(|| texts.get(i).cloned().flatten());
            if value.as_deref() == Some("exp") {
                notes.push("--scheduler exp: the original's main.py runs the step schedule (MultiStepLR at --tau) for it, and so does pads (--scheduler step)".to_string());
                out.push(new_name.into());
                out.push("step".into());
                i += usize::from(inline.is_none());
                continue;
            }
        }
        out.push(match inline {
            Some(v) => format!("{new_name}={v}").into(),
            None => new_name.into(),
        });
    }
    Translated { args: out, dropped, notes, error }
}

/// The no-op options' names (underscored), for tests that walk the original's argparse calls.
pub fn no_op_names() -> Vec<&'static str> {
    NO_OPS.iter().map(|n| n.name).collect()
}

/// The renamed options (original underscored name, pads flag), for the same tests and the docs.
pub fn renamed() -> &'static [(&'static str, &'static str)] {
    RENAMED
}

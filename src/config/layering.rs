//! Layering (README "Options come, in increasing priority, from ..."): defaults, then a
//! preset, then a TOML file's keys, then the flags typed; and the absolute paths a run
//! folder stores.
use super::RunConfig;
use crate::options::Preset;
use anyhow::{Context, Result};
use std::path::Path;

impl RunConfig {
    /// Builds the final config: `base` (preset or file, else defaults), then the flags the
    /// user actually typed. `matches` are the matches of a command that flattens RunConfig.
    #[cfg(feature = "cli")]
    pub fn resolve(base: RunConfig, matches: &clap::ArgMatches) -> Result<Self> {
        use clap::parser::ValueSource;
        use clap::FromArgMatches;
        let typed = RunConfig::from_arg_matches(matches)?;
        let mut table = toml::Table::try_from(&base)?;
        let typed_table = toml::Table::try_from(&typed)?;
        for id in matches.ids() {
            let key = id.as_str();
            if matches.value_source(key) == Some(ValueSource::CommandLine) {
                if let Some(v) = typed_table.get(key) {
                    table.insert(key.to_string(), v.clone());
                }
            }
        }
        let mut cfg: RunConfig = table.try_into()?;
        // Options of the margin loss typed with the triplet loss would do nothing: refused.
        // With the triplet loss only by default (the original's default, so its command lines
        // may carry them), they are accepted with a warning.
        let typed = |key: &str| matches.try_get_raw(key).is_ok() && matches.value_source(key) == Some(ValueSource::CommandLine);
        if cfg.loss == crate::options::LossKind::Triplet {
            for key in ["beta", "beta_lr", "beta_constant"].into_iter().filter(|k| typed(k)) {
                let flag = format!("--{}", key.replace('_', "-"));
                if typed("loss") {
                    anyhow::bail!("{flag} is an option of the margin loss (its learnable beta), but --loss triplet has no beta: leave {flag} out, or use --loss margin");
                }
                tracing::warn!("{flag} has no effect: the run uses the triplet loss (the default, as the original's), which has no beta; --loss margin uses it");
            }
        }
        if cfg.policy_no_self_reg {
            for key in ["policy_include_pos", "policy_include_same"] {
                if typed(key) && toml::Value::try_from(true).ok().as_ref() == typed_table.get(key) {
                    anyhow::bail!(
                        "--{} true with --policy-no-self-reg: the flag turns it off (as the original's does); give one of the two",
                        key.replace('_', "-")
                    );
                }
            }
        }
        // PADS options do nothing with a fixed sampler: said once, naming them.
        if cfg.sampling != crate::options::Sampling::Pads {
            let idle: Vec<String> = matches.ids().map(|id| id.as_str()).filter(|k| k.starts_with("policy_") && typed(k)).map(|k| format!("--{}", k.replace('_', "-"))).collect();
            if !idle.is_empty() {
                tracing::warn!("{} only act with --sampling pads; this run uses --sampling {}", idle.join(", "), cfg.sampling.as_str());
            }
        }
        cfg.record_implied();
        cfg.validate()?;
        Ok(cfg)
    }
}

impl RunConfig {
    /// Writes down what one option implies for others, so that config.toml records what
    /// runs: `policy_no_self_reg` clears include_pos and include_same (the original's rule).
    pub fn record_implied(&mut self) {
        if self.policy_no_self_reg {
            self.policy_include_pos = false;
            self.policy_include_same = false;
        }
    }

    /// The configuration before the typed flags: the defaults, then `preset`, then the keys
    /// written in `file` (each overrides the preset's value; keys not written keep it).
    /// `resolve` then applies the flags typed. Errors: an unreadable file, an unknown key or
    /// a value of the wrong type, naming the file.
    pub fn layered(preset: Option<Preset>, file: Option<&Path>) -> Result<RunConfig> {
        let base = preset.map(RunConfig::preset).unwrap_or_default();
        match file {
            Some(file) => base.overlay_toml_file(file),
            None => Ok(base),
        }
    }

    /// `self` with the keys written in the TOML file `path` replaced by the file's values.
    pub fn overlay_toml_file(&self, path: &Path) -> Result<RunConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        // Parsed alone first, so unknown keys and wrong types are reported with their name.
        let _: RunConfig = toml::from_str(&text)
            .with_context(|| format!("config file {} is not a valid pads RunConfig", path.display()))?;
        let written: toml::Table = toml::from_str(&text)
            .with_context(|| format!("config file {} is not valid TOML", path.display()))?;
        let mut table = toml::Table::try_from(self)?;
        for (key, value) in written {
            table.insert(key, value);
        }
        table
            .try_into()
            .with_context(|| format!("config file {} is not a valid pads RunConfig", path.display()))
    }

    /// The configuration with `data_root`, `test_root` and `pretrained` made absolute
    /// (against the current folder), as a run folder stores them: `pads eval`, `embed` and
    /// `--resume` then find the data from any working folder.
    pub fn with_absolute_paths(&self) -> Result<RunConfig> {
        let abs = |p: &Path| crate::util::absolute_clean(p).with_context(|| format!("cannot make {} absolute", p.display()));
        let mut c = self.clone();
        c.data_root = abs(&self.data_root)?;
        if let Some(p) = &self.test_root {
            c.test_root = Some(abs(p)?);
        }
        if let Some(p) = &self.pretrained {
            c.pretrained = Some(abs(p)?);
        }
        Ok(c)
    }
}

/// Where each option of a resolved configuration came from, for `--dry-run`: for every key
/// whose value differs from pads' default, "flag --NAME" (typed), "config file PATH" (written
/// there) or "preset NAME"; keys at their default are absent.
#[cfg(feature = "cli")]
pub fn origins(resolved: &RunConfig, preset: Option<Preset>, file: Option<&Path>, matches: &clap::ArgMatches) -> Result<std::collections::BTreeMap<String, String>> {
    use clap::parser::ValueSource;
    let table = |c: &RunConfig| toml::Table::try_from(c);
    let (now, default) = (table(resolved)?, table(&RunConfig::default())?);
    let written: toml::Table = match file {
        Some(f) => toml::from_str(&std::fs::read_to_string(f).with_context(|| format!("cannot read config file {}", f.display()))?)
            .with_context(|| format!("config file {} is not valid TOML", f.display()))?,
        None => toml::Table::new(),
    };
    let mut out = std::collections::BTreeMap::new();
    for (key, value) in &now {
        if default.get(key) == Some(value) {
            continue;
        }
        let typed = matches.try_get_raw(key).is_ok() && matches.value_source(key) == Some(ValueSource::CommandLine);
        let implied = resolved.policy_no_self_reg && (key == "policy_include_pos" || key == "policy_include_same");
        let origin = if implied {
            "implied by --policy-no-self-reg".to_string()
        } else if typed {
            format!("flag --{}", key.replace('_', "-"))
        } else if written.contains_key(key) {
            format!("config file {}", file.map(|f| f.display().to_string()).unwrap_or_default())
        } else if let Some(p) = preset {
            format!("preset {}", p.as_str())
        } else {
            "the run folder's config.toml".to_string()
        };
        out.insert(key.clone(), origin);
    }
    Ok(out)
}

/// `cfg` as the TOML a run folder's config.toml holds, each non-default value followed by a
/// comment naming where it came from (`origins`); the text parses back to `cfg`.
pub fn annotated_toml(cfg: &RunConfig, origins: &std::collections::BTreeMap<String, String>) -> Result<String> {
    let text = toml::to_string(cfg)?;
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        if let Some((key, _)) = line.split_once(" = ") {
            if let Some(origin) = origins.get(key.trim()) {
                out.push_str(&format!("  # {origin}"));
            }
        }
        out.push('\n');
    }
    Ok(out)
}

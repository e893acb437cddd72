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
        let cfg: RunConfig = table.try_into()?;
        cfg.validate()?;
        Ok(cfg)
    }
}

impl RunConfig {
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
        let abs = |p: &Path| std::path::absolute(p).with_context(|| format!("cannot make {} absolute", p.display()));
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

//! The config file: pipeline semantics (inputs, policy, column names, output).
//! Runtime knobs (threads, progress, log format) are CLI flags only.

use std::path::{Path, PathBuf};

use optgate_core::{ColumnNames, Policy, PolicyConfig};
use serde::{Deserialize, Serialize};

/// A whole config file. Unknown keys anywhere are rejected.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub inputs: InputsConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub columns: ColumnNames,
    #[serde(default)]
    pub pii: optgate_pii::ScannerConfig,
    #[serde(default)]
    pub output: OutputConfig,
    #[serde(default)]
    pub dedup: optgate_core::DedupConfig,
}

/// `[inputs]`: paths relative to the config file's directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputsConfig {
    /// Directory of posts Parquet files.
    pub posts: Option<PathBuf>,
    /// Accounts Parquet file.
    pub accounts: Option<PathBuf>,
    /// Objection registry (opt-outs) Parquet file.
    pub optouts: Option<PathBuf>,
    /// Consent registry Parquet file (consent mode).
    pub consents: Option<PathBuf>,
}

/// `[output]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// zstd level of the output part files (1–22).
    #[serde(default = "default_zstd_level")]
    pub zstd_level: i32,
}

fn default_zstd_level() -> i32 {
    3
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            zstd_level: default_zstd_level(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read config: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: invalid config: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Policy {
        path: PathBuf,
        source: optgate_core::PolicyError,
    },
    #[error("{}: pii.placeholder must contain {{}} (where the type goes), got {placeholder:?}", path.display())]
    Placeholder { path: PathBuf, placeholder: String },
    #[error("{}: output.zstd_level must be between 1 and 22, got {level}", path.display())]
    ZstdLevel { path: PathBuf, level: i32 },
    #[error("{}: {message}", path.display())]
    Dedup { path: PathBuf, message: String },
}

/// A config read from disk, its relative paths resolved, its policy validated.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub policy: Policy,
}

impl LoadedConfig {
    /// The config at `path`, or with none the default policy, column names
    /// and output settings (those of `configs/default.toml`) and no inputs,
    /// which the command line then gives.
    pub fn load_or_default(path: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
        let Some(path) = path else {
            let config = Config::default();
            let policy = Policy::resolve(&config.policy).map_err(|source| ConfigError::Policy {
                path: PathBuf::from("(default policy)"),
                source,
            })?;
            return Ok(LoadedConfig { config, policy });
        };
        LoadedConfig::load(path)
    }

    pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let policy = Policy::resolve(&config.policy).map_err(|source| ConfigError::Policy {
            path: path.to_path_buf(),
            source,
        })?;
        if !(1..=22).contains(&config.output.zstd_level) {
            return Err(ConfigError::ZstdLevel {
                path: path.to_path_buf(),
                level: config.output.zstd_level,
            });
        }
        if !config.pii.placeholder.contains("{}") {
            return Err(ConfigError::Placeholder {
                path: path.to_path_buf(),
                placeholder: config.pii.placeholder.clone(),
            });
        }
        config.dedup.check().map_err(|message| ConfigError::Dedup {
            path: path.to_path_buf(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        let resolve = |p: &mut Option<PathBuf>| {
            if let Some(p) = p
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        };
        resolve(&mut config.inputs.posts);
        resolve(&mut config.inputs.accounts);
        resolve(&mut config.inputs.optouts);
        resolve(&mut config.inputs.consents);
        Ok(LoadedConfig { config, policy })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    /// With no config, the policy is the one `configs/default.toml` spells
    /// out, so that leaving `--config` off changes nothing but the inputs.
    #[test]
    fn no_config_is_the_default_config() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let shipped = LoadedConfig::load(&root.join("configs/default.toml")).expect("default");
        let none = LoadedConfig::load_or_default(None).expect("no config");
        assert_eq!(
            format!("{:?}", none.policy),
            format!("{:?}", shipped.policy)
        );
        assert_eq!(
            format!("{:?}", none.config.columns),
            format!("{:?}", shipped.config.columns)
        );
        assert_eq!(
            format!("{:?}", none.config.pii),
            format!("{:?}", shipped.config.pii)
        );
        assert_eq!(
            none.config.output.zstd_level,
            shipped.config.output.zstd_level
        );
        assert!(none.config.inputs.posts.is_none());
    }

    #[test]
    fn shipped_configs_parse_and_resolve() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for f in [
            "configs/default.toml",
            "configs/consent.toml",
            "sample-data/config.toml",
        ] {
            let loaded = LoadedConfig::load(&root.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(loaded.policy.min_age_years >= 18, "{f}");
        }
        let consent = LoadedConfig::load(&root.join("configs/consent.toml")).expect("consent");
        assert_eq!(consent.policy.mode, optgate_core::ConsentMode::Consent);
    }

    #[test]
    fn unknown_keys_are_rejected_at_every_level() {
        for (text, key) in [
            ("colour = 1", "colour"),
            ("[policy]\nminimum_age = 16", "minimum_age"),
            ("[columns.posts]\nauthor = \"a\"", "author"),
            ("[inputs]\npost = \"x\"", "post"),
            ("[output]\nlevel = 3", "level"),
            ("[pii]\ntypes = []", "types"),
        ] {
            let err = parse(text).expect_err(text).to_string();
            assert!(
                err.contains(&format!("unknown field `{key}`")),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn wrong_types_are_rejected() {
        let err = parse("[policy]\nmin_age_years = \"18\"")
            .expect_err("string age")
            .to_string();
        assert!(err.contains("min_age_years"), "{err}");
        let err = parse("[policy]\nmode = \"opt_in\"")
            .expect_err("bad mode")
            .to_string();
        assert!(err.contains("unknown variant `opt_in`"), "{err}");
    }

    #[test]
    fn column_names_can_be_remapped() {
        let c =
            parse("[columns.posts]\nauthor_id = \"user\"\n[columns.optouts]\nuser_id = \"uid\"")
                .expect("parses");
        assert_eq!(c.columns.posts.author_id, "user");
        assert_eq!(c.columns.posts.post_id, "post_id");
        assert_eq!(c.columns.optouts.user_id, "uid");
    }
}

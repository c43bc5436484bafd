//! Layered configuration: built-in defaults, then an optional TOML file, then
//! `P06_…` environment variables (nested keys joined with `__`, e.g.
//! `P06_GATEWAY__RATE_LIMIT_PER_SECOND=50`).

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Serialize, de::DeserializeOwned};
use std::path::Path;

/// Environment variable that names a TOML configuration file.
pub const CONFIG_FILE_ENV: &str = "P06_CONFIG";

/// Loads `T` from its defaults, the TOML file (when given or named by
/// `P06_CONFIG`), then `P06_` environment variables.
pub fn load<T>(file: Option<&Path>) -> Result<T, figment::Error>
where
    T: Serialize + DeserializeOwned + Default,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    let env_file = std::env::var_os(CONFIG_FILE_ENV).map(std::path::PathBuf::from);
    if let Some(path) = file.map(Path::to_path_buf).or(env_file) {
        figment = figment.merge(Toml::file_exact(path));
    }
    figment
        .merge(Env::prefixed("P06_").split("__").ignore(&["config"]))
        .extract()
}

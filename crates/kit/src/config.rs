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
pub fn load<T>(file: Option<&Path>) -> Result<T, Box<figment::Error>>
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
        .map_err(Box::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(default)]
    struct Section {
        url: String,
        limit: u32,
    }

    impl Default for Section {
        fn default() -> Self {
            Self {
                url: "sqlite:data/x.db".into(),
                limit: 50,
            }
        }
    }

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(default)]
    struct Settings {
        token: String,
        section: Section,
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn defaults_then_file_then_environment() {
        figment::Jail::expect_with(|jail| -> figment::error::Result<()> {
            let plain: Settings = load(None).map_err(|e| *e)?;
            assert_eq!(plain, Settings::default());
            jail.create_file(
                "p06.toml",
                "token = \"from-file\"\n[section]\nlimit = 7\nurl = \"sqlite:file.db\"\n",
            )?;
            let from_file: Settings = load(Some(Path::new("p06.toml"))).map_err(|e| *e)?;
            assert_eq!(
                (from_file.token.as_str(), from_file.section.limit),
                ("from-file", 7)
            );
            jail.set_env("P06_SECTION__URL", "postgres://db/p06");
            jail.set_env("P06_TOKEN", "from-env");
            jail.set_env("P06_GATEWAY_URL", "http://elsewhere");
            let layered: Settings = load(Some(Path::new("p06.toml"))).map_err(|e| *e)?;
            assert_eq!(layered.token, "from-env");
            assert_eq!(
                layered.section,
                Section {
                    url: "postgres://db/p06".into(),
                    limit: 7
                }
            );
            jail.set_env("P06_CONFIG", "p06.toml");
            let named: Settings = load(None).map_err(|e| *e)?;
            assert_eq!(named.section.limit, 7);
            Ok(())
        });
    }
}

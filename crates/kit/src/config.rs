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

/// Deserializes a list setting from a sequence (TOML `["a", "b"]`, or
/// `P06_…=[a,b]`) or from one comma-separated string (`P06_…=a,b`); blanks
/// around items and empty items are dropped, so an empty variable, as
/// compose passes an unset one, is the empty list. Use with
/// `#[serde(deserialize_with = "p06_kit::config::list")]`.
pub fn list<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Given {
        Many(Vec<String>),
        One(String),
    }
    let items = match <Given as serde::Deserialize>::deserialize(deserializer)? {
        Given::Many(items) => items,
        Given::One(text) => text.split(',').map(str::to_string).collect(),
    };
    Ok(items
        .into_iter()
        .map(|item| item.trim().to_string())
        .filter(|item| !item.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(default)]
    struct Hosts {
        #[serde(deserialize_with = "list")]
        hosts: Vec<String>,
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn lists_from_sequences_commas_or_nothing() {
        figment::Jail::expect_with(|jail| -> figment::error::Result<()> {
            for (given, expected) in [
                ("", vec![]),
                ("a.gov.vn", vec!["a.gov.vn"]),
                ("a.gov.vn, *.gov.vn ,", vec!["a.gov.vn", "*.gov.vn"]),
                ("[a.gov.vn,\"*.gov.vn\"]", vec!["a.gov.vn", "*.gov.vn"]),
            ] {
                jail.set_env("P06_HOSTS", given);
                let loaded: Hosts = load(None).map_err(|e| *e)?;
                assert_eq!(loaded.hosts, expected, "P06_HOSTS={given:?}");
            }
            jail.create_file("p06.toml", "hosts = [\"b.gov.vn\"]\n")?;
            jail.set_env("P06_HOSTS", "[]");
            let from_file: Hosts = load(Some(Path::new("p06.toml"))).map_err(|e| *e)?;
            assert!(
                from_file.hosts.is_empty(),
                "the variable wins: {from_file:?}"
            );
            Ok(())
        });
    }

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

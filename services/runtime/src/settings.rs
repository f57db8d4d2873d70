use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use serde::de::DeserializeOwned;

/// What stops a binary at start-up. Displayed as one line that names the key.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// Checks that go beyond types (ranges, URL schemes, non-empty secrets).
pub trait Validate {
    fn validate(&self) -> Result<(), SettingsError>;
}

/// Loads a binary's settings in three layers, later ones winning: the built-in
/// `defaults` (TOML shipped in the binary), then `file` when given (it must
/// exist if named), then `HUBPULSE__SECTION__KEY` environment variables.
pub fn load_settings<T>(defaults: &str, file: Option<&Path>) -> Result<T, SettingsError>
where
    T: DeserializeOwned + Validate,
{
    load_settings_with_lists(defaults, file, &[])
}

/// As `load_settings`, with the keys (e.g. `topics.tracked`) whose
/// environment value is a comma-separated list.
pub fn load_settings_with_lists<T>(
    defaults: &str,
    file: Option<&Path>,
    list_keys: &[&str],
) -> Result<T, SettingsError>
where
    T: DeserializeOwned + Validate,
{
    load_settings_from(
        defaults,
        file,
        &EnvKeys {
            lists: list_keys,
            strings: &[],
        },
        None,
    )
}

/// How some environment values are read, beyond the default of parsing
/// numbers and booleans.
#[derive(Debug, Default, Clone, Copy)]
pub struct EnvKeys<'a> {
    /// Keys (e.g. `topics.tracked`) whose value is a comma-separated list.
    pub lists: &'a [&'a str],
    /// Keys (e.g. `admin.token`) whose value is kept exactly as written: a
    /// secret made only of digits must not become a number, which a long
    /// one would do with its digits rounded away.
    pub strings: &'a [&'a str],
}

/// The loader behind the others. `environment` stands in for the process
/// environment when given (tests: no variable of the process is touched).
pub fn load_settings_from<T>(
    defaults: &str,
    file: Option<&Path>,
    keys: &EnvKeys<'_>,
    environment: Option<HashMap<String, String>>,
) -> Result<T, SettingsError>
where
    T: DeserializeOwned + Validate,
{
    let mut builder = Config::builder().add_source(File::from_str(defaults, FileFormat::Toml));
    if let Some(path) = file {
        builder = builder.add_source(File::from(path).required(true));
    }
    let variable = |key: &str| format!("HUBPULSE__{}", key.replace('.', "__").to_uppercase());
    let raw = |name: &str| match &environment {
        Some(map) => map.get(name).cloned(),
        None => std::env::var(name).ok(),
    };
    // Read before the environment source is built, as it takes the map.
    let strings: Vec<(&str, String)> = keys
        .strings
        .iter()
        .filter_map(|key| raw(&variable(key)).map(|value| (*key, value)))
        .collect();
    let mut source = Environment::with_prefix("HUBPULSE")
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .source(environment.map(|map| map.into_iter().collect()));
    if !keys.lists.is_empty() {
        source = source.list_separator(",");
        for key in keys.lists {
            source = source.with_list_parse_key(key);
        }
    }
    builder = builder.add_source(source);
    for (key, value) in strings {
        builder = builder.set_override(key, value)?;
    }
    let settings: T = builder.build()?.try_deserialize()?;
    settings.validate()?;
    Ok(settings)
}

/// The settings file a binary was given: `--config PATH`, else the file
/// named by the environment variable `env_var` (`HUBPULSE_CONFIG`, …), else
/// none. Any other arguments are a usage error naming `program`.
pub fn config_path(program: &str, env_var: &str) -> Result<Option<PathBuf>, String> {
    config_path_from(
        program,
        std::env::var_os(env_var),
        std::env::args_os().skip(1),
    )
}

fn config_path_from(
    program: &str,
    from_env: Option<OsString>,
    mut args: impl Iterator<Item = OsString>,
) -> Result<Option<PathBuf>, String> {
    match (args.next(), args.next(), args.next()) {
        (None, _, _) => Ok(from_env.map(PathBuf::from)),
        (Some(flag), Some(path), None) if flag == "--config" => Ok(Some(PathBuf::from(path))),
        _ => Err(format!("usage: {program} [--config PATH]")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::io::Write;

    #[derive(Debug, Deserialize)]
    struct Sample {
        server: Server,
    }

    #[derive(Debug, Deserialize)]
    struct Server {
        port: u16,
        name: String,
    }

    impl Validate for Sample {
        fn validate(&self) -> Result<(), SettingsError> {
            if self.server.port == 0 {
                return Err(SettingsError::Invalid {
                    key: "server.port",
                    reason: "must not be 0".into(),
                });
            }
            Ok(())
        }
    }

    const DEFAULTS: &str = "[server]\nport = 3000\nname = \"a\"\n";

    #[test]
    fn file_overrides_defaults() {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        writeln!(file, "[server]\nport = 4000").unwrap();
        let s: Sample = load_settings(DEFAULTS, Some(file.path())).unwrap();
        assert_eq!(s.server.port, 4000);
        assert_eq!(s.server.name, "a");
    }

    #[test]
    fn a_wrong_value_names_its_key_in_one_line() {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        writeln!(file, "[server]\nport = \"eighty\"").unwrap();
        let err = load_settings::<Sample>(DEFAULTS, Some(file.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.port"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn validation_names_its_key() {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        writeln!(file, "[server]\nport = 0").unwrap();
        let err = load_settings::<Sample>(DEFAULTS, Some(file.path()))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "configuration: key `server.port`: must not be 0");
    }

    #[test]
    fn a_string_key_keeps_its_digits() {
        let digits = "12345678901234567890123456789012345678901234567890";
        let env = HashMap::from([
            ("HUBPULSE__SERVER__NAME".to_owned(), digits.to_owned()),
            ("HUBPULSE__SERVER__PORT".to_owned(), "4000".to_owned()),
        ]);
        let keys = EnvKeys {
            strings: &["server.name"],
            ..EnvKeys::default()
        };
        let s: Sample = load_settings_from(DEFAULTS, None, &keys, Some(env.clone())).unwrap();
        assert_eq!(s.server.name, digits);
        assert_eq!(s.server.port, 4000);
        // Without it the value is parsed as a number and rounded.
        let parsed: Sample =
            load_settings_from(DEFAULTS, None, &EnvKeys::default(), Some(env)).unwrap();
        assert_ne!(parsed.server.name, digits);
    }

    #[test]
    fn a_named_file_that_is_missing_stops_loading() {
        let err = load_settings::<Sample>(DEFAULTS, Some(Path::new("/nonexistent/hubpulse.toml")))
            .unwrap_err();
        assert!(err.to_string().contains("hubpulse.toml"), "{err}");
    }

    #[test]
    fn the_config_flag_wins_over_the_variable_and_nothing_else_is_accepted() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>().into_iter();
        let env = Some(OsString::from("from-env.toml"));
        assert_eq!(
            config_path_from("x", env.clone(), args(&["--config", "file.toml"])),
            Ok(Some(PathBuf::from("file.toml")))
        );
        assert_eq!(
            config_path_from("x", env.clone(), args(&[])),
            Ok(Some(PathBuf::from("from-env.toml")))
        );
        assert_eq!(config_path_from("x", None, args(&[])), Ok(None));
        for bad in [&["--config"][..], &["--config", "a", "b"], &["-c", "a"]] {
            assert_eq!(
                config_path_from("x", env.clone(), args(bad)),
                Err("usage: x [--config PATH]".to_owned())
            );
        }
    }
}

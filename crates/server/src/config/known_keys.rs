//! Which settings exist: every key of the embedded defaults. A key in the configuration file or
//! a `CONFAB__…` variable that names none of them stops the start, named, so a typo or an
//! unsupported setting is never silently ignored. (Only names are ever printed, never values:
//! some of them are secrets.)

use std::collections::BTreeSet;

use config::{Config, Source, Value, ValueKind};

use super::ConfigError;

/// Environment variables under this prefix are settings: `CONFAB__SECTION__KEY`.
pub const ENV_PREFIX: &str = "CONFAB__";

/// The dotted path of every setting (`server.port`); a list is one setting.
pub fn of(
    source: &(impl Source + Clone + Send + Sync + 'static),
) -> Result<BTreeSet<String>, ConfigError> {
    let table = Config::builder()
        .add_source(source.clone())
        .build()?
        .try_deserialize::<config::Map<String, Value>>()?;
    let mut keys = BTreeSet::new();
    collect("", table, &mut keys);
    Ok(keys)
}

/// Refuses a file that sets anything the defaults do not name.
pub fn check_file(
    known: &BTreeSet<String>,
    path: &str,
    file: &(impl Source + Clone + Send + Sync + 'static),
) -> Result<(), ConfigError> {
    let unknown: Vec<String> = of(file)?.difference(known).cloned().collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(ConfigError::Unknown(format!(
        "{path} sets {}, which match no setting",
        unknown.join(", ")
    )))
}

/// Refuses `CONFAB__…` variables that name no setting.
pub fn check_environment<'a>(
    known: &BTreeSet<String>,
    names: impl Iterator<Item = &'a String>,
) -> Result<(), ConfigError> {
    let mut unknown: Vec<&str> = names
        .filter(|name| !known.contains(&key_of_variable(name)))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort_unstable();
    Err(ConfigError::Unknown(format!(
        "the environment sets {}, which match no setting (CONFAB__SECTION__KEY, e.g. CONFAB__SERVER__PORT)",
        unknown.join(", ")
    )))
}

/// `CONFAB__SERVER__PORT` → `server.port`.
fn key_of_variable(name: &str) -> String {
    name.strip_prefix(ENV_PREFIX)
        .unwrap_or(name)
        .split("__")
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(".")
}

fn collect(prefix: &str, table: config::Map<String, Value>, keys: &mut BTreeSet<String>) {
    for (name, value) in table {
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}.{name}")
        };
        match value.kind {
            ValueKind::Table(inner) => collect(&path, inner, keys),
            _ => {
                keys.insert(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_name_dotted_keys() {
        assert_eq!(key_of_variable("CONFAB__SERVER__PORT"), "server.port");
        assert_eq!(
            key_of_variable("CONFAB__SECRETS__MASTER_KEY"),
            "secrets.master_key"
        );
    }
}

//! Named contexts (a coordinator, a token, a CA) in `~/.config/dora/config.json`, which `dora login` writes and every cluster command reads.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use eyre::{bail, eyre, WrapErr};
use hyper::Method;
use serde::{Deserialize, Serialize};

use crate::client::Client;

use super::resources::print_table;
use super::{home_dir, ok, ConfigCommand, Connection};

/// The config file: named contexts, one of them current.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<String>,
    #[serde(default)]
    contexts: BTreeMap<String, Context>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Context {
    coordinator: String,
    token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ca: Option<PathBuf>,
}

pub(super) fn config_path() -> eyre::Result<PathBuf> {
    Ok(home_dir("XDG_CONFIG_HOME", ".config")?.join("dora/config.json"))
}

pub(super) fn read_config() -> eyre::Result<Config> {
    let path = config_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).wrap_err_with(|| {
            format!(
                "{} is not a dora config file; remove it and log in again",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(e).wrap_err_with(|| format!("cannot read {}", path.display())),
    }
}

pub(super) fn write_config(config: &Config) -> eyre::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = config_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    }
    // Tokens are secrets: the file is its owner's alone, from its creation.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .wrap_err_with(|| format!("cannot write {}", path.display()))?;
    file.write_all(serde_json::to_string_pretty(config)?.as_bytes())?;
    Ok(path)
}

impl Connection {
    pub(super) fn client(&self) -> eyre::Result<Client> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let config = read_config()?;
        let context_name = self.context.clone().or(config.current.clone());
        let context = match &context_name {
            Some(name) => Some(config.contexts.get(name).cloned().ok_or_else(|| {
                eyre!(
                    "there is no context `{name}` in {}; `dora config get-contexts` lists them",
                    config_path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                )
            })?),
            None => None,
        };
        let address = self
            .coordinator
            .clone()
            .or_else(|| env("DORA_COORDINATOR"))
            .or_else(|| context.as_ref().map(|c| c.coordinator.clone()))
            .ok_or_else(|| eyre!("which coordinator? give --coordinator ADDRESS, set DORA_COORDINATOR, or log in once with `dora login ADDRESS --token TOKEN`"))?;
        let token = self
            .token
            .clone()
            .or_else(|| env("DORA_TOKEN"))
            .or_else(|| context.as_ref().map(|c| c.token.clone()))
            .ok_or_else(|| eyre!("no token: give --token, set DORA_TOKEN, or log in with `dora login ADDRESS --token TOKEN` (the first token is in the coordinator's admin.token)"))?;
        let ca = self
            .ca
            .clone()
            .or_else(|| env("DORA_CA").map(PathBuf::from))
            .or_else(|| context.as_ref().and_then(|c| c.ca.clone()));
        Client::new(&address, token, ca)
    }
}

/// `dora login ADDRESS --token T [--ca FILE] [--context NAME]`: checks the
/// token against the coordinator, then saves it as a context.
pub fn login(
    address: &str,
    token: &str,
    ca: Option<&Path>,
    name: Option<&str>,
) -> eyre::Result<ExitCode> {
    let ca = match ca {
        Some(ca) => Some(
            ca.canonicalize()
                .wrap_err_with(|| format!("cannot find the CA certificate {}", ca.display()))?,
        ),
        None => None,
    };
    let client = Client::new(address, token.to_owned(), ca.clone())?;
    let me = ok(client.call(Method::GET, "/api/v1/whoami", None)?)?;
    let user = me["user"].as_str().unwrap_or_default().to_owned();
    let name = name.unwrap_or("default");
    let path = save_context(name, address, token, ca)?;
    println!(
        "logged in to {address} as `{user}`; context `{name}` saved in {} and made current",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Saves a context and makes it current; returns the config file's path.
pub(super) fn save_context(
    name: &str,
    address: &str,
    token: &str,
    ca: Option<PathBuf>,
) -> eyre::Result<PathBuf> {
    let mut config = read_config()?;
    config.contexts.insert(
        name.to_owned(),
        Context {
            coordinator: address.to_owned(),
            token: token.to_owned(),
            ca,
        },
    );
    config.current = Some(name.to_owned());
    write_config(&config)
}

/// `dora config ...`.
pub fn config(command: &ConfigCommand) -> eyre::Result<ExitCode> {
    let mut config = read_config()?;
    match command {
        ConfigCommand::UseContext { name } => {
            if !config.contexts.contains_key(name) {
                let known: Vec<&str> = config.contexts.keys().map(String::as_str).collect();
                bail!(
                    "there is no context `{name}`; the contexts are: {}",
                    if known.is_empty() {
                        "none (`dora login` makes one)".to_owned()
                    } else {
                        known.join(", ")
                    }
                );
            }
            config.current = Some(name.clone());
            write_config(&config)?;
            println!("context `{name}` is current");
        }
        ConfigCommand::GetContexts => {
            let rows: Vec<Vec<String>> = config
                .contexts
                .iter()
                .map(|(name, context)| {
                    let current = if config.current.as_deref() == Some(name) {
                        "*"
                    } else {
                        ""
                    };
                    vec![
                        current.to_owned(),
                        name.clone(),
                        context.coordinator.clone(),
                    ]
                })
                .collect();
            print_table(&["CURRENT", "NAME", "COORDINATOR"], &rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}

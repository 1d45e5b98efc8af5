//! The commands that talk to a coordinator: `apply`, `get`, `delete`,
//! `token`, `login`, `config`, and `coordinator` itself.
//!
//! The coordinator and the token come from the flags, else from
//! `DORA_COORDINATOR`, `DORA_TOKEN` and `DORA_CA`, else from the current
//! context of the config file that `dora login` writes.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use dora_core::check::yaml_files;
use dora_core::diagnostic::{self, Diagnostic};
use dora_core::yaml::Position;
use eyre::{bail, eyre, WrapErr};
use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::client::{Answer, Client};
use crate::server::{self, ServerOptions, Tls};

/// How to reach the coordinator.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The coordinator's address (`https://host:7800`); else
    /// DORA_COORDINATOR, else the current context of `dora login`.
    #[arg(long, global = true, value_name = "ADDRESS")]
    coordinator: Option<String>,
    /// The API token; else DORA_TOKEN, else the current context.
    #[arg(long, global = true, value_name = "TOKEN")]
    token: Option<String>,
    /// The cluster's CA certificate, for https; else DORA_CA, else the
    /// current context.
    #[arg(long, global = true, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// The context of the config file to use instead of the current one.
    #[arg(long, global = true, value_name = "NAME")]
    context: Option<String>,
}

/// Where resources are, for commands that name one.
#[derive(Debug, Clone, Args)]
pub struct Place {
    /// The zone (default: `default`).
    #[arg(long, value_name = "ZONE")]
    zone: Option<String>,
    /// The workspace (default: your default workspace).
    #[arg(long, value_name = "WORKSPACE")]
    workspace: Option<String>,
}

/// `dora coordinator`'s arguments.
#[derive(Debug, Args)]
pub struct CoordinatorArgs {
    /// Where the state is kept (default: ~/.local/share/dora/coordinator).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The address to serve on.
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:7800")]
    listen: std::net::SocketAddr,
    /// The server's certificate (PEM); without it, the coordinator
    /// makes a CA and a certificate in its state folder.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP (on a loopback address; elsewhere with --insecure).
    #[arg(long)]
    no_tls: bool,
    /// Allow plain HTTP on an address other than loopback.
    #[arg(long)]
    insecure: bool,
    /// More host names or addresses the self-made certificates name;
    /// the first is where machines reach the control plane.
    #[arg(long, value_name = "NAME")]
    advertise: Vec<String>,
    /// Where machines' daemons connect (default: the --listen address,
    /// port 7447).
    #[arg(long, value_name = "ADDRESS")]
    control_listen: Option<std::net::SocketAddr>,
}

/// `dora daemon`'s arguments.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// The coordinator's address (`https://host:7800`).
    #[arg(long, value_name = "ADDRESS")]
    coordinator: String,
    /// This machine's name in the cluster.
    #[arg(long, value_name = "NAME")]
    machine: String,
    /// The zone it belongs to.
    #[arg(long, value_name = "ZONE", default_value = "default")]
    zone: String,
    /// Labels, like `rack=3,room=b`.
    #[arg(long, value_name = "K=V,...")]
    labels: Option<String>,
    /// The join token (`dora token create --join --zone ZONE`; else
    /// DORA_JOIN_TOKEN); needed the first time only.
    #[arg(long, value_name = "TOKEN")]
    join_token: Option<String>,
    /// The cluster's CA certificate, to join over https.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Where the machine's key and certificate are kept (default:
    /// ~/.local/share/dora/daemon).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Report the GPUs of this file too, marked simulated (for tests
    /// and demos): `gpus: [{uuid, productName, memoryBytes}]`.
    #[arg(long, value_name = "FILE")]
    inventory: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    Wide,
    Json,
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token for a user, or a join token for machines, and print
    /// it, once.
    Create {
        /// The user the token acts as.
        #[arg(
            long,
            value_name = "USER",
            required_unless_present = "join",
            conflicts_with = "join"
        )]
        user: Option<String>,
        /// Make a join token: it lets machines join the zone, nothing else.
        #[arg(long, requires = "zone")]
        join: bool,
        /// The zone a join token is for.
        #[arg(long, value_name = "ZONE")]
        zone: Option<String>,
        /// How long it is valid (`24h`, `30d`; at most a year; default 30
        /// days, 1 hour for a join token).
        #[arg(long, value_name = "DURATION")]
        ttl: Option<String>,
    },
    /// List the tokens (never their secrets).
    List,
    /// Revoke a token now.
    Revoke {
        /// The token's id, as `dora token list` shows it.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Make NAME the current context.
    UseContext { name: String },
    /// List the contexts.
    GetContexts,
}

/// The config file: named contexts, one of them current.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<String>,
    #[serde(default)]
    contexts: BTreeMap<String, Context>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Context {
    coordinator: String,
    token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ca: Option<PathBuf>,
}

fn home_dir(var: &str, fallback: &str) -> eyre::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(var).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").ok_or_else(|| eyre!("neither {var} nor HOME is set"))?;
    Ok(PathBuf::from(home).join(fallback))
}

fn config_path() -> eyre::Result<PathBuf> {
    Ok(home_dir("XDG_CONFIG_HOME", ".config")?.join("dora/config.json"))
}

/// The default state folder of `dora coordinator`.
fn default_state_dir() -> eyre::Result<PathBuf> {
    Ok(home_dir("XDG_DATA_HOME", ".local/share")?.join("dora/coordinator"))
}

fn read_config() -> eyre::Result<Config> {
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

fn write_config(config: &Config) -> eyre::Result<PathBuf> {
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
    fn client(&self) -> eyre::Result<Client> {
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

/// The error an answer carries, as a report: the API's message and hint.
fn api_error(answer: &Answer) -> eyre::Report {
    let message = answer.body["message"]
        .as_str()
        .unwrap_or("the coordinator refused the request");
    match answer.body["hint"].as_str() {
        Some(hint) => eyre!("{message} ({}); {hint}", answer.status),
        None => eyre!("{message} ({})", answer.status),
    }
}

fn ok(answer: Answer) -> eyre::Result<Json> {
    if answer.status.is_success() {
        Ok(answer.body)
    } else {
        Err(api_error(&answer))
    }
}

fn query(place: &Place, extra: &[(&str, &str)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (key, value) in [("zone", &place.zone), ("workspace", &place.workspace)] {
        if let Some(value) = value {
            parts.push(format!("{key}={}", encode(value)));
        }
    }
    parts.extend(extra.iter().map(|(k, v)| format!("{k}={}", encode(v))));
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Percent-encodes what is not safe in a URL's query or path.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// Where daemons reach the coordinator's control plane by default.
const DEFAULT_CONTROL_PORT: u16 = 7447;

/// `dora coordinator`.
pub fn coordinator(args: CoordinatorArgs) -> eyre::Result<ExitCode> {
    let CoordinatorArgs {
        state_dir,
        listen,
        tls_cert,
        tls_key,
        no_tls,
        insecure,
        advertise,
        control_listen,
    } = args;
    let tls = match (tls_cert, tls_key, no_tls) {
        (Some(cert), Some(key), false) => Tls::Given { cert, key },
        (None, None, false) => Tls::SelfMade,
        (None, None, true) => Tls::Off,
        (Some(_), None, _) | (None, Some(_), _) => {
            bail!("give both --tls-cert and --tls-key, or neither")
        }
        (Some(_), Some(_), true) => {
            bail!("--no-tls turns TLS off; drop it, or drop --tls-cert and --tls-key")
        }
    };
    let state_dir = match state_dir {
        Some(dir) => dir,
        None => default_state_dir()?,
    };
    server::serve(ServerOptions {
        state_dir,
        listen,
        tls,
        insecure,
        advertise,
        control_listen: control_listen
            .unwrap_or_else(|| SocketAddr::new(listen.ip(), DEFAULT_CONTROL_PORT)),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `dora daemon`.
pub fn daemon(args: DaemonArgs) -> eyre::Result<ExitCode> {
    let DaemonArgs {
        coordinator,
        machine,
        zone,
        labels,
        join_token,
        ca,
        state_dir,
        inventory,
    } = args;
    let labels = labels.as_deref();
    let mut parsed = BTreeMap::new();
    for pair in labels
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.is_empty())
    {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("the label `{pair}` has no `=`; write labels like `rack=3,room=b`");
        };
        parsed.insert(key.trim().to_owned(), value.trim().to_owned());
    }
    let state_dir = match state_dir {
        Some(dir) => dir,
        None => home_dir("XDG_DATA_HOME", ".local/share")?.join("dora/daemon"),
    };
    crate::daemon::run(crate::daemon::DaemonOptions {
        coordinator,
        machine,
        zone,
        labels: parsed,
        join_token: join_token.or_else(|| {
            std::env::var("DORA_JOIN_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
        }),
        ca,
        state_dir,
        inventory,
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `dora apply -f FILE|DIR...`: each file in one request, stored whole or
/// not at all.
pub fn apply(connection: &Connection, place: &Place, paths: &[PathBuf]) -> eyre::Result<ExitCode> {
    let client = connection.client()?;
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let found = yaml_files(path)
                .wrap_err_with(|| format!("cannot read the folder {}", path.display()))?;
            if found.is_empty() {
                bail!("the folder {} holds no .yml or .yaml file", path.display());
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    let mut all_ok = true;
    for file in &files {
        let text = std::fs::read_to_string(file)
            .wrap_err_with(|| format!("cannot read {}", file.display()))?;
        let answer = client.call(
            Method::POST,
            &format!("/api/v1/apply{}", query(place, &[])),
            Some(("application/yaml", text.clone().into_bytes())),
        )?;
        let shown = file.display().to_string();
        if answer.status == StatusCode::UNPROCESSABLE_ENTITY {
            super::print_rendered(&diagnostic::render(
                &shown,
                &text,
                &diagnostics(&answer.body),
                true,
            ));
            eprintln!("{shown}: nothing was applied");
            all_ok = false;
            continue;
        }
        let body = ok(answer)?;
        let warnings = diagnostics(&serde_json::json!({ "diagnostics": body["warnings"] }));
        super::print_rendered(&diagnostic::render(&shown, &text, &warnings, true));
        for applied in body["applied"].as_array().into_iter().flatten() {
            let kind = applied["kind"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let name = applied["name"].as_str().unwrap_or_default();
            let outcome = applied["outcome"].as_str().unwrap_or_default();
            println!("{kind}/{name} {outcome}");
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The diagnostics of an answer, with their positions in what was sent.
fn diagnostics(body: &Json) -> Vec<Diagnostic> {
    body["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let position = match (d["line"].as_u64(), d["column"].as_u64()) {
                (Some(line), Some(column)) => Some(Position {
                    line: line as usize,
                    column: column as usize,
                }),
                _ => None,
            };
            let message = d["message"].as_str().unwrap_or_default();
            let diagnostic = if d["severity"] == "warning" {
                Diagnostic::warning(position, message)
            } else {
                Diagnostic::error(position, message)
            };
            match d["hint"].as_str() {
                Some(hint) => diagnostic.with_hint(hint),
                None => diagnostic,
            }
        })
        .collect()
}

/// `dora get KIND [NAME]`.
pub fn get(
    connection: &Connection,
    place: &Place,
    kind: &str,
    name: Option<&str>,
    output: Option<Output>,
    watch: bool,
) -> eyre::Result<ExitCode> {
    let client = connection.client()?;
    let kind_path = encode(kind);
    if let Some(name) = name {
        let body = ok(client.call(
            Method::GET,
            &format!(
                "/api/v1/resources/{kind_path}/{}{}",
                encode(name),
                query(place, &[])
            ),
            None,
        )?)?;
        print_objects(&[body], output, false);
        return Ok(ExitCode::SUCCESS);
    }
    if watch {
        let mut header = true;
        let mut failure = None;
        client.stream(
            &format!(
                "/api/v1/resources/{kind_path}{}",
                query(place, &[("watch", "1")])
            ),
            |status, line| {
                let Ok(value) = serde_json::from_slice::<Json>(line) else {
                    failure = Some(eyre!("the coordinator sent a line that is not JSON"));
                    return false;
                };
                if !status.is_success() {
                    failure = Some(api_error(&Answer {
                        status,
                        body: value,
                    }));
                    return false;
                }
                if value["type"] == "ERROR" {
                    failure = Some(eyre!(
                        "{}",
                        value["message"].as_str().unwrap_or("the watch ended")
                    ));
                    return false;
                }
                print_change(&value, output, header);
                header = false;
                let _ = std::io::stdout().flush();
                true
            },
        )?;
        return match failure {
            Some(error) => Err(error),
            None => Ok(ExitCode::SUCCESS),
        };
    }
    let body = ok(client.call(
        Method::GET,
        &format!("/api/v1/resources/{kind_path}{}", query(place, &[])),
        None,
    )?)?;
    let items = body["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() && output.is_none() {
        eprintln!("no {kind} found");
    }
    print_objects(&items, output, true);
    Ok(ExitCode::SUCCESS)
}

/// The table row of a resource: name, zone, workspace (or a machine's
/// state, CPUs and GPUs), version, age.
fn row(object: &Json) -> Vec<String> {
    let metadata = &object["metadata"];
    let status = &object["status"];
    let text = |v: &Json| v.as_str().unwrap_or("-").to_owned();
    let age = status["createdAt"]
        .as_u64()
        .map_or("-".to_owned(), server::age);
    if object["kind"] == "Node" {
        let inventory = &status["inventory"];
        let gpus = inventory["gpus"].as_array().cloned().unwrap_or_default();
        let simulated = gpus.iter().filter(|g| g["simulated"] == true).count();
        let gpus = match simulated {
            0 => gpus.len().to_string(),
            n => format!("{} ({n} simulated)", gpus.len()),
        };
        return vec![
            text(&metadata["name"]),
            text(&metadata["zone"]),
            text(&status["state"]),
            inventory["cpus"]
                .as_u64()
                .map_or("-".to_owned(), |c| c.to_string()),
            gpus,
            text(&metadata["resourceVersion"]),
            age,
        ];
    }
    vec![
        text(&metadata["name"]),
        text(&metadata["zone"]),
        text(&metadata["workspace"]),
        text(&metadata["resourceVersion"]),
        age,
    ]
}

fn headers(object: Option<&Json>) -> Vec<&'static str> {
    if object.is_some_and(|o| o["kind"] == "Node") {
        vec!["NAME", "ZONE", "STATE", "CPUS", "GPUS", "VERSION", "AGE"]
    } else {
        vec!["NAME", "ZONE", "WORKSPACE", "VERSION", "AGE"]
    }
}

fn print_objects(objects: &[Json], output: Option<Output>, list: bool) {
    match output {
        Some(Output::Json) => {
            let value = if list {
                Json::Array(objects.to_vec())
            } else {
                objects[0].clone()
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
        }
        Some(Output::Yaml) => {
            for object in objects {
                print!("---\n{}", to_yaml(object));
            }
        }
        Some(Output::Wide) | None => {
            let wide = matches!(output, Some(Output::Wide));
            let rows: Vec<Vec<String>> = objects
                .iter()
                .map(|o| {
                    let mut row = row(o);
                    if wide {
                        row.push(o["spec"].to_string());
                    }
                    row
                })
                .collect();
            let mut headers = headers(objects.first());
            if wide {
                headers.push("SPEC");
            }
            print_table(&headers, &rows);
        }
    }
}

fn print_change(change: &Json, output: Option<Output>, header: bool) {
    let object = &change["object"];
    match output {
        Some(Output::Json) => println!("{change}"),
        Some(Output::Yaml) => print!("---\n{}", to_yaml(change)),
        _ => {
            let mut cells = vec![change["type"].as_str().unwrap_or("?").to_owned()];
            cells.extend(row(object));
            let widths = [8, 24, 10, 12, 8, 8, 8, 5];
            if header {
                let mut columns = vec!["EVENT"];
                columns.extend(headers(Some(object)));
                println!(
                    "{}",
                    pad(
                        &columns.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
                        &widths
                    )
                );
            }
            println!("{}", pad(&cells, &widths));
        }
    }
}

fn pad(cells: &[String], widths: &[usize]) -> String {
    cells
        .iter()
        .zip(widths)
        .map(|(c, w)| format!("{c:<w$}"))
        .collect::<Vec<_>>()
        .join("   ")
        .trim_end()
        .to_owned()
}

fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    println!("{}", pad(&header, &widths));
    for row in rows {
        println!("{}", pad(row, &widths));
    }
}

/// A JSON value as YAML, as `dora get -o yaml` prints it.
fn to_yaml(value: &Json) -> String {
    fn convert(value: &Json) -> yaml_rust2::Yaml {
        use yaml_rust2::Yaml;
        match value {
            Json::Null => Yaml::Null,
            Json::Bool(b) => Yaml::Boolean(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Yaml::Integer(i),
                None => Yaml::Real(n.to_string()),
            },
            Json::String(s) => Yaml::String(s.clone()),
            Json::Array(items) => Yaml::Array(items.iter().map(convert).collect()),
            Json::Object(map) => Yaml::Hash(
                map.iter()
                    .map(|(k, v)| (Yaml::String(k.clone()), convert(v)))
                    .collect(),
            ),
        }
    }
    let mut out = String::new();
    let mut emitter = yaml_rust2::YamlEmitter::new(&mut out);
    if emitter.dump(&convert(value)).is_err() {
        return format!("{value}\n");
    }
    // The emitter starts documents with `---`, which the caller writes.
    let body = out.strip_prefix("---\n").unwrap_or(&out).to_owned();
    body + "\n"
}

/// `dora delete KIND NAME` or `dora delete -f FILE`.
pub fn delete(
    connection: &Connection,
    place: &Place,
    kind: Option<&str>,
    name: Option<&str>,
    files: &[PathBuf],
) -> eyre::Result<ExitCode> {
    let client = connection.client()?;
    let mut targets: Vec<(String, String, Place)> = Vec::new();
    match (kind, name, files.is_empty()) {
        (Some(kind), Some(name), true) => {
            targets.push((kind.to_owned(), name.to_owned(), place.clone()))
        }
        (None, None, false) => {
            for file in files {
                let checked = dora_core::check::check_file(file);
                if !checked.is_valid() {
                    super::print_rendered(&checked.render(true));
                    bail!("{} is not valid; nothing was deleted", file.display());
                }
                let dora_core::check::Content::Resources(resources) = checked.content else {
                    bail!("{} holds a dataflow, not cluster resources", file.display());
                };
                for resource in resources {
                    let metadata = resource.metadata;
                    targets.push((
                        resource.kind.to_string(),
                        metadata.name,
                        Place {
                            zone: metadata.zone.or(place.zone.clone()),
                            workspace: metadata.workspace.or(place.workspace.clone()),
                        },
                    ));
                }
            }
        }
        _ => bail!("name what to delete: `dora delete KIND NAME`, or `dora delete -f FILE`"),
    }
    let mut all_ok = true;
    for (kind, name, place) in &targets {
        let answer = client.call(
            Method::DELETE,
            &format!(
                "/api/v1/resources/{}/{}{}",
                encode(kind),
                encode(name),
                query(place, &[])
            ),
            None,
        )?;
        if answer.status.is_success() {
            println!("{}/{name} deleted", kind.to_ascii_lowercase());
        } else {
            super::print_error(&api_error(&answer));
            all_ok = false;
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `dora token ...`.
pub fn token(connection: &Connection, command: &TokenCommand) -> eyre::Result<ExitCode> {
    let client = connection.client()?;
    match command {
        TokenCommand::Create {
            user,
            join,
            zone,
            ttl,
        } => {
            let mut request = serde_json::json!({ "ttl": ttl });
            if *join {
                request["join_zone"] = serde_json::json!(zone);
            } else {
                request["user"] = serde_json::json!(user);
            }
            let body = ok(client.call(
                Method::POST,
                "/api/v1/tokens",
                Some(("application/json", request.to_string().into_bytes())),
            )?)?;
            let what = match zone {
                Some(zone) if *join => format!("join token for zone `{zone}`"),
                _ => format!("token for user `{}`", user.as_deref().unwrap_or_default()),
            };
            eprintln!(
                "{what} ({}), valid until {}; it is shown only now:",
                body["id"].as_str().unwrap_or_default(),
                body["expires"]
                    .as_u64()
                    .map_or("-".to_owned(), |t| format!("{t} (Unix time)"))
            );
            println!("{}", body["token"].as_str().unwrap_or_default());
        }
        TokenCommand::List => {
            let body = ok(client.call(Method::GET, "/api/v1/tokens", None)?)?;
            let rows: Vec<Vec<String>> = body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let expires = t["expires"].as_u64().unwrap_or(0);
                    let state = if t["revoked"] == true {
                        "revoked".to_owned()
                    } else if expires <= now() {
                        "expired".to_owned()
                    } else {
                        "valid".to_owned()
                    };
                    vec![
                        t["id"].as_str().unwrap_or_default().to_owned(),
                        t["user"].as_str().unwrap_or_default().to_owned(),
                        state,
                        t["created"].as_u64().map_or("-".to_owned(), server::age),
                    ]
                })
                .collect();
            print_table(&["ID", "USER", "STATE", "AGE"], &rows);
        }
        TokenCommand::Revoke { id } => {
            ok(client.call(
                Method::DELETE,
                &format!("/api/v1/tokens/{}", encode(id)),
                None,
            )?)?;
            println!("token {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
    let mut config = read_config()?;
    let name = name.map_or_else(|| "default".to_owned(), str::to_owned);
    config.contexts.insert(
        name.clone(),
        Context {
            coordinator: address.to_owned(),
            token: token.to_owned(),
            ca,
        },
    );
    config.current = Some(name.clone());
    let path = write_config(&config)?;
    println!(
        "logged in to {address} as `{user}`; context `{name}` saved in {} and made current",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
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

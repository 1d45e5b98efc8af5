//! The commands that talk to a coordinator: `apply`, `get`, `delete`,
//! `token`, `login`, `config`, and `coordinator` itself.
//!
//! The coordinator and the token come from the flags, else from
//! `DORA_COORDINATOR`, `DORA_TOKEN` and `DORA_CA`, else from the current
//! context of the config file that `dora login` writes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use eyre::{bail, eyre};
use serde_json::Value as Json;

use crate::client::Answer;
use crate::server::{self, ServerOptions, Tls};

mod context;
mod dataflow;
mod exec;
mod resources;
mod token;
mod up;
mod workload;

pub use context::{config, login};
pub use dataflow::{list, logs, start, stop};
pub use exec::{container_node, exec};
pub use resources::{apply, delete, describe, get};
pub use token::token;
pub use up::{down, up, DownArgs, UpArgs};
pub use workload::logs as workload_logs;

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
    /// The SMTP server that mail to workload owners goes through
    /// (`smtp://HOST:PORT`, plain SMTP to a relay).
    #[arg(long, value_name = "URL")]
    smtp: Option<String>,
    /// The sender of that mail.
    #[arg(long, value_name = "ADDRESS", default_value = "dora@localhost")]
    smtp_from: String,
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
    /// Also present N simulated machines `NAME-sim-0`..., on this
    /// daemon's connection (for benchmarks of the coordinator).
    #[arg(long, value_name = "N", default_value_t = 0, hide = true)]
    simulate: usize,
    /// The address other machines reach this machine's nodes on, for
    /// dataflows spread over machines (default: this machine's address
    /// on the route to the coordinator).
    #[arg(long, value_name = "IP")]
    node_address: Option<String>,
    /// The ports this machine's nodes may listen on for nodes of other
    /// machines; the coordinator gives each node one.
    #[arg(long, value_name = "FIRST-LAST", default_value = "42000-42999")]
    node_ports: String,
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

pub(super) fn home_dir(var: &str, fallback: &str) -> eyre::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(var).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").ok_or_else(|| eyre!("neither {var} nor HOME is set"))?;
    Ok(PathBuf::from(home).join(fallback))
}

/// The default state folder of `dora coordinator`.
pub(super) fn default_state_dir() -> eyre::Result<PathBuf> {
    Ok(home_dir("XDG_DATA_HOME", ".local/share")?.join("dora/coordinator"))
}

/// The error an answer carries, as a report: the API's message and hint.
pub(super) fn api_error(answer: &Answer) -> eyre::Report {
    let message = answer.body["message"]
        .as_str()
        .unwrap_or("the coordinator refused the request");
    match answer.body["hint"].as_str() {
        Some(hint) => eyre!("{message} ({}); {hint}", answer.status),
        None => eyre!("{message} ({})", answer.status),
    }
}

pub(super) fn ok(answer: Answer) -> eyre::Result<Json> {
    if answer.status.is_success() {
        Ok(answer.body)
    } else {
        Err(api_error(&answer))
    }
}

/// Prints a log the coordinator streams as JSON lines (`text`, and
/// `stderr` for what goes to stderr), each after `prefix` of its line.
pub(super) fn print_log(
    client: &crate::client::Client,
    path: &str,
    prefix: impl Fn(&Json) -> String,
) -> eyre::Result<()> {
    let mut failure = None;
    client.stream(path, |status, bytes| {
        let Ok(line) = serde_json::from_slice::<Json>(bytes) else {
            failure = Some(eyre!("the coordinator sent a line that is not JSON"));
            return false;
        };
        if !status.is_success() {
            failure = Some(api_error(&Answer { status, body: line }));
            return false;
        }
        let out = format!(
            "{}{}\n",
            prefix(&line),
            line["text"].as_str().unwrap_or_default()
        );
        let written = if line["stderr"] == true {
            std::io::Write::write_all(&mut std::io::stderr(), out.as_bytes())
        } else {
            std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes())
        };
        written.is_ok()
    })?;
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

pub(super) fn query(place: &Place, extra: &[(&str, &str)]) -> String {
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
pub(super) fn encode(text: &str) -> String {
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
pub(super) const DEFAULT_CONTROL_PORT: u16 = 7447;

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
        smtp,
        smtp_from,
    } = args;
    let smtp = smtp
        .map(|url| server::Smtp::parse(&url, &smtp_from))
        .transpose()
        .map_err(|e| eyre!("--smtp: {e}"))?;
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
        smtp,
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
        simulate,
        node_address,
        node_ports,
    } = args;
    let node_ports = match node_ports
        .split_once('-')
        .map(|(a, b)| (a.trim().parse::<u16>(), b.trim().parse::<u16>()))
    {
        Some((Ok(first), Ok(last))) if first > 0 && first <= last => (first, last),
        _ => bail!("--node-ports {node_ports} is not a range of ports; write it like 42000-42999"),
    };
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
        simulate,
        node_address,
        node_ports,
    })?;
    Ok(ExitCode::SUCCESS)
}

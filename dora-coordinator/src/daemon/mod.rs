//! `dora daemon`: one per machine. On its first start it joins the
//! cluster with a join token: it makes the machine's key (which never
//! leaves the machine), has the coordinator sign its certificate, and
//! reports the machine's inventory. Then, and on every later start, it
//! connects to the coordinator's control plane over zenoh (mutual TLS),
//! holds the machine's presence there while it runs, and carries out the
//! coordinator's commands: it runs dataflows (see [`runs`]) and workload
//! containers (see [`containers`]; `dora logs` and `dora exec` of them in
//! [`output`] and [`exec`]).

mod containers;
mod exec;
pub mod inventory;
mod output;
mod runs;
mod simulated;

pub use runs::DEFAULT_GRACE;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dora_core::protocol::cluster::{
    self, Command, CommandAnswer, Inventory, JoinAnswer, JoinRequest,
};
use eyre::{bail, eyre, WrapErr};
use hyper::Method;
use rcgen::{CertificateParams, DnType, KeyPair};
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::server::{shutdown, write_new};

/// What `dora daemon` was asked.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The coordinator's API address, for joining.
    pub coordinator: String,
    pub machine: String,
    pub zone: String,
    pub labels: BTreeMap<String, String>,
    /// Needed to join; not after.
    pub join_token: Option<String>,
    /// The cluster's CA certificate, to join over https.
    pub ca: Option<PathBuf>,
    pub state_dir: PathBuf,
    /// Simulated GPUs to report beside the real ones.
    pub inventory: Option<PathBuf>,
    /// Simulated machines to present beside this one (benchmarks).
    pub simulate: usize,
    /// Where other machines reach this machine's nodes; found from the
    /// route to the coordinator when not given.
    pub node_address: Option<String>,
    /// The first and last port nodes may listen on.
    pub node_ports: (u16, u16),
}

/// What a daemon keeps of its joining, in `joined.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Joined {
    machine: String,
    zone: String,
    endpoints: Vec<String>,
}

/// How long the daemon waits between attempts to reach the control plane.
const RETRY: Duration = Duration::from_secs(1);

/// Runs the daemon until SIGINT or SIGTERM.
pub fn run(options: DaemonOptions) -> eyre::Result<()> {
    std::fs::create_dir_all(&options.state_dir).wrap_err_with(|| {
        format!(
            "cannot create the state folder {}",
            options.state_dir.display()
        )
    })?;
    let mut inventory = inventory::collect(&inventory::Nvml, options.inventory.as_deref())?;
    let address = match &options.node_address {
        Some(address) => address.clone(),
        None => address_towards(&options.coordinator)?,
    };
    inventory.links = Some(cluster::NodeLinks {
        address,
        first_port: options.node_ports.0,
        last_port: options.node_ports.1,
    });
    let joined = join_once(&options, &inventory)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .wrap_err("cannot start the daemon's runtime")?;
    runtime.block_on(serve(&options, &joined, inventory))
}

/// This machine's address on the route to the coordinator at `url`
/// (`https://host:port`): where other machines of the cluster reach it.
/// Nothing is sent.
fn address_towards(url: &str) -> eyre::Result<String> {
    let authority = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    let target = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:443")
    };
    let socket = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| socket.connect(&target).map(|()| socket))
        .and_then(|socket| socket.local_addr())
        .wrap_err_with(|| {
            format!("cannot find this machine's address towards the coordinator ({target}); give it with --node-address")
        })?;
    Ok(socket.ip().to_string())
}

fn joined_file(dir: &Path) -> PathBuf {
    dir.join("joined.json")
}

/// Joins unless this machine already has (with this name and zone).
fn join_once(options: &DaemonOptions, inventory: &Inventory) -> eyre::Result<Joined> {
    let file = joined_file(&options.state_dir);
    if let Ok(text) = std::fs::read_to_string(&file) {
        let joined: Joined = serde_json::from_str(&text).wrap_err_with(|| {
            format!(
                "{} is damaged; remove the daemon's state folder and join again",
                file.display()
            )
        })?;
        if joined.machine == options.machine && joined.zone == options.zone {
            return Ok(joined);
        }
        bail!(
            "{} holds machine `{}` of zone `{}`; use another --state-dir for `{}` of zone `{}`",
            options.state_dir.display(),
            joined.machine,
            joined.zone,
            options.machine,
            options.zone
        );
    }
    let Some(token) = options.join_token.clone() else {
        bail!("this machine has not joined yet: give --join-token (an administrator makes one with `dora token create --join --zone {}`)", options.zone);
    };
    let key = KeyPair::generate().wrap_err("cannot make the machine's key")?;
    let mut params = CertificateParams::new(vec![options.machine.clone()])
        .wrap_err("the machine's name cannot be in a certificate")?;
    params
        .distinguished_name
        .push(DnType::CommonName, options.machine.as_str());
    let csr = params
        .serialize_request(&key)
        .and_then(|r| r.pem())
        .wrap_err("cannot make the certificate signing request")?;
    let request = JoinRequest {
        version: cluster::VERSION,
        machine: options.machine.clone(),
        zone: options.zone.clone(),
        labels: options.labels.clone(),
        csr,
        inventory: inventory.clone(),
    };
    let client = Client::new(&options.coordinator, token, options.ca.clone())?;
    let answer = client.call(
        Method::POST,
        "/api/v1/join",
        Some(("application/json", serde_json::to_vec(&request)?)),
    )?;
    if !answer.status.is_success() {
        let message = answer.body["message"]
            .as_str()
            .unwrap_or("the coordinator refused");
        let hint = answer.body["hint"].as_str().unwrap_or_default();
        bail!("cannot join: {message}; {hint}");
    }
    let answer: JoinAnswer = serde_json::from_value(answer.body)
        .wrap_err("the coordinator's answer to joining is not one this daemon understands")?;
    let dir = &options.state_dir;
    write_new(
        &dir.join("machine.key"),
        key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_new(
        &dir.join("machine.pem"),
        answer.certificate.as_bytes(),
        0o644,
    )?;
    write_new(&dir.join("ca.pem"), answer.ca.as_bytes(), 0o644)?;
    let joined = Joined {
        machine: options.machine.clone(),
        zone: options.zone.clone(),
        endpoints: answer.endpoints,
    };
    // Written last: a join cut short is made again.
    write_new(
        &file,
        serde_json::to_string_pretty(&joined)?.as_bytes(),
        0o644,
    )?;
    eprintln!(
        "machine `{}` joined zone `{}`",
        options.machine, options.zone
    );
    Ok(joined)
}

async fn serve(options: &DaemonOptions, joined: &Joined, inventory: Inventory) -> eyre::Result<()> {
    let dir = &options.state_dir;
    let secure = joined.endpoints.iter().all(|e| e.starts_with("tls/"));
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("machine.pem"),
        dir.join("machine.key"),
    );
    let config = crate::control::config(
        false,
        &[],
        &joined.endpoints,
        secure.then(|| crate::control::LinkTls {
            ca: &ca,
            cert: &cert,
            key: &key,
            verify_name: true,
        }),
    )?;
    let endpoints = joined.endpoints.join(", ");
    let mut said = false;
    let session = loop {
        match zenoh::open(config.clone()).await {
            Ok(session) => break session,
            Err(error) => {
                if !said {
                    eprintln!("cannot reach the coordinator's control plane at {endpoints} ({error}); trying again every {}s", RETRY.as_secs());
                    said = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = shutdown() => return Ok(()),
                }
            }
        }
    };
    // Commands are taken before the machine is announced: the
    // coordinator asks what runs here as soon as it sees the machine.
    // Nodes start in their dataflow's folder: their files by whole path.
    let node_tls = match (secure, dir.canonicalize()) {
        (true, Ok(dir)) => Some(dora_core::config::TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("machine.pem"),
            key: dir.join("machine.key"),
        }),
        _ => None,
    };
    let runs = runs::Runs::new(
        session.clone(),
        &joined.zone,
        &joined.machine,
        inventory,
        node_tls,
    );
    let containers =
        containers::Containers::new(session.clone(), &joined.zone, &joined.machine, dir);
    let commands = session
        .declare_queryable(cluster::command_key(&joined.zone, &joined.machine))
        .await
        .map_err(|e| eyre!("cannot take commands: {e}"))?;
    containers.adopt().await;
    let presence = session
        .liveliness()
        .declare_token(cluster::presence_key(&joined.zone, &joined.machine))
        .await
        .map_err(|e| eyre!("cannot announce the machine: {e}"))?;
    let simulated =
        simulated::present(&session, &joined.zone, &joined.machine, options.simulate).await?;
    eprintln!(
        "machine `{}` of zone `{}` connected to the control plane at {endpoints}",
        joined.machine, joined.zone
    );
    let stop = shutdown();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            query = commands.recv_async() => {
                let Ok(query) = query else { break };
                let (runs, containers) = (runs.clone(), containers.clone());
                // Each command on a task of its own: deleting a container
                // waits out its grace period.
                tokio::spawn(async move {
                    let answer = match query.payload().map(|p| serde_json::from_slice::<Command>(&p.to_bytes())) {
                        Some(Ok(command)) if containers::Containers::takes(&command) => {
                            containers.handle(command).await
                        }
                        Some(Ok(command)) => {
                            tokio::task::spawn_blocking(move || runs.handle(command))
                                .await
                                .unwrap_or_else(|e| CommandAnswer::Refused { reason: e.to_string() })
                        }
                        Some(Err(error)) => CommandAnswer::Refused {
                            reason: format!("a command this daemon does not understand ({error}); run the same dora version on the machine and the coordinator"),
                        },
                        None => CommandAnswer::Refused { reason: "a command without a payload".to_owned() },
                    };
                    let payload = match serde_json::to_vec(&answer) {
                        Ok(payload) => payload,
                        Err(error) => {
                            eprintln!("cannot answer the coordinator: {error}");
                            return;
                        }
                    };
                    if let Err(error) = query.reply(query.key_expr().clone(), payload).await {
                        eprintln!("cannot answer the coordinator: {error}");
                    }
                });
            }
            _ = &mut stop => break,
        }
    }
    drop(commands);
    // Every dataflow is stopped the orderly way, its summary sent, before
    // the machine leaves. Containers go on running, to be adopted by the
    // daemon's next start.
    let stopping = runs.clone();
    tokio::task::spawn_blocking(move || {
        stopping.stop_all(runs::DEFAULT_GRACE + Duration::from_secs(5))
    })
    .await
    .map_err(|e| eyre!(e))?;
    drop(simulated);
    drop(presence);
    session
        .close()
        .await
        .map_err(|e| eyre!("cannot close the control plane's session: {e}"))?;
    eprintln!("daemon stopped");
    Ok(())
}

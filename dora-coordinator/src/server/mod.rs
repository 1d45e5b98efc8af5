//! `dora coordinator`: the long-running server that keeps the cluster's
//! state (resources, users, tokens) in a database and serves it over an
//! HTTP+JSON API (`api.rs`), over TLS by default.
//!
//! The first start makes user `admin` (role `admin`: everything) and
//! writes its token to `<state-dir>/admin.token`, readable by its owner
//! only. The token is never printed or logged.

mod age;
mod api;
mod auth;
mod dataflows;
mod error;
mod keys;
mod notify;
mod presence;
mod store;
mod tls;
mod workloads;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use dora_core::resource::Kind;
use eyre::{bail, WrapErr};
use serde_json::json;
use tokio::sync::broadcast;

pub use age::{age, ago};
pub use notify::Smtp;
use store::{AuditRecord, Change, Store, Token, Write};
pub use tls::write_new;

/// How the API is served.
#[derive(Debug, Clone)]
pub enum Tls {
    /// With this certificate and key.
    Given { cert: PathBuf, key: PathBuf },
    /// With a certificate of a CA the coordinator makes on first start.
    SelfMade,
    /// Plain HTTP: on a loopback address, or anywhere with `insecure`.
    Off,
}

/// What `dora coordinator` was asked.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub state_dir: PathBuf,
    pub listen: SocketAddr,
    pub tls: Tls,
    /// Allow plain HTTP on an address other than loopback.
    pub insecure: bool,
    /// More names and addresses the self-made certificate is valid for.
    pub advertise: Vec<String>,
    /// Where machines' daemons connect (zenoh).
    pub control_listen: SocketAddr,
    /// Where mail to workload owners goes.
    pub smtp: Option<Smtp>,
}

/// What the handlers share.
pub struct Shared {
    store: Store,
    /// Every change, as it is committed, for watchers.
    changes: broadcast::Sender<Change>,
    /// Held from a write's commit to its publication, so that watchers
    /// see changes in the order of their revisions.
    write_order: Mutex<()>,
    /// The cluster's CA, which signs the machines' certificates.
    pki: tls::Pki,
    /// Where daemons reach the control plane, as zenoh endpoints.
    endpoints: Vec<String>,
    /// The control plane's session, once open.
    control: std::sync::OnceLock<zenoh::Session>,
    /// The dataflows' runs and logs.
    dataflows: dataflows::Dataflows,
    /// Where mail to workload owners goes.
    smtp: Option<Smtp>,
}

impl Shared {
    fn publish(&self, changes: Vec<Change>) {
        for change in changes {
            // No watcher is no error.
            let _ = self.changes.send(change);
        }
    }
}

/// How many changes a slow watcher may fall behind before it must list
/// again.
const WATCH_BACKLOG: usize = 4096;

/// Runs the coordinator until SIGINT or SIGTERM.
pub fn serve(options: ServerOptions) -> eyre::Result<()> {
    if matches!(options.tls, Tls::Off) && !options.listen.ip().is_loopback() && !options.insecure {
        bail!(
            "refusing to serve plain HTTP on {}: anyone on the network could read the tokens; drop --no-tls (TLS is the default), or pass --insecure",
            options.listen
        );
    }
    std::fs::create_dir_all(&options.state_dir).wrap_err_with(|| {
        format!(
            "cannot create the state folder {}",
            options.state_dir.display()
        )
    })?;
    if options.control_listen.port() == 0 {
        bail!("--control-listen needs a port: machines are told where to connect");
    }
    let store = Store::open(&options.state_dir)?;
    bootstrap(&store, &options.state_dir)?;
    let pki = tls::Pki::load_or_make(&options.state_dir)?;
    let secure = !matches!(options.tls, Tls::Off);
    let scheme = if secure { "tls" } else { "tcp" };
    let port = options.control_listen.port();
    // Where machines dial: the first --advertise name (an address or a
    // host name, which the certificates name too), else the address
    // listened on.
    let host = match options.advertise.first() {
        Some(name) => match name.parse::<std::net::IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port).to_string(),
            Err(_) => format!("{name}:{port}"),
        },
        None if options.control_listen.ip().is_unspecified() => bail!(
            "machines cannot reach the control plane at {}: give --advertise with the address or host name they use",
            options.control_listen
        ),
        None => options.control_listen.to_string(),
    };
    let endpoints = vec![format!("{scheme}/{host}")];
    let (changes, _) = broadcast::channel(WATCH_BACKLOG);
    let dataflows = dataflows::Dataflows::load(&options.state_dir, &store)?;
    let shared = Arc::new(Shared {
        control: std::sync::OnceLock::new(),
        dataflows,
        store,
        changes,
        write_order: Mutex::new(()),
        pki,
        endpoints,
        smtp: options.smtp.clone(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .wrap_err("cannot start the coordinator's runtime")?;
    runtime.block_on(run(shared, options))
}

async fn run(shared: Arc<Shared>, options: ServerOptions) -> eyre::Result<()> {
    let tcp = tokio::net::TcpListener::bind(options.listen)
        .await
        .wrap_err_with(|| format!("cannot listen on {}", options.listen))?;
    let local = tcp.local_addr()?;
    let control = control_config(&shared.pki, &options)?;
    let session = presence::open(control, options.control_listen).await?;
    let _ = shared.control.set(session.clone());
    let reports = tokio::spawn(dataflows::follow_reports(shared.clone(), session.clone()));
    let container_reports =
        tokio::spawn(workloads::follow_reports(shared.clone(), session.clone()));
    let workloads = tokio::spawn(workloads::run(shared.clone()));
    let presence = tokio::spawn(presence::run(shared.clone(), session));
    let state = options.state_dir.display();
    let tls = match &options.tls {
        Tls::Given { cert, key } => Some((cert.clone(), key.clone(), None)),
        Tls::SelfMade => {
            let names = tls::names(local, &options.advertise);
            let (cert, key) = shared
                .pki
                .certificate(&options.state_dir, "https", &names)?;
            Some((cert, key, Some(shared.pki.ca_file.clone())))
        }
        Tls::Off => None,
    };
    let app = api::router(shared);
    match tls {
        Some((cert, key, ca)) => {
            let config = tls::server_config(&cert, &key)?;
            let ca = ca.map_or(String::new(), |ca| {
                format!("; CA certificate {}", ca.display())
            });
            eprintln!(
                "coordinator serving https://{local} (state in {state}; admin token in {state}/admin.token{ca})"
            );
            let listener = tls::TlsListener::new(tcp, config)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown())
                .await?;
        }
        None => {
            eprintln!(
                "coordinator serving http://{local}, without TLS (state in {state}; admin token in {state}/admin.token)"
            );
            axum::serve(tcp, app)
                .with_graceful_shutdown(shutdown())
                .await?;
        }
    }
    presence.abort();
    reports.abort();
    container_reports.abort();
    workloads.abort();
    eprintln!("coordinator stopped");
    Ok(())
}

/// The control plane's router: mutual TLS with the cluster's CA, or TCP
/// for a cluster run `--no-tls`.
fn control_config(pki: &tls::Pki, options: &ServerOptions) -> eyre::Result<zenoh::Config> {
    let listen = options.control_listen;
    if matches!(options.tls, Tls::Off) {
        return crate::control::config(true, &[format!("tcp/{listen}")], &[], None);
    }
    let names = tls::names(listen, &options.advertise);
    let (cert, key) = pki.certificate(&options.state_dir, "control", &names)?;
    crate::control::config(
        true,
        &[format!("tls/{listen}")],
        &[],
        Some(crate::control::LinkTls {
            ca: &pki.ca_file,
            cert: &cert,
            key: &key,
            verify_name: true,
        }),
    )
}

/// Resolves at SIGINT or SIGTERM: how the coordinator and the daemon are
/// asked to stop.
pub(crate) async fn shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

/// How long the first administrator's token lives.
const ADMIN_TOKEN_DAYS: u64 = 365;

/// On first start: role `admin`, user `admin`, and a token for it in
/// `admin.token` (mode 0600). The token is written to `admin.token.new`
/// first and renamed once the database holds it, so that a start cut short
/// at any point is finished by the next one.
fn bootstrap(store: &Store, dir: &Path) -> eyre::Result<()> {
    let token_file = dir.join("admin.token");
    let pending = dir.join("admin.token.new");
    let admin = keys::key(Kind::User, None, None, "admin");
    if store.get(&admin)?.is_some() && !pending.exists() {
        return Ok(());
    }
    if token_file.exists() {
        bail!(
            "{} exists, but the state database has no admin: it belongs to another state; move it away",
            token_file.display()
        );
    }
    let record = |verb: &str, targets: Vec<String>| AuditRecord {
        time: store::now(),
        user: "coordinator".to_owned(),
        verb: verb.to_owned(),
        targets,
        revision: None,
    };
    let secret = match std::fs::read_to_string(&pending) {
        Ok(secret) => secret.trim().to_owned(),
        Err(_) => {
            let (secret, _) = auth::new_secret().map_err(|e| eyre::eyre!(e.message))?;
            tls::write_new(&pending, format!("{secret}\n").as_bytes(), 0o600)?;
            secret
        }
    };
    if store.get(&admin)?.is_none() {
        let role = json!({"apiVersion": "v1", "kind": "Role", "metadata": {"name": "admin"},
            "spec": {"rules": [{}]}});
        let user = json!({"apiVersion": "v1", "kind": "User", "metadata": {"name": "admin"},
            "spec": {"roles": ["admin"]}});
        let writes = vec![
            Write {
                key: keys::key(Kind::Role, None, None, "admin"),
                object: role,
                expected_version: None,
            },
            Write {
                key: admin.clone(),
                object: user,
                expected_version: None,
            },
        ];
        store.apply(writes, record("Bootstrap", vec![admin]))?;
    }
    let hash = auth::hash(&secret);
    if store.token(&hash)?.is_none() {
        let now = store::now();
        let token = Token {
            id: auth::new_id().map_err(|e| eyre::eyre!(e.message))?,
            user: "admin".to_owned(),
            created: now,
            expires: now + ADMIN_TOKEN_DAYS * 86400,
            revoked: false,
            join_zone: None,
        };
        store.add_token(
            &hash,
            &token,
            record("CreateToken", vec![format!("token/{}", token.id)]),
        )?;
    }
    std::fs::rename(&pending, &token_file)
        .wrap_err_with(|| format!("cannot write {}", token_file.display()))
}

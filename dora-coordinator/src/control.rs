//! The control plane's zenoh sessions: the coordinator's router and each
//! machine daemon's client. Multicast scouting and gossip are off, peers
//! connect only to the endpoints given, and links use TLS with mutual
//! authentication by certificates of the cluster's CA (plain TCP only
//! when the cluster runs `--insecure`).

use std::path::Path;

use eyre::eyre;

/// How long a link may stay silent before the other side counts it dead:
/// a machine cut off shows NotReady within about this long (keep-alives go
/// four times as often).
pub const LEASE_MS: u64 = 1500;

/// The TLS files of one side of a link.
pub struct LinkTls<'a> {
    pub ca: &'a Path,
    pub cert: &'a Path,
    pub key: &'a Path,
}

/// A zenoh configuration: a router (the coordinator) listening on
/// `listen`, or a client (a daemon) connecting to `connect`.
pub fn config(
    router: bool,
    listen: &[String],
    connect: &[String],
    tls: Option<LinkTls<'_>>,
) -> eyre::Result<zenoh::Config> {
    let mut config = zenoh::Config::default();
    let mut set = |key: &str, value: serde_json::Value| {
        config
            .insert_json5(key, &value.to_string())
            .map_err(|e| eyre!("zenoh setting `{key}`: {e}"))
    };
    use serde_json::json;
    set("mode", json!(if router { "router" } else { "client" }))?;
    set("scouting/multicast/enabled", json!(false))?;
    set("scouting/gossip/enabled", json!(false))?;
    set("listen/endpoints", json!(listen))?;
    set("connect/endpoints", json!(connect))?;
    set("transport/link/tx/lease", json!(LEASE_MS))?;
    set("transport/link/tx/keep_alive", json!(4))?;
    match tls {
        Some(tls) => {
            let path = |p: &Path| json!(p.display().to_string());
            set("transport/link/protocols", json!(["tls"]))?;
            set("transport/link/tls/root_ca_certificate", path(tls.ca))?;
            set("transport/link/tls/listen_certificate", path(tls.cert))?;
            set("transport/link/tls/listen_private_key", path(tls.key))?;
            set("transport/link/tls/connect_certificate", path(tls.cert))?;
            set("transport/link/tls/connect_private_key", path(tls.key))?;
            set("transport/link/tls/enable_mtls", json!(true))?;
            set("transport/link/tls/verify_name_on_connect", json!(true))?;
        }
        None => set("transport/link/protocols", json!(["tcp"]))?,
    }
    Ok(config)
}

//! The control plane's zenoh sessions: the coordinator's router and each
//! machine daemon's client, configured as every dora link is (see
//! [`dora_node_api::transport::zenoh_config`]): no multicast scouting, no
//! gossip, only the endpoints given, and TLS with mutual authentication by
//! certificates of the cluster's CA (plain TCP only when the cluster runs
//! `--insecure`).

pub use dora_node_api::transport::LinkTls;
use dora_node_api::transport::{zenoh_config, LinkMode};

/// How long a link may stay silent before the other side counts it dead:
/// a machine cut off shows NotReady within about this long (keep-alives go
/// four times as often).
pub const LEASE_MS: u64 = 1500;

/// A zenoh configuration: a router (the coordinator) listening on
/// `listen`, or a client (a daemon) connecting to `connect`.
pub fn config(
    router: bool,
    listen: &[String],
    connect: &[String],
    tls: Option<LinkTls<'_>>,
) -> eyre::Result<zenoh::Config> {
    let mode = if router {
        LinkMode::Router
    } else {
        LinkMode::Client
    };
    Ok(zenoh_config(mode, listen, connect, tls, LEASE_MS)?)
}

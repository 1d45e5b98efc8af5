//! Which machines are there: the coordinator's zenoh router, and the
//! liveliness of each daemon's session. A daemon that dies closes its
//! link at once; one cut off stops answering keep-alives and its link
//! expires after the lease. Either way its token goes, and the machine
//! shows `NotReady`; when it returns, `Ready`.

use std::sync::Arc;

use dora_core::protocol::cluster::{parse_presence_key, PRESENCE_ALL};
use dora_core::resource::Kind;
use eyre::eyre;
use serde_json::json;
use zenoh::sample::SampleKind;

use super::keys;
use super::store::now;
use super::Shared;

/// Opens the control plane: the router daemons connect to.
pub async fn open(
    config: zenoh::Config,
    listen: std::net::SocketAddr,
) -> eyre::Result<zenoh::Session> {
    zenoh::open(config).await.map_err(|e| {
        eyre!("cannot open the control plane on {listen}: {e}; is the port taken (by another coordinator)? Give another --control-listen")
    })
}

/// Follows the machines' presence until the process ends, or says why it
/// cannot: a coordinator that no longer sees its machines must not look
/// as if it did.
pub async fn run(shared: Arc<Shared>, session: zenoh::Session) {
    if let Err(error) = watch(shared, session).await {
        eprintln!("error: the machines' presence is no longer followed: {error:#}");
    }
}

async fn watch(shared: Arc<Shared>, session: zenoh::Session) -> eyre::Result<()> {
    // Every machine is NotReady until it is seen: the subscriber's history
    // then tells which are connected now.
    let store = shared.clone();
    tokio::task::spawn_blocking(move || mark_all(&store, false))
        .await
        .map_err(|e| eyre!(e))??;
    // Those that do not come back are lost, as if seen leaving now.
    let store = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(super::dataflows::MACHINE_LOST_AFTER).await;
        let nodes = store
            .store
            .list(&format!("{}/", Kind::Node))
            .unwrap_or_default();
        for node in nodes {
            let out_for = now().saturating_sub(node["status"]["since"].as_u64().unwrap_or(0));
            if node["status"]["state"] != "NotReady"
                || out_for < super::dataflows::MACHINE_LOST_AFTER.as_secs()
            {
                continue;
            }
            let zone = node["metadata"]["zone"].as_str().unwrap_or_default();
            let name = node["metadata"]["name"].as_str().unwrap_or_default();
            super::dataflows::machine_lost(&store, zone, name).await;
        }
    });
    let presence = session
        .liveliness()
        .declare_subscriber(PRESENCE_ALL)
        .history(true)
        .await
        .map_err(|e| eyre!("cannot watch the machines' presence: {e}"))?;
    while let Ok(sample) = presence.recv_async().await {
        let Some((zone, machine)) = parse_presence_key(sample.key_expr().as_str()) else {
            continue;
        };
        let ready = sample.kind() == SampleKind::Put;
        let key = keys::key(Kind::Node, Some(zone), None, machine);
        let (store, node_key) = (shared.clone(), key.clone());
        tokio::task::spawn_blocking(move || set_ready(&store, &node_key, ready))
            .await
            .map_err(|e| eyre!(e))??;
        if !ready {
            // Out of reach for long enough, its nodes are reported lost.
            let since = shared
                .store
                .get(&key)
                .ok()
                .flatten()
                .map(|node| node["status"]["since"].clone());
            let (shared, zone, machine) = (shared.clone(), zone.to_owned(), machine.to_owned());
            tokio::spawn(async move {
                tokio::time::sleep(super::dataflows::MACHINE_LOST_AFTER).await;
                let now = shared.store.get(&key).ok().flatten();
                let still = now.is_some_and(|node| {
                    node["status"]["state"] == "NotReady"
                        && Some(&node["status"]["since"]) == since.as_ref()
                });
                if still {
                    super::dataflows::machine_lost(&shared, &zone, &machine).await;
                }
            });
        }
        if ready {
            // What it ran while the coordinator could not hear it.
            let (shared, zone, machine) = (shared.clone(), zone.to_owned(), machine.to_owned());
            tokio::spawn(async move {
                super::dataflows::reconcile(&shared, &zone, &machine).await;
                super::workloads::reconcile_machine(&shared, &zone, &machine).await;
            });
        }
    }
    Ok(())
}

fn status(ready: bool) -> serde_json::Map<String, serde_json::Value> {
    let mut fields = serde_json::Map::new();
    fields.insert(
        "state".to_owned(),
        json!(if ready { "Ready" } else { "NotReady" }),
    );
    fields.insert("since".to_owned(), json!(now()));
    fields
}

/// Records a machine's state; one that has not joined is ignored.
fn set_ready(shared: &Shared, key: &str, ready: bool) -> eyre::Result<()> {
    let _order = shared.write_order.lock().map_err(|e| eyre!("{e}"))?;
    let current = shared.store.get(key)?;
    let state = if ready { "Ready" } else { "NotReady" };
    if current.is_some_and(|c| c["status"]["state"] == state) {
        return Ok(());
    }
    if let Some(change) = shared.store.update_status(key, &status(ready))? {
        shared.publish(vec![change]);
    }
    Ok(())
}

fn mark_all(shared: &Shared, ready: bool) -> eyre::Result<()> {
    let prefix = format!("{}/", Kind::Node);
    for node in shared.store.list(&prefix)? {
        let zone = node["metadata"]["zone"].as_str().unwrap_or_default();
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        set_ready(
            shared,
            &keys::key(Kind::Node, Some(zone), None, name),
            ready,
        )?;
    }
    Ok(())
}

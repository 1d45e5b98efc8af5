//! The daemons' container reports: each is the container's whole state,
//! recorded in its replica's status with an event. A report is taken
//! only from the machine the replica was placed on, and only for the
//! placement it names (its uid): a late report of a replica placed again
//! changes nothing.

use std::sync::Arc;

use dora_core::protocol::cluster::{
    parse_container_report_key, Command, CommandAnswer, ContainerReport, ContainerState,
    CONTAINER_REPORT_ALL,
};
use dora_core::resource::Kind;
use serde_json::{json, Value as Json};

use super::super::dataflows::command;
use super::super::error::ApiError;
use super::super::{store, Shared};
use super::{credits, set_status_locked};

fn text(value: &Json) -> &str {
    value.as_str().unwrap_or_default()
}

/// Follows every machine's container reports until the process ends.
pub async fn follow_reports(shared: Arc<Shared>, session: zenoh::Session) {
    let subscriber = match session.declare_subscriber(CONTAINER_REPORT_ALL).await {
        Ok(subscriber) => subscriber,
        Err(error) => {
            eprintln!("error: the containers' reports are not followed: {error}");
            return;
        }
    };
    while let Ok(sample) = subscriber.recv_async().await {
        let Some((zone, machine, _)) = parse_container_report_key(sample.key_expr().as_str())
        else {
            continue;
        };
        let report: ContainerReport = match serde_json::from_slice(&sample.payload().to_bytes()) {
            Ok(report) => report,
            Err(error) => {
                eprintln!(
                    "warning: a container report this coordinator does not understand: {error}"
                );
                continue;
            }
        };
        let (shared, zone, machine) = (shared.clone(), zone.to_owned(), machine.to_owned());
        let applied =
            tokio::task::spawn_blocking(move || apply(&shared, &zone, &machine, &report)).await;
        if let Ok(Err(error)) = applied {
            eprintln!(
                "error: a container report was not recorded: {}",
                error.message
            );
        }
    }
}

/// The stored replica placed on `machine` of `zone` with `uid`.
fn find(
    shared: &Shared,
    zone: &str,
    machine: &str,
    uid: &str,
) -> Result<Option<(String, Json)>, ApiError> {
    let prefix = format!("{}/{zone}/", Kind::Container);
    Ok(shared.store.list(&prefix)?.into_iter().find_map(|c| {
        if c["status"]["uid"] != uid || c["spec"]["machine"] != machine {
            return None;
        }
        let metadata = &c["metadata"];
        let key = super::super::keys::key(
            Kind::Container,
            metadata["zone"].as_str(),
            metadata["workspace"].as_str(),
            metadata["name"].as_str().unwrap_or_default(),
        );
        Some((key, c))
    }))
}

/// Records `report` from the daemon of `machine`.
fn apply(
    shared: &Shared,
    zone: &str,
    machine: &str,
    report: &ContainerReport,
) -> Result<(), ApiError> {
    let _order = shared.write_order.lock().map_err(ApiError::internal)?;
    let Some((key, current)) = find(shared, zone, machine, &report.uid)? else {
        return Ok(());
    };
    let status = &current["status"];
    // A report the coordinator has seen, or an older one, changes
    // nothing: reports are ordered by the daemon's start, then by number.
    let seen = (
        status["reportEpoch"].as_u64().unwrap_or(0),
        status["reportSeq"].as_u64(),
    );
    if seen.1.is_some() && (report.epoch, Some(report.seq)) <= seen {
        return Ok(());
    }
    // Stopped for want of credit: what it says while it stops changes
    // nothing.
    if status["state"] == "CreditExhausted" {
        return Ok(());
    }
    let state = serde_json::to_value(report.state).map_err(ApiError::internal)?;
    let mut fields = json!({
        "state": state,
        "reason": report.reason,
        "restarts": report.restarts,
        "reportEpoch": report.epoch,
        "reportSeq": report.seq,
    });
    if report.container_id.is_some() {
        fields["containerId"] = json!(report.container_id);
    }
    if report.exit_code.is_some() || report.state == ContainerState::Running {
        fields["exitCode"] = json!(report.exit_code);
    }
    if status["state"] != state {
        fields["since"] = json!(store::now());
        let now = credits::now_ms();
        if status["state"] == "Running" {
            // The last of its running time, charged as it ends.
            let (gpu_hours, cpu_hours, used) = credits::accrue(&current, now);
            let mut credits = credits::Credits::load(shared)?;
            credits.charge(
                zone,
                text(&current["metadata"]["workspace"]),
                gpu_hours,
                cpu_hours,
            );
            credits.save(shared)?;
            if let (Some(fields), Json::Object(used)) = (fields.as_object_mut(), used) {
                fields.extend(used);
            }
        }
        if report.state == ContainerState::Running {
            fields["runningSince"] = json!(now);
        }
    }
    set_status_locked(shared, &key, fields, report.event.as_deref())
}

/// Brings the replicas placed on `machine` up to date with what its
/// daemon runs, when it connects: it reports each container it has, and
/// a replica that should hold resources there but that it does not have
/// is placed again.
pub async fn reconcile_machine(shared: &Arc<Shared>, zone: &str, machine: &str) {
    let reports = match command(shared, zone, machine, &Command::Containers).await {
        Ok(CommandAnswer::Containers { containers }) => containers,
        _ => return,
    };
    let (shared, zone, machine) = (shared.clone(), zone.to_owned(), machine.to_owned());
    let done = tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        for report in &reports {
            apply(&shared, &zone, &machine, report)?;
        }
        let _order = shared.write_order.lock().map_err(ApiError::internal)?;
        let prefix = format!("{}/{zone}/", Kind::Container);
        for container in shared.store.list(&prefix)? {
            let status = &container["status"];
            let held = serde_json::from_value::<ContainerState>(status["state"].clone())
                .is_ok_and(ContainerState::holds_resources);
            let Some(uid) = status["uid"].as_str() else {
                continue;
            };
            if !held
                || container["spec"]["machine"] != *machine
                || reports.iter().any(|r| r.uid == uid)
            {
                continue;
            }
            let metadata = &container["metadata"];
            let key = super::super::keys::key(
                Kind::Container,
                metadata["zone"].as_str(),
                metadata["workspace"].as_str(),
                metadata["name"].as_str().unwrap_or_default(),
            );
            let text = format!(
                "machine `{machine}` no longer runs it (its daemon lost it); placing it again"
            );
            let fields = json!({
                "state": "Pending", "reason": text, "uid": null, "since": store::now(),
            });
            set_status_locked(&shared, &key, fields, Some(&text))?;
        }
        Ok(())
    })
    .await;
    if let Ok(Err(error)) = done {
        eprintln!(
            "error: cannot bring the replicas of machine up to date: {}",
            error.message
        );
    }
}

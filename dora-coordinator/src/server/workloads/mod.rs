//! Workloads on the cluster. The coordinator keeps one `Container`
//! resource per replica, named `WORKLOAD-INDEX` in the workload's zone
//! and workspace, and brings the containers in line with the workloads
//! in passes: after every change of a workload, a machine, a volume or a
//! container, and every few seconds.
//!
//! A replica's life, in `status.state` with `status.events`:
//! `Pending` (with the reason it does not fit) -> `Scheduled` (placed by
//! [`crate::placement::workload::place`], its GPUs by UUID) -> `Running`
//! -> `Succeeded` | `Failed` | `CrashLoop` (waiting to start again). The
//! machine's daemon supervises the container and reports each change
//! (`reports.rs`); GPUs and CPUs are held while the replica is
//! Scheduled, Running or CrashLoop, and free the moment it ends.
//!
//! | file | step |
//! |---|---|
//! | `plan.rs` | from the stored resources, what each pass does |
//! | `reports.rs` | the daemons' container reports, into the status |
//! | `credits.rs` | GPU-hours and CPU-hours used and left per workspace |
//! | `status.rs` | each workload's state, and mail to its owner |
//! | `logs.rs` | what the containers printed, from their machines |
//! | `exec.rs` | a command run in a replica's container |

mod batch;
mod credits;
mod exec;
mod logs;
mod plan;
mod reports;
mod status;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dora_core::protocol::cluster::{Command, CommandAnswer};
use serde_json::{json, Value as Json};

pub use exec::exec;
pub use logs::logs;
pub use reports::{follow_reports, reconcile_machine};

use super::dataflows::command;
use super::store::{self, AuditRecord};
use super::Shared;
use plan::Action;

/// How often a pass runs, whatever changes.
const PASS_EVERY: Duration = Duration::from_secs(2);

/// How long after a change the pass waits for more, so that a burst of
/// changes makes one pass.
const SETTLE: Duration = Duration::from_millis(50);

/// How long a deleted replica's container has after SIGTERM: less than
/// the coordinator waits for the daemon's answer.
const DELETE_GRACE: Duration = crate::daemon::DEFAULT_GRACE;

/// How many events a replica keeps.
pub(super) const EVENTS_KEPT: usize = 20;

/// The deletions under way, by uid: a pass does not ask again while the
/// machine is still stopping the container.
type Deleting = Arc<Mutex<HashSet<String>>>;

/// Runs passes until the process ends: one after each change that
/// concerns workloads, and one every [`PASS_EVERY`], which also counts
/// the running replicas' use (a pass after a change does not: counting
/// writes, and would start the next pass at once).
pub async fn run(shared: Arc<Shared>) {
    let mut changes = shared.changes.subscribe();
    let deleting = Deleting::default();
    let mut tick = tokio::time::interval(PASS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let counting = tokio::select! {
            _ = tick.tick() => true,
            change = changes.recv() => match change {
                Ok(change) if !plan::concerns_workloads(&change.object) => continue,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    tokio::time::sleep(SETTLE).await;
                    while changes.try_recv().is_ok() {}
                    false
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        };
        pass(&shared, &deleting, counting).await;
    }
}

/// One pass: plan from the store, then start what needs a machine. It
/// does not wait for the machines: one that does not answer holds up
/// nothing else.
async fn pass(shared: &Arc<Shared>, deleting: &Deleting, counting: bool) {
    let planned = {
        let shared = shared.clone();
        tokio::task::spawn_blocking(move || plan::plan(&shared, counting)).await
    };
    let actions = match planned {
        Ok(Ok(actions)) => actions,
        Ok(Err(error)) => {
            eprintln!("error: the workloads' pass failed: {}", error.message);
            return;
        }
        Err(error) => {
            eprintln!("error: the workloads' pass failed: {error}");
            return;
        }
    };
    for action in actions {
        if let Action::Delete { uid, .. } | Action::Stop { uid, .. } = &action {
            let mut deleting = deleting.lock().unwrap_or_else(PoisonError::into_inner);
            if !deleting.insert(uid.clone()) {
                continue;
            }
        }
        let (shared, deleting) = (shared.clone(), deleting.clone());
        tokio::spawn(async move {
            let uid = match &action {
                Action::Delete { uid, .. } | Action::Stop { uid, .. } => Some(uid.clone()),
                _ => None,
            };
            carry_out(&shared, action).await;
            if let Some(uid) = uid {
                deleting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&uid);
            }
        });
    }
}

async fn carry_out(shared: &Arc<Shared>, action: Action) {
    match action {
        Action::Run {
            key,
            zone,
            machine,
            run,
        } => {
            let answer = command(shared, &zone, &machine, &Command::RunContainer { run }).await;
            let unplace = match answer {
                Ok(CommandAnswer::Done) => return,
                Ok(CommandAnswer::Refused { reason }) => {
                    format!("machine `{machine}` refused to run it: {reason}")
                }
                Ok(other) => format!("machine `{machine}` gave an unexpected answer: {other:?}"),
                Err(reason) => reason,
            };
            // Placed again by a later pass, which may choose another
            // machine; meanwhile it holds nothing.
            let fields = json!({
                "state": "Pending", "reason": unplace, "uid": null, "since": store::now(),
            });
            record(shared, &key, fields, Some(&unplace)).await;
        }
        Action::Delete {
            key,
            zone,
            machine,
            uid,
        } => {
            let delete = Command::DeleteContainer {
                uid,
                grace_ms: DELETE_GRACE.as_millis() as u64,
            };
            match command(shared, &zone, &machine, &delete).await {
                Ok(CommandAnswer::Done) => forget(shared, key).await,
                Ok(CommandAnswer::Refused { reason }) => {
                    let text = format!("machine `{machine}` could not remove it: {reason}");
                    record(shared, &key, json!({ "reason": text }), Some(&text)).await;
                }
                // Tried again by the next pass.
                _ => {}
            }
        }
        Action::Stop {
            key,
            zone,
            machine,
            uid,
        } => {
            let stop = Command::DeleteContainer {
                uid,
                grace_ms: DELETE_GRACE.as_millis() as u64,
            };
            if let Ok(CommandAnswer::Done) = command(shared, &zone, &machine, &stop).await {
                let fields = json!({ "uid": null, "containerId": null });
                let event = "stopped and removed: its workspace has no credit left";
                record(shared, &key, fields, Some(event)).await;
            }
        }
        Action::Forget { key } => forget(shared, key).await,
        Action::Email { to, subject, body } => {
            let Some(smtp) = shared.smtp.clone() else {
                return;
            };
            let sent = tokio::task::spawn_blocking(move || smtp.send(&to, &subject, &body)).await;
            if let Ok(Err(error)) = sent {
                eprintln!("warning: a workload's mail was not sent: {error}");
            }
        }
    }
}

/// Sets status `fields` of the replica under `key`, with `event`.
async fn record(shared: &Arc<Shared>, key: &str, fields: Json, event: Option<&str>) {
    let (key, event) = (key.to_owned(), event.map(str::to_owned));
    let done = super::api::blocking(shared, move |s| {
        set_status(s, &key, fields, event.as_deref())
    })
    .await;
    if let Err(error) = done {
        eprintln!(
            "error: a replica's state was not recorded: {}",
            error.message
        );
    }
}

/// Sets status `fields` of the replica under `key`, appending `event` to
/// its events.
fn set_status(
    shared: &Shared,
    key: &str,
    fields: Json,
    event: Option<&str>,
) -> Result<(), super::error::ApiError> {
    let _order = shared
        .write_order
        .lock()
        .map_err(super::error::ApiError::internal)?;
    set_status_locked(shared, key, fields, event)
}

/// [`set_status`], with the write order held by the caller.
fn set_status_locked(
    shared: &Shared,
    key: &str,
    mut fields: Json,
    event: Option<&str>,
) -> Result<(), super::error::ApiError> {
    let Some(current) = shared.store.get(key)? else {
        return Ok(());
    };
    if let (Some(event), Some(map)) = (event, fields.as_object_mut()) {
        let mut events = current["status"]["events"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        events.push(json!({ "time": store::now(), "text": event }));
        let excess = events.len().saturating_sub(EVENTS_KEPT);
        events.drain(..excess);
        map.insert("events".to_owned(), Json::Array(events));
    }
    let fields = match fields {
        Json::Object(map) => map,
        _ => return Ok(()),
    };
    if let Some(change) = shared.store.update_status(key, &fields)? {
        shared.publish(vec![change]);
    }
    Ok(())
}

/// Removes the replica's resource.
async fn forget(shared: &Arc<Shared>, key: String) {
    let done = super::api::blocking(shared, move |s| {
        let _order = s
            .write_order
            .lock()
            .map_err(super::error::ApiError::internal)?;
        let audit = AuditRecord {
            time: store::now(),
            user: "coordinator".to_owned(),
            verb: "Delete".to_owned(),
            targets: vec![key.clone()],
            revision: None,
        };
        if let Some(change) = s.store.delete(&key, None, audit)? {
            s.publish(vec![change]);
        }
        Ok(())
    })
    .await;
    if let Err(error) = done {
        eprintln!("error: a replica was not removed: {}", error.message);
    }
}

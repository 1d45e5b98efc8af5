//! One pass over the stored resources: which replicas are missing, which
//! must go, and where the pending ones are placed. It runs with the
//! store's write order held, so that what it reads is what it writes
//! over; what needs a machine is returned as [`Action`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use dora_core::protocol::cluster::{ContainerRun, ContainerState, Mount};
use dora_core::resource::{AccessMode, Kind, WorkloadSpec};
use serde_json::{json, Value as Json};

use super::super::error::ApiError;
use super::super::keys;
use super::super::store;
use super::super::Shared;
use super::batch::Batch;
use super::credits::{self, Credits};
use crate::placement::workload::{
    self as placement, Assignment, Gpu, Machine, ReplicaId, Taken, WorkloadRequest,
};

/// What a pass leaves to be done with a machine.
#[derive(Debug)]
pub enum Action {
    /// Have the daemon of `machine` run a replica just placed there.
    Run {
        key: String,
        zone: String,
        machine: String,
        run: Box<ContainerRun>,
    },
    /// Have the daemon of `machine` stop and remove the container, then
    /// remove the replica.
    Delete {
        key: String,
        zone: String,
        machine: String,
        uid: String,
    },
    /// Have the daemon of `machine` stop and remove the container of a
    /// replica that stays, `CreditExhausted`.
    Stop {
        key: String,
        zone: String,
        machine: String,
        uid: String,
    },
    /// Mail the owner of a workload.
    Email {
        to: String,
        subject: String,
        body: String,
    },
    /// Remove a replica that runs nowhere.
    Forget { key: String },
}

/// Whether a change of `object` may change what the workloads need.
pub fn concerns_workloads(object: &Json) -> bool {
    matches!(
        object["kind"].as_str(),
        Some("Workload" | "Container" | "Node" | "Volume" | "Storage" | "Credit" | "User")
    )
}

/// A workload as a pass sees it.
pub(super) struct Wanted {
    pub(super) zone: String,
    pub(super) workspace: String,
    pub(super) name: String,
    pub(super) spec: WorkloadSpec,
    /// A digest of the spec: a replica made from another spec is replaced.
    template: String,
    /// The workload as stored, with its status.
    pub(super) stored: Json,
}

impl Wanted {
    /// The name placement knows it by, unique in the cluster.
    fn qualified(&self) -> String {
        format!("{}/{}/{}", self.zone, self.workspace, self.name)
    }

    /// Why its replicas may not run now, for want of credit.
    fn no_credit(&self, credits: &Credits) -> Option<String> {
        let count =
            |s: &Option<dora_core::selector::Selector>| s.as_ref().is_some_and(|s| s.count > 0);
        credits.exhausted(
            &self.zone,
            &self.workspace,
            count(&self.spec.selectors.gpu),
            count(&self.spec.selectors.cpu),
        )
    }
}

fn text(value: &Json) -> &str {
    value.as_str().unwrap_or_default()
}

fn state_of(container: &Json) -> Option<ContainerState> {
    serde_json::from_value(container["status"]["state"].clone()).ok()
}

/// The pass; with `counting`, it also counts the use of the running
/// replicas. Returns what needs the machines.
pub fn plan(shared: &Shared, counting: bool) -> Result<Vec<Action>, ApiError> {
    let _order = shared.write_order.lock().map_err(ApiError::internal)?;
    let store = &shared.store;
    let mut wanted = Vec::new();
    for workload in store.list(&format!("{}/", Kind::Workload))? {
        let metadata = &workload["metadata"];
        let spec: WorkloadSpec = match serde_json::from_value(workload["spec"].clone()) {
            Ok(spec) => spec,
            Err(error) => {
                eprintln!(
                    "error: stored workload `{}` cannot be read ({error}); apply it again",
                    text(&metadata["name"])
                );
                continue;
            }
        };
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            workload["spec"].to_string().as_bytes(),
        );
        wanted.push(Wanted {
            zone: text(&metadata["zone"]).to_owned(),
            workspace: text(&metadata["workspace"]).to_owned(),
            name: text(&metadata["name"]).to_owned(),
            spec,
            template: super::super::auth::hex(&digest.as_ref()[..8]),
            stored: workload.clone(),
        });
    }
    // Replica key -> (workload, index).
    let mut desired: BTreeMap<String, (usize, u32)> = BTreeMap::new();
    for (w, workload) in wanted.iter().enumerate() {
        for index in 0..workload.spec.replica.count {
            let key = keys::key(
                Kind::Container,
                Some(&workload.zone),
                Some(&workload.workspace),
                &format!("{}-{index}", workload.name),
            );
            desired.insert(key, (w, index));
        }
    }
    let machines = machines(shared)?;
    let known: BTreeSet<(&str, &str)> = machines
        .iter()
        .map(|m| (m.zone.as_str(), m.name.as_str()))
        .collect();
    let ready: BTreeSet<(&str, &str)> = machines
        .iter()
        .filter(|m| m.ready)
        .map(|m| (m.zone.as_str(), m.name.as_str()))
        .collect();
    let mut actions = Vec::new();
    let mut batch = Batch::default();
    let mut taken = Taken::new();
    let mut credits = Credits::load(shared)?;
    let now = credits::now_ms();
    let mut pending: BTreeMap<usize, Vec<(String, u32)>> = BTreeMap::new();
    let mut present = BTreeSet::new();
    for container in store.list(&format!("{}/", Kind::Container))? {
        let Some(key) = object_key(&container) else {
            continue;
        };
        let status = &container["status"];
        let (zone, machine, uid) = (
            text(&container["metadata"]["zone"]),
            text(&container["spec"]["machine"]),
            status["uid"].as_str(),
        );
        let here = desired.get(&key).copied();
        if here.is_some() {
            // Even when it is replaced: made again once it is removed.
            present.insert(key.clone());
        }
        let state = state_of(&container);
        let workspace = text(&container["metadata"]["workspace"]);
        if counting && state == Some(ContainerState::Running) {
            let (gpu_hours, cpu_hours, fields) = credits::accrue(&container, now);
            credits.charge(zone, workspace, gpu_hours, cpu_hours);
            batch.status(&key, fields, None);
        }
        // A replica stopped for want of credit holds what it had until
        // its machine has stopped it.
        let stopping = state == Some(ContainerState::CreditExhausted) && uid.is_some();
        if state.is_some_and(ContainerState::holds_resources) || stopping {
            // Held until its machine has removed it, also while it is
            // being deleted.
            let workload = format!(
                "{zone}/{workspace}/{}",
                text(&container["spec"]["workload"])
            );
            let assignment = Assignment {
                replica: ReplicaId::new(
                    workload,
                    container["spec"]["replica"].as_u64().unwrap_or(0) as u32,
                ),
                machine: machine.to_owned(),
                gpus: serde_json::from_value(container["spec"]["gpus"].clone()).unwrap_or_default(),
                cpus: status["cpus"].as_u64().unwrap_or(0) as u32,
                ports: serde_json::from_value(status["ports"].clone()).unwrap_or_default(),
            };
            if let Err(error) = taken.take(assignment) {
                eprintln!("error: replica `{key}` holds what another holds: {error}");
            }
        }
        let current = here.filter(|(w, _)| status["template"] == *wanted[*w].template);
        let Some((w, index)) = current else {
            // Its workload is gone, has fewer replicas, or changed. On a
            // machine that is away, it waits for the machine's return.
            match uid {
                Some(uid) if ready.contains(&(zone, machine)) => actions.push(Action::Delete {
                    key,
                    zone: zone.to_owned(),
                    machine: machine.to_owned(),
                    uid: uid.to_owned(),
                }),
                Some(_) if known.contains(&(zone, machine)) => {}
                _ => actions.push(Action::Forget { key }),
            }
            continue;
        };
        let no_credit = wanted[w].no_credit(&credits);
        match (state, uid) {
            (Some(ContainerState::Pending) | None, _) => {
                pending.entry(w).or_default().push((key, index));
            }
            // Being stopped: asked again while its machine is here.
            (Some(ContainerState::CreditExhausted), Some(uid))
                if ready.contains(&(zone, machine)) =>
            {
                actions.push(Action::Stop {
                    key,
                    zone: zone.to_owned(),
                    machine: machine.to_owned(),
                    uid: uid.to_owned(),
                });
            }
            (Some(ContainerState::CreditExhausted), None) if no_credit.is_none() => {
                let text = "credit was added: placing it again";
                let fields = json!({ "state": "Pending", "reason": text, "since": store::now() });
                batch.status(&key, fields, Some(text));
                pending.entry(w).or_default().push((key, index));
            }
            (Some(state), uid) if state.holds_resources() => {
                if let Some(reason) = no_credit {
                    let text = format!("CreditExhausted: {reason}");
                    let fields = json!({ "state": "CreditExhausted", "reason": text, "since": store::now() });
                    batch.status(&key, fields, Some(&text));
                    if let (Some(uid), true) = (uid, ready.contains(&(zone, machine))) {
                        actions.push(Action::Stop {
                            key,
                            zone: zone.to_owned(),
                            machine: machine.to_owned(),
                            uid: uid.to_owned(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    // Replicas not yet recorded: Pending until placed, below.
    for (key, &(w, index)) in &desired {
        if present.contains(key) {
            continue;
        }
        let workload = &wanted[w];
        let mut object = json!({
            "apiVersion": "v1",
            "kind": "Container",
            "metadata": {
                "name": format!("{}-{index}", workload.name),
                "zone": workload.zone,
                "workspace": workload.workspace,
            },
            "spec": {
                "workload": workload.name,
                "replica": index,
                "image": workload.spec.image.image,
            },
        });
        object["status"] = json!({
            "state": "Pending", "reason": "waiting to be placed", "template": workload.template,
            "restarts": 0, "since": store::now(),
            "events": [{ "time": store::now(), "text": "created" }],
        });
        batch.write(key, object, None);
        pending.entry(w).or_default().push((key.clone(), index));
    }
    // Made before they are placed, below, which reads them.
    batch.flush_writes(shared, "Create")?;
    let mut out = Outcome { actions, batch };
    place_pending(
        shared,
        &wanted,
        pending,
        (&machines, &taken, &credits),
        &mut out,
    )?;
    let Outcome {
        mut actions,
        mut batch,
    } = out;
    batch.flush_writes(shared, "Schedule")?;
    batch.flush_statuses(shared)?;
    credits.save(shared)?;
    super::status::workload_states(shared, &wanted, &mut actions)?;
    Ok(actions)
}

/// What a pass leaves: the actions for the machines, and the writes not
/// yet stored.
struct Outcome {
    actions: Vec<Action>,
    batch: Batch,
}

/// Places the pending replicas on `machines` given what is `taken` and
/// the `credits`; those that fit are Scheduled and given to their
/// machine, the others keep the reason.
fn place_pending(
    shared: &Shared,
    wanted: &[Wanted],
    pending: BTreeMap<usize, Vec<(String, u32)>>,
    (machines, taken, credits): (&[Machine], &Taken, &Credits),
    out: &mut Outcome,
) -> Result<(), ApiError> {
    let Outcome { actions, batch } = out;
    let mut requests = Vec::new();
    let mut keys: BTreeMap<(String, u32), (String, usize, Vec<Mount>)> = BTreeMap::new();
    for (w, replicas) in pending {
        let workload = &wanted[w];
        if let Some(reason) = workload.no_credit(credits) {
            for (key, _) in &replicas {
                pend(shared, batch, key, &format!("NoCredit: {reason}"))?;
            }
            continue;
        }
        let mounts = match mounts(shared, workload) {
            Ok(mounts) => mounts,
            Err(reason) => {
                for (key, _) in &replicas {
                    pend(shared, batch, key, &reason)?;
                }
                continue;
            }
        };
        let mut request =
            WorkloadRequest::new(workload.qualified(), &workload.zone, &workload.spec);
        request.replicas = replicas.iter().map(|(_, index)| *index).collect();
        for (key, index) in replicas {
            keys.insert((workload.qualified(), index), (key, w, mounts.clone()));
        }
        requests.push(request);
    }
    if requests.is_empty() {
        return Ok(());
    }
    let placement = placement::place(&requests, machines, taken);
    for unplaced in placement.unplaced {
        if let Some((key, _, _)) =
            keys.get(&(unplaced.replica.workload.clone(), unplaced.replica.index))
        {
            pend(shared, batch, key, &unplaced.reason.to_string())?;
        }
    }
    for assignment in placement.assignments {
        let Some((key, w, mounts)) = keys.remove(&(
            assignment.replica.workload.clone(),
            assignment.replica.index,
        )) else {
            continue;
        };
        let workload = &wanted[w];
        let Some(current) = shared.store.get(&key)? else {
            continue;
        };
        let mut object = current.clone();
        object["spec"]["machine"] = json!(assignment.machine);
        object["spec"]["gpus"] = json!(assignment.gpus);
        let version = current["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_owned);
        batch.write(&key, object, version);
        let uid = super::super::auth::new_id()?;
        let gpus = match assignment.gpus.len() {
            0 => String::new(),
            _ => format!(" with GPUs {}", assignment.gpus.join(", ")),
        };
        let event = format!("placed on machine `{}`{gpus}", assignment.machine);
        let fields = json!({
            "state": "Scheduled", "reason": null, "uid": uid, "cpus": assignment.cpus,
            "ports": assignment.ports, "exitCode": null, "containerId": null,
            "reportEpoch": null, "reportSeq": null, "since": store::now(),
        });
        batch.status(&key, fields, Some(&event));
        let name = format!("{}-{}", workload.name, assignment.replica.index);
        actions.push(Action::Run {
            key,
            zone: workload.zone.clone(),
            machine: assignment.machine.clone(),
            run: Box::new(container_run(workload, &name, uid, &assignment, mounts)),
        });
    }
    Ok(())
}

/// Records why a replica waits, with an event when the reason is new.
fn pend(shared: &Shared, batch: &mut Batch, key: &str, reason: &str) -> Result<(), ApiError> {
    let Some(current) = shared.store.get(key)? else {
        return Ok(());
    };
    if current["status"]["reason"] == reason && current["status"]["state"] == "Pending" {
        return Ok(());
    }
    let fields = json!({ "state": "Pending", "reason": reason });
    batch.status(key, fields, Some(reason));
    Ok(())
}

/// What the daemon is asked to run for one replica.
fn container_run(
    workload: &Wanted,
    name: &str,
    uid: String,
    assignment: &Assignment,
    mounts: Vec<Mount>,
) -> ContainerRun {
    let spec = &workload.spec;
    ContainerRun {
        uid,
        zone: workload.zone.clone(),
        workspace: workload.workspace.clone(),
        name: name.to_owned(),
        workload: workload.name.clone(),
        replica: assignment.replica.index,
        image: spec.image.image.clone(),
        pull_policy: spec.image.pull_policy,
        // Checked when the workload was applied.
        cmd: shell_words::split(&spec.config.cmd).unwrap_or_default(),
        env: spec.config.env.clone(),
        shm_size: spec.config.shm_size,
        restart_policy: spec.config.restart_policy,
        network_mode: spec.network.mode,
        ports: spec.network.ports.clone(),
        mounts,
        gpus: assignment.gpus.clone(),
        cpus: assignment.cpus,
    }
}

/// The folders the workload's volumes are on each machine: a `Local`
/// storage keeps volume `V` of workspace `W` in `PATH/W/V`.
fn mounts(shared: &Shared, workload: &Wanted) -> Result<Vec<Mount>, String> {
    let mut mounts = Vec::new();
    for volume in &workload.spec.volumes {
        let workspace = volume.workspace.as_deref().unwrap_or(&workload.workspace);
        let zone = workload.zone.as_str();
        let key = keys::key(Kind::Volume, Some(zone), Some(workspace), &volume.name);
        let stored = shared.store.get(&key).map_err(|e| e.to_string())?;
        let Some(stored) = stored else {
            return Err(format!(
                "volume `{}` does not exist in workspace `{workspace}` of zone `{zone}`; apply it",
                volume.name
            ));
        };
        let storage = text(&stored["spec"]["storage"]);
        let key = keys::key(Kind::Storage, Some(zone), None, storage);
        let Some(storage_object) = shared.store.get(&key).map_err(|e| e.to_string())? else {
            return Err(format!(
                "volume `{}` is kept in storage `{storage}`, which does not exist in zone `{zone}`; apply it",
                volume.name
            ));
        };
        if storage_object["spec"]["backend"] != "Local" {
            return Err(format!(
                "volume `{}` is kept in storage `{storage}`, whose backend `{}` the machines cannot mount yet; use a `Local` storage",
                volume.name,
                text(&storage_object["spec"]["backend"])
            ));
        }
        let access: AccessMode =
            serde_json::from_value(stored["spec"]["accessMode"].clone()).unwrap_or_default();
        let source = Path::new(text(&storage_object["spec"]["path"]))
            .join(workspace)
            .join(&volume.name);
        mounts.push(Mount {
            source: source.display().to_string(),
            target: volume.target.clone(),
            read_only: access == AccessMode::ReadOnlyMany,
        });
    }
    Ok(mounts)
}

/// Every machine as placement sees it.
fn machines(shared: &Shared) -> Result<Vec<Machine>, ApiError> {
    let nodes = shared.store.list(&format!("{}/", Kind::Node))?;
    Ok(nodes
        .iter()
        .map(|node| {
            let inventory = &node["status"]["inventory"];
            Machine {
                name: text(&node["metadata"]["name"]).to_owned(),
                zone: text(&node["metadata"]["zone"]).to_owned(),
                ready: node["status"]["state"] == "Ready",
                unschedulable: node["spec"]["unschedulable"] == true,
                cpus: inventory["cpus"].as_u64().unwrap_or(0) as u32,
                cpu_model: text(&inventory["cpuModel"]).to_owned(),
                gpus: inventory["gpus"]
                    .as_array()
                    .map(|gpus| {
                        gpus.iter()
                            .map(|g| Gpu {
                                uuid: text(&g["uuid"]).to_owned(),
                                product: text(&g["productName"]).to_owned(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect())
}

/// The store key of a stored replica.
fn object_key(object: &Json) -> Option<String> {
    let metadata = &object["metadata"];
    Some(keys::key(
        Kind::Container,
        metadata["zone"].as_str(),
        metadata["workspace"].as_str(),
        metadata["name"].as_str()?,
    ))
}

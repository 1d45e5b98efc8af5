//! Dataflows run on the cluster: `dora start` places each node of a
//! dataflow on a machine and tells each machine's daemon to run its part;
//! the daemons' reports keep the `Dataflow` resource's status and the
//! dataflow's log; `dora stop` asks every machine to stop its part; `dora
//! logs` reads the log, also after the end.
//!
//! A dataflow's status: `id` (of this run), `state` (Starting, Running,
//! Degraded: a machine was lost and the others go on, Stopping,
//! Succeeded, Failed, Stopped), `machines`, `nodeMachines` (each node's
//! machine), `placement` (why there), `listen` (where nodes read from
//! other machines listen), `parts` (each machine's part: its state, and
//! its summary once ended), `nodes` and `running` (counts), `ended` (each
//! node's end), `reason` (why it failed), `summary` (as `dora run` prints
//! it), and what the daemons need: `source`, `file`, `folder`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, Write as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dora_core::check::{check_source, Content};
use dora_core::diagnostic::Diagnostic;
use dora_core::protocol::cluster::{
    self, parse_report_key, Command, CommandAnswer, DataflowReport, NumberedReport, REPORT_ALL,
};
use dora_core::resource::{Kind, Verb};
use serde::Deserialize;
use serde_json::{json, Map, Value as Json_};

use super::api::{blocking, caller, flag, invalid, missing, read_place, Place};
use super::error::ApiError;
use super::keys;
use super::store::{self, AuditRecord, Write};
use super::Shared;
use crate::placement::{self, listen, Machine};

/// How long the coordinator waits for a daemon to answer a command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// How often `dora logs -f` looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// States in which a dataflow's nodes may run.
const ACTIVE: [&str; 4] = ["Starting", "Running", "Degraded", "Stopping"];

/// States of a machine's part of a run in which its nodes may run.
const PART_ACTIVE: [&str; 3] = ["Starting", "Running", "Stopping"];

/// How long a machine of a running dataflow may be out of reach before its
/// nodes are reported lost: longer than a short cut of the network, which
/// the links between nodes live through.
pub const MACHINE_LOST_AFTER: Duration = Duration::from_secs(10);

/// Where a run is recorded, and the machines whose reports it takes.
#[derive(Debug, Clone)]
struct RunPlace {
    key: String,
    zone: String,
    machines: Vec<String>,
}

/// The machines a stored dataflow's run is on (`machine` in the records
/// of coordinators before dataflows spread).
pub fn machines_of(dataflow: &Json_) -> Vec<String> {
    let status = &dataflow["status"];
    match status["machines"].as_array() {
        Some(machines) => machines
            .iter()
            .filter_map(|m| m.as_str().map(str::to_owned))
            .collect(),
        None => status["machine"]
            .as_str()
            .map(str::to_owned)
            .into_iter()
            .collect(),
    }
}

/// Whether `machine`'s part of a stored dataflow's run may be running.
fn part_active(dataflow: &Json_, machine: &str) -> bool {
    match dataflow["status"]["parts"][machine]["state"].as_str() {
        Some(state) => PART_ACTIVE.contains(&state),
        None => is_active(dataflow),
    }
}

/// Whether a stored dataflow's nodes may be running.
pub fn is_active(dataflow: &Json_) -> bool {
    ACTIVE.contains(&dataflow["status"]["state"].as_str().unwrap_or_default())
}

/// The dataflows' logs and which run belongs to which resource.
pub struct Dataflows {
    logs: PathBuf,
    /// Run id to where it is recorded and runs.
    runs: Mutex<HashMap<String, RunPlace>>,
    /// The log files being written, by run id.
    open: Mutex<HashMap<String, std::fs::File>>,
    /// Per run and machine: the number of the next report expected.
    next: Mutex<HashMap<(String, String), u64>>,
}

impl Dataflows {
    /// The dataflows of the store at `state_dir`; the runs still active
    /// are looked up so that their reports find them after a restart.
    pub fn load(state_dir: &std::path::Path, store: &store::Store) -> eyre::Result<Dataflows> {
        let logs = state_dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        let mut runs = HashMap::new();
        for dataflow in store.list(&format!("{}/", Kind::Dataflow))? {
            let status = &dataflow["status"];
            if let (Some(id), Some(key)) = (status["id"].as_str(), object_key(&dataflow)) {
                let zone = dataflow["metadata"]["zone"].as_str().unwrap_or_default();
                runs.insert(
                    id.to_owned(),
                    RunPlace {
                        key,
                        zone: zone.to_owned(),
                        machines: machines_of(&dataflow),
                    },
                );
            }
        }
        Ok(Dataflows {
            logs,
            runs: Mutex::new(runs),
            open: Mutex::new(HashMap::new()),
            next: Mutex::new(HashMap::new()),
        })
    }

    fn log_file(&self, id: &str) -> PathBuf {
        self.logs.join(format!("{id}.jsonl"))
    }

    /// Appends one line to run `id`'s log; `seq` is the number of the
    /// report of `machine` it came from.
    fn append(&self, id: &str, from: Option<(&str, u64)>, node: &str, stderr: bool, text: &str) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let file = match open.entry(id.to_owned()) {
            std::collections::hash_map::Entry::Occupied(file) => file.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                match std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.log_file(id))
                {
                    Ok(file) => slot.insert(file),
                    Err(error) => {
                        eprintln!("error: cannot write the log of dataflow run {id}: {error}");
                        return;
                    }
                }
            }
        };
        let mut line = json!({ "time": store::now(), "node": node, "text": text });
        if stderr {
            line["stderr"] = json!(true);
        }
        if let Some((machine, seq)) = from {
            line["machine"] = json!(machine);
            line["seq"] = json!(seq);
        }
        let _ = writeln!(file, "{line}");
    }

    /// How many reports of `machine` about run `id` were missed before
    /// report `seq` (`None` for one already recorded). After a restart of
    /// the coordinator the count goes on from the last report in the log.
    fn missed_before(&self, id: &str, machine: &str, seq: u64) -> Option<u64> {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (id.to_owned(), machine.to_owned());
        let expected = *next
            .entry(key.clone())
            .or_insert_with(|| self.last_logged(id, machine).map_or(0, |last| last + 1));
        if seq < expected {
            return None;
        }
        next.insert(key, seq + 1);
        Some(seq - expected)
    }

    /// The number of the last report of `machine` in run `id`'s log.
    fn last_logged(&self, id: &str, machine: &str) -> Option<u64> {
        let file = std::fs::File::open(self.log_file(id)).ok()?;
        std::io::BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| {
                let line = serde_json::from_str::<Json_>(&line).ok()?;
                (line["machine"] == machine).then(|| line["seq"].as_u64())?
            })
            .last()
    }

    fn close(&self, id: &str) {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    fn place_of(&self, id: &str) -> Option<RunPlace> {
        self.runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }
}

/// The store key of a stored resource.
fn object_key(object: &Json_) -> Option<String> {
    let kind = keys::parse_kind(object["kind"].as_str()?)?;
    let metadata = &object["metadata"];
    Some(keys::key(
        kind,
        metadata["zone"].as_str(),
        metadata["workspace"].as_str(),
        metadata["name"].as_str()?,
    ))
}

fn status(fields: Json_) -> Map<String, Json_> {
    match fields {
        Json_::Object(map) => map,
        _ => Map::new(),
    }
}

/// Sets `fields` in the status of the resource under `key`, for watchers.
fn set_status(shared: &Shared, key: &str, fields: Json_) -> Result<(), ApiError> {
    let _order = shared.write_order.lock().map_err(ApiError::internal)?;
    if let Some(change) = shared.store.update_status(key, &status(fields))? {
        shared.publish(vec![change]);
    }
    Ok(())
}

/// The body of `POST /api/v1/dataflows/{name}/start`.
#[derive(Debug, Deserialize)]
pub struct StartRequest {
    /// The dataflow file's text.
    pub source: String,
    /// Its path, for messages.
    pub file: String,
    /// Its folder, which must be at the same path on the machine.
    pub folder: String,
    /// The dataflow as the client read it from its folder (its modules
    /// expanded), as JSON; without it, `source` is read, which works for
    /// dataflows that use no module.
    #[serde(default)]
    pub dataflow: Option<Json_>,
}

/// The (address, port) pairs that nodes of active runs listen on.
type Taken = BTreeSet<(String, u16)>;

/// The machines of `zone`, with the nodes of active dataflows on each;
/// and the (address, port) pairs that active runs' nodes listen on.
fn machines(shared: &Shared, zone: &str) -> Result<(Vec<Machine>, Taken), ApiError> {
    let mut load: BTreeMap<String, usize> = BTreeMap::new();
    let mut taken = BTreeSet::new();
    for dataflow in shared.store.list(&format!("{}/", Kind::Dataflow))? {
        let status = &dataflow["status"];
        if !is_active(&dataflow) {
            continue;
        }
        match status["nodeMachines"].as_object() {
            Some(on) => {
                for machine in on.values().filter_map(Json_::as_str) {
                    *load.entry(machine.to_owned()).or_default() += 1;
                }
            }
            None => {
                for machine in machines_of(&dataflow) {
                    *load.entry(machine).or_default() +=
                        status["nodes"].as_u64().unwrap_or(0) as usize;
                }
            }
        }
        let endpoints = status["listen"].as_object().into_iter().flatten();
        for endpoint in endpoints.flat_map(|(_, e)| e.as_array().into_iter().flatten()) {
            taken.extend(endpoint.as_str().and_then(listen::parse_endpoint));
        }
    }
    let nodes = shared
        .store
        .list(&keys::prefix(Kind::Node, Some(zone), None))?;
    Ok(nodes
        .iter()
        .map(|node| {
            let name = node["metadata"]["name"].as_str().unwrap_or_default();
            let inventory = &node["status"]["inventory"];
            Machine {
                name: name.to_owned(),
                ready: node["status"]["state"] == "Ready",
                unschedulable: node["spec"]["unschedulable"] == true,
                cpus: inventory["cpus"].as_u64().unwrap_or(0) as u32,
                cpu_model: inventory["cpuModel"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                gpus: inventory["gpus"]
                    .as_array()
                    .map(|gpus| {
                        gpus.iter()
                            .filter_map(|g| g["productName"].as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                load: load.get(name).copied().unwrap_or(0),
                links: serde_json::from_value(inventory["links"].clone()).ok(),
            }
        })
        .collect::<Vec<_>>())
    .map(|machines| (machines, taken))
}

/// Sends `command` to the daemon of `machine` in `zone`; its answer.
pub(super) async fn command(
    shared: &Shared,
    zone: &str,
    machine: &str,
    command: &Command,
) -> Result<CommandAnswer, String> {
    let session = shared
        .control
        .get()
        .ok_or("the control plane is not open yet")?;
    let payload = serde_json::to_vec(command).map_err(|e| e.to_string())?;
    let replies = session
        .get(cluster::command_key(zone, machine))
        .payload(payload)
        .timeout(COMMAND_TIMEOUT)
        .await
        .map_err(|e| format!("cannot reach machine `{machine}`: {e}"))?;
    match replies.recv_async().await {
        Ok(reply) => match reply.result() {
            Ok(sample) => serde_json::from_slice(&sample.payload().to_bytes())
                .map_err(|e| format!("machine `{machine}` answered what this coordinator does not understand ({e}); run the same dora version there")),
            Err(error) => Err(format!(
                "machine `{machine}` failed to answer: {}",
                String::from_utf8_lossy(&error.payload().to_bytes())
            )),
        },
        Err(_) => Err(format!(
            "machine `{machine}` did not answer within {}s; is its daemon running?",
            COMMAND_TIMEOUT.as_secs()
        )),
    }
}

/// `POST /api/v1/dataflows/{name}/start`: checks the dataflow, places it,
/// records it, and has the machine's daemon run it.
pub async fn start(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(place): Query<Place>,
    request: Result<Json<StartRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let caller = caller(&shared, &headers).await?;
    let Json(request) = request.map_err(|e| {
        ApiError::bad_request(
            e.body_text(),
            "send {\"source\": TEXT, \"file\": PATH, \"folder\": PATH}, as `dora start` does",
        )
    })?;
    if let Some(problem) = keys::name_problem(&name) {
        return Err(ApiError::bad_request(
            format!("`{name}` cannot name a dataflow: {problem}"),
            "choose another --name",
        ));
    }
    let (zone, workspace) = read_place(Kind::Dataflow, &place, &caller);
    let (zone, workspace) = (zone.unwrap_or_default(), workspace.unwrap_or_default());
    caller.authorize(Verb::Start, Kind::Dataflow, Some(&workspace))?;
    let read = match &request.dataflow {
        Some(dataflow) => dataflow.to_string(),
        None => request.source.clone(),
    };
    let (content, diagnostics) = check_source(&read, None);
    let dataflow = match content {
        Content::Dataflow(dataflow) if !diagnostics.iter().any(Diagnostic::is_error) => dataflow,
        Content::Resources(_) => {
            return Err(ApiError::bad_request(
                format!("{} holds cluster resources, not a dataflow", request.file),
                "apply resources with `dora apply -f`; start a dataflow file (`nodes:`)",
            ))
        }
        _ => return Err(invalid(&diagnostics)),
    };
    let id = super::auth::new_id()?;
    let key = keys::key(Kind::Dataflow, Some(&zone), Some(&workspace), &name);
    let user = caller.user.clone();
    let tls = shared.endpoints.iter().all(|e| e.starts_with("tls/"));
    let (placed, listen_on) = {
        let (key, zone, workspace, name, id) = (
            key.clone(),
            zone.clone(),
            workspace.clone(),
            name.clone(),
            id.clone(),
        );
        let spec = serde_json::to_value(&dataflow).map_err(ApiError::internal)?;
        let request_fields = json!({
            "source": request.source, "file": request.file, "folder": request.folder,
        });
        blocking(&shared, move |s| {
            let _order = s.write_order.lock().map_err(ApiError::internal)?;
            if let Some(current) = s.store.get(&key)? {
                let state = current["status"]["state"].as_str().unwrap_or_default();
                if ACTIVE.contains(&state) {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "conflict",
                        format!("dataflow `{name}` is {state} (run {})", current["status"]["id"].as_str().unwrap_or("?")),
                        format!("stop it first (`dora stop {name}`), or start this one with another --name"),
                    ));
                }
            }
            let unplaceable = |problems: Vec<String>| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unplaceable",
                    format!("dataflow `{name}` cannot be placed: {}", problems.join("; ")),
                    "join a machine that fits (`dora daemon`), or change the nodes' `deploy`",
                )
            };
            let (machines, taken) = machines(s, &zone)?;
            let placed = placement::place(&dataflow, &zone, &machines).map_err(unplaceable)?;
            let used = placed.used();
            let listen_on = if used.len() > 1 {
                let links = machines
                    .iter()
                    .map(|m| (m.name.clone(), m.links.clone()))
                    .collect();
                let readers = listen::remote_readers(&dataflow, &placed.machines);
                listen::assign(&readers, &placed.machines, &links, &taken, tls)
                    .map_err(unplaceable)?
            } else {
                BTreeMap::new()
            };
            let object = json!({
                "apiVersion": "v1",
                "kind": "Dataflow",
                "metadata": {"name": name, "zone": zone, "workspace": workspace},
                "spec": spec,
            });
            let audit = AuditRecord {
                time: store::now(),
                user,
                verb: "Start".to_owned(),
                targets: vec![key.clone()],
                revision: None,
            };
            let write = Write { key: key.clone(), object, expected_version: None };
            let (_, mut changes) = s.store.apply(vec![write], audit)?;
            let parts: Map<String, Json_> = used
                .iter()
                .map(|m| ((*m).to_owned(), json!({"state": "Starting"})))
                .collect();
            let mut fields = json!({
                "id": id,
                "state": "Starting",
                "machines": used,
                "nodeMachines": placed.machines,
                "placement": placed.reasons,
                "listen": listen_on,
                "parts": parts,
                "nodes": dataflow.nodes.len(),
                "running": 0,
                "ended": {},
                "restarts": {},
                "reason": null,
                "summary": null,
                "machine": null,
                "started": store::now(),
                "since": store::now(),
            });
            if let (Some(fields), Some(request)) = (fields.as_object_mut(), request_fields.as_object()) {
                fields.extend(request.clone());
            }
            changes.extend(s.store.update_status(&key, &status(fields))?);
            s.publish(changes);
            s.dataflows
                .runs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(
                    id.clone(),
                    RunPlace {
                        key: key.clone(),
                        zone: zone.clone(),
                        machines: used.iter().map(|m| (*m).to_owned()).collect(),
                    },
                );
            Ok((placed, listen_on))
        })
        .await?
    };
    let used: Vec<String> = placed.used().into_iter().map(str::to_owned).collect();
    let spread = used.len() > 1;
    let start = Command::Start {
        dataflow: id.clone(),
        name: name.clone(),
        source: request.source.clone(),
        file: request.file.clone(),
        folder: request.folder.clone(),
        machines: if spread {
            placed.machines.clone()
        } else {
            BTreeMap::new()
        },
        listen: listen_on,
    };
    // Every machine at once: a spread run's start-up barrier waits for
    // all of them.
    let answers = futures_util::future::join_all(
        used.iter()
            .map(|machine| command(&shared, &zone, machine, &start)),
    )
    .await;
    let mut refused = Vec::new();
    let mut started = Vec::new();
    for (machine, answer) in used.iter().zip(answers) {
        match answer {
            Ok(CommandAnswer::Done) => started.push(machine.clone()),
            Ok(CommandAnswer::Refused { reason }) => refused.push((machine.clone(), reason)),
            Ok(other) => {
                refused.push((machine.clone(), format!("an unexpected answer: {other:?}")))
            }
            Err(reason) => refused.push((machine.clone(), reason)),
        }
    }
    if !refused.is_empty() {
        // The machines that started their part stop it: the run cannot go
        // on without the others.
        let stop = Command::Stop {
            dataflow: id.clone(),
            grace_ms: 0,
        };
        for machine in &started {
            if let Err(error) = command(&shared, &zone, machine, &stop).await {
                eprintln!("error: cannot stop the part of machine `{machine}` of a run that failed to start: {error}");
            }
        }
        let each: Vec<String> = refused
            .iter()
            .map(|(machine, reason)| format!("`{machine}`: {reason}"))
            .collect();
        let reason = format!("machines did not start their part: {}", each.join("; "));
        let fields = json!({"state": "Failed", "reason": reason, "since": store::now()});
        blocking(&shared, move |s| {
            for (machine, reason) in refused {
                let part = json!({"state": "Failed", "failed": true, "reason": reason});
                update_part(s, &key, &machine, part)?;
            }
            set_status(s, &key, fields)
        })
        .await?;
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "machine_unavailable",
            format!("dataflow `{name}` was placed, but {reason}"),
            "check the machines (`dora describe machine NAME`), then start the dataflow again",
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "name": name, "zone": zone, "workspace": workspace, "id": id,
            "machines": used, "nodeMachines": placed.machines, "placement": placed.reasons,
        })),
    )
        .into_response())
}

/// The caller of a request about dataflow `name`, once it may `verb` it,
/// with the dataflow's zone, store key and stored object.
async fn stored(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    name: &str,
    place: &Place,
    verb: Verb,
) -> Result<(super::auth::Caller, Option<String>, String, Json_), ApiError> {
    let caller = caller(shared, headers).await?;
    let (zone, workspace) = read_place(Kind::Dataflow, place, &caller);
    caller.authorize(verb, Kind::Dataflow, workspace.as_deref())?;
    let key = keys::key(Kind::Dataflow, zone.as_deref(), workspace.as_deref(), name);
    let current = blocking(shared, {
        let key = key.clone();
        move |s| Ok(s.store.get(&key)?)
    })
    .await?
    .ok_or_else(|| missing(Kind::Dataflow, name, zone.as_deref(), workspace.as_deref()))?;
    Ok((caller, zone, key, current))
}

/// `?grace=` of a stop, in milliseconds.
#[derive(Debug, Default, Deserialize)]
pub struct StopQuery {
    #[serde(flatten)]
    place: Place,
    /// Text, since numbers do not survive a flattened query.
    grace_ms: Option<String>,
}

/// `POST /api/v1/dataflows/{name}/stop`: asks every machine that runs a
/// part of it to stop that part.
pub async fn stop(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<StopQuery>,
) -> Result<Response, ApiError> {
    let (caller, zone, key, current) =
        stored(&shared, &headers, &name, &query.place, Verb::Stop).await?;
    let status = &current["status"];
    let state = status["state"].as_str().unwrap_or("not started");
    if !ACTIVE.contains(&state) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_running",
            format!("dataflow `{name}` is not running: it is {state}"),
            format!("see how it ended with `dora describe dataflow {name}` and `dora logs {name}`"),
        ));
    }
    let id = status["id"].as_str().unwrap_or_default().to_owned();
    let machines: Vec<String> = machines_of(&current)
        .into_iter()
        .filter(|m| part_active(&current, m))
        .collect();
    let zone = zone.unwrap_or_default();
    let grace_ms = match query.grace_ms.as_deref().map(str::parse::<u64>) {
        None => crate::daemon::DEFAULT_GRACE.as_millis() as u64,
        Some(Ok(ms)) => ms,
        Some(Err(_)) => {
            return Err(ApiError::bad_request(
                "`grace_ms` is not a whole number of milliseconds",
                "give ?grace_ms=5000, or `dora stop NAME --grace 5s`",
            ))
        }
    };
    let audit = AuditRecord {
        time: store::now(),
        user: caller.user.clone(),
        verb: "Stop".to_owned(),
        targets: vec![key.clone()],
        revision: None,
    };
    blocking(&shared, {
        let key = key.clone();
        move |s| {
            s.store.audit(audit)?;
            set_status(s, &key, json!({"state": "Stopping", "since": store::now()}))
        }
    })
    .await?;
    let stop = Command::Stop {
        dataflow: id,
        grace_ms,
    };
    let answers = futures_util::future::join_all(
        machines
            .iter()
            .map(|machine| command(&shared, &zone, machine, &stop)),
    )
    .await;
    let mut unreached = Vec::new();
    for (machine, answer) in machines.iter().zip(answers) {
        match answer {
            Ok(CommandAnswer::Done) => {}
            // It ended without the coordinator hearing: find out how.
            Ok(CommandAnswer::Refused { .. }) => reconcile(&shared, &zone, machine).await,
            Ok(other) => {
                unreached.push(format!("`{machine}` gave an unexpected answer: {other:?}"))
            }
            Err(reason) => unreached.push(format!("`{machine}`: {reason}")),
        }
    }
    if !unreached.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "machine_unavailable",
            format!(
                "cannot stop dataflow `{name}` on every machine: {}",
                unreached.join("; ")
            ),
            "the other machines stop their nodes; those stop when their machine is back and is told again; try again later",
        ));
    }
    Ok(Json(json!({"name": name, "state": "Stopping", "graceMs": grace_ms})).into_response())
}

/// `?node=` and `?follow=1` of `dora logs`.
#[derive(Debug, Default, Deserialize)]
pub struct LogsQuery {
    #[serde(flatten)]
    place: Place,
    node: Option<String>,
    follow: Option<String>,
}

/// `GET /api/v1/dataflows/{name}/logs`: what its nodes printed and what
/// the launcher said, one JSON per line, from the start; with `?follow=1`,
/// then every new line until the dataflow ends.
pub async fn logs(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    let (_, _, key, current) = stored(&shared, &headers, &name, &query.place, Verb::Logs).await?;
    let Some(id) = current["status"]["id"].as_str().map(str::to_owned) else {
        return Err(ApiError::not_found(
            format!("dataflow `{name}` has not been started, so it has no log"),
            format!("start it with `dora start FILE --name {name}`"),
        ));
    };
    if let Some(node) = &query.node {
        let known = current["spec"]["nodes"]
            .as_array()
            .is_some_and(|nodes| nodes.iter().any(|n| n["id"] == **node));
        if !known {
            return Err(ApiError::not_found(
                format!("dataflow `{name}` has no node `{node}`"),
                format!("see its nodes with `dora describe dataflow {name}`"),
            ));
        }
    }
    let follow = flag(query.follow.as_deref());
    let file = shared.dataflows.log_file(&id);
    let node = query.node.clone();
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::task::spawn_blocking(move || {
        let mut offset = 0u64;
        loop {
            // Whether it had ended before this read: then this read is the
            // last one needed.
            let ended = !follow
                || shared
                    .store
                    .get(&key)
                    .ok()
                    .flatten()
                    .is_none_or(|d| !is_active(&d));
            match read_from(&file, &mut offset, node.as_deref()) {
                Ok(chunk) if !chunk.is_empty() => {
                    if sender.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    let _ = sender.blocking_send(Err(error));
                    return;
                }
            }
            // Done at the end, or when the client has gone.
            if ended || sender.is_closed() {
                return;
            }
            std::thread::sleep(FOLLOW_POLL);
        }
    });
    let body = Body::from_stream(tokio_stream_of(receiver));
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        body,
    )
        .into_response())
}

fn tokio_stream_of(
    mut receiver: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

/// The whole lines of `file` after `offset` (moved past them), those of
/// `node` only when given.
fn read_from(
    file: &std::path::Path,
    offset: &mut u64,
    node: Option<&str>,
) -> std::io::Result<Vec<u8>> {
    use std::io::{Seek, SeekFrom};
    let mut reader = std::io::BufReader::new(std::fs::File::open(file)?);
    reader.seek(SeekFrom::Start(*offset))?;
    let mut chunk = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            // A line still being written is read next time.
            return Ok(chunk);
        }
        *offset += n as u64;
        let wanted = node.is_none_or(|node| {
            serde_json::from_slice::<Json_>(&line).is_ok_and(|l| l["node"] == node)
        });
        if wanted {
            chunk.extend_from_slice(&line);
        }
    }
}

/// Follows every machine's reports until the process ends.
pub async fn follow_reports(shared: Arc<Shared>, session: zenoh::Session) {
    let subscriber = match session.declare_subscriber(REPORT_ALL).await {
        Ok(subscriber) => subscriber,
        Err(error) => {
            eprintln!("error: the dataflows' reports are not followed: {error}");
            return;
        }
    };
    while let Ok(sample) = subscriber.recv_async().await {
        let Some((zone, machine, id)) = parse_report_key(sample.key_expr().as_str()) else {
            continue;
        };
        let report: NumberedReport = match serde_json::from_slice(&sample.payload().to_bytes()) {
            Ok(report) => report,
            Err(error) => {
                eprintln!("warning: a report of dataflow run {id} this coordinator does not understand: {error}");
                continue;
            }
        };
        let from = (zone.to_owned(), machine.to_owned());
        let (shared, id) = (shared.clone(), id.to_owned());
        // Reports are applied in order: each waits for the one before.
        let handled = tokio::task::spawn_blocking({
            let shared = shared.clone();
            move || apply_report(&shared, &from, &id, Some(report.seq), report.report)
        })
        .await;
        match handled {
            Ok(Ok(after)) => after.carry_out(&shared).await,
            Ok(Err(error)) => eprintln!(
                "error: a dataflow report was not recorded: {}",
                error.message
            ),
            Err(_) => {}
        }
    }
}

/// What is left to do once a report is recorded: a run whose part on one
/// machine failed is stopped on the others.
#[must_use]
#[derive(Debug, Default)]
struct AfterReport {
    /// The run, its zone, and the machines still running a part of it.
    stop: Option<(String, String, Vec<String>)>,
}

impl AfterReport {
    async fn carry_out(self, shared: &Arc<Shared>) {
        let Some((id, zone, machines)) = self.stop else {
            return;
        };
        let stop = Command::Stop {
            dataflow: id,
            grace_ms: crate::daemon::DEFAULT_GRACE.as_millis() as u64,
        };
        for machine in machines {
            if let Err(reason) = command(shared, &zone, &machine, &stop).await {
                eprintln!("error: cannot stop the part of machine `{machine}`: {reason}");
            }
        }
    }
}

/// Updates machine `machine`'s part of the run stored under `key` with
/// `fields`, and the run as a whole: Running once every part runs, ended
/// once every part has ended (Failed when one failed or was lost). The
/// stored dataflow after it.
fn update_part(
    shared: &Shared,
    key: &str,
    machine: &str,
    fields: Json_,
) -> Result<Json_, ApiError> {
    let current = shared.store.get(key)?.unwrap_or_default();
    let mut parts = current["status"]["parts"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let part = parts.entry(machine.to_owned()).or_insert_with(|| json!({}));
    if let (Some(part), Json_::Object(fields)) = (part.as_object_mut(), fields) {
        part.extend(fields);
    }
    let mut update = json!({ "parts": parts });
    let states: Vec<&str> = parts
        .values()
        .map(|p| p["state"].as_str().unwrap_or_default())
        .collect();
    let stored_state = current["status"]["state"].as_str().unwrap_or_default();
    let lost = states.contains(&"Lost");
    if states.iter().all(|s| !PART_ACTIVE.contains(s)) {
        let stopped = stored_state == "Stopping";
        let (between, lost_failed) = unread_between_machines(&current, &parts, stopped);
        let failed = lost_failed
            || parts
                .values()
                .any(|p| p["failed"] == true || p["state"] == "Failed" || p["state"] == "Lost");
        let state = match (failed, stopped) {
            (true, _) => "Failed",
            (false, true) => "Stopped",
            (false, false) => "Succeeded",
        };
        // Each part's, under its machine's name when there are several.
        let each = |field: &str, joiner: &str| -> Vec<String> {
            parts
                .iter()
                .filter_map(|(machine, part)| {
                    let text = part[field].as_str()?;
                    Some(if parts.len() > 1 {
                        format!("machine `{machine}`:{joiner}{text}")
                    } else {
                        text.to_owned()
                    })
                })
                .collect()
        };
        let mut summary = each("summary", "\n");
        let reason = each("reason", " ");
        if !between.is_empty() {
            let id = current["status"]["id"].as_str().unwrap_or_default();
            let mut lines = vec!["between machines:".to_owned()];
            lines.extend(between.iter().map(|line| format!("  {line}")));
            for line in &lines {
                shared.dataflows.append(id, None, "", true, line);
            }
            summary.push(lines.join("\n"));
        }
        update["state"] = json!(state);
        update["running"] = json!(0);
        update["since"] = json!(store::now());
        if !summary.is_empty() {
            update["summary"] = json!(summary.join("\n"));
        }
        if !reason.is_empty() {
            update["reason"] = json!(reason.join("\n"));
        }
    } else if states
        .iter()
        .all(|s| *s == "Running" || !PART_ACTIVE.contains(s))
        && matches!(stored_state, "Starting" | "Running")
    {
        let state = if lost { "Degraded" } else { "Running" };
        if stored_state != state {
            update["state"] = json!(state);
            update["since"] = json!(store::now());
        }
    } else if lost && stored_state == "Running" {
        update["state"] = json!("Degraded");
        update["since"] = json!(store::now());
    }
    set_status(shared, key, update)?;
    Ok(shared.store.get(key)?.unwrap_or_default())
}

/// What nodes sent on one machine and readers on another never read, as
/// the parts counted them (`parts.*.edges`): a line per edge, and
/// whether any is a failure (the reader failed, or never ended well),
/// rather than what a stop or a reader's own end left unread.
fn unread_between_machines(
    dataflow: &Json_,
    parts: &Map<String, Json_>,
    stopped: bool,
) -> (Vec<String>, bool) {
    let counts: Vec<(&String, cluster::EdgeCounts)> = parts
        .iter()
        .filter_map(|(machine, part)| {
            Some((machine, serde_json::from_value(part["edges"].clone()).ok()?))
        })
        .collect();
    let sent: BTreeMap<&str, (&str, u64)> = counts
        .iter()
        .flat_map(|(machine, c)| {
            c.sent
                .iter()
                .map(move |(output, n)| (output.as_str(), (machine.as_str(), *n)))
        })
        .collect();
    let mut lines = Vec::new();
    let mut failed = false;
    for (machine, c) in &counts {
        for (input, read) in &c.read {
            let Some((from, sent)) = sent.get(read.from.as_str()) else {
                continue;
            };
            let unread = sent.saturating_sub(read.read);
            if unread == 0 {
                continue;
            }
            let reader = input.split('/').next().unwrap_or_default();
            let end = &dataflow["status"]["ended"][reader];
            let why = if stopped {
                "unread when the run stopped, or sent after"
            } else if end["failed"] == false {
                "sent after the reader had ended"
            } else {
                failed = true;
                "lost: the reader failed or its machine was lost"
            };
            lines.push(format!(
                "`{input}` on `{machine}` did not read {unread} of the {sent} messages `{}` sent on `{from}`: {why}",
                read.from
            ));
        }
    }
    (lines, failed)
}

/// Records report `seq` of run `id` from the daemon of machine `from`
/// (zone, name); a report about a run the machine has no part of is
/// refused, and reports that never came are counted and said in the log.
fn apply_report(
    shared: &Shared,
    from: &(String, String),
    id: &str,
    seq: Option<u64>,
    report: DataflowReport,
) -> Result<AfterReport, ApiError> {
    let Some(place) = shared.dataflows.place_of(id) else {
        return Ok(AfterReport::default());
    };
    let machine = from.1.as_str();
    if place.zone != from.0 || !place.machines.iter().any(|m| m == machine) {
        eprintln!(
            "warning: machine `{machine}` of zone `{}` reported on dataflow run {id}, which runs on {}; ignored",
            from.0,
            place.machines.join(", ")
        );
        return Ok(AfterReport::default());
    }
    let key = place.key;
    let logs = &shared.dataflows;
    let at = seq.map(|seq| (machine, seq));
    if let Some(seq) = seq {
        match logs.missed_before(id, machine, seq) {
            None => return Ok(AfterReport::default()),
            Some(0) => {}
            Some(missed) => {
                let text = format!(
                    "{missed} reports of machine `{machine}` (lines, events) did not reach the coordinator, which could not hear it meanwhile; the nodes' whole logs are on that machine, in the dataflow's folder under out/"
                );
                logs.append(id, None, "", true, &text);
                let current = shared.store.get(&key)?.unwrap_or_default();
                let lost = current["status"]["lostReports"].as_u64().unwrap_or(0) + missed;
                set_status(shared, &key, json!({ "lostReports": lost }))?;
            }
        }
    }
    let spread = place.machines.len() > 1;
    let mut after = AfterReport::default();
    match report {
        DataflowReport::Line { node, stderr, text } => logs.append(id, at, &node, stderr, &text),
        DataflowReport::Said { text } => logs.append(id, at, "", true, &text),
        DataflowReport::Event { node, event, text } => {
            logs.append(id, at, "", true, &text);
            if let cluster::RunEventKind::Restarting { restart, .. } = event {
                let current = shared.store.get(&key)?.unwrap_or_default();
                let mut restarts = current["status"]["restarts"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                restarts.insert(node, json!(restart));
                set_status(shared, &key, json!({ "restarts": restarts }))?;
            }
        }
        DataflowReport::Running { nodes } => {
            let text = if spread {
                format!("machine `{machine}`: its {nodes} nodes started")
            } else {
                format!("all {nodes} nodes started")
            };
            logs.append(id, at, "", true, &text);
            let before = shared.store.get(&key)?.unwrap_or_default();
            let after = update_part(
                shared,
                &key,
                machine,
                json!({"state": "Running", "running": nodes}),
            )?;
            let ended = after["status"]["ended"].as_object().map_or(0, Map::len) as u64;
            let total = after["status"]["nodes"].as_u64().unwrap_or(0);
            if after["status"]["state"] == "Running" {
                set_status(
                    shared,
                    &key,
                    json!({"running": total.saturating_sub(ended)}),
                )?;
                if spread && before["status"]["state"] != "Running" {
                    logs.append(id, None, "", true, &format!("all {total} nodes started"));
                }
            }
        }
        DataflowReport::NodeEnded {
            node,
            failed,
            status,
        } => {
            logs.append(id, at, "", true, &format!("node `{node}` ended: {status}"));
            record_node_end(shared, &key, &node, machine, failed, &status)?;
        }
        DataflowReport::Ended {
            failed,
            summary,
            edges,
        } => {
            if spread {
                logs.append(id, None, "", true, &format!("machine `{machine}`:"));
            }
            for line in summary.lines() {
                logs.append(id, at, "", true, line);
            }
            let state = if failed { "Failed" } else { "Ended" };
            let stored = update_part(
                shared,
                &key,
                machine,
                json!({"state": state, "failed": failed, "summary": summary, "running": 0, "edges": edges}),
            )?;
            if !is_active(&stored) {
                logs.close(id);
            }
        }
        DataflowReport::Failed { error } => {
            for line in error.lines() {
                logs.append(id, at, "", true, line);
            }
            let stored = update_part(
                shared,
                &key,
                machine,
                json!({"state": "Failed", "failed": true, "reason": error, "running": 0}),
            )?;
            if is_active(&stored) {
                // The rest of the run cannot go on without this part.
                let others: Vec<String> = place
                    .machines
                    .iter()
                    .filter(|m| *m != machine && part_active(&stored, m))
                    .cloned()
                    .collect();
                logs.append(
                    id,
                    None,
                    "",
                    true,
                    &format!(
                        "machine `{machine}` could not run its part; stopping the run on {}",
                        others.join(", ")
                    ),
                );
                set_status(
                    shared,
                    &key,
                    json!({"state": "Stopping", "since": store::now()}),
                )?;
                after.stop = Some((id.to_owned(), place.zone.clone(), others));
            } else {
                logs.close(id);
            }
        }
    }
    Ok(after)
}

/// Records that `node`, of `machine`, has ended for good.
fn record_node_end(
    shared: &Shared,
    key: &str,
    node: &str,
    machine: &str,
    failed: bool,
    status: &str,
) -> Result<(), ApiError> {
    let current = shared.store.get(key)?.unwrap_or_default();
    let mut ended = current["status"]["ended"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if ended.contains_key(node) {
        return Ok(());
    }
    ended.insert(
        node.to_owned(),
        json!({"failed": failed, "status": status, "machine": machine}),
    );
    let running = current["status"]["nodes"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(ended.len() as u64);
    set_status(shared, key, json!({"ended": ended, "running": running}))
}

/// Machine `machine` of `zone` has been out of reach for
/// [`MACHINE_LOST_AFTER`]: the nodes of the runs it had a part of are
/// reported lost, here and to the other machines of each run, whose
/// nodes that read them then see their inputs close. The rest of each
/// run goes on (`Degraded`) as its restart policies say.
pub async fn machine_lost(shared: &Arc<Shared>, zone: &str, machine: &str) {
    let lost = {
        let (zone, machine) = (zone.to_owned(), machine.to_owned());
        let shared = shared.clone();
        tokio::task::spawn_blocking(move || lose_parts(&shared, &zone, &machine)).await
    };
    let ends = match lost {
        Ok(Ok(ends)) => ends,
        Ok(Err(error)) => {
            eprintln!(
                "error: cannot record the loss of machine `{machine}`: {}",
                error.message
            );
            return;
        }
        Err(_) => return,
    };
    let Some(session) = shared.control.get() else {
        return;
    };
    for (id, said) in ends {
        let Ok(payload) = serde_json::to_vec(&said) else {
            continue;
        };
        let key = cluster::ended_key(zone, &id, &said.node);
        if let Err(error) = session.put(key, payload).await {
            eprintln!(
                "error: cannot tell the other machines that node `{}` was lost: {error}",
                said.node
            );
        }
    }
}

/// Marks the parts `machine` ran as lost; the ends to tell the other
/// machines, by run.
fn lose_parts(
    shared: &Shared,
    zone: &str,
    machine: &str,
) -> Result<Vec<(String, cluster::EndedElsewhere)>, ApiError> {
    let mut ends = Vec::new();
    for dataflow in shared.store.list(&format!("{}/", Kind::Dataflow))? {
        let status = &dataflow["status"];
        let (Some(id), Some(key)) = (status["id"].as_str(), object_key(&dataflow)) else {
            continue;
        };
        if dataflow["metadata"]["zone"] != *zone
            || !machines_of(&dataflow).iter().any(|m| m == machine)
            || !part_active(&dataflow, machine)
        {
            continue;
        }
        let why = format!(
            "lost: machine `{machine}` was out of reach for {}s",
            MACHINE_LOST_AFTER.as_secs()
        );
        let nodes: Vec<String> = match status["nodeMachines"].as_object() {
            Some(on) => on
                .iter()
                .filter(|(_, m)| *m == machine)
                .map(|(node, _)| node.clone())
                .collect(),
            None => status["placement"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default(),
        };
        let logs = &shared.dataflows;
        logs.append(
            id,
            None,
            "",
            true,
            &format!("machine `{machine}` is lost: its nodes are reported lost"),
        );
        for node in nodes {
            if status["ended"][&node].is_object() {
                continue;
            }
            logs.append(id, None, "", true, &format!("node `{node}` ended: {why}"));
            record_node_end(shared, &key, &node, machine, true, &why)?;
            ends.push((
                id.to_owned(),
                cluster::EndedElsewhere {
                    node,
                    machine: machine.to_owned(),
                    failed: true,
                    status: why.clone(),
                },
            ));
        }
        let stored = update_part(
            shared,
            &key,
            machine,
            json!({"state": "Lost", "failed": true, "reason": why, "running": 0}),
        )?;
        if !is_active(&stored) {
            logs.close(id);
        }
    }
    Ok(ends)
}

/// Brings the dataflows recorded on `machine` up to date with what its
/// daemon runs: when it comes back (a restart, a cut link, a coordinator
/// that restarted), reports may have been missed. A part that was
/// reported lost meanwhile and still runs there is stopped: the rest of
/// its run has gone on without it.
pub async fn reconcile(shared: &Arc<Shared>, zone: &str, machine: &str) {
    // Its inventory first: a restarted daemon looked at the machine again.
    if let Ok(CommandAnswer::Inventory { inventory }) =
        command(shared, zone, machine, &Command::Inventory).await
    {
        let key = keys::key(Kind::Node, Some(zone), None, machine);
        let fields = json!({ "inventory": inventory });
        let updated = blocking(shared, move |s| set_status(s, &key, fields)).await;
        if let Err(error) = updated {
            eprintln!(
                "error: cannot record the inventory of machine `{machine}`: {}",
                error.message
            );
        }
    }
    let (running, ended) = match command(shared, zone, machine, &Command::List).await {
        Ok(CommandAnswer::Running { dataflows, ended }) => (dataflows, ended),
        _ => return,
    };
    let done = {
        let (shared, zone, machine) = (shared.clone(), zone.to_owned(), machine.to_owned());
        let running = running.clone();
        tokio::task::spawn_blocking(move || -> Result<Vec<AfterReport>, ApiError> {
            let mut after = Vec::new();
            for dataflow in shared.store.list(&format!("{}/", Kind::Dataflow))? {
                let status = &dataflow["status"];
                let Some(id) = status["id"].as_str() else {
                    continue;
                };
                let here = machines_of(&dataflow).contains(&machine)
                    && dataflow["metadata"]["zone"] == *zone;
                if !here
                    || !part_active(&dataflow, &machine)
                    || running.iter().any(|r| r == id)
                {
                    continue;
                }
                let (seq, report) = match ended.get(id) {
                    Some(last) => (Some(last.seq), last.report.clone()),
                    None => (None, DataflowReport::Failed {
                        error: format!("the daemon of machine `{machine}` no longer runs it: it restarted, and the nodes ended with it"),
                    }),
                };
                after.push(apply_report(&shared, &(zone.clone(), machine.clone()), id, seq, report)?);
            }
            Ok(after)
        })
        .await
    };
    match done {
        Ok(Ok(after)) => {
            for after in after {
                after.carry_out(shared).await;
            }
        }
        Ok(Err(error)) => eprintln!(
            "error: cannot bring the dataflows up to date: {}",
            error.message
        ),
        Err(_) => {}
    }
    // Parts it still runs that the cluster has given up on.
    let lost: Vec<String> = {
        let shared = shared.clone();
        let machine = machine.to_owned();
        tokio::task::spawn_blocking(move || {
            shared
                .store
                .list(&format!("{}/", Kind::Dataflow))
                .unwrap_or_default()
                .iter()
                .filter(|d| d["status"]["parts"][&machine]["state"] == "Lost")
                .filter_map(|d| d["status"]["id"].as_str().map(str::to_owned))
                .collect()
        })
        .await
        .unwrap_or_default()
    };
    for id in running.into_iter().filter(|id| lost.contains(id)) {
        let stop = Command::Stop {
            dataflow: id.clone(),
            grace_ms: 0,
        };
        if let Err(error) = command(shared, zone, machine, &stop).await {
            eprintln!("error: cannot stop run {id} on machine `{machine}`, which was reported lost: {error}");
        }
    }
}

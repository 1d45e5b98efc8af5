//! Dataflows run on the cluster: `dora start` places a dataflow on a
//! machine and tells its daemon to run it; the daemon's reports keep the
//! `Dataflow` resource's status and the dataflow's log; `dora stop` asks
//! the daemon to stop it; `dora logs` reads the log, also after the end.
//!
//! A dataflow's status: `id` (of this run), `state` (Starting, Running,
//! Stopping, Succeeded, Failed, Stopped), `machine`, `placement` (why each
//! node is there), `nodes` and `running` (counts), `ended` (each node's
//! end), `reason` (why it failed), `summary` (as `dora run` prints it),
//! and what the daemon needs: `source`, `file`, `folder`.

use std::collections::{BTreeMap, HashMap};
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
use crate::placement::{self, Machine};

/// How long the coordinator waits for a daemon to answer a command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// How often `dora logs -f` looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// States in which a dataflow's nodes may run.
const ACTIVE: [&str; 3] = ["Starting", "Running", "Stopping"];

/// Where a run is recorded, and the machine whose reports it takes.
#[derive(Debug, Clone)]
struct RunPlace {
    key: String,
    zone: String,
    machine: String,
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
    /// Per run: the number of the next report expected.
    next: Mutex<HashMap<String, u64>>,
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
            if let (Some(id), Some(key), Some(machine)) = (
                status["id"].as_str(),
                object_key(&dataflow),
                status["machine"].as_str(),
            ) {
                let zone = dataflow["metadata"]["zone"].as_str().unwrap_or_default();
                runs.insert(
                    id.to_owned(),
                    RunPlace {
                        key,
                        zone: zone.to_owned(),
                        machine: machine.to_owned(),
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
    /// report it came from.
    fn append(&self, id: &str, seq: Option<u64>, node: &str, stderr: bool, text: &str) {
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
        if let Some(seq) = seq {
            line["seq"] = json!(seq);
        }
        let _ = writeln!(file, "{line}");
    }

    /// How many reports of run `id` were missed before report `seq`
    /// (`None` for one already recorded). After a restart of the
    /// coordinator the count goes on from the last report in the log.
    fn missed_before(&self, id: &str, seq: u64) -> Option<u64> {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let expected = *next
            .entry(id.to_owned())
            .or_insert_with(|| self.last_logged(id).map_or(0, |last| last + 1));
        if seq < expected {
            return None;
        }
        next.insert(id.to_owned(), seq + 1);
        Some(seq - expected)
    }

    /// The number of the last report in run `id`'s log.
    fn last_logged(&self, id: &str) -> Option<u64> {
        let file = std::fs::File::open(self.log_file(id)).ok()?;
        std::io::BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| serde_json::from_str::<Json_>(&line).ok()?["seq"].as_u64())
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

/// The machines of `zone`, with the nodes of active dataflows on each.
fn machines(shared: &Shared, zone: &str) -> Result<Vec<Machine>, ApiError> {
    let mut load: BTreeMap<String, usize> = BTreeMap::new();
    for dataflow in shared.store.list(&format!("{}/", Kind::Dataflow))? {
        let status = &dataflow["status"];
        if is_active(&dataflow) {
            if let Some(machine) = status["machine"].as_str() {
                *load.entry(machine.to_owned()).or_default() +=
                    status["nodes"].as_u64().unwrap_or(0) as usize;
            }
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
            }
        })
        .collect())
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
    let start = Command::Start {
        dataflow: id.clone(),
        name: name.clone(),
        source: request.source.clone(),
        file: request.file.clone(),
        folder: request.folder.clone(),
    };
    let user = caller.user.clone();
    let (machine, placement) = {
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
            let placed = placement::place(&dataflow, &zone, &machines(s, &zone)?).map_err(|problems| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unplaceable",
                    format!("dataflow `{name}` cannot be placed: {}", problems.join("; ")),
                    "join a machine that fits (`dora daemon`), or change the nodes' `deploy`",
                )
            })?;
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
            let mut fields = json!({
                "id": id,
                "state": "Starting",
                "machine": placed.machine,
                "placement": placed.reasons,
                "nodes": dataflow.nodes.len(),
                "running": 0,
                "ended": {},
                "restarts": {},
                "reason": null,
                "summary": null,
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
                        machine: placed.machine.clone(),
                    },
                );
            Ok((placed.machine, placed.reasons))
        })
        .await?
    };
    let refused = match command(&shared, &zone, &machine, &start).await {
        Ok(CommandAnswer::Done) => None,
        Ok(CommandAnswer::Refused { reason }) => Some(reason),
        Ok(other) => Some(format!("an unexpected answer: {other:?}")),
        Err(reason) => Some(reason),
    };
    if let Some(reason) = refused {
        let fields = json!({"state": "Failed", "reason": reason, "since": store::now()});
        blocking(&shared, move |s| set_status(s, &key, fields)).await?;
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "machine_unavailable",
            format!("dataflow `{name}` was placed on machine `{machine}`, which did not start it: {reason}"),
            "check the machine (`dora describe machine NAME`), then start the dataflow again",
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "name": name, "zone": zone, "workspace": workspace, "id": id,
            "machine": machine, "placement": placement,
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

/// `POST /api/v1/dataflows/{name}/stop`: asks the machine to stop it.
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
    let (id, machine) = (
        status["id"].as_str().unwrap_or_default().to_owned(),
        status["machine"].as_str().unwrap_or_default().to_owned(),
    );
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
    match command(&shared, &zone, &machine, &stop).await {
        Ok(CommandAnswer::Done) => {}
        // It ended without the coordinator hearing: find out how.
        Ok(CommandAnswer::Refused { .. }) => reconcile(&shared, &zone, &machine).await,
        Ok(other) => {
            return Err(ApiError::internal(format!(
                "machine `{machine}` gave an unexpected answer: {other:?}"
            )))
        }
        Err(reason) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "machine_unavailable",
                format!("cannot stop dataflow `{name}` on machine `{machine}`: {reason}"),
                "its nodes stop when the machine is back and is told again; try again later",
            ))
        }
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
        let handled = tokio::task::spawn_blocking(move || {
            apply_report(&shared, &from, &id, Some(report.seq), report.report)
        })
        .await;
        if let Ok(Err(error)) = handled {
            eprintln!(
                "error: a dataflow report was not recorded: {}",
                error.message
            );
        }
    }
}

/// Records report `seq` of run `id` from the daemon of machine `from`
/// (zone, name); a report about a run of another machine is refused, and
/// reports that never came are counted and said in the log.
fn apply_report(
    shared: &Shared,
    from: &(String, String),
    id: &str,
    seq: Option<u64>,
    report: DataflowReport,
) -> Result<(), ApiError> {
    let Some(place) = shared.dataflows.place_of(id) else {
        return Ok(());
    };
    if (&place.zone, &place.machine) != (&from.0, &from.1) {
        eprintln!(
            "warning: machine `{}` of zone `{}` reported on dataflow run {id}, which runs on `{}`; ignored",
            from.1, from.0, place.machine
        );
        return Ok(());
    }
    let key = place.key;
    let logs = &shared.dataflows;
    if let Some(seq) = seq {
        match logs.missed_before(id, seq) {
            None => return Ok(()),
            Some(0) => {}
            Some(missed) => {
                let text = format!(
                    "{missed} reports of machine `{}` (lines, events) did not reach the coordinator, which could not hear it meanwhile; the nodes' whole logs are on that machine, in the dataflow's folder under out/",
                    place.machine
                );
                logs.append(id, None, "", true, &text);
                let current = shared.store.get(&key)?.unwrap_or_default();
                let lost = current["status"]["lostReports"].as_u64().unwrap_or(0) + missed;
                set_status(shared, &key, json!({ "lostReports": lost }))?;
            }
        }
    }
    match report {
        DataflowReport::Line { node, stderr, text } => logs.append(id, seq, &node, stderr, &text),
        DataflowReport::Said { text } => logs.append(id, seq, "", true, &text),
        DataflowReport::Event { node, event, text } => {
            logs.append(id, seq, "", true, &text);
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
            logs.append(id, seq, "", true, &format!("all {nodes} nodes started"));
            set_status(
                shared,
                &key,
                json!({"state": "Running", "running": nodes, "since": store::now()}),
            )?;
        }
        DataflowReport::NodeEnded {
            node,
            failed,
            status,
        } => {
            logs.append(id, seq, "", true, &format!("node `{node}` ended: {status}"));
            let current = shared.store.get(&key)?.unwrap_or_default();
            let mut ended = current["status"]["ended"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            ended.insert(node, json!({"failed": failed, "status": status}));
            let running = current["status"]["nodes"]
                .as_u64()
                .unwrap_or(0)
                .saturating_sub(ended.len() as u64);
            set_status(shared, &key, json!({"ended": ended, "running": running}))?;
        }
        DataflowReport::Ended { failed, summary } => {
            for line in summary.lines() {
                logs.append(id, seq, "", true, line);
            }
            logs.close(id);
            let current = shared.store.get(&key)?.unwrap_or_default();
            let stopping = current["status"]["state"] == "Stopping";
            let state = match (failed, stopping) {
                (true, _) => "Failed",
                (false, true) => "Stopped",
                (false, false) => "Succeeded",
            };
            set_status(
                shared,
                &key,
                json!({"state": state, "running": 0, "summary": summary, "since": store::now()}),
            )?;
        }
        DataflowReport::Failed { error } => {
            for line in error.lines() {
                logs.append(id, seq, "", true, line);
            }
            logs.close(id);
            set_status(
                shared,
                &key,
                json!({"state": "Failed", "running": 0, "reason": error, "since": store::now()}),
            )?;
        }
    }
    Ok(())
}

/// Brings the dataflows recorded on `machine` up to date with what its
/// daemon runs: when it comes back (a restart, a cut link, a coordinator
/// that restarted), reports may have been missed.
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
    let (shared, zone, machine) = (shared.clone(), zone.to_owned(), machine.to_owned());
    let done = tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        for dataflow in shared.store.list(&format!("{}/", Kind::Dataflow))? {
            let status = &dataflow["status"];
            let Some(id) = status["id"].as_str() else {
                continue;
            };
            let here = status["machine"] == *machine && dataflow["metadata"]["zone"] == *zone;
            if !here
                || !is_active(&dataflow)
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
            apply_report(&shared, &(zone.clone(), machine.clone()), id, seq, report)?;
        }
        Ok(())
    })
    .await;
    if let Ok(Err(error)) = done {
        eprintln!(
            "error: cannot bring the dataflows up to date: {}",
            error.message
        );
    }
}

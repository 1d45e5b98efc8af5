//! `dora logs workload/NAME [--replica I] [-f]`: what a workload's
//! containers printed, read from each machine's engine by its daemon and
//! passed on as it comes, one JSON line per line printed:
//! `{"replica": I, "text": ..., "stderr": true}`. Lines that did not
//! reach the coordinator are counted in a line of their own.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use dora_core::protocol::cluster::{output_key, Command, CommandAnswer, OutputChunk};
use dora_core::resource::{Kind, Verb};
use serde::Deserialize;
use serde_json::{json, Value as Json};
use tokio::sync::mpsc;

use super::super::api::{blocking, caller, flag, missing, read_place, Place};
use super::super::dataflows::command;
use super::super::error::ApiError;
use super::super::{keys, Shared};

/// `?replica=`, `?follow=1`, `?zone=`, `?workspace=`.
#[derive(Debug, Default, Deserialize)]
pub struct LogsQuery {
    #[serde(flatten)]
    place: Place,
    replica: Option<String>,
    follow: Option<String>,
}

/// One replica whose container can be read: where, and which.
pub(super) struct Readable {
    pub(super) index: u64,
    pub(super) zone: String,
    pub(super) machine: String,
    pub(super) uid: String,
}

/// `GET /api/v1/workloads/{name}/logs`.
pub async fn logs(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    let (zone, workspace, replica) = target(
        &shared,
        &headers,
        &query.place,
        query.replica.as_deref(),
        Verb::Logs,
    )
    .await?;
    let follow = flag(query.follow.as_deref());
    let (found, notes) = {
        let (zone, workspace, name) = (zone.clone(), workspace.clone(), name.clone());
        blocking(&shared, move |s| {
            readable(s, &zone, &workspace, &name, replica)
        })
        .await?
    };
    // Room for every note at once: none is dropped before the reader
    // starts reading.
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(256 + notes.len());
    for note in notes {
        sender
            .try_send(Ok(line(&note)))
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    for replica in found {
        let (shared, sender) = (shared.clone(), sender.clone());
        tokio::spawn(async move { pass_on(&shared, replica, follow, sender).await });
    }
    drop(sender);
    let body = Body::from_stream(futures_util::stream::unfold(
        receiver,
        |mut receiver| async { receiver.recv().await.map(|item| (item, receiver)) },
    ));
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        body,
    )
        .into_response())
}

/// The zone and workspace a request about a workload's replicas names,
/// and the replica it asks for, once its caller may `verb` workloads
/// there.
pub(super) async fn target(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    place: &Place,
    replica: Option<&str>,
    verb: Verb,
) -> Result<(String, String, Option<u64>), ApiError> {
    let caller = caller(shared, headers).await?;
    let (zone, workspace) = read_place(Kind::Workload, place, &caller);
    let (zone, workspace) = (zone.unwrap_or_default(), workspace.unwrap_or_default());
    caller.authorize(verb, Kind::Workload, Some(&workspace))?;
    let replica = match replica.map(str::parse::<u64>) {
        None => None,
        Some(Ok(index)) => Some(index),
        Some(Err(_)) => {
            return Err(ApiError::bad_request(
                "`replica` is not a replica's index",
                "give --replica 0 for the first replica",
            ))
        }
    };
    Ok((zone, workspace, replica))
}

fn line(value: &Json) -> Bytes {
    Bytes::from(format!("{value}\n"))
}

/// The replicas of workload `name` to read (replica `only`, or all), and
/// a line for each that has no container to read.
pub(super) fn readable(
    shared: &Shared,
    zone: &str,
    workspace: &str,
    name: &str,
    only: Option<u64>,
) -> Result<(Vec<Readable>, Vec<Json>), ApiError> {
    let key = keys::key(Kind::Workload, Some(zone), Some(workspace), name);
    let Some(workload) = shared.store.get(&key)? else {
        return Err(missing(Kind::Workload, name, Some(zone), Some(workspace)));
    };
    let prefix = keys::prefix(Kind::Container, Some(zone), Some(workspace));
    let mut replicas: Vec<Json> = shared
        .store
        .list(&prefix)?
        .into_iter()
        .filter(|c| c["spec"]["workload"] == name)
        .collect();
    replicas.sort_by_key(|c| c["spec"]["replica"].as_u64());
    if let Some(only) = only {
        replicas.retain(|c| c["spec"]["replica"].as_u64() == Some(only));
        if replicas.is_empty() {
            let count = workload["spec"]["replica"]["count"].as_u64().unwrap_or(1);
            return Err(ApiError::not_found(
                format!("workload `{name}` has no replica {only}; it has {count}, from 0"),
                "give --replica with one of them, or leave it out for all",
            ));
        }
    }
    let mut found = Vec::new();
    let mut notes = Vec::new();
    for replica in replicas {
        let index = replica["spec"]["replica"].as_u64().unwrap_or(0);
        let status = &replica["status"];
        let machine = replica["spec"]["machine"].as_str().unwrap_or_default();
        match (status["uid"].as_str(), status["containerId"].is_string()) {
            (Some(uid), true) if !machine.is_empty() => found.push(Readable {
                index,
                zone: zone.to_owned(),
                machine: machine.to_owned(),
                uid: uid.to_owned(),
            }),
            _ => notes.push(json!({
                "replica": index,
                "stderr": true,
                "text": format!(
                    "(replica {index} has no container to read: it is {}{})",
                    status["state"].as_str().unwrap_or("unknown"),
                    status["reason"].as_str().map_or(String::new(), |r| format!(", {r}"))
                ),
            })),
        }
    }
    Ok((found, notes))
}

/// Has the replica's daemon publish its container's output, and passes
/// it on until it ends or the reader leaves.
async fn pass_on(
    shared: &Arc<Shared>,
    replica: Readable,
    follow: bool,
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let index = replica.index;
    let say = |text: String| {
        Ok(line(
            &json!({"replica": index, "stderr": true, "text": text}),
        ))
    };
    let Some(session) = shared.control.get() else {
        let _ = sender
            .send(say("(the control plane is not open yet)".to_owned()))
            .await;
        return;
    };
    let stream = match super::super::auth::new_id() {
        Ok(id) => id,
        Err(error) => {
            let _ = sender.send(say(error.message)).await;
            return;
        }
    };
    let subscriber = match session.declare_subscriber(output_key(&stream)).await {
        Ok(subscriber) => subscriber,
        Err(error) => {
            let _ = sender
                .send(say(format!("(cannot read the output: {error})")))
                .await;
            return;
        }
    };
    let asked = Command::ContainerLogs {
        uid: replica.uid.clone(),
        follow,
        stream: stream.clone(),
    };
    match command(shared, &replica.zone, &replica.machine, &asked).await {
        Ok(CommandAnswer::Done) => {}
        Ok(CommandAnswer::Refused { reason }) => {
            let _ = sender.send(say(format!("({reason})"))).await;
            return;
        }
        Ok(other) => {
            let _ = sender
                .send(say(format!("(an unexpected answer: {other:?})")))
                .await;
            return;
        }
        Err(reason) => {
            let _ = sender.send(say(format!("({reason})"))).await;
            return;
        }
    }
    let mut next = 0u64;
    loop {
        let sample = tokio::select! {
            sample = subscriber.recv_async() => sample,
            _ = sender.closed() => break,
        };
        let Ok(sample) = sample else { break };
        let Ok(chunk) = serde_json::from_slice::<OutputChunk>(&sample.payload().to_bytes()) else {
            continue;
        };
        if chunk.seq > next {
            let lost = chunk.seq - next;
            if sender
                .send(say(format!(
                    "({lost} lines of replica {index} did not reach the coordinator)"
                )))
                .await
                .is_err()
            {
                break;
            }
        }
        next = chunk.seq + 1;
        if chunk.end.is_some() {
            return;
        }
        let out = json!({"replica": index, "stderr": chunk.stderr, "text": chunk.text});
        if sender.send(Ok(line(&out))).await.is_err() {
            break;
        }
    }
    // The reader left first: the daemon stops reading.
    let _ = command(
        shared,
        &replica.zone,
        &replica.machine,
        &Command::EndOutput { stream },
    )
    .await;
}

//! `dora exec workload/NAME [--replica I] -- CMD`: the request is checked
//! and authorised like any other (verb `Exec`), then the connection is
//! switched (HTTP upgrade to `dora-exec`) and carries frames both ways
//! between the CLI and the replica's daemon, which runs the command in
//! the container.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dora_core::protocol::cluster::{
    exec_input_key, exec_output_key, Command, CommandAnswer, ExecFrame,
};
use dora_core::resource::Verb;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::api::{blocking, flag, Place};
use super::super::dataflows::command;
use super::super::error::ApiError;
use super::super::Shared;
use super::logs::{readable, target};

/// The protocol the connection switches to.
pub const PROTOCOL: &str = "dora-exec";

/// The largest frame the CLI may send.
const FRAME_MAX: usize = 1 << 20;

/// `?replica=`, `?tty=1`, `?cmd=` (a JSON list of words), and the place.
#[derive(Debug, Default, Deserialize)]
pub struct ExecQuery {
    #[serde(flatten)]
    place: Place,
    replica: Option<String>,
    tty: Option<String>,
    cmd: Option<String>,
}

/// `POST /api/v1/workloads/{name}/exec`.
pub async fn exec(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<ExecQuery>,
    mut request: Request,
) -> Result<Response, ApiError> {
    let (zone, workspace, replica) = target(
        &shared,
        &headers,
        &query.place,
        query.replica.as_deref(),
        Verb::Exec,
    )
    .await?;
    let cmd: Vec<String> = query
        .cmd
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .filter(|c: &Vec<String>| !c.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "`cmd` is not a JSON list of the command's words",
                "run `dora exec workload/NAME -- COMMAND ARGS...`",
            )
        })?;
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case(PROTOCOL));
    if !upgrade {
        return Err(ApiError::bad_request(
            format!("exec needs a connection that switches to `{PROTOCOL}`"),
            "use `dora exec`",
        ));
    }
    let index = replica.unwrap_or(0);
    let tty = flag(query.tty.as_deref());
    let (found, notes) = {
        let (zone, workspace, name) = (zone.clone(), workspace.clone(), name.clone());
        blocking(&shared, move |s| {
            readable(s, &zone, &workspace, &name, Some(index))
        })
        .await?
    };
    let Some(replica) = found.into_iter().next() else {
        let why = notes
            .first()
            .and_then(|n| n["text"].as_str())
            .unwrap_or("it has no container")
            .to_owned();
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_running",
            format!(
                "cannot run the command in workload `{name}`: {}",
                why.trim_matches(['(', ')'])
            ),
            format!("see it with `dora describe workload {name}`"),
        ));
    };
    let session = shared
        .control
        .get()
        .ok_or_else(|| ApiError::internal("the control plane is not open yet"))?
        .clone();
    let stream = super::super::auth::new_id()?;
    let output = session
        .declare_subscriber(exec_output_key(&stream))
        .await
        .map_err(ApiError::internal)?;
    let asked = Command::Exec {
        uid: replica.uid.clone(),
        cmd,
        tty,
        stream: stream.clone(),
    };
    let refused = match command(&shared, &replica.zone, &replica.machine, &asked).await {
        Ok(CommandAnswer::Done) => None,
        Ok(CommandAnswer::Refused { reason }) => Some(reason),
        Ok(other) => Some(format!("an unexpected answer: {other:?}")),
        Err(reason) => Some(reason),
    };
    if let Some(reason) = refused {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "machine_unavailable",
            format!(
                "machine `{}` did not run the command: {reason}",
                replica.machine
            ),
            "check the replica with `dora describe workload`, then try again",
        ));
    }
    let switched = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match switched.await {
            Ok(upgraded) => bridge(TokioIo::new(upgraded), session, output, stream).await,
            Err(error) => {
                eprintln!("warning: an exec connection was not switched: {error}");
                let _ = session
                    .put(exec_input_key(&stream), ExecFrame::StdinEnd.to_message())
                    .await;
            }
        }
    });
    Ok((
        StatusCode::SWITCHING_PROTOCOLS,
        [(header::CONNECTION, "upgrade"), (header::UPGRADE, PROTOCOL)],
    )
        .into_response())
}

/// Carries frames between the CLI's connection and the daemon until the
/// command ends or the CLI leaves (which closes the command's input).
async fn bridge(
    connection: TokioIo<hyper::upgrade::Upgraded>,
    session: zenoh::Session,
    output: zenoh::pubsub::Subscriber<zenoh::handlers::FifoChannelHandler<zenoh::sample::Sample>>,
    stream: String,
) {
    let (mut from_cli, mut to_cli) = tokio::io::split(connection);
    let input_key = exec_input_key(&stream);
    let feeding = tokio::spawn(async move {
        let mut head = [0u8; 5];
        loop {
            if from_cli.read_exact(&mut head).await.is_err() {
                break;
            }
            let length = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
            if length > FRAME_MAX {
                break;
            }
            let mut bytes = vec![0; length];
            if from_cli.read_exact(&mut bytes).await.is_err() {
                break;
            }
            let Some(frame) = ExecFrame::decode(head[0], &bytes) else {
                continue;
            };
            if session.put(&input_key, frame.to_message()).await.is_err() {
                return;
            }
        }
        // The CLI left or stopped sending: the command's input ends.
        let _ = session
            .put(&input_key, ExecFrame::StdinEnd.to_message())
            .await;
    });
    while let Ok(sample) = output.recv_async().await {
        let Some(frame) = ExecFrame::from_message(&sample.payload().to_bytes()) else {
            continue;
        };
        let last = matches!(frame, ExecFrame::Exit(_) | ExecFrame::Error(_));
        if to_cli.write_all(&frame.to_wire()).await.is_err() || last {
            break;
        }
    }
    let _ = to_cli.shutdown().await;
    feeding.abort();
}

//! The HTTP API under `/api/v1/`: resources in the JSON form of their YAML,
//! tokens, the audit log. Every call is authenticated and authorised.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use dora_core::diagnostic::Diagnostic;
use dora_core::resource::{self, Kind, Resource, Verb};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json_};

use super::auth::{self, Caller};
use super::dataflows;
use super::error::ApiError;
use super::keys;
use super::store::{self, AuditRecord, Change, Outcome, Token, Write};
use super::Shared;
use dora_core::protocol::cluster::{self, JoinAnswer, JoinRequest};

/// The largest request body: far more than any real set of resources, and
/// small enough that a mistaken upload cannot exhaust the coordinator.
pub const MAX_BODY: usize = 8 << 20;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/apply", post(apply))
        .route("/api/v1/resources/{kind}", get(list_or_watch))
        .route(
            "/api/v1/resources/{kind}/{name}",
            get(get_one).delete(delete_one),
        )
        .route("/api/v1/tokens", post(create_token).get(list_tokens))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .route("/api/v1/events", get(events))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/join", post(join))
        .route("/api/v1/dataflows/{name}/start", post(dataflows::start))
        .route("/api/v1/dataflows/{name}/stop", post(dataflows::stop))
        .route("/api/v1/dataflows/{name}/logs", get(dataflows::logs))
        .route("/api/v1/workloads/{name}/logs", get(super::workloads::logs))
        .route("/api/v1/workloads/{name}/exec", post(super::workloads::exec))
        .fallback(|| async {
            ApiError::not_found(
                "no such API path",
                "the API lives under /api/v1/: apply, resources/KIND[/NAME], dataflows/NAME/{start,stop,logs}, workloads/NAME/{logs,exec}, tokens, events, whoami",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

/// Runs `work` on the blocking pool: the store's calls wait for the disk.
pub(super) async fn blocking<T: Send + 'static>(
    shared: &Arc<Shared>,
    work: impl FnOnce(&Shared) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || work(&shared))
        .await
        .map_err(ApiError::internal)?
}

/// The caller of a request, from its bearer token.
pub(super) async fn caller(shared: &Arc<Shared>, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
    blocking(shared, move |s| {
        auth::authenticate(&s.store, header.as_deref())
    })
    .await
}

/// Where a request looks: `?zone=` and `?workspace=`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Place {
    zone: Option<String>,
    workspace: Option<String>,
    /// For a list: stream the changes that follow (`?watch=1`).
    watch: Option<String>,
    /// For a watch: from after this revision; for a delete: only if the
    /// resource is still at this version.
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
}

fn parse_kind(text: &str) -> Result<Kind, ApiError> {
    keys::parse_kind(text).ok_or_else(|| {
        ApiError::not_found(
            format!("`{text}` is not a kind of resource"),
            format!("the kinds are: {}", keys::kind_names()),
        )
    })
}

/// The body of a request whose size the limit let through, or a 413.
fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "too_large",
                format!("the request body is larger than {} MiB", MAX_BODY >> 20),
                "split the resources over several applies",
            )
        } else {
            ApiError::bad_request(rejection.body_text(), "send the body again")
        }
    })
}

fn diagnostic_json(diagnostic: &Diagnostic) -> Json_ {
    json!({
        "severity": if diagnostic.is_error() { "error" } else { "warning" },
        "line": diagnostic.position.map(|p| p.line),
        "column": diagnostic.position.map(|p| p.column),
        "message": diagnostic.message,
        "hint": diagnostic.hint,
    })
}

/// One resource of an apply, as the answer reports it.
#[derive(Debug, Serialize)]
struct Applied {
    kind: Kind,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workspace: Option<String>,
    outcome: Outcome,
    #[serde(rename = "resourceVersion")]
    resource_version: String,
}

/// `POST /api/v1/apply`: creates or updates every resource of a YAML (or
/// JSON) stream, all or none. Each is checked as `dora check` checks it,
/// with positions in the submitted text.
async fn apply(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(place): Query<Place>,
    request: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let caller = caller(&shared, &headers).await?;
    let bytes = body(request)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        ApiError::bad_request(
            format!("the body is not UTF-8 text ({e})"),
            "send the resources as YAML or JSON text",
        )
    })?;
    let documents = dora_core::yaml::parse(text).map_err(|errors| {
        let diagnostics: Vec<Diagnostic> = errors.into_iter().map(Diagnostic::from).collect();
        invalid(&diagnostics)
    })?;
    let (resources, diagnostics) = resource::check(&documents, None);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(invalid(&diagnostics));
    }
    let mut writes = Vec::with_capacity(resources.len());
    let mut applied = Vec::with_capacity(resources.len());
    for resource in resources {
        if resource.kind == Kind::Container {
            return Err(ApiError::bad_request(
                format!(
                    "container `{}` cannot be applied: the coordinator makes one Container per replica of a workload",
                    resource.metadata.name
                ),
                "apply the Workload; see its replicas with `dora get containers`",
            ));
        }
        let (write, placed) = placed_write(resource, &place, &caller)?;
        caller.authorize(Verb::Apply, placed.kind, placed.workspace.as_deref())?;
        writes.push(write);
        applied.push(placed);
    }
    let audit = AuditRecord {
        time: store::now(),
        user: caller.user.clone(),
        verb: "Apply".to_owned(),
        targets: writes.iter().map(|w| w.key.clone()).collect(),
        revision: None,
    };
    let user = caller.user.clone();
    let (outcomes, versions) = blocking(&shared, move |s| {
        let _order = s.write_order.lock().map_err(ApiError::internal)?;
        let keys: Vec<String> = writes.iter().map(|w| w.key.clone()).collect();
        let (outcomes, mut changes) = s.store.apply(writes, audit)?;
        // A workload's owner is who applied it first: mail about it goes
        // to them.
        for key in keys.iter().filter(|k| k.starts_with("Workload/")) {
            let owned = s
                .store
                .get(key)?
                .is_some_and(|w| w["status"]["owner"].is_string());
            if !owned {
                let mut fields = serde_json::Map::new();
                fields.insert("owner".to_owned(), json!(user));
                changes.extend(s.store.update_status(key, &fields)?);
            }
        }
        let mut versions = Vec::with_capacity(keys.len());
        for key in &keys {
            versions.push(
                s.store
                    .get(key)?
                    .map(|o| store::version(&o))
                    .unwrap_or_default(),
            );
        }
        s.publish(changes);
        Ok((outcomes, versions))
    })
    .await?;
    for ((applied, outcome), version) in applied.iter_mut().zip(outcomes).zip(versions) {
        applied.outcome = outcome;
        applied.resource_version = version;
    }
    let warnings: Vec<Json_> = diagnostics.iter().map(diagnostic_json).collect();
    Ok(Json(json!({ "applied": applied, "warnings": warnings })).into_response())
}

/// A resource's store write, with its zone and workspace filled in: from
/// the document, else from the request, else the defaults.
fn placed_write(
    resource: Resource,
    place: &Place,
    caller: &Caller,
) -> Result<(Write, Applied), ApiError> {
    let kind = resource.kind;
    let metadata = &resource.metadata;
    let zone = metadata.zone.as_deref().or(place.zone.as_deref());
    let workspace = metadata
        .workspace
        .as_deref()
        .or(place.workspace.as_deref())
        .or(Some(caller.default_workspace.as_str()));
    let (zone, workspace) = keys::place(kind, zone, workspace);
    let (zone, workspace) = (zone.map(str::to_owned), workspace.map(str::to_owned));
    let key = keys::key(kind, zone.as_deref(), workspace.as_deref(), &metadata.name);
    let expected_version = metadata.resource_version.clone();
    let name = metadata.name.clone();
    let mut object = serde_json::to_value(&resource).map_err(ApiError::internal)?;
    if let Some(metadata) = object.get_mut("metadata").and_then(Json_::as_object_mut) {
        metadata.remove("resourceVersion");
        for (field, value) in [("zone", &zone), ("workspace", &workspace)] {
            match value {
                Some(value) => metadata.insert(field.to_owned(), Json_::String(value.clone())),
                None => metadata.remove(field),
            };
        }
    }
    let applied = Applied {
        kind,
        name,
        zone,
        workspace,
        outcome: Outcome::Unchanged,
        resource_version: String::new(),
    };
    Ok((
        Write {
            key,
            object,
            expected_version,
        },
        applied,
    ))
}

pub(super) fn invalid(diagnostics: &[Diagnostic]) -> ApiError {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let first = diagnostics
        .iter()
        .find(|d| d.is_error())
        .map(|d| {
            let at = d.position.map_or(String::new(), |p| {
                format!(" (line {}, column {})", p.line, p.column)
            });
            format!(": {}{at}", d.message)
        })
        .unwrap_or_default();
    ApiError {
        diagnostics: diagnostics.iter().map(diagnostic_json).collect(),
        ..ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!(
                "the resources are not valid ({errors} error{}){first}; nothing was stored",
                if errors == 1 { "" } else { "s" }
            ),
            "fix every error listed in `diagnostics` (`dora check FILE` shows them too), then apply again",
        )
    }
}

/// Whether a query's flag (`?follow=1`) is set: given, and not `0` or
/// `false`.
pub(super) fn flag(value: Option<&str>) -> bool {
    value.is_some_and(|v| v != "0" && v != "false")
}

/// The zone and workspace a read or delete of `kind` looks in.
pub(super) fn read_place(
    kind: Kind,
    place: &Place,
    caller: &Caller,
) -> (Option<String>, Option<String>) {
    let workspace = place
        .workspace
        .as_deref()
        .or(Some(caller.default_workspace.as_str()));
    let (zone, workspace) = keys::place(kind, place.zone.as_deref(), workspace);
    (zone.map(str::to_owned), workspace.map(str::to_owned))
}

/// The caller of a request about resources of `kind` (as the URL names
/// it), where it looks, once it may `verb` them there.
async fn target(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    kind: &str,
    place: &Place,
    verb: Verb,
) -> Result<(Caller, Kind, Option<String>, Option<String>), ApiError> {
    let caller = caller(shared, headers).await?;
    let kind = parse_kind(kind)?;
    let (zone, workspace) = read_place(kind, place, &caller);
    caller.authorize(verb, kind, workspace.as_deref())?;
    Ok((caller, kind, zone, workspace))
}

/// `GET /api/v1/resources/{kind}/{name}`.
async fn get_one(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((kind, name)): Path<(String, String)>,
    Query(place): Query<Place>,
) -> Result<Response, ApiError> {
    let (_caller, kind, zone, workspace) =
        target(&shared, &headers, &kind, &place, Verb::Get).await?;
    let key = keys::key(kind, zone.as_deref(), workspace.as_deref(), &name);
    let object = blocking(&shared, move |s| Ok(s.store.get(&key)?)).await?;
    match object {
        Some(object) => Ok(Json(object).into_response()),
        None => Err(missing(kind, &name, zone.as_deref(), workspace.as_deref())),
    }
}

pub(super) fn missing(
    kind: Kind,
    name: &str,
    zone: Option<&str>,
    workspace: Option<&str>,
) -> ApiError {
    let place = match (zone, workspace) {
        (Some(z), Some(w)) => format!(" in zone `{z}`, workspace `{w}`"),
        (Some(z), None) => format!(" in zone `{z}`"),
        _ => String::new(),
    };
    ApiError::not_found(
        format!("there is no {kind} `{name}`{place}"),
        format!(
            "list them with `dora get {}`, or give --zone/--workspace",
            kind.to_string().to_ascii_lowercase()
        ),
    )
}

/// `GET /api/v1/resources/{kind}`: a list, or with `?watch=1` the list
/// followed by every change, one JSON per line.
async fn list_or_watch(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    Query(place): Query<Place>,
) -> Result<Response, ApiError> {
    let (_caller, kind, zone, workspace) =
        target(&shared, &headers, &kind, &place, Verb::List).await?;
    let prefix = keys::prefix(kind, zone.as_deref(), workspace.as_deref());
    let watch = matches!(place.watch.as_deref(), Some("1" | "true"));
    if !watch {
        let list = blocking(&shared, move |s| Ok(s.store.list_json(&prefix)?)).await?;
        return Ok(([(header::CONTENT_TYPE, "application/json")], list).into_response());
    }
    // Subscribed before reading, so that no change falls between the two.
    let changes = shared.changes.subscribe();
    let from = match &place.resource_version {
        Some(version) => Some(version.parse::<u64>().map_err(|_| {
            ApiError::bad_request(
                format!("`{version}` is not a resourceVersion"),
                "give the number a list or a change carried",
            )
        })?),
        _ => None,
    };
    let list_prefix = prefix.clone();
    let (revision, items, replay) = blocking(&shared, move |s| {
        let (revision, items) = s.store.list_at(&list_prefix)?;
        let replay = match from {
            Some(from) => Some(s.store.changes_since(from)?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::GONE,
                    "gone",
                    format!("the changes after revision {from} are no longer kept"),
                    "list again, and watch from the list's resourceVersion",
                )
            })?),
            None => None,
        };
        Ok((revision, items, replay))
    })
    .await?;
    let in_place = move |change: &Change| {
        store_key(&change.object).is_some_and(|key| key.starts_with(&prefix))
    };
    // What the watcher has not seen yet: the list (or the changes after
    // its revision), then what follows.
    let first: Vec<Change> = match replay {
        Some(replay) => replay.into_iter().filter(|c| in_place(c)).collect(),
        None => items
            .into_iter()
            .map(|object| Change {
                change: store::ChangeType::Added,
                revision,
                object,
            })
            .collect(),
    };
    let seen = first
        .iter()
        .map(|c| c.revision)
        .max()
        .unwrap_or(0)
        .max(revision);
    let head = futures_util::stream::iter(first.into_iter().map(line));
    // The receiver is gone once the watcher fell behind: the stream ends.
    let live = futures_util::stream::unfold((Some(changes), seen), move |(rx, seen)| {
        let in_place = in_place.clone();
        async move {
            let mut rx = rx?;
            loop {
                match rx.recv().await {
                    Ok(change) if change.revision > seen && in_place(&change) => {
                        return Some((line(change), (Some(rx), seen)));
                    }
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // The watcher fell behind: it must list again.
                        let error = json!({"type": "ERROR", "message": "the watch fell behind; list again"});
                        let mut bytes = error.to_string().into_bytes();
                        bytes.push(b'\n');
                        return Some((Ok(Bytes::from(bytes)), (None, seen)));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    use futures_util::StreamExt;
    let stream = head.chain(live);
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn line(change: Change) -> Result<Bytes, Infallible> {
    let mut bytes = serde_json::to_vec(&change).unwrap_or_default();
    bytes.push(b'\n');
    Ok(Bytes::from(bytes))
}

/// The store key of a stored resource's JSON.
fn store_key(object: &Json_) -> Option<String> {
    let kind: Kind = serde_json::from_value(object.get("kind")?.clone()).ok()?;
    let metadata = object.get("metadata")?;
    let text = |field: &str| metadata.get(field).and_then(Json_::as_str);
    Some(keys::key(
        kind,
        text("zone"),
        text("workspace"),
        text("name")?,
    ))
}

/// `DELETE /api/v1/resources/{kind}/{name}`.
async fn delete_one(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((kind, name)): Path<(String, String)>,
    Query(place): Query<Place>,
) -> Result<Response, ApiError> {
    let (caller, kind, zone, workspace) =
        target(&shared, &headers, &kind, &place, Verb::Delete).await?;
    if kind == Kind::User && name == caller.user {
        return Err(ApiError::bad_request(
            "a user cannot delete itself",
            "ask another administrator to delete this user",
        ));
    }
    if kind == Kind::Container {
        return Err(ApiError::bad_request(
            format!("container `{name}` cannot be deleted alone: it is a replica of a workload, which would start it again"),
            "delete the workload (`dora delete workload NAME`), or lower its `replica.count` and apply it",
        ));
    }
    let key = keys::key(kind, zone.as_deref(), workspace.as_deref(), &name);
    let audit = AuditRecord {
        time: store::now(),
        user: caller.user.clone(),
        verb: "Delete".to_owned(),
        targets: vec![key.clone()],
        revision: None,
    };
    let expected = place.resource_version.clone();
    let name_for_error = name.clone();
    let change = blocking(&shared, move |s| {
        let _order = s.write_order.lock().map_err(ApiError::internal)?;
        if kind == Kind::Dataflow {
            // Deleting it would leave its nodes running, out of reach.
            if let Some(current) = s.store.get(&key)?.filter(dataflows::is_active) {
                let status = &current["status"];
                let machines = dataflows::machines_of(&current);
                let plural = if machines.len() > 1 { "s" } else { "" };
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!(
                        "dataflow `{name}` is {} on machine{plural} `{}`",
                        status["state"].as_str().unwrap_or_default(),
                        machines.join("`, `")
                    ),
                    format!("stop it first (`dora stop {name}`), then delete it"),
                ));
            }
        }
        let change = s.store.delete(&key, expected.as_deref(), audit)?;
        if let Some(change) = &change {
            s.publish(vec![change.clone()]);
        }
        Ok(change)
    })
    .await?;
    match change {
        Some(change) => Ok(Json(json!({ "deleted": change.object })).into_response()),
        None => Err(missing(
            kind,
            &name_for_error,
            zone.as_deref(),
            workspace.as_deref(),
        )),
    }
}

/// What `POST /api/v1/tokens` takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    /// The user the token acts as (for a join token: the caller).
    user: Option<String>,
    /// How long it is valid, like `24h` or `30d` (default 30 days).
    ttl: Option<String>,
    /// Make a join token for this zone instead: it lets one machine join.
    join_zone: Option<String>,
}

/// The longest a token may live.
const MAX_TTL_DAYS: u64 = 366;

/// `POST /api/v1/tokens`: makes a token, shown this once.
async fn create_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    request: Result<Json<NewToken>, JsonRejection>,
) -> Result<Response, ApiError> {
    let caller = caller(&shared, &headers).await?;
    let Json(new) = request.map_err(|e| {
        ApiError::bad_request(
            e.body_text(),
            r#"send JSON like {"user": "ana", "ttl": "24h"}"#,
        )
    })?;
    // Tokens are a user's credentials: making one is changing the user. A
    // join token adds a machine: it takes adding a Node in its zone.
    let user = match (&new.join_zone, &new.user) {
        (Some(zone), _) => {
            caller.authorize(Verb::Apply, Kind::Node, None)?;
            if keys::name_problem(zone).is_some() {
                return Err(ApiError::bad_request(
                    format!("`{zone}` cannot name a zone"),
                    "use letters, digits, `.`, `-` and `_`",
                ));
            }
            caller.user.clone()
        }
        (None, Some(user)) => {
            caller.authorize(Verb::Apply, Kind::User, None)?;
            user.clone()
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "name the token's `user`, or give `join_zone` for a join token",
                r#"send JSON like {"user": "ana", "ttl": "24h"}"#,
            ))
        }
    };
    let ttl = match &new.ttl {
        Some(text) => text.parse::<dora_core::Duration>().map_err(|e| {
            ApiError::bad_request(
                format!("`{text}` is not a duration: {e}"),
                "write it like `24h` or `30d`",
            )
        })?,
        None if new.join_zone.is_some() => "1h".parse().map_err(ApiError::internal)?,
        None => "30d".parse().map_err(ApiError::internal)?,
    };
    let seconds = ttl.as_std().as_secs();
    if seconds == 0 || seconds > MAX_TTL_DAYS * 86400 {
        return Err(ApiError::bad_request(
            format!(
                "a token must live from 1 second to {MAX_TTL_DAYS} days, not {}",
                new.ttl.unwrap_or_default()
            ),
            "give a `ttl` like `24h`",
        ));
    }
    let (secret, hash) = auth::new_secret()?;
    let now = store::now();
    let token = Token {
        id: auth::new_id()?,
        user: user.clone(),
        created: now,
        expires: now + seconds,
        revoked: false,
        join_zone: new.join_zone.clone(),
    };
    let audit = AuditRecord {
        time: now,
        user: caller.user.clone(),
        verb: "CreateToken".to_owned(),
        targets: vec![format!("token/{}", token.id)],
        revision: None,
    };
    let user_key = keys::key(Kind::User, None, None, &user);
    let stored = token.clone();
    blocking(&shared, move |s| {
        if s.store.get(&user_key)?.is_none() {
            return Err(ApiError::not_found(
                format!("there is no user `{}`", stored.user),
                "apply a User resource first",
            ));
        }
        s.store.add_token(&hash, &stored, audit)?;
        Ok(())
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": secret, "id": token.id, "user": token.user, "expires": token.expires, "joinZone": token.join_zone })),
    )
        .into_response())
}

/// `GET /api/v1/tokens`: every token, without its secret.
async fn list_tokens(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = caller(&shared, &headers).await?;
    caller.authorize(Verb::List, Kind::User, None)?;
    let tokens = blocking(&shared, |s| Ok(s.store.tokens()?)).await?;
    Ok(Json(json!({ "items": tokens })).into_response())
}

/// `DELETE /api/v1/tokens/{id}`: revokes a token at once.
async fn revoke_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = caller(&shared, &headers).await?;
    caller.authorize(Verb::Apply, Kind::User, None)?;
    let audit = AuditRecord {
        time: store::now(),
        user: caller.user.clone(),
        verb: "RevokeToken".to_owned(),
        targets: vec![format!("token/{id}")],
        revision: None,
    };
    let lookup = id.clone();
    let revoked = blocking(&shared, move |s| {
        Ok(s.store.revoke_token(&lookup, audit)?)
    })
    .await?;
    match revoked {
        Some(token) => Ok(Json(json!({ "revoked": token })).into_response()),
        None => Err(ApiError::not_found(
            format!("there is no token `{id}`"),
            "list them with `dora token list`",
        )),
    }
}

#[derive(Debug, Deserialize)]
struct Limit {
    limit: Option<usize>,
}

/// `GET /api/v1/events`: the audit log, newest last.
async fn events(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(limit): Query<Limit>,
) -> Result<Response, ApiError> {
    let caller = caller(&shared, &headers).await?;
    // The log names every user and what they did: an administrator's.
    caller.authorize(Verb::List, Kind::User, None)?;
    let limit = limit.limit.unwrap_or(100).min(10_000);
    let records = blocking(&shared, move |s| Ok(s.store.audit_log(limit)?)).await?;
    Ok(Json(json!({ "items": records })).into_response())
}

/// `GET /api/v1/whoami`: the caller's user and default workspace.
async fn whoami(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = caller(&shared, &headers).await?;
    Ok(Json(json!({
        "user": caller.user,
        "token": caller.token_id,
        "defaultWorkspace": caller.default_workspace,
    }))
    .into_response())
}

/// `POST /api/v1/join`: a machine's daemon joins with a join token: the
/// coordinator signs the certificate of the machine's key, records the
/// machine as a `Node` with its inventory, and says where its control
/// plane is.
async fn join(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    request: Result<Json<JoinRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Json(request) = request.map_err(|e| {
        ApiError::bad_request(
            e.body_text(),
            "a daemon of the same dora version sends this; use `dora daemon`",
        )
    })?;
    if request.version != cluster::VERSION {
        return Err(ApiError::bad_request(
            format!(
                "the daemon speaks version {} of the cluster protocol, this coordinator {}",
                request.version,
                cluster::VERSION
            ),
            "run the same dora version on the machine and the coordinator",
        ));
    }
    let answer = blocking(&shared, move |s| {
        let token = auth::join_token(&s.store, header.as_deref())?;
        let zone = token.join_zone.clone().unwrap_or_default();
        if request.zone != zone {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "join token `{}` is for zone `{zone}`, not `{}`",
                    token.id, request.zone
                ),
                "make a join token for that zone: `dora token create --join --zone ZONE`",
            ));
        }
        let node = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": request.machine, "zone": request.zone},
            "spec": {"labels": request.labels},
        });
        let documents = dora_core::yaml::parse(&node.to_string())
            .map_err(|errors| ApiError::internal(&errors[0]))?;
        let (resources, diagnostics) = resource::check(&documents, None);
        if let Some(problem) = diagnostics.iter().find(|d| d.is_error()) {
            return Err(ApiError::bad_request(
                format!(
                    "the machine cannot join as `{}`: {}",
                    request.machine, problem.message
                ),
                problem.hint.clone().unwrap_or_default(),
            ));
        }
        let certificate = s
            .pki
            .sign_machine(&request.csr, &request.machine)
            .map_err(|e| {
                ApiError::bad_request(
                    format!("the certificate signing request is not valid: {e}"),
                    "a daemon makes it; use `dora daemon`",
                )
            })?;
        let key = keys::key(Kind::Node, Some(&request.zone), None, &request.machine);
        let mut writes = Vec::new();
        for resource in resources {
            let object = serde_json::to_value(&resource).map_err(ApiError::internal)?;
            writes.push(Write {
                key: key.clone(),
                object,
                expected_version: None,
            });
        }
        let audit = AuditRecord {
            time: store::now(),
            user: token.user.clone(),
            verb: "Join".to_owned(),
            targets: vec![key.clone(), format!("token/{}", token.id)],
            revision: None,
        };
        let _order = s.write_order.lock().map_err(ApiError::internal)?;
        let (_, mut changes) = s.store.apply(writes, audit)?;
        let mut status = serde_json::Map::new();
        status.insert(
            "inventory".to_owned(),
            serde_json::to_value(&request.inventory).map_err(ApiError::internal)?,
        );
        status.insert("joined".to_owned(), json!(store::now()));
        changes.extend(s.store.update_status(&key, &status)?);
        s.publish(changes);
        Ok(JoinAnswer {
            version: cluster::VERSION,
            ca: s.pki.ca_pem.clone(),
            certificate,
            endpoints: s.endpoints.clone(),
        })
    })
    .await?;
    Ok(Json(answer).into_response())
}

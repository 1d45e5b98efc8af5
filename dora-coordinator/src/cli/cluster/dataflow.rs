//! `dora start`, `stop`, `list` and `logs`: dataflows run on a cluster.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dora_core::check::{check_file, Content};
use eyre::{bail, eyre, WrapErr};
use hyper::{Method, StatusCode};
use serde_json::{json, Value as Json};

use super::resources::{diagnostics, print_table};
use super::{encode, ok, print_log, query, Connection, Place};
use crate::client::Client;
use crate::server;

/// The name a dataflow file gets when `--name` is not given: its stem.
fn default_name(file: &Path) -> eyre::Result<String> {
    file.file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            eyre!(
                "{} has no name to give the dataflow; pass --name",
                file.display()
            )
        })
}

/// `dora start FILE`: checks the dataflow here, then has the coordinator
/// place it and a machine run it; with `attach`, follows its output until
/// it ends (Ctrl-C stops it) and exits as it ended.
pub fn start(
    connection: &Connection,
    place: &Place,
    file: &Path,
    name: Option<&str>,
    attach: bool,
) -> eyre::Result<ExitCode> {
    let checked = check_file(file);
    crate::cli::print_rendered(&checked.render(true));
    let dataflow = match &checked.content {
        Content::Dataflow(dataflow) if checked.is_valid() => serde_json::to_value(dataflow)?,
        Content::Module(_) => bail!(
            "{} is a module file; start a dataflow that uses it with `module:`",
            file.display()
        ),
        Content::Resources(_) => bail!(
            "{} holds cluster resources; apply them with `dora apply -f`",
            file.display()
        ),
        _ => bail!(
            "{} is not a valid dataflow; fix the errors above, then start it again",
            file.display()
        ),
    };
    let name = match name {
        Some(name) => name.to_owned(),
        None => default_name(file)?,
    };
    let file = file
        .canonicalize()
        .wrap_err_with(|| format!("cannot find {}", file.display()))?;
    let folder = file.parent().unwrap_or(Path::new("/"));
    let client = connection.client()?;
    let body = json!({
        "source": checked.source,
        "file": file.display().to_string(),
        "folder": folder.display().to_string(),
        "dataflow": dataflow,
    });
    let answer = client.call(
        Method::POST,
        &format!(
            "/api/v1/dataflows/{}/start{}",
            encode(&name),
            query(place, &[])
        ),
        Some(("application/json", serde_json::to_vec(&body)?)),
    )?;
    if answer.status == StatusCode::UNPROCESSABLE_ENTITY && answer.body["diagnostics"].is_array() {
        let shown = file.display().to_string();
        crate::cli::print_rendered(&dora_core::diagnostic::render(
            &shown,
            &checked.source,
            &diagnostics(&answer.body),
            true,
        ));
        bail!("the coordinator refused {shown}");
    }
    let body = ok(answer)?;
    let machines = machine_list(&body["machines"]);
    let plural = if machines.contains(", ") { "s" } else { "" };
    eprintln!(
        "dataflow `{name}` (run {}) starts on machine{plural} {machines}",
        body["id"].as_str().unwrap_or("?")
    );
    if let Some(reasons) = body["placement"].as_object() {
        for (node, why) in reasons {
            let on = body["nodeMachines"][node].as_str().unwrap_or("?");
            eprintln!("  {node} on `{on}`: {}", why.as_str().unwrap_or_default());
        }
    }
    if !attach {
        eprintln!("follow it with `dora logs {name} -f`; stop it with `dora stop {name}`");
        return Ok(ExitCode::SUCCESS);
    }
    // Ctrl-C stops the dataflow; its output is followed to the summary.
    let interrupted = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, interrupted.clone())
        .wrap_err("cannot watch for Ctrl-C")?;
    let stopper = {
        let (client, interrupted, name, place) = (
            client.clone(),
            interrupted.clone(),
            name.clone(),
            place.clone(),
        );
        std::thread::spawn(move || {
            while !interrupted.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            eprintln!("stopping dataflow `{name}`");
            if let Err(error) = stop_request(&client, &place, &name, None) {
                eprintln!("error: {error:#}");
            }
        })
    };
    follow(&client, place, &name, None, true)?;
    drop(stopper);
    let state = ok(client.call(
        Method::GET,
        &format!(
            "/api/v1/resources/dataflow/{}{}",
            encode(&name),
            query(place, &[])
        ),
        None,
    )?)?;
    let state = state["status"]["state"].as_str().unwrap_or_default();
    Ok(if matches!(state, "Succeeded" | "Stopped") {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn stop_request(
    client: &Client,
    place: &Place,
    name: &str,
    grace: Option<std::time::Duration>,
) -> eyre::Result<Json> {
    let grace = grace.map(|g| g.as_millis().to_string());
    let extra: Vec<(&str, &str)> = grace
        .as_deref()
        .map(|g| ("grace_ms", g))
        .into_iter()
        .collect();
    ok(client.call(
        Method::POST,
        &format!(
            "/api/v1/dataflows/{}/stop{}",
            encode(name),
            query(place, &extra)
        ),
        None,
    )?)
}

/// `dora stop NAME`.
pub fn stop(
    connection: &Connection,
    place: &Place,
    name: &str,
    grace: Option<std::time::Duration>,
) -> eyre::Result<ExitCode> {
    let client = connection.client()?;
    let body = stop_request(&client, place, name, grace)?;
    eprintln!(
        "dataflow `{name}` is stopping (its nodes have {} ms after `Stop`); `dora list` shows when it has",
        body["graceMs"].as_u64().unwrap_or(0)
    );
    Ok(ExitCode::SUCCESS)
}

/// `dora list`: the dataflows of the workspace.
pub fn list(connection: &Connection, place: &Place) -> eyre::Result<ExitCode> {
    let client = connection.client()?;
    let body = ok(client.call(
        Method::GET,
        &format!("/api/v1/resources/dataflow{}", query(place, &[])),
        None,
    )?)?;
    let rows: Vec<Vec<String>> = body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(row)
        .collect();
    if rows.is_empty() {
        eprintln!("no dataflows; start one with `dora start FILE`");
        return Ok(ExitCode::SUCCESS);
    }
    print_table(&HEADERS, &rows);
    Ok(ExitCode::SUCCESS)
}

/// The columns of `dora list` and `dora get dataflows`.
pub(super) const HEADERS: [&str; 6] = ["NAME", "ID", "STATE", "MACHINES", "NODES", "AGE"];

/// `` `m1`, `m2` `` from a status's `machines`.
pub(super) fn machine_list(machines: &Json) -> String {
    let names: Vec<String> = machines
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(|m| format!("`{m}`")))
        .collect();
    if names.is_empty() {
        "?".to_owned()
    } else {
        names.join(", ")
    }
}

/// The machines of a stored dataflow's run, for a table: `m1,m2`
/// (`machine` in records of coordinators before dataflows spread).
pub(super) fn machines_cell(status: &Json) -> String {
    match status["machines"].as_array() {
        Some(machines) => machines
            .iter()
            .filter_map(Json::as_str)
            .collect::<Vec<_>>()
            .join(","),
        None => status["machine"].as_str().unwrap_or("-").to_owned(),
    }
}

/// A dataflow's row: name, run, state, machines, nodes running of total,
/// age of the run.
pub(super) fn row(object: &Json) -> Vec<String> {
    let status = &object["status"];
    let text = |v: &Json| v.as_str().unwrap_or("-").to_owned();
    let nodes = match (status["running"].as_u64(), status["nodes"].as_u64()) {
        (Some(running), Some(total)) => format!("{running}/{total}"),
        _ => object["spec"]["nodes"]
            .as_array()
            .map_or("-".to_owned(), |n| format!("0/{}", n.len())),
    };
    vec![
        text(&object["metadata"]["name"]),
        text(&status["id"]),
        status["state"].as_str().unwrap_or("NotStarted").to_owned(),
        machines_cell(status),
        nodes,
        status["started"]
            .as_u64()
            .or(status["createdAt"].as_u64())
            .map_or("-".to_owned(), server::age),
    ]
}

/// `dora logs NAME [NODE] [-f]`.
pub fn logs(
    connection: &Connection,
    place: &Place,
    name: &str,
    node: Option<&str>,
    follow_on: bool,
) -> eyre::Result<ExitCode> {
    let client = connection.client()?;
    follow(&client, place, name, node, follow_on)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a dataflow's log: each node's lines with its id in front, the
/// launcher's as they are; with `follow_on`, until the dataflow ends.
fn follow(
    client: &Client,
    place: &Place,
    name: &str,
    node: Option<&str>,
    follow_on: bool,
) -> eyre::Result<()> {
    let mut extra = Vec::new();
    if let Some(node) = node {
        extra.push(("node", node));
    }
    if follow_on {
        extra.push(("follow", "1"));
    }
    let path = format!(
        "/api/v1/dataflows/{}/logs{}",
        encode(name),
        query(place, &extra)
    );
    // A run spread over machines says each line's machine too.
    let stored = ok(client.call(
        Method::GET,
        &format!(
            "/api/v1/resources/dataflow/{}{}",
            encode(name),
            query(place, &[])
        ),
        None,
    )?)?;
    let spread = stored["status"]["machines"]
        .as_array()
        .is_some_and(|m| m.len() > 1);
    print_log(client, &path, |line| {
        match (
            line["node"].as_str().unwrap_or_default(),
            line["machine"].as_str(),
        ) {
            ("", _) => String::new(),
            (node, Some(machine)) if spread => format!("{node}@{machine} | "),
            (node, _) => format!("{node} | "),
        }
    })
}

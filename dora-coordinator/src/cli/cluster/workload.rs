//! How workloads, their replicas (Container resources) and credits are
//! shown by `dora get` and `dora describe`.

use std::process::ExitCode;

use hyper::Method;
use serde_json::Value as Json;

use super::{encode, ok, print_log, query, Connection, Place};
use crate::client::Client;
use crate::server;

pub const WORKLOAD_HEADERS: [&str; 6] = ["NAME", "ZONE", "WORKSPACE", "RUNNING", "STATES", "AGE"];

pub const CONTAINER_HEADERS: [&str; 7] = [
    "NAME",
    "WORKSPACE",
    "STATE",
    "MACHINE",
    "GPUS",
    "RESTARTS",
    "AGE",
];

fn text(value: &Json) -> String {
    value.as_str().unwrap_or("-").to_owned()
}

fn age(object: &Json) -> String {
    object["status"]["createdAt"]
        .as_u64()
        .map_or("-".to_owned(), server::age)
}

pub const CREDIT_HEADERS: [&str; 6] =
    ["NAME", "ZONE", "WORKSPACE", "GPU-HOURS", "CPU-HOURS", "AGE"];

/// A credit's row: hours used of those granted, and left.
pub fn credit_row(object: &Json) -> Vec<String> {
    let hours = |limit: &Json, used: &Json| {
        let used = used.as_f64().unwrap_or(0.0);
        match limit.as_f64() {
            Some(limit) => format!("{used:.3} of {limit} ({:.3} left)", (limit - used).max(0.0)),
            None => format!("{used:.3} (no limit)"),
        }
    };
    let (spec, status) = (&object["spec"], &object["status"]);
    vec![
        text(&object["metadata"]["name"]),
        text(&object["metadata"]["zone"]),
        text(&spec["workspace"]),
        hours(&spec["gpuHours"], &status["usedGpuHours"]),
        hours(&spec["cpuHours"], &status["usedCpuHours"]),
        age(object),
    ]
}

/// A workload's row: how many of its replicas run, and the count in each
/// state.
pub fn workload_row(object: &Json) -> Vec<String> {
    let metadata = &object["metadata"];
    let states = object["status"]["replicas"].as_object();
    let total = object["spec"]["replica"]["count"].as_u64().unwrap_or(1);
    let running = states
        .and_then(|s| s.get("Running"))
        .and_then(Json::as_u64)
        .unwrap_or(0);
    let counts = states
        .map(|s| {
            s.iter()
                .map(|(state, n)| format!("{state}={n}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "-".to_owned());
    vec![
        text(&metadata["name"]),
        text(&metadata["zone"]),
        text(&metadata["workspace"]),
        format!("{running}/{total}"),
        counts,
        age(object),
    ]
}

/// A replica's row.
pub fn container_row(object: &Json) -> Vec<String> {
    let status = &object["status"];
    let gpus = object["spec"]["gpus"]
        .as_array()
        .map_or(0, Vec::len)
        .to_string();
    vec![
        text(&object["metadata"]["name"]),
        text(&object["metadata"]["workspace"]),
        text(&status["state"]),
        object["spec"]["machine"]
            .as_str()
            .filter(|m| !m.is_empty())
            .unwrap_or("-")
            .to_owned(),
        gpus,
        status["restarts"].as_u64().unwrap_or(0).to_string(),
        age(object),
    ]
}

/// What `dora describe` adds for a replica: where it runs, why it is in
/// its state, and its recent events.
pub fn describe_container(object: &Json) -> String {
    let status = &object["status"];
    let spec = &object["spec"];
    let mut out = String::new();
    let machine = spec["machine"].as_str().filter(|m| !m.is_empty());
    out += &format!("Machine:   {}\n", machine.unwrap_or("not placed"));
    let gpus: Vec<String> = spec["gpus"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    if !gpus.is_empty() {
        out += &format!("GPUs:      {}\n", gpus.join(", "));
    }
    out += &format!("Restarts:  {}\n", status["restarts"].as_u64().unwrap_or(0));
    if let Some(code) = status["exitCode"].as_i64() {
        out += &format!("Exit code: {code}\n");
    }
    if let Some(reason) = status["reason"].as_str() {
        out += &format!("Reason:    {reason}\n");
    }
    if let Some(id) = status["containerId"].as_str() {
        out += &format!("Container: {}\n", &id[..id.len().min(12)]);
    }
    let events = status["events"].as_array().cloned().unwrap_or_default();
    out += "Replica events:\n";
    for event in &events[events.len().saturating_sub(10)..] {
        let when = event["time"].as_u64().map_or("-".to_owned(), server::ago);
        out += &format!("  {when:<10} {}\n", text(&event["text"]));
    }
    out
}

/// What `dora describe workload` adds: each replica, as above.
pub fn describe_workload(client: &Client, object: &Json) -> eyre::Result<String> {
    let metadata = &object["metadata"];
    let place = Place {
        zone: metadata["zone"].as_str().map(str::to_owned),
        workspace: metadata["workspace"].as_str().map(str::to_owned),
    };
    let listed = ok(client.call(
        Method::GET,
        &format!("/api/v1/resources/container{}", query(&place, &[])),
        None,
    )?);
    let mut out = String::from("Replicas:\n");
    let replicas: Vec<Json> = match listed {
        Ok(body) => body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["spec"]["workload"] == metadata["name"])
            .cloned()
            .collect(),
        Err(error) => {
            out += &format!("  not shown ({error})\n");
            return Ok(out);
        }
    };
    if replicas.is_empty() {
        out += "  none yet\n";
    }
    for replica in &replicas {
        out += &format!(
            "  {} ({})\n",
            text(&replica["metadata"]["name"]),
            text(&replica["status"]["state"])
        );
        for line in describe_container(replica).lines() {
            out += &format!("    {line}\n");
        }
    }
    Ok(out)
}

/// `dora logs workload/NAME`: what its containers printed, each line
/// with its replica's name in front unless one replica was asked for;
/// with `follow`, until they end or Ctrl-C.
pub fn logs(
    connection: &Connection,
    place: &Place,
    name: &str,
    replica: Option<u32>,
    follow: bool,
) -> eyre::Result<ExitCode> {
    let client = connection.client()?;
    let index = replica.map(|r| r.to_string());
    let mut extra = Vec::new();
    if let Some(index) = &index {
        extra.push(("replica", index.as_str()));
    }
    if follow {
        extra.push(("follow", "1"));
    }
    let path = format!(
        "/api/v1/workloads/{}/logs{}",
        encode(name),
        query(place, &extra)
    );
    print_log(&client, &path, |line| match replica {
        Some(_) => String::new(),
        None => format!("{name}-{} | ", line["replica"].as_u64().unwrap_or(0)),
    })?;
    Ok(ExitCode::SUCCESS)
}

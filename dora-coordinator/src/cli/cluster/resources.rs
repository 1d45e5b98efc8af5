//! `dora apply`, `get` and `delete`, and how resources are printed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use dora_core::diagnostic::{self, Diagnostic};
use dora_core::substitute;
use dora_core::yaml::Position;
use eyre::{bail, eyre, WrapErr};
use hyper::{Method, StatusCode};
use serde_json::Value as Json;

use super::{api_error, encode, ok, query, Connection, Output, Place};
use crate::client::{Answer, Client};
use crate::server;

/// `dora apply -f FILE|DIR... [-e NAME=VALUE]...`: each file, with its
/// `${NAME}`s replaced, in one request, stored whole or not at all.
pub fn apply(
    connection: &Connection,
    place: &Place,
    paths: &[PathBuf],
    values: &[String],
) -> eyre::Result<ExitCode> {
    let values = substitute::parse_values(values).map_err(|e| eyre!(e))?;
    let files = crate::cli::expand_folders(paths)?;
    // Every file is read and filled in before anything is sent: a hole in
    // any of them applies none.
    let mut texts = Vec::new();
    let mut unused = values
        .keys()
        .cloned()
        .collect::<std::collections::BTreeSet<_>>();
    let mut holes = false;
    for file in &files {
        let text = std::fs::read_to_string(file)
            .wrap_err_with(|| format!("cannot read {}", file.display()))?;
        match substitute::substitute(&text, &values) {
            Ok(done) => {
                unused.retain(|name| done.unused.contains(name));
                texts.push(done.text);
            }
            Err(errors) => {
                let shown = file.display().to_string();
                crate::cli::print_rendered(&diagnostic::render(&shown, &text, &errors, true));
                holes = true;
            }
        }
    }
    if holes {
        eprintln!("nothing was applied");
        return Ok(ExitCode::FAILURE);
    }
    for name in &unused {
        eprintln!("warning: `-e {name}` is used by none of the files (no `${{{name}}}` in them)");
    }
    let client = connection.client()?;
    let mut all_ok = true;
    for (file, text) in files.iter().zip(texts) {
        let answer = client.call(
            Method::POST,
            &format!("/api/v1/apply{}", query(place, &[])),
            Some(("application/yaml", text.clone().into_bytes())),
        )?;
        let shown = file.display().to_string();
        if answer.status == StatusCode::UNPROCESSABLE_ENTITY {
            crate::cli::print_rendered(&diagnostic::render(
                &shown,
                &text,
                &diagnostics(&answer.body),
                true,
            ));
            eprintln!("{shown}: nothing was applied");
            all_ok = false;
            continue;
        }
        let body = ok(answer)?;
        let warnings = diagnostics(&serde_json::json!({ "diagnostics": body["warnings"] }));
        crate::cli::print_rendered(&diagnostic::render(&shown, &text, &warnings, true));
        for applied in body["applied"].as_array().into_iter().flatten() {
            let kind = applied["kind"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let name = applied["name"].as_str().unwrap_or_default();
            let outcome = applied["outcome"].as_str().unwrap_or_default();
            println!("{kind}/{name} {outcome}");
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The diagnostics of an answer, with their positions in what was sent.
pub(super) fn diagnostics(body: &Json) -> Vec<Diagnostic> {
    body["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let position = match (d["line"].as_u64(), d["column"].as_u64()) {
                (Some(line), Some(column)) => Some(Position {
                    line: line as usize,
                    column: column as usize,
                }),
                _ => None,
            };
            let message = d["message"].as_str().unwrap_or_default();
            let diagnostic = if d["severity"] == "warning" {
                Diagnostic::warning(position, message)
            } else {
                Diagnostic::error(position, message)
            };
            match d["hint"].as_str() {
                Some(hint) => diagnostic.with_hint(hint),
                None => diagnostic,
            }
        })
        .collect()
}

/// `dora get KIND [NAME]`.
pub fn get(
    connection: &Connection,
    place: &Place,
    kind: &str,
    name: Option<&str>,
    output: Option<Output>,
    watch: bool,
) -> eyre::Result<ExitCode> {
    let client = connection.client()?;
    if kind == "events" && name.is_none() && !watch {
        return events(&client, output);
    }
    let kind_path = encode(kind);
    if let Some(name) = name {
        let body = ok(client.call(Method::GET, &resource_path(kind, name, place), None)?)?;
        print_objects(&[body], output, false);
        return Ok(ExitCode::SUCCESS);
    }
    if watch {
        let mut header = true;
        let mut failure = None;
        client.stream(
            &format!(
                "/api/v1/resources/{kind_path}{}",
                query(place, &[("watch", "1")])
            ),
            |status, line| {
                let Ok(value) = serde_json::from_slice::<Json>(line) else {
                    failure = Some(eyre!("the coordinator sent a line that is not JSON"));
                    return false;
                };
                if !status.is_success() {
                    failure = Some(api_error(&Answer {
                        status,
                        body: value,
                    }));
                    return false;
                }
                if value["type"] == "ERROR" {
                    failure = Some(eyre!(
                        "{}",
                        value["message"].as_str().unwrap_or("the watch ended")
                    ));
                    return false;
                }
                print_change(&value, output, header);
                header = false;
                let _ = std::io::stdout().flush();
                true
            },
        )?;
        return match failure {
            Some(error) => Err(error),
            None => Ok(ExitCode::SUCCESS),
        };
    }
    let body = ok(client.call(
        Method::GET,
        &format!("/api/v1/resources/{kind_path}{}", query(place, &[])),
        None,
    )?)?;
    let items = body["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() && output.is_none() {
        eprintln!("no {kind} found");
    }
    print_objects(&items, output, true);
    Ok(ExitCode::SUCCESS)
}

/// The table row of a resource: name, zone, workspace (or a machine's
/// state, CPUs and GPUs), version, age.
pub(super) fn row(object: &Json) -> Vec<String> {
    let metadata = &object["metadata"];
    let status = &object["status"];
    let text = |v: &Json| v.as_str().unwrap_or("-").to_owned();
    let age = status["createdAt"]
        .as_u64()
        .map_or("-".to_owned(), server::age);
    if object["kind"] == "Dataflow" {
        return super::dataflow::row(object);
    }
    if object["kind"] == "Workload" {
        return super::workload::workload_row(object);
    }
    if object["kind"] == "Container" {
        return super::workload::container_row(object);
    }
    if object["kind"] == "Credit" {
        return super::workload::credit_row(object);
    }
    if object["kind"] == "Node" {
        let inventory = &status["inventory"];
        let gpus = inventory["gpus"].as_array().cloned().unwrap_or_default();
        let simulated = gpus.iter().filter(|g| g["simulated"] == true).count();
        let gpus = match simulated {
            0 => gpus.len().to_string(),
            n => format!("{} ({n} simulated)", gpus.len()),
        };
        return vec![
            text(&metadata["name"]),
            text(&metadata["zone"]),
            text(&status["state"]),
            inventory["cpus"]
                .as_u64()
                .map_or("-".to_owned(), |c| c.to_string()),
            gpus,
            text(&metadata["resourceVersion"]),
            age,
        ];
    }
    vec![
        text(&metadata["name"]),
        text(&metadata["zone"]),
        text(&metadata["workspace"]),
        text(&metadata["resourceVersion"]),
        age,
    ]
}

pub(super) fn headers(object: Option<&Json>) -> Vec<&'static str> {
    if object.is_some_and(|o| o["kind"] == "Dataflow") {
        super::dataflow::HEADERS.to_vec()
    } else if object.is_some_and(|o| o["kind"] == "Workload") {
        super::workload::WORKLOAD_HEADERS.to_vec()
    } else if object.is_some_and(|o| o["kind"] == "Container") {
        super::workload::CONTAINER_HEADERS.to_vec()
    } else if object.is_some_and(|o| o["kind"] == "Credit") {
        super::workload::CREDIT_HEADERS.to_vec()
    } else if object.is_some_and(|o| o["kind"] == "Node") {
        vec!["NAME", "ZONE", "STATE", "CPUS", "GPUS", "VERSION", "AGE"]
    } else {
        vec!["NAME", "ZONE", "WORKSPACE", "VERSION", "AGE"]
    }
}

pub(super) fn print_objects(objects: &[Json], output: Option<Output>, list: bool) {
    match output {
        Some(Output::Json) => {
            let value = if list {
                Json::Array(objects.to_vec())
            } else {
                objects[0].clone()
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
        }
        Some(Output::Yaml) => {
            for object in objects {
                print!("---\n{}", to_yaml(object));
            }
        }
        Some(Output::Wide) | None => {
            let wide = matches!(output, Some(Output::Wide));
            let rows: Vec<Vec<String>> = objects
                .iter()
                .map(|o| {
                    let mut row = row(o);
                    if wide {
                        row.push(o["spec"].to_string());
                    }
                    row
                })
                .collect();
            let mut headers = headers(objects.first());
            if wide {
                headers.push("SPEC");
            }
            print_table(&headers, &rows);
        }
    }
}

pub(super) fn print_change(change: &Json, output: Option<Output>, header: bool) {
    let object = &change["object"];
    match output {
        Some(Output::Json) => println!("{change}"),
        Some(Output::Yaml) => print!("---\n{}", to_yaml(change)),
        _ => {
            let mut cells = vec![change["type"].as_str().unwrap_or("?").to_owned()];
            cells.extend(row(object));
            let widths = [8, 24, 10, 12, 8, 8, 8, 5];
            if header {
                let mut columns = vec!["EVENT"];
                columns.extend(headers(Some(object)));
                println!(
                    "{}",
                    pad(
                        &columns.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
                        &widths
                    )
                );
            }
            println!("{}", pad(&cells, &widths));
        }
    }
}

pub(super) fn pad(cells: &[String], widths: &[usize]) -> String {
    cells
        .iter()
        .zip(widths)
        .map(|(c, w)| format!("{c:<w$}"))
        .collect::<Vec<_>>()
        .join("   ")
        .trim_end()
        .to_owned()
}

pub(super) fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    println!("{}", pad(&header, &widths));
    for row in rows {
        println!("{}", pad(row, &widths));
    }
}

/// A JSON value as YAML, as `dora get -o yaml` prints it.
pub(super) fn to_yaml(value: &Json) -> String {
    fn convert(value: &Json) -> yaml_rust2::Yaml {
        use yaml_rust2::Yaml;
        match value {
            Json::Null => Yaml::Null,
            Json::Bool(b) => Yaml::Boolean(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Yaml::Integer(i),
                None => Yaml::Real(n.to_string()),
            },
            Json::String(s) => Yaml::String(s.clone()),
            Json::Array(items) => Yaml::Array(items.iter().map(convert).collect()),
            Json::Object(map) => Yaml::Hash(
                map.iter()
                    .map(|(k, v)| (Yaml::String(k.clone()), convert(v)))
                    .collect(),
            ),
        }
    }
    let mut out = String::new();
    let mut emitter = yaml_rust2::YamlEmitter::new(&mut out);
    if emitter.dump(&convert(value)).is_err() {
        return format!("{value}\n");
    }
    // The emitter starts documents with `---`, which the caller writes.
    let body = out.strip_prefix("---\n").unwrap_or(&out).to_owned();
    body + "\n"
}

/// `dora delete KIND NAME` or `dora delete -f FILE`.
pub fn delete(
    connection: &Connection,
    place: &Place,
    kind: Option<&str>,
    name: Option<&str>,
    files: &[PathBuf],
) -> eyre::Result<ExitCode> {
    let client = connection.client()?;
    let mut targets: Vec<(String, String, Place)> = Vec::new();
    match (kind, name, files.is_empty()) {
        (Some(kind), Some(name), true) => {
            targets.push((kind.to_owned(), name.to_owned(), place.clone()))
        }
        (None, None, false) => {
            for file in files {
                let checked = dora_core::check::check_file(file);
                if !checked.is_valid() {
                    crate::cli::print_rendered(&checked.render(true));
                    bail!("{} is not valid; nothing was deleted", file.display());
                }
                let dora_core::check::Content::Resources(resources) = checked.content else {
                    bail!("{} holds a dataflow, not cluster resources", file.display());
                };
                for resource in resources {
                    let metadata = resource.metadata;
                    targets.push((
                        resource.kind.to_string(),
                        metadata.name,
                        Place {
                            zone: metadata.zone.or(place.zone.clone()),
                            workspace: metadata.workspace.or(place.workspace.clone()),
                        },
                    ));
                }
            }
        }
        _ => bail!("name what to delete: `dora delete KIND NAME`, or `dora delete -f FILE`"),
    }
    let mut all_ok = true;
    for (kind, name, place) in &targets {
        let answer = client.call(Method::DELETE, &resource_path(kind, name, place), None)?;
        if answer.status.is_success() {
            println!("{}/{name} deleted", kind.to_ascii_lowercase());
        } else {
            crate::cli::print_error(&api_error(&answer));
            all_ok = false;
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `dora describe KIND NAME`: a resource for a person, with what the
/// coordinator observed of it and its recent events.
pub fn describe(
    connection: &Connection,
    place: &Place,
    kind: &str,
    name: &str,
) -> eyre::Result<ExitCode> {
    let client = connection.client()?;
    let object = ok(client.call(Method::GET, &resource_path(kind, name, place), None)?)?;
    let metadata = &object["metadata"];
    let status = &object["status"];
    let text = |v: &Json| v.as_str().unwrap_or("-").to_owned();
    let when = |v: &Json| v.as_u64().map_or("-".to_owned(), server::ago);
    let mut out = String::new();
    let line =
        |out: &mut String, label: &str, value: String| *out += &format!("{label:<11}{value}\n");
    line(&mut out, "Name:", text(&metadata["name"]));
    line(&mut out, "Kind:", text(&object["kind"]));
    if metadata["zone"].is_string() {
        line(&mut out, "Zone:", text(&metadata["zone"]));
    }
    if metadata["workspace"].is_string() {
        line(&mut out, "Workspace:", text(&metadata["workspace"]));
    }
    line(&mut out, "Version:", text(&metadata["resourceVersion"]));
    line(&mut out, "Created:", when(&status["createdAt"]));
    line(&mut out, "Changed:", when(&status["updatedAt"]));
    // What the coordinator observed: a machine's state, a dataflow's run.
    if status["state"].is_string() {
        line(
            &mut out,
            "State:",
            format!(
                "{} (since {})",
                text(&status["state"]),
                when(&status["since"])
            ),
        );
    }
    if object["kind"] == "Node" {
        let labels = object["spec"]["labels"]
            .as_object()
            .map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "none".to_owned());
        line(&mut out, "Labels:", labels);
        let inventory = &status["inventory"];
        line(
            &mut out,
            "CPUs:",
            format!(
                "{} ({})",
                inventory["cpus"].as_u64().unwrap_or(0),
                inventory["cpuModel"].as_str().unwrap_or("model unknown")
            ),
        );
        line(
            &mut out,
            "Memory:",
            gib(inventory["memoryBytes"].as_u64().unwrap_or(0)),
        );
        let gpus = inventory["gpus"].as_array().cloned().unwrap_or_default();
        line(&mut out, "GPUs:", gpus.len().to_string());
        for gpu in &gpus {
            let simulated = if gpu["simulated"] == true {
                ", simulated"
            } else {
                ""
            };
            out += &format!(
                "  {}  {}  {}{simulated}\n",
                text(&gpu["uuid"]),
                text(&gpu["productName"]),
                gib(gpu["memoryBytes"].as_u64().unwrap_or(0))
            );
        }
        // Those of the workspace asked for (or the caller's default).
        let in_zone = Place {
            zone: metadata["zone"].as_str().map(str::to_owned),
            workspace: place.workspace.clone(),
        };
        let dataflows = ok(client.call(
            Method::GET,
            &format!("/api/v1/resources/dataflow{}", query(&in_zone, &[])),
            None,
        )?);
        let here: Vec<String> = match &dataflows {
            Ok(body) => body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| {
                    let name = metadata["name"].as_str().unwrap_or_default();
                    super::dataflow::machines_cell(&d["status"])
                        .split(',')
                        .any(|m| m == name)
                        && matches!(
                            d["status"]["state"].as_str(),
                            Some("Starting" | "Running" | "Degraded" | "Stopping")
                        )
                })
                .map(|d| {
                    let name = &metadata["name"];
                    let here = match d["status"]["nodeMachines"].as_object() {
                        Some(on) => on.values().filter(|m| *m == name).count() as u64,
                        None => d["status"]["nodes"].as_u64().unwrap_or(0),
                    };
                    format!(
                        "dataflow {} ({here} nodes here, {})",
                        text(&d["metadata"]["name"]),
                        text(&d["status"]["state"])
                    )
                })
                .collect(),
            Err(error) => vec![format!("not shown ({error})")],
        };
        line(
            &mut out,
            "Running:",
            if here.is_empty() {
                "nothing".to_owned()
            } else {
                here.join(", ")
            },
        );
    }
    if object["kind"] == "Dataflow" && status["id"].is_string() {
        line(&mut out, "Run:", text(&status["id"]));
        line(
            &mut out,
            "Machines:",
            super::dataflow::machines_cell(status).replace(',', ", "),
        );
        line(&mut out, "Folder:", text(&status["folder"]));
        if let Some(reason) = status["reason"].as_str() {
            line(
                &mut out,
                "Reason:",
                reason.lines().next().unwrap_or_default().to_owned(),
            );
        }
        out += "Nodes:\n";
        let empty = serde_json::Map::new();
        let placement = status["placement"].as_object().unwrap_or(&empty);
        let ended = status["ended"].as_object().unwrap_or(&empty);
        for (node, why) in placement {
            let mut state = match ended.get(node) {
                Some(end) => text(&end["status"]),
                None if matches!(status["state"].as_str(), Some("Running" | "Degraded")) => {
                    "running".to_owned()
                }
                None => "-".to_owned(),
            };
            if let Some(restarts) = status["restarts"][node].as_u64() {
                state += &format!(", restarted {restarts} times");
            }
            let on = status["nodeMachines"][node]
                .as_str()
                .map_or_else(|| super::dataflow::machines_cell(status), str::to_owned);
            if let Some(listen) = status["listen"][node].as_array() {
                let endpoints: Vec<&str> = listen.iter().filter_map(Json::as_str).collect();
                state += &format!(", reads other machines on {}", endpoints.join(", "));
            }
            out += &format!(
                "  {node}: on {on} because {}; {state}\n",
                why.as_str().unwrap_or_default()
            );
        }
    }
    if object["kind"] == "Container" {
        out += &super::workload::describe_container(&object);
    }
    if object["kind"] == "Workload" {
        out += &super::workload::describe_workload(&client, &object)?;
    }
    out += "Spec:\n";
    for spec_line in to_yaml(&object["spec"]).lines() {
        out += &format!("  {spec_line}\n");
    }
    print!("{out}");
    // Its events: the audit records of the writes that touched it.
    let answer = client.call(Method::GET, "/api/v1/events?limit=10000", None)?;
    if !answer.status.is_success() {
        println!("Events:    not shown ({})", api_error(&answer));
        return Ok(ExitCode::SUCCESS);
    }
    let kind_name = text(&object["kind"]);
    let key = format!(
        "{kind_name}/{}/{}/{}",
        metadata["zone"].as_str().unwrap_or("-"),
        metadata["workspace"].as_str().unwrap_or("-"),
        text(&metadata["name"])
    );
    let events: Vec<Vec<String>> = answer.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["targets"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == &Json::String(key.clone())))
        })
        .map(|r| {
            vec![
                when(&r["time"]),
                text(&r["user"]),
                text(&r["verb"]),
                r["revision"]
                    .as_u64()
                    .map_or("-".to_owned(), |n| n.to_string()),
            ]
        })
        .collect();
    println!("Events:");
    let recent = &events[events.len().saturating_sub(10)..];
    if recent.is_empty() {
        println!("  none");
    } else {
        print_table(
            &["  WHEN", "WHO", "WHAT", "REVISION"],
            &recent
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r[0] = format!("  {}", r[0]);
                    r
                })
                .collect::<Vec<_>>(),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Bytes as GiB with one decimal.
fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// `dora get events`: the audit log, oldest first: who wrote what, when.
fn events(client: &Client, output: Option<Output>) -> eyre::Result<ExitCode> {
    let body = ok(client.call(Method::GET, "/api/v1/events?limit=1000", None)?)?;
    let records = body["items"].as_array().cloned().unwrap_or_default();
    match output {
        Some(Output::Json) => println!("{}", serde_json::to_string_pretty(&records)?),
        Some(Output::Yaml) => {
            for record in &records {
                print!("---\n{}", to_yaml(record));
            }
        }
        Some(Output::Wide) | None => {
            let rows: Vec<Vec<String>> = records
                .iter()
                .map(|r| {
                    let targets: Vec<&str> = r["targets"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Json::as_str)
                        .collect();
                    vec![
                        r["time"].as_u64().map_or("-".to_owned(), server::age),
                        r["user"].as_str().unwrap_or("-").to_owned(),
                        r["verb"].as_str().unwrap_or("-").to_owned(),
                        r["revision"]
                            .as_u64()
                            .map_or("-".to_owned(), |n| n.to_string()),
                        targets.join(" "),
                    ]
                })
                .collect();
            print_table(&["AGE", "USER", "VERB", "REVISION", "TARGETS"], &rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The API path of one resource.
fn resource_path(kind: &str, name: &str, place: &Place) -> String {
    format!(
        "/api/v1/resources/{}/{}{}",
        encode(kind),
        encode(name),
        query(place, &[])
    )
}

//! The start of a dataflow spread over machines: a coordinator and three
//! machines' daemons on this host, and a dataflow of 30 nodes, each edge
//! between two machines. Timed from the start request until every node
//! has returned from `init` (the start-up barrier spans machines, so
//! that is when every node runs), and until the coordinator shows the
//! dataflow `Running`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::{self, dora_and_scratch, free_port, http, percentile, Coordinator, Daemon};
use crate::{now_ns, AnyResult};

/// Machines, and nodes in all (half senders, half receivers).
const MACHINES: usize = 3;
const NODES: usize = 30;
/// Starts timed.
const RUNS: usize = 10;

/// The dataflow: sender `i` on machine `i % 3`, its receiver on the next
/// machine, so that every edge crosses machines.
fn dataflow(exe: &Path, marks: &Path) -> String {
    let mut yaml = String::from("nodes:\n");
    for i in 0..NODES / 2 {
        let (from, to) = (i % MACHINES, (i + 1) % MACHINES);
        yaml += &format!(
            "  - id: sender-{i}\n    path: {exe}\n    args: start-sender\n    env: {{ DORA_BENCH_RESULTS: {marks} }}\n    outputs: [out]\n    deploy: {{ machine: m{from} }}\n  - id: receiver-{i}\n    path: {exe}\n    args: start-receiver\n    env: {{ DORA_BENCH_RESULTS: {marks} }}\n    inputs:\n      in: sender-{i}/out\n    deploy: {{ machine: m{to} }}\n",
            exe = exe.display(),
            marks = marks.display(),
        );
    }
    yaml
}

/// The state of dataflow `name`, as the coordinator has it.
fn state(coordinator: &Coordinator, name: &str) -> AnyResult<String> {
    let (_, body) = http(
        coordinator.port,
        "GET",
        &format!("/api/v1/resources/dataflow/{name}"),
        &coordinator.token,
        "",
    )?;
    let body: serde_json::Value = serde_json::from_str(&body)?;
    Ok(body["status"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// Runs the benchmark with the `dora` program beside `exe`, and prints
/// the table.
pub fn run(exe: &Path) -> AnyResult<()> {
    let (dora, dir) = dora_and_scratch(exe, "spread")?;
    let coordinator = cluster::start(&dora, &dir.join("coordinator"), free_port()?)?;
    let token = cluster::join_token(&coordinator, "default")?;
    let mut daemons = Vec::new();
    for machine in 0..MACHINES {
        daemons.push(Daemon(
            Command::new(&dora)
                .args([
                    "daemon",
                    "--coordinator",
                    &format!("http://127.0.0.1:{}", coordinator.port),
                ])
                .args(["--machine", &format!("m{machine}"), "--join-token", &token])
                .args(["--node-address", "127.0.0.1", "--state-dir"])
                .arg(dir.join(format!("m{machine}")))
                .stderr(Stdio::null())
                .spawn()?,
        ));
    }
    let ready = Instant::now();
    loop {
        let (_, body) = http(
            coordinator.port,
            "GET",
            "/api/v1/resources/machines",
            &coordinator.token,
            "",
        )?;
        if body.matches("\"state\":\"Ready\"").count() >= MACHINES {
            break;
        }
        if ready.elapsed() > Duration::from_secs(30) {
            return Err("the machines were not all Ready within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let marks = dir.join("marks");
    let source = dataflow(exe, &marks);
    let file = dir.join("dataflow.yml");
    std::fs::write(&file, &source)?;
    let request = start_request(&source, &file, &dir);
    let (mut all_started, mut running) = (Vec::new(), Vec::new());
    for run in 1..=RUNS {
        eprintln!("start of {NODES} nodes on {MACHINES} machines, run {run} of {RUNS} ...");
        let _ = std::fs::remove_file(&marks);
        let name = format!("spread-{run}");
        let started_ns = now_ns();
        let started = Instant::now();
        let (status, answer) = http(
            coordinator.port,
            "POST",
            &format!("/api/v1/dataflows/{name}/start"),
            &coordinator.token,
            &request,
        )?;
        if status != 201 {
            return Err(format!("the start was refused ({status}): {answer}").into());
        }
        let mut shown_running = None;
        let last_mark = loop {
            if shown_running.is_none() && state(&coordinator, &name)? == "Running" {
                shown_running = Some(started.elapsed().as_secs_f64() * 1e3);
            }
            let text = std::fs::read_to_string(&marks).unwrap_or_default();
            let marks: Vec<u64> = text.lines().filter_map(|l| l.parse().ok()).collect();
            if marks.len() == NODES && shown_running.is_some() {
                break marks.into_iter().max().unwrap_or(started_ns);
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(format!(
                    "{} of {NODES} nodes started within 60 s; the dataflow is {}",
                    marks.len(),
                    state(&coordinator, &name)?
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        all_started.push(last_mark.saturating_sub(started_ns) as f64 / 1e6);
        running.push(shown_running.unwrap_or_default());
        http(
            coordinator.port,
            "POST",
            &format!("/api/v1/dataflows/{name}/stop"),
            &coordinator.token,
            "",
        )?;
        let stopping = Instant::now();
        while matches!(
            state(&coordinator, &name)?.as_str(),
            "Starting" | "Running" | "Stopping"
        ) {
            if stopping.elapsed() > Duration::from_secs(30) {
                return Err(format!("{name} did not stop within 30 s").into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    drop(daemons);
    drop(coordinator);
    let _ = std::fs::remove_dir_all(&dir);
    all_started.sort_by(f64::total_cmp);
    running.sort_by(f64::total_cmp);
    println!(
        "\nstart of a dataflow of {NODES} nodes on {MACHINES} machines (every edge between machines), {RUNS} starts (ms)"
    );
    println!(
        "{:<44}  {:>6}  {:>6}  {:>6}",
        "from the start request until", "min", "p50", "max"
    );
    for (what, times) in [
        ("every node has returned from init", &all_started),
        ("the coordinator shows it Running", &running),
    ] {
        println!(
            "{what:<44}  {:>6.0}  {:>6.0}  {:>6.0}",
            times[0],
            percentile(times, 0.5),
            times[times.len() - 1]
        );
    }
    Ok(())
}

/// The start request's body: the dataflow's text, its file and folder.
fn start_request(source: &str, file: &Path, dir: &Path) -> String {
    serde_json::json!({
        "source": source,
        "file": file.display().to_string(),
        "folder": dir.display().to_string(),
    })
    .to_string()
}

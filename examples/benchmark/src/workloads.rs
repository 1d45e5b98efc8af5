//! Workload placement on a cluster: the time from the apply of one
//! workload until every replica is placed (Scheduled, its machine
//! chosen), on machines that one daemon presents (`--simulate`), which
//! accept containers and run nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cluster::{dora_and_scratch, free_port, http, percentile, present, start, Coordinator};
use crate::AnyResult;

/// Machines of the cluster.
const MACHINES: usize = 1000;
/// Replicas of the workload, per case.
const REPLICAS: [usize; 3] = [1, 100, 1000];
/// Runs per case.
const RUNS: usize = 5;

/// Runs the benchmark with the `dora` program beside this one.
pub fn run(exe: &Path) -> AnyResult<()> {
    let (dora, dir) = dora_and_scratch(exe, "workloads")?;
    let coordinator = start(&dora, &dir, free_port()?)?;
    let (ready, _daemon) = present(&dora, &dir, &coordinator, "place", MACHINES)?;
    println!(
        "workload placement: {} machines (simulated on one daemon's link, Ready after {ready:.1} s), coordinator on loopback with its database",
        MACHINES + 1
    );
    println!(
        "  {:>9} | apply to every replica Scheduled: min, median, max ({RUNS} runs)",
        "replicas"
    );
    for replicas in REPLICAS {
        let mut times = Vec::with_capacity(RUNS);
        for run in 0..RUNS {
            let name = format!("w{replicas}-{run}");
            times.push(placed_after(&coordinator, &name, replicas)?);
            remove(&coordinator, &name)?;
        }
        times.sort_by(f64::total_cmp);
        println!(
            "  {replicas:>9} | {:.0} ms, {:.0} ms, {:.0} ms",
            times[0],
            percentile(&times, 0.5),
            times[times.len() - 1]
        );
    }
    drop(coordinator);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Applies workload `name` with `replicas` replicas; the time until all
/// are placed, in ms.
fn placed_after(coordinator: &Coordinator, name: &str, replicas: usize) -> AnyResult<f64> {
    let workload = format!(
        "apiVersion: v1\nkind: Workload\nmetadata: {{ name: {name}, zone: place, workspace: bench }}\nspec:\n  replica: {{ count: {replicas} }}\n  driver: Docker\n  selectors: {{}}\n  image: {{ image: bench/none }}\n  config: {{ cmd: 'true' }}\n"
    );
    let start = Instant::now();
    let (status, answer) = http(
        coordinator.port,
        "POST",
        "/api/v1/apply",
        &coordinator.token,
        &workload,
    )?;
    if status != 200 {
        return Err(format!("the workload was refused ({status}): {answer}").into());
    }
    loop {
        if count(coordinator, name, "\"state\":\"Scheduled\"")? == replicas {
            return Ok(start.elapsed().as_secs_f64() * 1e3);
        }
        if start.elapsed() > Duration::from_secs(300) {
            return Err(format!("workload `{name}` was not placed within 300 s").into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How many replicas of `name` hold `text` in their JSON.
fn count(coordinator: &Coordinator, name: &str, text: &str) -> AnyResult<usize> {
    let (_, body) = http(
        coordinator.port,
        "GET",
        "/api/v1/resources/containers?zone=place&workspace=bench",
        &coordinator.token,
        "",
    )?;
    let workload = format!("\"workload\":\"{name}\"");
    Ok(body
        .split("{\"apiVersion\"")
        .filter(|item| item.contains(&workload) && item.contains(text))
        .count())
}

/// Deletes workload `name` and waits until its replicas are gone.
fn remove(coordinator: &Coordinator, name: &str) -> AnyResult<()> {
    http(
        coordinator.port,
        "DELETE",
        &format!("/api/v1/resources/workload/{name}?zone=place&workspace=bench"),
        &coordinator.token,
        "",
    )?;
    let start = Instant::now();
    while count(coordinator, name, "")? > 0 {
        if start.elapsed() > Duration::from_secs(300) {
            return Err(format!("the replicas of `{name}` were not removed within 300 s").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

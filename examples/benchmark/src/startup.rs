//! The start-up of many nodes: how long from `dora run` until every node of
//! a dataflow of pairs (a sender and a receiver of one message) has
//! returned from `init`, and until the whole run has ended.

use std::path::Path;

use dora_node_api::{DoraNode, Event, Parameters};

use crate::{append_result, now_ns, run_dora, AnyResult};

/// The sizes of the dataflows, in nodes.
const NODES: [usize; 2] = [100, 1000];
/// Runs of each size.
const RUNS: usize = 3;

/// Writes a dataflow of `nodes / 2` pairs running `exe` into `dir`.
fn dataflow(dir: &Path, exe: &Path, nodes: usize) -> AnyResult<std::path::PathBuf> {
    let mut yaml = String::from("nodes:\n");
    for i in 0..nodes / 2 {
        yaml += &format!(
            "  - id: sender-{i}\n    path: {exe}\n    args: start-sender\n    outputs: [out]\n  - id: receiver-{i}\n    path: {exe}\n    args: start-receiver\n    inputs:\n      in: sender-{i}/out\n",
            exe = exe.display()
        );
    }
    let file = dir.join(format!("startup-{nodes}.yml"));
    std::fs::write(&file, yaml)?;
    Ok(file)
}

/// One run: (until every node returned from init, until the run ended),
/// in milliseconds.
fn once(dora: &Path, file: &Path, nodes: usize) -> AnyResult<(f64, f64)> {
    let marks = file.with_extension("marks");
    let started_ns = now_ns();
    let ended = run_dora(dora, file, &marks)?;
    let text = std::fs::read_to_string(&marks)?;
    std::fs::remove_file(&marks)?;
    let marks: Vec<u64> = text.lines().filter_map(|l| l.parse().ok()).collect();
    if marks.len() != nodes {
        return Err(format!("{} of {nodes} nodes reported their start", marks.len()).into());
    }
    let last = marks.iter().max().copied().unwrap_or(started_ns);
    Ok((last.saturating_sub(started_ns) as f64 / 1e6, ended))
}

/// Runs every size and prints the table; `exe` is this program.
pub fn run(exe: &Path) -> AnyResult<()> {
    let dora = exe.with_file_name("dora");
    let dir = std::env::temp_dir().join(format!("dora-bench-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut rows = Vec::new();
    for nodes in NODES {
        let file = dataflow(&dir, exe, nodes)?;
        for run in 1..=RUNS {
            eprintln!("start-up of {nodes} nodes, run {run} of {RUNS} ...");
            rows.push((nodes, once(&dora, &file, nodes)?));
        }
    }
    std::fs::remove_dir_all(&dir)?;
    println!(
        "\nstart-up: from `dora run` to every node returned from init, and to the run's end (ms)"
    );
    println!("{:>6}  {:>12}  {:>10}", "nodes", "all started", "run ended");
    for (nodes, (started, ended)) in rows {
        println!("{nodes:>6}  {started:>12.0}  {ended:>10.0}");
    }
    Ok(())
}

/// Records that this node has returned from init.
fn mark() -> AnyResult<()> {
    append_result(&now_ns().to_string())
}

pub fn sender() -> AnyResult<()> {
    let (mut node, _events) = DoraNode::init_from_env()?;
    mark()?;
    node.send_output("out", Parameters::new(), b"started")?;
    Ok(())
}

pub fn receiver() -> AnyResult<()> {
    let (_node, events) = DoraNode::init_from_env()?;
    mark()?;
    for event in events {
        if let Event::Stop = event {
            break;
        }
    }
    Ok(())
}

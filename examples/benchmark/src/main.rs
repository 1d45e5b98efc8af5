//! `dora-bench`: one-way latency and throughput between two processes,
//! through dora's node API and through raw iceoryx2, in one run.
//!
//! Latency is measured from the moment the payload is written (the
//! timestamp is the last thing the sender writes) to the moment the
//! receiver has the message, so it shows the transport and not the fill.
//!
//! ```text
//! cargo build --release -p dora-coordinator -p dora-benchmark
//! target/release/dora-bench            # everything
//! target/release/dora-bench startup    # only the start-up of many nodes
//! target/release/dora-bench latency    # only the latency, blocking wake-ups
//! target/release/dora-bench logs       # only logs: records, printed lines, the relay
//! target/release/dora-bench remote     # one edge between two network namespaces (root)
//! target/release/dora-bench spread     # start of 30 nodes on 3 machines' daemons
//! ```
//!
//! The busy-polling runs each keep a core busy, and the throughput runs
//! keep both busy: on a machine with few cores, or a loaded one, they take
//! long and say little. `latency` leaves them out.
//!
//! It ends with the start-up of dataflows of 100 and 1,000 nodes: the time
//! from `dora run` to every node having returned from `init`.

mod cluster;
mod logs;
mod raw;
mod remote;
mod report;
mod spread;
mod startup;
mod workloads;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dora_node_api::{DoraNode, Event, Parameters};
use report::Results;

/// The payload sizes of the latency table.
pub const SIZES: [usize; 6] = [8, 4 << 10, 64 << 10, 1 << 20, 4 << 20, 40 << 20];
/// Messages per size: enough for a p99, fewer for the largest payloads.
pub fn samples(size: usize) -> usize {
    if size >= 4 << 20 {
        60
    } else {
        300
    }
}
/// The pause between two latency messages, so that no queue builds up.
pub const GAP: Duration = Duration::from_millis(1);
/// The throughput runs: (size, messages).
pub const THROUGHPUT: [(usize, u64); 2] = [(8, 1_000_000), (4 << 20, 500)];

/// Runs `dora run FILE` with `DORA_BENCH_RESULTS` set to `results`, its
/// output thrown away; how long it took (ms), once it has succeeded.
pub fn run_dora(
    dora: &std::path::Path,
    file: &std::path::Path,
    results: &std::path::Path,
) -> AnyResult<f64> {
    let _ = std::fs::remove_file(results);
    let started = Instant::now();
    let status = Command::new(dora)
        .arg("run")
        .arg(file)
        .env("DORA_BENCH_RESULTS", results)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", dora.display()))?;
    let wall = started.elapsed().as_secs_f64() * 1e3;
    if !status.success() {
        return Err(format!("`dora run {}` failed ({status})", file.display()).into());
    }
    Ok(wall)
}

/// Appends `line` to the file `DORA_BENCH_RESULTS` names: one short append
/// per line, so that the lines of several nodes never mix.
pub fn append_result(line: &str) -> AnyResult<()> {
    use std::io::Write;
    let path = std::env::var_os("DORA_BENCH_RESULTS")
        .ok_or("DORA_BENCH_RESULTS is not set; run this mode through `dora-bench`")?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(format!("{line}\n").as_bytes())?;
    Ok(())
}

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        None => run_all(),
        Some("startup") => std::env::current_exe()
            .map_err(Into::into)
            .and_then(|exe| startup::run(&exe)),
        Some("latency") => run_latency(),
        Some("cluster") => std::env::current_exe()
            .map_err(Into::into)
            .and_then(|exe| cluster::run(&exe)),
        Some("spread") => std::env::current_exe()
            .map_err(Into::into)
            .and_then(|exe| spread::run(&exe)),
        Some("remote") => std::env::current_exe()
            .map_err(Into::into)
            .and_then(|exe| remote::run(&exe)),
        Some("remote-side") => match (args.get(2), args.get(3), args.get(4)) {
            (Some(kind), Some(role), Some(run)) => remote::side(kind, role, run),
            _ => Err("remote-side KIND ROLE RUN".into()),
        },
        Some("workloads") => std::env::current_exe()
            .map_err(Into::into)
            .and_then(|exe| workloads::run(&exe)),
        Some("logs") => std::env::current_exe()
            .map_err(Into::into)
            .and_then(|exe| logs::run(&exe)),
        Some("logs-writer") => logs::writer(args.get(2).map(String::as_str)),
        Some("logs-reader") => logs::reader(),
        Some("start-sender") => startup::sender(),
        Some("start-receiver") => startup::receiver(),
        Some("node-sender") => node_sender(),
        Some("node-receiver") => node_receiver(),
        Some("raw-receiver") => raw::receiver(args.get(2).map(String::as_str) == Some("poll")),
        Some(other) => {
            Err(format!("unknown mode `{other}`; run `dora-bench` with no argument").into())
        }
    };
    if let Err(error) = result {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Runs every harness and prints the table.
fn run_all() -> AnyResult<()> {
    let exe = std::env::current_exe()?;
    let bin_dir = exe.parent().ok_or("the benchmark has no folder")?;
    eprintln!("raw iceoryx2, blocking wake-up ...");
    let raw_block = raw::sender(&exe, false)?;
    eprintln!("raw iceoryx2, busy polling ...");
    let raw_poll = raw::sender(&exe, true)?;
    eprintln!("dora ...");
    let dora = run_dataflow(bin_dir, "dataflow.yml", 0)?;
    // The spin must outlast the gap between messages to catch the next
    // one awake, as busy polling does.
    eprintln!("dora, spinning up to 2 ms before blocking ...");
    let dora_spin = run_dataflow(bin_dir, "dataflow.yml", 2_000)?;
    eprintln!("dora, both nodes in C ...");
    let dora_c = run_dataflow(bin_dir, "dataflow-c.yml", 0)?;
    eprintln!("dora, both nodes in Python ...");
    let dora_python = run_dataflow(bin_dir, "dataflow-py.yml", 0);
    report::print(&raw_block, &raw_poll, &dora, &dora_spin);
    report::print_beside(&dora, &dora_c, "C");
    match dora_python {
        Ok(python) => report::print_beside(&dora, &python, "Python"),
        Err(error) => println!(
            "\nno Python row: {error}; install the package into the Python that runs `.py` nodes (`pip install ./dora-python`, or set DORA_PYTHON)"
        ),
    }
    // The path taken before the runs above: their build steps may have
    // replaced this very program, whose path then reads "(deleted)".
    startup::run(&exe)
}

/// Runs the latency comparison with blocking wake-ups only.
fn run_latency() -> AnyResult<()> {
    std::env::set_var(LATENCY_ONLY, "1");
    let exe = std::env::current_exe()?;
    let bin_dir = exe.parent().ok_or("the benchmark has no folder")?;
    eprintln!("raw iceoryx2, blocking wake-up ...");
    let raw_block = raw::sender(&exe, false)?;
    eprintln!("dora ...");
    let dora = run_dataflow(bin_dir, "dataflow.yml", 0)?;
    let none = Results::default();
    report::print(&raw_block, &none, &dora, &none);
    Ok(())
}

/// Set (by `dora-bench latency`, for every process of the run): the
/// throughput runs are left out.
const LATENCY_ONLY: &str = "DORA_BENCH_LATENCY_ONLY";

/// The throughput runs to make in this run.
pub fn throughput_runs() -> &'static [(usize, u64)] {
    if std::env::var_os(LATENCY_ONLY).is_some() {
        &[]
    } else {
        &THROUGHPUT
    }
}

/// Runs a dora half through `dora run` and reads what the receiver wrote.
fn run_dataflow(bin_dir: &std::path::Path, file: &str, spin_us: u64) -> AnyResult<Results> {
    let dataflow = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file);
    let results = std::env::temp_dir().join(format!("dora-bench-{}.txt", std::process::id()));
    let status = Command::new(bin_dir.join("dora"))
        .arg("run")
        .arg(&dataflow)
        .env("DORA_BENCH_RESULTS", &results)
        .env("DORA_BENCH_SPIN_US", spin_us.to_string())
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run `dora` from {}: {e}; build it with `cargo build --release -p dora-coordinator`", bin_dir.display()))?;
    if !status.success() {
        return Err(format!("`dora run {}` failed ({status})", dataflow.display()).into());
    }
    let text = std::fs::read_to_string(&results)?;
    std::fs::remove_file(&results)?;
    Results::parse(&text)
}

fn node_sender() -> AnyResult<()> {
    let (mut node, _events) = DoraNode::init_from_env()?;
    for size in SIZES {
        for _ in 0..samples(size) {
            send_ones(&mut node, "latency", size)?;
            std::thread::sleep(GAP);
        }
    }
    for &(size, count) in throughput_runs() {
        for _ in 0..count {
            send_ones(&mut node, "throughput", size)?;
        }
    }
    Ok(())
}

/// Sends `size` bytes of 1 on `output`, written in one pass as the raw
/// sender writes them: a loan zeroed first would be written twice, and
/// the memory left dirty by that second pass slows the wake-up that
/// follows the timestamp.
fn send_ones(node: &mut DoraNode, output: &str, size: usize) -> AnyResult<()> {
    let mut loan = node.loan_output_uninit(output, size, Parameters::new())?;
    loan.put_bytes(1, size)?;
    node.send_loan(loan)?;
    Ok(())
}

/// The receiver's opt-in spin before sleeping: `DORA_BENCH_SPIN_US`
/// microseconds, none when unset.
pub fn spin_from_env() -> Duration {
    let spin = std::env::var("DORA_BENCH_SPIN_US")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Duration::from_micros(spin)
}

fn node_receiver() -> AnyResult<()> {
    let (_node, mut events) = DoraNode::init_from_env()?;
    events.set_spin(spin_from_env());
    let mut results = Results::default();
    let mut batch: Option<(usize, u64, Instant)> = None;
    for event in events.by_ref() {
        let Event::Input { id, metadata, data } = event else {
            continue;
        };
        if id.as_str() == "latency" {
            results.record_latency(data.len(), now_ns().saturating_sub(metadata.timestamp_ns));
            continue;
        }
        let (size, count, start) = batch.get_or_insert((data.len(), 0, Instant::now()));
        *count += 1;
        let expected = THROUGHPUT
            .iter()
            .find(|(s, _)| s == size)
            .map_or(0, |(_, n)| *n);
        if *count == expected {
            let rate = *count as f64 / start.elapsed().as_secs_f64();
            results.throughput.push((*size, rate));
            batch = None;
        }
    }
    let path = std::env::var_os("DORA_BENCH_RESULTS")
        .ok_or("DORA_BENCH_RESULTS is not set; run `dora-bench`")?;
    std::fs::write(path, results.to_text())?;
    Ok(())
}

//! `dora-operator-bench`: one runtime hosting 1,000 operators in a ring,
//! driven in-process (no other node): how long they take to start, how
//! much memory an idle operator costs, and how long an event waits between
//! an operator sending it and the next operator's call (dispatch).
//!
//! ```sh
//! cargo build --release -p dora-operator-benchmark -p bench-operator
//! target/release/dora-operator-bench
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use dora_core::config::{
    OperatorConfig, OperatorInputConfig, OperatorInputFrom, OperatorSourceConfig,
};
use dora_core::descriptor::QueuePolicy;
use dora_core::id::DataId;
use dora_runtime::{Nowhere, Runtime};

const OPERATORS: usize = 1000;
/// Must match `HOPS` of the bench operator.
const HOPS: u64 = 1_000_000;

/// Resident memory of this process, in KiB.
fn resident_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

fn input(from: OperatorInputFrom) -> OperatorInputConfig {
    OperatorInputConfig {
        from,
        queue_size: 10,
        queue_policy: QueuePolicy::DropOldest,
        deadline: None,
    }
}

/// Operator `i` reads `i - 1`; operator 0 reads the last one, and a node
/// input that starts the ring.
fn ring(library: &str) -> Vec<OperatorConfig> {
    (0..OPERATORS)
        .map(|i| {
            let previous = OperatorInputFrom::Operator {
                operator: format!("op-{}", (i + OPERATORS - 1) % OPERATORS).into(),
                output: "out".into(),
            };
            let mut inputs = BTreeMap::from([(DataId::from("in"), input(previous))]);
            if i == 0 {
                inputs.insert(
                    "start".into(),
                    input(OperatorInputFrom::NodeInput("op-0/start".into())),
                );
            }
            OperatorConfig {
                id: format!("op-{i}").into(),
                source: OperatorSourceConfig::SharedLibrary(library.to_owned()),
                priority: 0,
                inputs,
                outputs: vec!["out".into()],
                max_restarts: None,
            }
        })
        .collect()
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted
        .get(index)
        .map_or(0.0, |d| d.as_nanos() as f64 / 1_000.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let library = std::env::current_exe()?.with_file_name("libbench_operator.so");
    if !library.exists() {
        return Err(format!(
            "{} is missing; build it with `cargo build --release -p bench-operator`",
            library.display()
        )
        .into());
    }
    let configs = ring(&library.display().to_string());

    let before = resident_kib();
    let started = Instant::now();
    let mut runtime = Runtime::new(&configs, Path::new("/"), 0, |_| false)?;
    let startup = started.elapsed();
    let idle_kib = resident_kib().saturating_sub(before);

    runtime.record_latencies();
    runtime.push_bytes(
        &"op-0/start".into(),
        0u64.to_le_bytes().to_vec(),
        dora_node_api::now_ns(),
    );
    let started = Instant::now();
    let mut dispatched: u64 = 0;
    while runtime.run_one(&mut Nowhere) {
        dispatched += 1;
    }
    let elapsed = started.elapsed();
    if dispatched != HOPS + 1 {
        return Err(format!("expected {} events, ran {dispatched}", HOPS + 1).into());
    }
    let mut latencies = runtime.take_latencies();
    latencies.sort_unstable();
    runtime.finish();

    println!("dora-runtime with {OPERATORS} operators in a ring, one message passed {HOPS} times");
    println!("{:>34} | {:>12}", "measure", "value");
    println!(
        "{:>34} | {:>9.1} ms",
        "start-up of all operators",
        startup.as_secs_f64() * 1e3
    );
    println!(
        "{:>34} | {:>9.2} KiB",
        "resident memory per idle operator",
        idle_kib as f64 / OPERATORS as f64
    );
    println!(
        "{:>34} | {:>9.3} us",
        "dispatch latency p50",
        percentile(&latencies, 0.5)
    );
    println!(
        "{:>34} | {:>9.3} us",
        "dispatch latency p99",
        percentile(&latencies, 0.99)
    );
    println!(
        "{:>34} | {:>9.3} us",
        "dispatch latency max",
        percentile(&latencies, 1.0)
    );
    println!(
        "{:>34} | {:>9.0} /s",
        "throughput (events)",
        dispatched as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

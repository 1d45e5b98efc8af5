//! How fast workload placement is, on one core.
//!
//! ```sh
//! cargo run --release -p dora-coordinator --no-default-features --example placement
//! ```
//!
//! It places 100,000 replicas on 10,000 machines with mixed GPU models
//! (as 10,000 workloads of 10, then again on the full cluster, then as
//! 100,000 workloads of 1), then one workload of 100 replicas on 1,000
//! machines many times, and prints the time, the replicas answered per
//! second (placed or refused with a reason) and the peak memory.

use std::hint::black_box;
use std::time::{Duration, Instant};

use dora_coordinator::placement::workload::{place, Gpu, Machine, Taken, WorkloadRequest};
use dora_core::resource::Affinity;
use dora_core::selector::{ProductName, Selector, Selectors};

const GPU_MODELS: [&str; 4] = [
    "NVIDIA A100-SXM4-80GB",
    "NVIDIA H100 80GB HBM3",
    "Tesla V100-SXM2-16GB",
    "Quadro RTX 6000",
];

/// `count` machines in one zone: a fifth with no GPU, the rest with 8 GPUs
/// of one model; 64 CPUs of two models; 5% NotReady, 2% unschedulable.
fn machines(count: usize) -> Vec<Machine> {
    (0..count)
        .map(|i| {
            let gpus = if i % 5 == 4 {
                Vec::new()
            } else {
                let model = GPU_MODELS[(i / 5) % GPU_MODELS.len()];
                (0..8)
                    .map(|g| Gpu {
                        uuid: format!("GPU-{i:08x}-{g:04x}-0000-0000-000000000000"),
                        product: model.to_owned(),
                    })
                    .collect()
            };
            Machine {
                name: format!("node-{i:05}"),
                zone: "dc-1".to_owned(),
                ready: i % 20 != 7,
                unschedulable: i % 50 == 13,
                cpus: 64,
                cpu_model: if i % 2 == 0 { "Xeon" } else { "EPYC" }.to_owned(),
                gpus,
            }
        })
        .collect()
}

fn selector(product_name: ProductName, count: u32) -> Option<Selector> {
    Some(Selector {
        product_name,
        count,
    })
}

fn named(names: &[&str]) -> ProductName {
    ProductName::AnyOf(names.iter().map(|n| (*n).to_owned()).collect())
}

/// `count` workloads of `replicas` replicas each, with a mix of needs:
/// CPUs only, one GPU of a model, two GPUs of either of two models, one
/// GPU of any model, two V100s; half Distribute, half Pack.
fn workloads(count: usize, replicas: u32) -> Vec<WorkloadRequest> {
    (0..count)
        .map(|i| {
            let model = GPU_MODELS[i % GPU_MODELS.len()];
            let (gpu, cpu) = match i % 10 {
                0..=3 => (None, selector(ProductName::All, 4)),
                4..=6 => (selector(named(&[model]), 1), selector(ProductName::All, 2)),
                7 => (selector(named(&GPU_MODELS[..2]), 2), None),
                8 => (selector(ProductName::All, 1), None),
                _ => (
                    selector(named(&["Tesla V100-SXM2-16GB"]), 2),
                    selector(named(&["Xeon"]), 8),
                ),
            };
            WorkloadRequest {
                name: format!("workload-{i:05}"),
                zone: "dc-1".to_owned(),
                selectors: Selectors { cpu, gpu },
                affinity: if i % 2 == 0 {
                    Affinity::Distribute
                } else {
                    Affinity::Pack
                },
                replicas: (0..replicas).collect(),
                ports: vec![],
            }
        })
        .collect()
}

/// The peak resident memory of this process, from `/proc/self/status`.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs on the first CPU only, so that the figures are those of one core.
fn pin_to_one_core() -> bool {
    #[cfg(target_os = "linux")]
    // SAFETY: `set` is a plain bit set owned by this frame; the call reads
    // it and changes only this thread's affinity.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// A line of the table; `replicas/s` counts every replica answered,
/// placed or refused with its reason.
fn row(case: &str, machines: usize, replicas: usize, placed: usize, time: Duration) {
    let per_second = replicas as f64 / time.as_secs_f64();
    let time = if time.as_secs_f64() >= 0.1 {
        format!("{:.3} s", time.as_secs_f64())
    } else {
        format!("{:.3} ms", time.as_secs_f64() * 1e3)
    };
    println!("{case:<34} {machines:>8} {replicas:>8} {placed:>8} {time:>10} {per_second:>14.0}");
}

fn main() {
    let pinned = pin_to_one_core();
    println!(
        "workload placement, one thread{}",
        if pinned { ", pinned to CPU 0" } else { "" }
    );
    println!(
        "{:<34} {:>8} {:>8} {:>8} {:>10} {:>14}",
        "case", "machines", "replicas", "placed", "time", "replicas/s"
    );

    let big_machines = machines(10_000);
    let big_workloads = workloads(10_000, 10);
    let started = Instant::now();
    let placement = black_box(place(&big_workloads, &big_machines, &Taken::new()));
    let elapsed = started.elapsed();
    row(
        "10,000 workloads x 10 replicas",
        big_machines.len(),
        100_000,
        placement.assignments.len(),
        elapsed,
    );
    let unplaced = placement.unplaced.len();
    let example = placement.unplaced.first().map(|u| u.reason.to_string());

    // The same, with the first placement's replicas running: the second
    // call finds the cluster full and explains why, replica by replica.
    let mut taken = Taken::new();
    for assignment in placement.assignments {
        let _ = taken.take(assignment);
    }
    let again = workloads(10_000, 10)
        .into_iter()
        .map(|w| WorkloadRequest {
            name: format!("{}-again", w.name),
            ..w
        })
        .collect::<Vec<_>>();
    let started = Instant::now();
    let full = black_box(place(&again, &big_machines, &taken));
    row(
        "the same again, cluster full",
        big_machines.len(),
        100_000,
        full.assignments.len(),
        started.elapsed(),
    );
    drop(full);
    drop(taken);

    let singles = workloads(100_000, 1);
    let started = Instant::now();
    let placed = black_box(place(&singles, &big_machines, &Taken::new()));
    row(
        "100,000 workloads x 1 replica",
        big_machines.len(),
        100_000,
        placed.assignments.len(),
        started.elapsed(),
    );
    drop(placed);
    drop(singles);

    let small_machines = machines(1_000);
    let one = workloads(1, 100);
    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let started = Instant::now();
            black_box(place(&one, &small_machines, &Taken::new()));
            started.elapsed()
        })
        .collect();
    times.sort();
    let placed = place(&one, &small_machines, &Taken::new())
        .assignments
        .len();
    row(
        "1 workload x 100 (median of 200)",
        small_machines.len(),
        100,
        placed,
        times[times.len() / 2],
    );

    println!();
    println!("not placed in the first run: {unplaced}");
    if let Some(reason) = example {
        println!("  for example: {reason}");
    }
    match peak_rss_kib() {
        Some(kib) => println!("peak RSS: {} MiB", kib / 1024),
        None => println!("peak RSS: unknown (no /proc/self/status)"),
    }
}

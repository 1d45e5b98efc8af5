//! An operator that panics with `RUST_BACKTRACE=1` must not stop the
//! runtime's only thread while its backtrace is symbolised and printed:
//! every other operator waits for that thread.
//!
//! The test runs itself again as a child process, with `RUST_BACKTRACE=1`
//! set from the start (std reads it once), so that the parent can read
//! what the child printed on stderr.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dora_core::config::{
    OperatorConfig, OperatorInputConfig, OperatorInputFrom, OperatorSourceConfig,
};
use dora_core::descriptor::QueuePolicy;
use dora_core::id::DataId;
use dora_runtime::{Nowhere, Runtime};

const CHILD: &str = "DORA_PANIC_TEST_CHILD";
const TEST: &str = "a_panic_with_a_backtrace_does_not_stall_the_runtime";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The test operator library, built as the end-to-end tests build it.
fn library() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "dora-test-operators"])
        .current_dir(root())
        .status()
        .unwrap();
    assert!(status.success(), "cannot build the test operators");
    root().join("target/debug/libdora_test_operators.so")
}

/// The child: a `panicky` operator (it panics at its third message) gets
/// five messages; prints how long each call took, in microseconds.
fn run_child(library: &str) {
    let operator = OperatorConfig {
        id: "panicky".into(),
        source: OperatorSourceConfig::SharedLibrary(library.to_owned()),
        priority: 0,
        inputs: BTreeMap::from([(
            DataId::from("in"),
            OperatorInputConfig {
                from: OperatorInputFrom::NodeInput("panicky/in".into()),
                queue_size: 10,
                queue_policy: QueuePolicy::Backpressure,
                deadline: None,
            },
        )]),
        outputs: vec![],
        max_restarts: None,
    };
    let mut runtime = Runtime::new(&[operator], Path::new("/"), 1, |_| false).unwrap();
    for n in 0..5u8 {
        runtime.push_bytes(&"panicky/in".into(), vec![n], dora_node_api::now_ns());
    }
    let mut calls = Vec::new();
    loop {
        let started = Instant::now();
        if !runtime.run_one(&mut Nowhere) {
            break;
        }
        calls.push(started.elapsed().as_micros().to_string());
    }
    println!("calls us {}", calls.join(" "));
    for line in runtime.finish() {
        println!("{line}");
    }
}

#[test]
fn a_panic_with_a_backtrace_does_not_stall_the_runtime() {
    if let Some(library) = std::env::var_os(CHILD) {
        run_child(&library.to_string_lossy());
        return;
    }
    let library = library();
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, &library)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let calls: Vec<Duration> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("calls us "))
        .unwrap_or_else(|| panic!("no timings in:\n{stdout}"))
        .split_whitespace()
        .map(|us| Duration::from_micros(us.parse().unwrap()))
        .collect();
    println!("on_event calls took {calls:?}; the third panicked");
    assert_eq!(calls.len(), 5, "{stdout}");
    // Symbolising and printing the backtrace took 75-120 ms in the call.
    assert!(
        calls[2] < Duration::from_millis(25),
        "the panicking call took {:?}:\n{stdout}\n{stderr}",
        calls[2]
    );
    // The runtime got the message, and the backtrace was still printed,
    // before the process ended.
    assert!(stdout.contains("1 restart"), "{stdout}");
    assert!(
        stderr.contains("operator `panicky` panicked: failing on purpose at message 3"),
        "{stderr}"
    );
    assert!(
        stderr.contains("panicked at tests/operators/src/lib.rs"),
        "{stderr}"
    );
    assert!(stderr.contains("stack backtrace:"), "{stderr}");
    assert!(stderr.contains("on_event"), "{stderr}");
}

//! Dataflows of many nodes: every channel is sized from the dataflow, and
//! `dora run` takes the open files it needs, or says before starting that
//! the system allows too few.

mod common;

use common::*;

/// `pairs` sources, each read by one sink.
fn pairs(pairs: usize) -> String {
    let mut yaml = String::from("nodes:\n");
    for i in 0..pairs {
        let build = if i == 0 { "    build: BUILD\n" } else { "" };
        yaml += &format!(
            "  - id: source-{i}\n{build}    path: BIN/test-source\n    args: --count 5\n    outputs: [out, sum]\n  - id: sink-{i}\n    path: BIN/test-sink\n    inputs:\n      in: source-{i}/out\n"
        );
    }
    yaml
}

/// Runs `dora run FILE` under a shell that first sets the open-files
/// limits (soft, hard).
fn run_with_limits(name: &str, yaml: &str, soft: u64, hard: u64) -> std::process::Output {
    let yaml = yaml.replace(
        "BUILD",
        "cargo build -q --manifest-path ROOT/Cargo.toml -p dora-test-nodes",
    );
    let file = scratch_dataflow(name, &yaml);
    let output = finish(
        std::process::Command::new("sh")
            .current_dir(root())
            .arg("-c")
            .arg(format!(
                "ulimit -Sn {soft} && ulimit -Hn {hard} && exec \"$0\" run \"$1\""
            ))
            .arg(env!("CARGO_BIN_EXE_dora"))
            .arg(&file),
    );
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
    output
}

#[test]
fn a_low_open_files_limit_is_raised_as_far_as_allowed() {
    // 40 nodes need more than the 256 files the shell allows at first.
    let output = run_with_limits("files-raised", &pairs(20), 256, 4096);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        summary_row(&stderr, "sink-19").ends_with("  ok"),
        "{stderr}"
    );
}

#[test]
fn a_dataflow_too_large_for_the_open_files_allowed_is_refused_before_it_starts() {
    let output = run_with_limits("files-refused", &pairs(20), 200, 200);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("a dataflow of 40 nodes needs about 608 open files in `dora run`, but this system allows 200; raise the limit (`ulimit -n 608`"),
        "{stderr}"
    );
    assert!(!stderr.contains("logs:"), "nothing started:\n{stderr}");
}

#[test]
fn two_hundred_nodes_start_pass_their_messages_and_end() {
    // One source read by 100 sinks, and 50 pairs.
    let mut yaml = String::from(
        "nodes:
  - id: fan
    build: BUILD
    path: BIN/test-source
    args: --count 20
    outputs: [out, sum]
",
    );
    for i in 0..100 {
        yaml += &format!(
            "  - id: reader-{i}\n    path: BIN/test-sink\n    inputs:\n      in: {{ source: fan/out, queue_size: 20 }}\n"
        );
    }
    for i in 0..50 {
        yaml += &format!(
            "  - id: source-{i}\n    path: BIN/test-source\n    args: --count 20\n    outputs: [out, sum]\n  - id: sink-{i}\n    path: BIN/test-sink\n    inputs:\n      in: {{ source: source-{i}/out, queue_size: 20 }}\n"
        );
    }
    let (stdout, stderr) = run_to_end("two-hundred", &yaml);
    let reports = stdout
        .lines()
        .filter(|l| l.contains("| received 20 dropped 0"))
        .count();
    assert_eq!(reports, 150, "{stdout}\n{stderr}");
    for i in 0..100 {
        let row: Vec<&str> = summary_row(&stderr, &format!("reader-{i}"))
            .split_whitespace()
            .collect();
        assert_eq!(&row[2..], ["0", "20", "0", "ok"], "{stderr}");
    }
}

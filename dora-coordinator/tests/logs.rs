//! Logs as data under `dora run`: records with levels, `min_log_level`,
//! rotation at `max_log_size`, and what nodes print or log sent on as
//! messages (`send_stdout_as`, `send_logs_as`, `dora/logs`).

mod common;

use std::collections::BTreeSet;

use common::*;

/// The lines a node printed through `dora run`, without its id in front.
fn lines_of<'a>(output: &'a str, node: &str) -> Vec<&'a str> {
    let prefix = format!("{node} | ");
    output
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix(&prefix))
        .collect()
}

#[test]
fn records_show_their_level_min_log_level_filters_and_the_log_file_rotates() {
    let file = scratch_dataflow(
        "log-levels",
        "nodes:
  - id: logger
    build: BUILD
    path: BIN/test-logger
    args: --count 40 --exit
    min_log_level: info
    max_log_size: 1KB
    max_rotated_files: 2
"
        .replace(
            "BUILD",
            "cargo build -q --manifest-path ROOT/Cargo.toml -p dora-test-nodes",
        )
        .as_str(),
    );
    let output = finish(dora().arg("run").arg(&file).args(["--stop-after", "60s"]));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let shown = lines_of(&stderr, "logger");
    for n in [0, 39] {
        for line in [
            format!("ERROR test_logger: error {n}"),
            format!("WARN  test_logger: warn {n}"),
            format!("INFO  test_logger: info {n}"),
            format!("INFO  measured {n} round={n}"),
            // Stderr is never filtered: it is where panics go.
            format!("complained {n}"),
        ] {
            assert!(shown.contains(&line.as_str()), "no `{line}` in:\n{stderr}");
        }
    }
    // Below `info`: not even written by the node; printed stdout: dropped.
    assert!(
        !stderr.contains("debug 0") && !stderr.contains("trace 0"),
        "{stderr}"
    );
    assert!(lines_of(&stdout, "logger").is_empty(), "{stdout}");

    // 40 rounds of 6 kept lines (about 8 KB) in files of about 1 KB: the
    // newest lines are kept, in the current file and two rotated ones.
    let dir = run_dir(&stderr);
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let (current, first, second) = (
        read("logger.log"),
        read("logger.1.log"),
        read("logger.2.log"),
    );
    assert!(current.contains("complained 39"), "{current}");
    assert!(!first.is_empty() && !second.is_empty());
    assert!(!dir.join("logger.3.log").exists());
    for text in [&first, &second] {
        // Rotated once past 1 KiB: at most one line over.
        assert!(text.len() < 1024 + 64, "{} bytes", text.len());
    }
    // The kept lines run on from one file to the next without a gap.
    let kept: Vec<&str> = second
        .lines()
        .chain(first.lines())
        .chain(current.lines())
        .collect();
    let rounds: Vec<u32> = kept
        .iter()
        .filter_map(|l| l.strip_prefix("complained "))
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(rounds.windows(2).all(|w| w[1] == w[0] + 1), "{rounds:?}");
    assert_no_leftovers(&dir);
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
}

#[test]
fn printed_lines_and_records_are_sent_as_messages_and_dora_logs_reaches_other_nodes() {
    let (stdout, stderr) = run_test_dataflow(
        "log-data",
        "nodes:
  - id: logger
    build: BUILD
    path: BIN/test-logger
    args: --count 3 --exit
    min_log_level: warn
    send_stdout_as: lines
    send_logs_as: records
    outputs: [lines, records]
  - id: reader
    path: BIN/test-log-reader
    args: --until-closed 2
    inputs:
      lines: { source: logger/lines, queue_size: 100 }
      records: { source: logger/records, queue_size: 100 }
      warnings: { source: dora/logs/warn, queue_size: 100 }
      infos: { source: dora/logs/info/logger, queue_size: 100 }
",
        &["--stop-after", "60s"],
        0,
    );
    let got = lines_of(&stdout, "reader");
    let of = |input: &str| -> Vec<&str> {
        got.iter()
            .filter_map(|l| l.strip_prefix(&format!("{input}: ")))
            .collect()
    };
    let json = |text: &str| -> serde_json::Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };

    // Every line the node printed, on stdout and stderr, as text: below
    // its `min_log_level`, and sent all the same, as in dora-rs.
    let lines: BTreeSet<&str> = of("lines").into_iter().collect();
    let expected: BTreeSet<String> = (0..3)
        .flat_map(|n| [format!("printed {n}"), format!("complained {n}")])
        .collect();
    assert_eq!(
        lines,
        expected.iter().map(String::as_str).collect(),
        "{stdout}"
    );
    assert_eq!(of("lines").len(), 6, "{stdout}");

    // Every record it logged at `warn` or above, as JSON, in order.
    let records: Vec<serde_json::Value> = of("records").into_iter().map(json).collect();
    let messages: Vec<&str> = records
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..3)
        .flat_map(|n| [format!("error {n}"), format!("warn {n}")])
        .collect();
    assert_eq!(messages, expected, "{stdout}");
    assert!(records.iter().all(|r| r["node"] == "logger"));
    assert_eq!(records[0]["level"], "error");
    assert_eq!(records[1]["level"], "warn");
    assert_eq!(records[0]["target"], "test_logger");
    assert!(records[0]["time_ms"].as_u64().unwrap() > 0);

    // `dora/logs/warn`: the logger's errors and warnings, not the reader's
    // own warning.
    let warnings: Vec<serde_json::Value> = of("warnings").into_iter().map(json).collect();
    assert_eq!(warnings.len(), 6, "{stdout}");
    assert!(warnings
        .iter()
        .all(|w| w["node"] == "logger" && (w["level"] == "error" || w["level"] == "warn")));
    assert!(!stdout.contains("reader started"), "{stdout}");
    // The reader's own warning is still shown and kept.
    assert!(lines_of(&stderr, "reader").contains(&"WARN  test_log_reader: reader started"));

    // `dora/logs/info/logger`: info and above of that node that passed its
    // `min_log_level`; printed lines excluded (`stdout` is below every
    // level).
    let infos: Vec<serde_json::Value> = of("infos").into_iter().map(json).collect();
    assert_eq!(infos.len(), 6, "{stdout}");

    // The inputs fed by the logger close once it has ended, after its
    // last lines.
    let closed = got
        .iter()
        .position(|l| *l == "closed lines")
        .expect("closed");
    let last = got.iter().rposition(|l| l.starts_with("lines: ")).unwrap();
    assert!(last < closed, "{stdout}");
    assert!(got.contains(&"closed records"), "{stdout}");
}

#[test]
fn every_line_of_a_chatty_node_is_received_or_counted_as_dropped() {
    let (stdout, stderr) = run_test_dataflow(
        "log-chatty",
        "nodes:
  - id: chatter
    build: BUILD
    path: BIN/test-chatter
    args: --lines 5000 --width 20
    send_stdout_as: lines
    outputs: [lines]
  - id: reader
    path: BIN/test-log-reader
    args: --until-closed 1
    inputs:
      lines: { source: chatter/lines, queue_size: 64 }
",
        &["--stop-after", "60s"],
        0,
    );
    let got = lines_of(&stdout, "reader");
    let received: Vec<&str> = got
        .iter()
        .filter_map(|l| l.strip_prefix("lines: "))
        .collect();
    // Each stream's lines arrive in order, whatever was dropped between.
    for stream in ["out ", "err "] {
        let numbers: Vec<u32> = received
            .iter()
            .filter_map(|l| l.strip_prefix(stream))
            .map(|l| l[..6].parse().unwrap())
            .collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    }
    assert!(got.contains(&"closed lines"), "{stdout}");
    // The relay sent every line, and the reader's row accounts for each:
    // received or dropped.
    assert!(
        notes(&stderr, "chatter").contains(&"10000 messages of what it printed or logged went out through the log relay (`send_stdout_as`, `send_logs_as`, `dora/logs`)"),
        "{stderr}"
    );
    let row: Vec<&str> = summary_row(&stderr, "reader").split_whitespace().collect();
    let (got_count, dropped): (u64, u64) = (row[3].parse().unwrap(), row[4].parse().unwrap());
    assert_eq!(got_count, received.len() as u64, "{stderr}");
    assert_eq!(got_count + dropped, 10_000, "{stderr}");
}

#[test]
fn a_reader_killed_midway_neither_stops_the_relay_nor_hangs_the_run() {
    let (stdout, stderr) = run_failing(
        "log-killed-reader",
        "nodes:
  - id: chatter
    build: BUILD
    path: BIN/test-chatter
    args: --lines 3000 --width 20
    send_stdout_as: lines
    outputs: [lines]
  - id: sink
    path: BIN/test-sink
    args: --kill-self-after 100
    inputs:
      in: { source: chatter/lines, queue_size: 4 }
  - id: logs
    path: BIN/test-log-reader
    args: --until-closed 1
    inputs:
      lines: { source: chatter/lines, queue_size: 10000 }
",
        &["--stop-after", "60s"],
    );
    // The sink died; the other reader got every line all the same.
    assert!(
        summary_row(&stderr, "sink").contains("killed by signal 9"),
        "{stderr}"
    );
    let got = lines_of(&stdout, "logs");
    assert_eq!(
        got.iter().filter(|l| l.starts_with("lines: ")).count(),
        6000,
        "{stdout}"
    );
    assert!(summary_row(&stderr, "logs").contains(" 6000 "), "{stderr}");
}

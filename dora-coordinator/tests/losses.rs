//! Restarts and losses: a restarted node learns which of its sources have
//! ended, and the summary accounts for every message that was sent and
//! not read, with where and why, however the reader ended.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// A source that sends `source_args`, and a sink reading it with
/// `sink_args` and the node keys `sink_keys`.
fn source_and_sink(source_args: &str, sink_args: &str, sink_keys: &str) -> String {
    format!(
        "nodes:
  - id: source
    build: BUILD
    path: BIN/test-source
    args: {source_args}
    outputs: [out, sum]
  - id: sink
    path: BIN/test-sink
    args: {sink_args}
{sink_keys}    inputs:
      in: source/out
"
    )
}

fn words(row: &str) -> Vec<&str> {
    row.split_whitespace().collect()
}

#[test]
fn a_receiver_restarted_after_its_sender_ended_sees_its_input_close() {
    // The sink reads 5 of 10 slowly and fails; the source has long ended
    // when it comes back, 500 ms later.
    let yaml = source_and_sink(
        "--count 10",
        "--fail-after 5 --delay-ms 50",
        "    restart_policy: on-failure\n    restart_delay: 500ms\n",
    );
    // The time limit is the run's, not that of building the nodes.
    common::build_nodes_once();
    let started = Instant::now();
    let (stdout, stderr) = run_failing("restart-after-end", &yaml, &[]);
    // It ended by itself, without Stop.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        stdout.contains("sink | received 0 dropped 0"),
        "the restarted sink saw its input close:\n{stdout}"
    );
    let sink = words(summary_row(&stderr, "sink"));
    assert_eq!(&sink[..5], ["sink", "1", "0", "5", "0"], "{stderr}");
    assert_eq!(sink[5..].join(" "), "ok", "{stderr}");
    assert_eq!(
        notes(&stderr, "sink"),
        ["input `in` lost 5 messages from `source`, left in its queue when the node's process ended (failed: exit code 1)"],
        "{stderr}"
    );
    assert!(notes(&stderr, "source").is_empty(), "{stderr}");
}

#[test]
fn messages_in_the_queue_of_a_failed_receiver_are_counted_once_with_their_cause() {
    // Ten at once; the sender waits 2 s before it ends, so the sink's
    // restart joins it while it is still there.
    let yaml = source_and_sink(
        "--count 10 --wait-ms 2000",
        "--fail-after 5 --delay-ms 20",
        "    restart_policy: on-failure\n    restart_delay: 10ms\n",
    );
    let (stdout, stderr) = run_failing("lost-in-queue", &yaml, &[]);
    assert!(stdout.contains("source | sent 10"), "{stdout}");
    assert!(stdout.contains("sink | received 0"), "{stdout}");
    let sink = words(summary_row(&stderr, "sink"));
    assert_eq!(&sink[..5], ["sink", "1", "0", "5", "0"], "{stderr}");
    assert_eq!(
        notes(&stderr, "sink"),
        ["input `in` lost 5 messages from `source`, left in its queue when the node's process ended (failed: exit code 1)"],
        "{stderr}"
    );
    // Nothing else claims them.
    assert!(notes(&stderr, "source").is_empty(), "{stderr}");
}

#[test]
fn a_node_that_aborts_keeps_its_counts() {
    let yaml = source_and_sink("--count 10", "--abort-after 5 --delay-ms 20", "");
    let (_, stderr) = run_failing("abort", &yaml, &[]);
    let sink = words(summary_row(&stderr, "sink"));
    assert_eq!(&sink[..5], ["sink", "0", "0", "5", "0"], "{stderr}");
    assert_eq!(
        sink[5..].join(" "),
        "failed: killed by signal 6",
        "{stderr}"
    );
    assert_eq!(
        notes(&stderr, "sink"),
        ["input `in` lost 5 messages from `source`, left in its queue when the node's process ended (failed: killed by signal 6)"],
        "{stderr}"
    );
}

#[test]
fn losses_before_a_stop_are_reported_and_fail_the_run() {
    // The source waits until Stop; the sink fails once, then is back.
    let yaml = source_and_sink(
        "--count 10 --wait-ms 60000",
        "--fail-after 5 --delay-ms 20",
        "    restart_policy: on-failure\n    restart_delay: 10ms\n",
    );
    let (_, stderr) = run_failing("lost-then-stop", &yaml, &["--stop-after", "2s"]);
    assert!(
        summary_row(&stderr, "source").ends_with("  ok"),
        "the source ended at Stop:\n{stderr}"
    );
    assert_eq!(
        notes(&stderr, "sink"),
        ["input `in` lost 5 messages from `source`, left in its queue when the node's process ended (failed: exit code 1)"],
        "{stderr}"
    );
}

#[test]
fn what_a_receiver_leaves_unread_at_stop_is_shown_and_not_a_failure() {
    // The sink reads twenty messages a second; Stop comes after one.
    let yaml = source_and_sink("--count 100 --wait-ms 60000", "--delay-ms 50", "").replace(
        "in: source/out",
        "in: { source: source/out, queue_size: 100 }",
    );
    let (_, stderr) = run_test_dataflow("unread-at-stop", &yaml, &["--stop-after", "1s"], 0);
    let sink = words(summary_row(&stderr, "sink"));
    let received: u64 = sink[3].parse().unwrap();
    assert!((1..100).contains(&received), "{stderr}");
    assert_eq!(
        notes(&stderr, "sink"),
        [format!(
            "input `in` did not read {} messages from `source`, left unread at Stop",
            100 - received
        )],
        "{stderr}"
    );
}

//! Runtime nodes: `dora run` starts `dora-runtime`, which loads the test
//! operator library (`tests/operators`) once per operator.

mod common;

use common::*;

/// A runtime node `rt` built with the test operators; `OPERATORS` is
/// replaced by its operator list and `LIB` by the library.
const RUNTIME: &str = "  - id: rt
    build: cargo build -q --manifest-path ROOT/Cargo.toml -p dora-runtime -p dora-test-operators -p dora-test-nodes
    restart_policy: RESTART
    operators:
OPERATORS";

fn runtime_dataflow(source_args: &str, restart: &str, operators: &str) -> String {
    format!(
        "nodes:\n  - id: source\n    path: BIN/test-source\n    args: {source_args}\n    outputs: [out, sum]\n{}\n",
        RUNTIME
            .replace("RESTART", restart)
            .replace("OPERATORS", operators.trim_end())
            .replace("LIB", "ROOT/target/debug/libdora_test_operators.so")
    )
}

/// An operator of the test library, with its inputs in YAML flow style.
fn operator(id: &str, priority: i32, inputs: &str) -> String {
    format!(
        "      - id: {id}\n        shared-library: LIB\n        priority: {priority}\n        inputs: {inputs}\n        outputs: [out]\n"
    )
}

/// The source's messages, none dropped.
const FROM_SOURCE: &str = "{ in: { source: source/out, queue_policy: backpressure } }";

/// The lines the runtime printed (without the `rt | ` in front).
fn runtime_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("rt | "))
        .collect()
}

#[test]
fn when_several_events_are_ready_the_higher_priority_runs_first() {
    // `gate` hands each message to both recorders in one go.
    let operators = [
        operator("gate", 0, FROM_SOURCE),
        operator("rec-low", 1, "{ in: rt/gate/out }"),
        operator("rec-high", 10, "{ in: rt/gate/out }"),
    ]
    .concat();
    let yaml = runtime_dataflow("--count 20", "never", &operators);
    let (stdout, _) = run_to_end("priority", &yaml);
    let got: Vec<&str> = runtime_lines(&stdout)
        .into_iter()
        .filter(|l| l.starts_with("rec-"))
        .collect();
    let expected: Vec<String> = (0..20)
        .flat_map(|n| [format!("rec-high got {n}"), format!("rec-low got {n}")])
        .collect();
    assert_eq!(got, expected, "{stdout}");
}

#[test]
fn operators_of_one_runtime_share_a_store() {
    let operators = [
        operator("gate", 0, FROM_SOURCE),
        // Higher, so that it runs before `gate` takes the next message.
        operator("peek", 10, "{ in: rt/gate/out }"),
    ]
    .concat();
    let yaml = runtime_dataflow("--count 5", "never", &operators);
    let (stdout, _) = run_to_end("shared", &yaml);
    let seen: Vec<&str> = runtime_lines(&stdout)
        .into_iter()
        .filter(|l| l.starts_with("peek"))
        .collect();
    let expected: Vec<String> = (0..5)
        .map(|n| format!("peek sees Some({n}) for {n}"))
        .collect();
    assert_eq!(seen, expected, "{stdout}");
}

#[test]
fn an_event_that_waited_past_its_deadline_is_flagged_and_counted() {
    // `slow` runs first and takes 20 ms, so every event of `late` waits
    // longer than its 5 ms deadline.
    let operators = [
        operator("gate", 0, FROM_SOURCE),
        operator("slow", 10, "{ in: rt/gate/out }"),
        operator("late", 1, "{ in: { source: rt/gate/out, deadline: 5ms } }"),
    ]
    .concat();
    let yaml = runtime_dataflow("--count 5", "never", &operators);
    let (stdout, _) = run_to_end("deadline", &yaml);
    let lines = runtime_lines(&stdout);
    for n in 0..5 {
        let line = format!("late got {n} late true");
        assert!(lines.contains(&line.as_str()), "no `{line}` in:\n{stdout}");
    }
    assert!(
        lines.contains(&"operator `late`: 5 of 5 events on `in` late"),
        "{stdout}"
    );
}

/// Ten messages through `gate` to `panicky`, which panics at the third,
/// and to `rec`; the runtime node restarts as `restart` says.
fn panic_dataflow(restart: &str) -> String {
    let operators = [
        operator("gate", 0, FROM_SOURCE),
        operator("panicky", 0, "{ in: rt/gate/out }"),
        operator("rec", 0, "{ in: rt/gate/out }"),
    ]
    .concat();
    runtime_dataflow("--count 10", restart, &operators)
}

#[test]
fn a_panicking_operator_restarts_with_its_state_while_the_others_keep_running() {
    let yaml = panic_dataflow("on-failure");
    // The message the panic ate is lost, and that fails the run.
    let (stdout, stderr) = run_failing("panic", &yaml, &["--stop-after", "60s"]);
    let lines = runtime_lines(&stdout);
    assert!(
        stderr.contains("operator `panicky` panicked: failing on purpose at message 3; the message it was handling on `in` is lost; restarting it with its state (restart 1 of 5)"),
        "{stderr}"
    );
    // The count kept by the runtime survived the restart.
    assert!(lines.contains(&"panicky restored 3"), "{stdout}");
    let counts: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("panicky count"))
        .collect();
    let expected: Vec<String> = (1..=10).map(|n| format!("panicky count {n}")).collect();
    assert_eq!(counts, expected, "{stdout}");
    // The other operator got every message.
    for n in 0..10 {
        let line = format!("rec got {n}");
        assert!(lines.contains(&line.as_str()), "no `{line}` in:\n{stdout}");
    }
    assert!(lines.contains(&"operator `panicky`: 1 restart"), "{stdout}");
    // The node's process was not restarted; the operator was, once.
    let row: Vec<&str> = summary_row(&stderr, "rt").split_whitespace().collect();
    assert_eq!(&row[..2], ["rt", "0"], "{stderr}");
    assert_eq!(row[5..].join(" "), "ok", "{stderr}");
    assert_eq!(
        notes(&stderr, "rt"),
        [
            "operator `panicky` was restarted 1 time of 5 (in the process, its state kept)",
            "operator input `panicky/in` lost 1 message to panics (each the message being handled when the operator panicked)",
        ],
        "{stderr}"
    );
}

#[test]
fn an_operator_that_used_its_restarts_fails_for_good_without_restarting_the_node() {
    // `crash` panics at every odd message and may be restarted twice; the
    // node may be restarted five times, but not for an operator.
    let operators = [
        operator("gate", 0, FROM_SOURCE),
        operator("crash", 0, "{ in: rt/gate/out }").replace(
            "        outputs: [out]\n",
            "        outputs: [out]\n        max_restarts: 2\n",
        ),
        operator("rec", 0, "{ in: rt/gate/out }"),
    ]
    .concat();
    let yaml = runtime_dataflow("--count 10", "on-failure", &operators);
    let (stdout, stderr) = run_failing("crash", &yaml, &["--stop-after", "60s"]);
    let lines = runtime_lines(&stdout);
    assert!(lines.contains(&"rec got 9"), "{stdout}");
    assert!(
        stderr.contains("node `rt` failed: exit code 1: operator `crash` failed for good after using its restarts; the node is not restarted"),
        "{stderr}"
    );
    let row: Vec<&str> = summary_row(&stderr, "rt").split_whitespace().collect();
    assert_eq!(&row[..5], ["rt", "0", "0", "10", "0"], "{stderr}");
    // Messages 1, 3 and 5 were eaten by panics; 6 to 9 came after it
    // failed: with 0, 2 and 4 handled, all ten are accounted for.
    assert_eq!(
        notes(&stderr, "rt"),
        [
            "operator `crash` was restarted 2 times of 2 (in the process, its state kept)",
            "operator `crash` failed for good (2 of 2 restarts used)",
            "operator input `crash/in` lost 3 messages to panics (each the message being handled when the operator panicked)",
            "operator input `crash/in` lost 4 messages, queued when the operator failed for good or sent after",
        ],
        "{stderr}"
    );
}

#[test]
fn a_runtime_restarted_as_a_whole_sees_inputs_from_ended_nodes_close() {
    // `abort` takes the whole process down at message 2; the source has
    // ended when the runtime comes back.
    let operators = operator("abort", 0, FROM_SOURCE);
    let yaml = runtime_dataflow("--count 5", "on-failure", &operators).replace(
        "    restart_policy: on-failure\n",
        "    restart_policy: on-failure\n    restart_delay: 300ms\n",
    );
    let started = std::time::Instant::now();
    let (_, stderr) = run_failing("runtime-restart", &yaml, &[]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let row: Vec<&str> = summary_row(&stderr, "rt").split_whitespace().collect();
    assert_eq!(&row[..2], ["rt", "1"], "{stderr}");
    assert_eq!(row[5..].join(" "), "ok", "{stderr}");
    // Every one of the 5 messages is handled or accounted for: 0 and 1
    // were handled, 2 was being handled, 3 and 4 were queued in the
    // runtime or in its input.
    let received: u64 = row[3].parse().unwrap();
    let mut expected = Vec::new();
    if received < 5 {
        expected.push(format!("input `abort/in` lost {} from `source`, left in its queue when the node's process ended (failed: killed by signal 6)", messages(5 - received)));
    }
    if received > 2 {
        expected.push(format!("input `abort/in` lost {} from `source`, held by the runtime for the operator (queued, or being handled) when its process ended (failed: killed by signal 6)", messages(received - 2)));
    }
    assert_eq!(notes(&stderr, "rt"), expected, "{stderr}");
}

fn messages(n: u64) -> String {
    if n == 1 {
        "1 message".to_owned()
    } else {
        format!("{n} messages")
    }
}

#[test]
fn a_panic_without_restarts_ends_that_operator_and_fails_the_run() {
    let yaml = panic_dataflow("never");
    let (stdout, stderr) = run_failing("panic-never", &yaml, &["--stop-after", "60s"]);
    assert!(
        stderr.contains(
            "operator `panicky` panicked: failing on purpose at message 3; the message it was handling on `in` is lost; it is not restarted"
        ),
        "{stderr}"
    );
    let lines = runtime_lines(&stdout);
    assert!(lines.contains(&"rec got 9"), "{stdout}");
    assert!(!lines.contains(&"panicky count 4"), "{stdout}");
    assert!(
        summary_row(&stderr, "rt").contains("failed: exit code 1"),
        "{stderr}"
    );
}

/// Runs a dataflow whose start must fail; returns stderr.
fn start_failure(name: &str, yaml: &str) -> String {
    let file = scratch_dataflow(name, yaml);
    let output = finish(dora().arg("run").arg(&file));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("node `rt` ended before the dataflow started"),
        "{stderr}"
    );
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
    stderr
}

#[test]
fn a_library_that_does_not_load_is_named_with_the_reason() {
    let missing = "      - id: ghost\n        shared-library: /nonexistent/libghost.so\n        inputs: { in: source/out }\n";
    let yaml = runtime_dataflow("--count 1", "never", missing);
    let stderr = start_failure("no-library", &yaml);
    assert!(
        stderr.contains(
            "operator `ghost`: cannot load the operator library /nonexistent/libghost.so"
        ),
        "{stderr}"
    );
    // A real library that is no operator: the C maths library.
    let not_operator = "      - id: maths\n        c: /lib/x86_64-linux-gnu/libm.so.6\n        inputs: { in: source/out }\n";
    let yaml = runtime_dataflow("--count 1", "never", not_operator);
    let stderr = start_failure("no-symbols", &yaml);
    assert!(
        stderr.contains("the operator library /lib/x86_64-linux-gnu/libm.so.6 does not export `dora_init_operator`"),
        "{stderr}"
    );
}

#[test]
fn a_thousand_operators_in_one_runtime_run_to_completion() {
    // A chain: source -> hop-0 -> ... -> hop-998 -> last, each hop adding one.
    let mut operators = operator("hop-0", 0, FROM_SOURCE);
    for i in 1..999 {
        operators += &operator(
            &format!("hop-{i}"),
            0,
            &format!("{{ in: rt/hop-{}/out }}", i - 1),
        );
    }
    operators += &operator("last", 0, "{ in: rt/hop-998/out }");
    let yaml = runtime_dataflow("--count 10 --size 0", "never", &operators);
    let (stdout, _) = run_to_end("thousand", &yaml);
    let lines = runtime_lines(&stdout);
    let hops: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("last"))
        .collect();
    assert_eq!(hops, vec!["last hops 999"; 10], "{stdout}");
    // 10 messages through 1000 operators, and `hop-0` seeing its input close.
    assert!(
        lines.contains(&"1000 operators handled 10001 events"),
        "{stdout}"
    );
}

#[test]
fn parameters_pass_through_operators_and_operators_add_their_own() {
    // source (seq) -> tag-a -> tag-b -> sink, and tag-a -> show: each tag
    // forwards what it got and adds `hops` and `by`.
    let operators = [
        operator("tag-a", 0, FROM_SOURCE),
        operator("tag-b", 0, "{ in: rt/tag-a/out }"),
        operator("show", 0, "{ in: rt/tag-a/out }"),
    ]
    .concat();
    let sink = "  - id: sink\n    path: BIN/test-sink\n    args: --show-parameters\n    inputs:\n      in: { source: rt/tag-b/out, queue_policy: backpressure }\n";
    let yaml = runtime_dataflow("--count 3 --seq", "never", &operators) + sink;
    let (stdout, _) = run_to_end("parameters", &yaml);
    // Between operators of one runtime.
    let shown: Vec<&str> = runtime_lines(&stdout)
        .into_iter()
        .filter(|l| l.starts_with("show"))
        .collect();
    let expected: Vec<String> = (0..3)
        .map(|n| format!(r#"show params by=String("tag-a") hops=Integer(1) seq=Integer({n})"#))
        .collect();
    assert_eq!(shown, expected, "{stdout}");
    // From an operator to another node.
    let received: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("sink | params "))
        .collect();
    let expected: Vec<String> = (0..3)
        .map(|n| format!(r#"by=String("tag-b") hops=Integer(2) seq=Integer({n})"#))
        .collect();
    assert_eq!(received, expected, "{stdout}");
}

#[test]
fn a_failed_send_says_why_it_failed() {
    let operators = operator("misuse", 0, FROM_SOURCE);
    let yaml = runtime_dataflow("--count 1", "never", &operators);
    let (stdout, _) = run_to_end("misuse", &yaml);
    let lines = runtime_lines(&stdout);
    assert!(
        lines.contains(&"misuse init: cannot send on `out` during init: the dataflow is not running yet; send from on_event"),
        "{stdout}"
    );
    assert!(
        lines.contains(&"misuse on_event: `nowhere` is not an output of this operator; declare it under the operator's `outputs:`"),
        "{stdout}"
    );
}

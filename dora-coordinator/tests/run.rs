//! `dora run` with real node processes and real shared memory.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;

const HELLO: &str = "nodes:
  - id: sender
    build: cargo build -q --manifest-path ROOT/Cargo.toml -p hello-sender -p hello-receiver
    path: BIN/hello-sender
    args: ARGS
    inputs: { tick: dora/timer/millis/10 }
    outputs: [message]
  - id: receiver
    path: BIN/hello-receiver
    inputs: { message: sender/message }
";

fn hello(name: &str, args: &str) -> PathBuf {
    scratch_dataflow(name, &HELLO.replace("ARGS", args))
}

#[test]
fn hello_runs_until_stop_after_and_cleans_up() {
    let output = finish(dora().args(["run", "examples/hello/dataflow.yml", "--stop-after", "1s"]));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("receiver | hello #1 ("), "{stdout}");
    assert!(
        stdout.contains("  sender | sent "),
        "the sender saw Stop and ended by itself:\n{stdout}"
    );
    assert!(stdout.contains("0 dropped"), "{stdout}");
    for node in ["sender", "receiver"] {
        let row = summary_row(&stderr, node);
        assert!(row.ends_with("  ok"), "{row}");
    }
    let dir = run_dir(&stderr);
    let log = std::fs::read_to_string(dir.join("receiver.log")).unwrap();
    assert!(
        log.starts_with("hello #1 ("),
        "the log holds the node's own lines: {log}"
    );
    assert_no_leftovers(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    // The `out` folder too, unless other runs are in it.
    let _ = std::fs::remove_dir(dir.parent().unwrap());
}

#[test]
fn a_sender_that_ends_closes_the_input_it_fed() {
    let file = hello("count", "--count 300");
    let output = finish(dora().arg("run").arg(&file));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("sent 300 messages"), "{stdout}");
    assert!(stdout.contains("input `message` closed"), "{stdout}");
    assert!(
        stdout.contains("received 300 messages, 0 dropped"),
        "{stdout}"
    );
    assert_no_leftovers(&run_dir(&stderr));
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
}

#[test]
fn ctrl_c_stops_every_node_within_the_grace_period() {
    let file = hello("ctrl-c", "");
    let child = start_hello(&file);
    let interrupted = Instant::now();
    // SAFETY: kill(2) with a live child's pid and a valid signal number.
    assert_eq!(unsafe { libc_kill(child.id() as i32, 2) }, 0);
    let output = collect(child, Duration::from_secs(10));
    assert!(
        interrupted.elapsed() < Duration::from_secs(5),
        "stopping took {:?}",
        interrupted.elapsed()
    );
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("  sender | sent "), "{stdout}");
    assert_no_leftovers(&run_dir(&stderr));
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
}

/// Builds the hello nodes (so that timings are the run's alone), starts
/// `file` and returns once the receiver has printed something.
fn start_hello(file: &Path) -> Child {
    assert!(Command::new("cargo")
        .args(["build", "-q", "-p", "hello-sender", "-p", "hello-receiver"])
        .current_dir(root())
        .status()
        .unwrap()
        .success());
    let child = spawn_piped(dora().arg("run").arg(file));
    let out = file.parent().unwrap().join("out");
    let started = Instant::now();
    while !receiver_has_printed(&out) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the dataflow did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// The processes whose environment names run `id`: its nodes.
fn processes_of_run(id: &str) -> Vec<String> {
    let needle = format!("\"dataflow_id\":\"{id}\"");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read(e.path().join("environ"))
                .is_ok_and(|env| String::from_utf8_lossy(&env).contains(&needle))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_sigkilled_dora_run_takes_its_nodes_along_and_the_next_run_removes_its_files() {
    let file = hello("killed-launcher", "");
    let mut child = start_hello(&file);
    let out = file.parent().unwrap().join("out");
    let run = std::fs::read_dir(&out).unwrap().next().unwrap().unwrap();
    let id = run.file_name().to_string_lossy().into_owned();
    assert!(
        !processes_of_run(&id).is_empty(),
        "no node of run {id} found"
    );
    // SAFETY: kill(2) with a live child's pid and a valid signal number.
    assert_eq!(unsafe { libc_kill(child.id() as i32, 9) }, 0);
    child.wait().unwrap();
    let killed = Instant::now();
    while !processes_of_run(&id).is_empty() {
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "nodes outlived their `dora run`: {:?}",
            processes_of_run(&id)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        Path::new(&format!("/dev/shm/dora-{id}")).exists(),
        "a killed run cannot clean up, yet its files are gone"
    );
    let next = finish(dora().arg("run").arg(&file).args(["--stop-after", "1s"]));
    assert!(next.status.success(), "{}", text(&next.stderr));
    assert_no_leftovers(&run.path());
    assert_no_leftovers(&run_dir(&text(&next.stderr)));
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
}

#[test]
fn a_node_that_never_joins_fails_the_start_clearly() {
    let file = scratch_dataflow(
        "no-init",
        "nodes:\n  - id: quitter\n    path: /bin/sh\n    args: [-c, 'echo bye; exit 3']\n  - id: receiver\n    path: BIN/hello-receiver\n    build: cargo build -q --manifest-path ROOT/Cargo.toml -p hello-receiver\n    inputs: { tick: dora/timer/secs/1 }\n",
    );
    let output = finish(dora().arg("run").arg(&file));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("node `quitter` ended before the dataflow started"),
        "{stderr}"
    );
    assert!(stderr.contains("exit status: 3"), "{stderr}");
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
}

#[test]
fn a_python_operator_in_a_conda_environment_without_conda_says_what_is_missing() {
    let file = scratch_dataflow(
        "conda-missing",
        "nodes:
  - id: plot
    operator:
      python: { source: plot.py, conda_env: vision }
      inputs: { tick: dora/timer/millis/50 }
",
    );
    let dir = file.parent().unwrap();
    std::fs::write(dir.join("plot.py"), "class Operator:\n    pass\n").unwrap();
    let output = finish(
        dora()
            .arg("run")
            .arg(&file)
            .env("CONDA_EXE", dir.join("no-conda-here")),
    );
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("node `plot` runs its Python operators in the conda environment `vision`")
            && stderr.contains("cannot be started; install conda"),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn python_nodes_without_the_dora_package_are_refused_before_anything_starts() {
    let file = scratch_dataflow(
        "python-without-dora",
        "nodes:
  - id: talker
    path: talker.py
    outputs: [greeting]
  - id: listener
    path: listener.py
    inputs: { greeting: talker/greeting }
",
    );
    let dir = file.parent().unwrap();
    for node in ["talker.py", "listener.py"] {
        std::fs::write(dir.join(node), "import dora\nprint('started')\n").unwrap();
    }
    // A fresh virtual environment: a real Python that lacks the package.
    let venv = dir.join("venv");
    let made = Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(made.success());
    let python = venv.join("bin/python");
    let output = finish(dora().arg("run").arg(&file).env("DORA_PYTHON", &python));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "a node started:\n{stdout}");
    let errors: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    let error = errors[0];
    assert!(
        error.starts_with("error: nodes `talker`, `listener` run with ")
            && error.contains(&format!("{}", venv.display()))
            && error.contains("which cannot import the `dora` package (ModuleNotFoundError")
            && error.contains("pip install ./dora-python")
            && error.contains("DORA_PYTHON"),
        "{error}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_node_started_by_hand_says_how_to_start_it() {
    assert!(Command::new("cargo")
        .args(["build", "-q", "-p", "hello-sender"])
        .current_dir(root())
        .status()
        .unwrap()
        .success());
    let output = Command::new(root().join("target/debug/hello-sender"))
        .env_remove("DORA_NODE_CONFIG")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("start it with `dora run <dataflow.yml>`"),
        "{}",
        text(&output.stderr)
    );
    let output = Command::new(root().join("target/debug/hello-sender"))
        .env("DORA_NODE_CONFIG", "{\"node_id\": 3")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("does not hold a valid node configuration"),
        "{}",
        text(&output.stderr)
    );
}

/// Whether a run under `out` has a receiver log with a line in it.
fn receiver_has_printed(out: &Path) -> bool {
    std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .flatten()
        .any(|run| std::fs::metadata(run.path().join("receiver.log")).is_ok_and(|m| m.len() > 0))
}

#[test]
fn a_failing_node_is_restarted_then_its_end_closes_the_inputs_downstream() {
    let yaml = HELLO.replace("ARGS", "--fail-after 3").replace(
        "    outputs: [message]",
        "    outputs: [message]\n    restart_policy: on-failure\n    max_restarts: 2\n    restart_delay: 10ms",
    );
    let file = scratch_dataflow("restart", &yaml);
    let output = finish(dora().arg("run").arg(&file));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(stderr.matches("restarting it in").count(), 2, "{stderr}");
    let words: Vec<&str> = summary_row(&stderr, "sender").split_whitespace().collect();
    // node, restarts, sent, received, dropped, status...
    assert_eq!(&words[..5], ["sender", "2", "9", "0", "0"], "{stderr}");
    assert_eq!(words[5..].join(" "), "failed: exit code 1");
    let words: Vec<&str> = summary_row(&stderr, "receiver")
        .split_whitespace()
        .collect();
    assert_eq!(&words[..5], ["receiver", "0", "0", "9", "0"], "{stderr}");
    assert!(stdout.contains("input `message` closed"), "{stdout}");
    assert_no_leftovers(&run_dir(&stderr));
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
}

#[test]
fn ctrl_c_while_a_restarted_node_joins_ends_the_run() {
    // The sender fails after three messages; its restart never joins.
    let yaml = HELLO
        .replace(
            "    path: BIN/hello-sender\n    args: ARGS",
            "    path: /bin/sh\n    args: [-c, 'if [ -e started ]; then exec sleep 100; else touch started; exec BIN/hello-sender --fail-after 3; fi']",
        )
        .replace(
            "    outputs: [message]",
            "    outputs: [message]\n    restart_policy: on-failure\n    restart_delay: 10ms",
        );
    let file = scratch_dataflow("restart-stopped", &yaml);
    let child = start_hello(&file);
    let marker = file.parent().unwrap().join("started");
    assert!(
        marker.exists(),
        "the sender did not start through its script"
    );
    // The sender fails 30 ms after the receiver first printed; give the
    // restart time to begin.
    std::thread::sleep(Duration::from_millis(500));
    let interrupted = Instant::now();
    // SAFETY: kill(2) with a live child's pid and a valid signal number.
    assert_eq!(unsafe { libc_kill(child.id() as i32, 2) }, 0);
    let output = collect(child, Duration::from_secs(30));
    let stderr = text(&output.stderr);
    assert!(
        interrupted.elapsed() < Duration::from_secs(5),
        "stopping took {:?}:\n{stderr}",
        interrupted.elapsed()
    );
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot restart node `sender`"), "{stderr}");
    assert_no_leftovers(&run_dir(&stderr));
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
}

#[test]
fn fan_out_delivers_every_message_to_every_receiver() {
    let sink = |id: &str| {
        format!("  - id: {id}\n    path: BIN/test-sink\n    inputs:\n      in: {{ source: source/out, queue_size: 1000 }}\n")
    };
    let yaml = format!(
        "nodes:\n  - id: source\n    build: BUILD\n    path: BIN/test-source\n    args: --count 500 --size 64\n    outputs: [out, sum]\n{}{}{}",
        sink("a"),
        sink("b"),
        sink("c")
    );
    let (stdout, _) = run_to_end("fan-out", &yaml);
    for id in ["a", "b", "c"] {
        let report = sink_report(&stdout, id);
        assert_eq!(
            (report["received"], report["dropped"]),
            (500, 0),
            "{id}: {stdout}"
        );
    }
}

/// Senders skip the notify while a receiver is awake; a ping-pong, where
/// each side goes to sleep right after it sends, catches any wake-up that
/// this loses (the pinger gives up after ten seconds without an answer).
#[test]
fn no_wake_up_is_lost_between_two_nodes_that_answer_each_other() {
    let yaml = "nodes:
  - id: pinger
    build: BUILD
    path: BIN/test-pingpong
    args: --rounds 10000
    inputs:
      pong: ponger/pong
    outputs: [ping]
  - id: ponger
    path: BIN/test-pingpong
    inputs:
      ping: pinger/ping
    outputs: [pong]
";
    let (stdout, _) = run_to_end("ping-pong", yaml);
    assert!(
        stdout.lines().any(|l| l.ends_with("| rounds 10000")),
        "{stdout}"
    );
}

#[test]
fn a_40_mib_payload_arrives_bit_exact() {
    let yaml = "nodes:
  - id: source
    build: BUILD
    path: BIN/test-source
    args: --count 3 --size 41943040
    outputs: [out, sum]
  - id: sink
    path: BIN/test-sink
    inputs:
      in: { source: source/out, queue_policy: backpressure, queue_size: 2 }
      sum: { source: source/sum, queue_size: 10 }
";
    let (stdout, _) = run_to_end("big", yaml);
    let report = sink_report(&stdout, "sink");
    assert_eq!(report["received"], 3, "{stdout}");
    assert_eq!(report["bytes"], 3 * 41_943_040);
    assert_eq!(
        report["checked"], 3,
        "every payload was compared with its checksum: {stdout}"
    );
    assert_eq!(report["mismatches"], 0);
}

#[test]
fn a_40_mib_payload_written_into_a_loan_not_zeroed_first_arrives_bit_exact() {
    let yaml = "nodes:
  - id: source
    build: BUILD
    path: BIN/test-source
    args: --count 3 --size 41943040 --uninit
    outputs: [out, sum]
  - id: sink
    path: BIN/test-sink
    inputs:
      in: { source: source/out, queue_policy: backpressure, queue_size: 2 }
      sum: { source: source/sum, queue_size: 10 }
";
    let (stdout, _) = run_to_end("big-uninit", yaml);
    let report = sink_report(&stdout, "sink");
    assert_eq!(report["received"], 3, "{stdout}");
    assert_eq!(report["bytes"], 3 * 41_943_040);
    assert_eq!(report["checked"], 3, "{stdout}");
    assert_eq!(report["mismatches"], 0);
}

#[test]
fn a_loan_sent_with_bytes_unwritten_is_refused_and_says_how_many() {
    let yaml = "nodes:
  - id: source
    build: BUILD
    path: BIN/test-source
    args: --count 1 --size 10000 --uninit --unwritten 10
    outputs: [out, sum]
";
    let (_, stderr) = run_failing("unwritten", yaml, &[]);
    assert!(
        stderr.contains(
            "the message on output `out` has 9990 of its 10000 bytes written; write them all before sending"
        ),
        "{stderr}"
    );
}

/// Shared memory grows as needed, with no configuration: from nothing to
/// a gibibyte in one message.
#[test]
fn empty_and_one_gib_payloads_arrive_intact() {
    let yaml = "nodes:
  - id: empty
    build: BUILD
    path: BIN/test-source
    args: --count 5 --size 0
    outputs: [out, sum]
  - id: huge
    path: BIN/test-source
    args: --count 2 --size 1073741824
    outputs: [out, sum]
  - id: empty-sink
    path: BIN/test-sink
    inputs:
      in: { source: empty/out, queue_policy: backpressure }
      sum: { source: empty/sum, queue_size: 10 }
  - id: huge-sink
    path: BIN/test-sink
    inputs:
      in: { source: huge/out, queue_policy: backpressure, queue_size: 1 }
      sum: { source: huge/sum, queue_size: 10 }
";
    let (stdout, _) = run_to_end("sizes", yaml);
    for (sink, count, size) in [("empty-sink", 5, 0), ("huge-sink", 2, 1 << 30)] {
        let report = sink_report(&stdout, sink);
        assert_eq!(report["received"], count, "{stdout}");
        assert_eq!(report["bytes"], count * size);
        assert_eq!(report["checked"], count, "{stdout}");
        assert_eq!(report["mismatches"], 0);
    }
}

#[test]
fn a_full_queue_drops_the_oldest_and_counts_every_drop() {
    let yaml = "nodes:
  - id: source
    build: BUILD
    path: BIN/test-source
    args: --count 200
    outputs: [out, sum]
  - id: sink
    path: BIN/test-sink
    args: --delay-ms 2
    inputs:
      in: { source: source/out, queue_size: 2 }
";
    let (stdout, stderr) = run_to_end("drops", yaml);
    let report = sink_report(&stdout, "sink");
    assert!(
        report["dropped"] > 0,
        "a slow sink with a queue of 2 dropped nothing: {stdout}"
    );
    assert_eq!(
        report["received"] + report["dropped"],
        200,
        "every message was received or counted as dropped: {stdout}"
    );
    let row = summary_row(&stderr, "sink");
    assert!(
        row.split_whitespace().nth(4) == Some(&report["dropped"].to_string()),
        "the summary shows the drops: {row}"
    );
    assert!(
        stderr.contains(&format!(
            "input `in` dropped {} messages",
            report["dropped"]
        )),
        "{stderr}"
    );
}

#[test]
fn backpressure_makes_the_sender_wait_and_loses_nothing() {
    let yaml = "nodes:
  - id: source
    build: BUILD
    path: BIN/test-source
    args: --count 200
    outputs: [out, sum]
  - id: sink
    path: BIN/test-sink
    args: --delay-ms 2
    inputs:
      in: { source: source/out, queue_size: 2, queue_policy: backpressure }
";
    let (stdout, _) = run_to_end("backpressure", yaml);
    let report = sink_report(&stdout, "sink");
    assert_eq!(
        (report["received"], report["dropped"]),
        (200, 0),
        "{stdout}"
    );
}

#[test]
fn every_example_dataflow_runs_and_ends_cleanly() {
    let examples = example_dataflows();
    assert!(examples.len() >= 2, "{examples:?}");
    for file in examples {
        let output = finish(dora().arg("run").arg(&file).args(["--stop-after", "1s"]));
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert!(
            output.status.success(),
            "{}:\nstdout:\n{stdout}\nstderr:\n{stderr}",
            file.display()
        );
        let dir = run_dir(&stderr);
        assert_no_leftovers(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let _ = std::fs::remove_dir(dir.parent().unwrap());
    }
}

/// Every `dataflow.yml` under `examples/`, but the benchmark's (it builds
/// in release mode and runs for a minute, so it is run by hand, see the
/// README) and those with Python nodes or operators (they need the Python
/// package, whose tests run them).
fn example_dataflows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|dir| !dir.ends_with("benchmark"))
        .map(|dir| dir.join("dataflow.yml"))
        .filter(|p| p.exists() && !needs_python(p))
        .collect();
    files.sort();
    files
}

fn needs_python(file: &Path) -> bool {
    let yaml = std::fs::read_to_string(file).unwrap();
    let dataflow = dora_core::descriptor::Dataflow::from_yaml_str(&yaml).unwrap();
    dataflow.nodes.iter().any(|node| {
        node.path.as_deref().is_some_and(|p| p.ends_with(".py"))
            || node.operators.iter().any(|o| o.python.is_some())
    })
}

#[test]
fn a_sigkilled_receiver_neither_blocks_its_sender_nor_leaves_files() {
    // The source sends a message a millisecond, so that the sink, which
    // reads one a millisecond, surely reads the five it needs to kill
    // itself (a source at full speed was done before that, and the sink
    // got only what its queue of 2 held); the rest go to a dead reader.
    for policy in ["drop_oldest", "backpressure"] {
        let yaml = format!(
            "nodes:
  - id: source
    build: BUILD
    path: BIN/test-source
    args: --count 300 --every-ms 1
    outputs: [out, sum]
  - id: sink
    path: BIN/test-sink
    args: --kill-self-after 5 --delay-ms 1
    inputs:
      in: {{ source: source/out, queue_size: 2, queue_policy: {policy} }}
"
        );
        let (stdout, stderr) = run_failing(&format!("sigkill-{policy}"), &yaml, &[]);
        assert!(
            summary_row(&stderr, "sink").ends_with("failed: killed by signal 9"),
            "{stderr}"
        );
        assert!(
            summary_row(&stderr, "source").ends_with("  ok"),
            "{policy}: the sender finished:\n{stdout}\n{stderr}"
        );
        assert!(stdout.contains("source | sent 300"), "{policy}: {stdout}");
    }
}

#[test]
fn a_node_that_ignores_stop_is_killed_after_the_grace_period() {
    let yaml = "nodes:
  - id: source
    build: BUILD
    path: BIN/test-source
    args: --count 1
    outputs: [out, sum]
  - id: sink
    path: BIN/test-sink
    args: --ignore-stop
    inputs:
      tick: dora/timer/millis/100
";
    let (_, stderr) = run_failing("grace", yaml, &["--stop-after", "500ms", "--grace", "1s"]);
    assert!(
        summary_row(&stderr, "sink").ends_with("killed: still running 1.0s after Stop"),
        "{stderr}"
    );
}

#[test]
fn sending_on_an_undeclared_output_names_the_declared_ones() {
    let yaml = "nodes:
  - id: source
    build: BUILD
    path: BIN/test-source
    args: --output bogus
    outputs: [out, sum]
";
    let (_, stderr) = run_failing("undeclared", yaml, &[]);
    assert!(
        stderr.contains("`bogus` is not an output of this node; its outputs are: `out`, `sum`"),
        "{stderr}"
    );
}

#[test]
fn a_thousand_messages_sent_right_after_init_all_arrive() {
    let yaml = "nodes:
  - id: source
    build: BUILD
    path: BIN/test-source
    args: --count 1000
    outputs: [out, sum]
  - id: sink
    path: BIN/test-sink
    inputs:
      in: { source: source/out, queue_size: 1000 }
";
    let (stdout, _) = run_to_end("right-after-init", yaml);
    let report = sink_report(&stdout, "sink");
    assert_eq!(
        (report["received"], report["dropped"]),
        (1000, 0),
        "{stdout}"
    );
}

#[test]
fn the_async_stream_delivers_every_message_timers_and_stop() {
    let yaml = "nodes:
  - id: source
    build: BUILD
    path: BIN/test-source
    args: --count 1000
    outputs: [out, sum]
  - id: sink
    path: BIN/test-sink
    args: --async
    inputs:
      in: { source: source/out, queue_size: 2, queue_policy: backpressure }
";
    let (stdout, _) = run_to_end("async", yaml);
    let report = sink_report(&stdout, "sink");
    assert_eq!(
        (report["received"], report["dropped"]),
        (1000, 0),
        "{stdout}"
    );

    // A timer and Stop, with nothing else to wake the task.
    let yaml = "nodes:
  - id: sink
    build: BUILD
    path: BIN/test-sink
    args: --async
    inputs:
      tick: dora/timer/millis/20
";
    let (stdout, stderr) = run_test_dataflow(
        "async-stop",
        yaml,
        &["--stop-after", "1s", "--grace", "3s"],
        0,
    );
    assert!(
        stdout.contains("sink | received 0"),
        "the sink ended on Stop: {stdout}"
    );
    assert!(
        summary_row(&stderr, "sink").ends_with("  ok"),
        "it ended by itself, not killed after the grace: {stderr}"
    );
}

/// Runs `dora run` on `yaml` with its stdout and stderr in one file, as
/// `2>&1` does, and returns what the file holds.
fn run_into_one_file(name: &str, yaml: &str) -> String {
    let yaml = yaml.replace(
        "BUILD",
        "cargo build -q --manifest-path ROOT/Cargo.toml -p dora-test-nodes",
    );
    let file = scratch_dataflow(name, &yaml);
    let output = file.with_file_name("output.txt");
    let both = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&output)
        .unwrap();
    let mut child = dora()
        .arg("run")
        .arg(&file)
        .stdout(both.try_clone().unwrap())
        .stderr(both)
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("dora run did not end within two minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let printed = std::fs::read_to_string(&output).unwrap();
    assert!(status.success(), "{printed}");
    assert_no_leftovers(&run_dir(&printed));
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
    printed
}

#[test]
fn lines_of_stdout_and_stderr_stay_whole_in_one_file() {
    let yaml = "nodes:
  - id: a
    build: BUILD
    path: BIN/test-chatter
    args: --lines 3000
  - id: bb
    path: BIN/test-chatter
    args: --lines 3000
";
    let printed = run_into_one_file("one-file", yaml);
    let mut seen = std::collections::BTreeSet::new();
    for line in printed
        .lines()
        .filter(|l| l.contains("oooo") || l.contains("eeee"))
    {
        let (node, rest) = line
            .split_once(" | ")
            .unwrap_or_else(|| panic!("a line without its prefix: {line:?}"));
        let node = node.trim_start();
        let words: Vec<&str> = rest.split(' ').collect();
        let whole = match words.as_slice() {
            ["out", n, text] => n.len() == 6 && *text == "o".repeat(200),
            ["err", n, text] => n.len() == 6 && *text == "e".repeat(200),
            _ => false,
        };
        assert!(
            whole && ["a", "bb"].contains(&node),
            "a line split or spliced: {line:?}"
        );
        assert!(seen.insert(format!("{node} {}", &rest[..10])), "{line}");
    }
    assert_eq!(seen.len(), 2 * 2 * 3000, "every line arrived once");
}

#[test]
fn cpu_affinity_pins_the_node_before_it_runs() {
    let yaml = "nodes:
  - id: pinned
    build: BUILD
    path: BIN/test-chatter
    args: --cpus
    cpu_affinity: [1]
  - id: free
    path: BIN/test-chatter
    args: --cpus
";
    let (stdout, _) = run_to_end("affinity", yaml);
    assert!(
        stdout.contains("pinned | Cpus_allowed_list:\t1\n"),
        "{stdout}"
    );
    let free = stdout
        .lines()
        .find_map(|l| l.strip_prefix("  free | Cpus_allowed_list:\t"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_ne!(free, "1", "only the node that asks is pinned");
}

#[test]
fn a_core_this_machine_lacks_fails_the_start_at_its_place() {
    let file = scratch_dataflow(
        "no-such-core",
        "nodes:
  - id: pinned
    path: BIN/test-chatter
    cpu_affinity: [0, 4096]
",
    );
    let output = finish(dora().arg("run").arg(&file));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "node `pinned` asks for core 4096 (`cpu_affinity`), but `dora run` may use cores 0-"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("dataflow.yml:4:23"), "{stderr}");
    assert!(!stderr.contains("logs: "), "nothing was started: {stderr}");
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
}

#[test]
fn deploy_under_dora_run_gets_one_warning() {
    let yaml = "nodes:
  - id: a
    build: BUILD
    path: BIN/test-chatter
    deploy: { machine: robot-1 }
  - id: b
    path: BIN/test-chatter
    deploy: { zone: lab }
";
    let (_, stderr) = run_to_end("deploy", yaml);
    assert_eq!(
        stderr.matches("is ignored by `dora run`").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("`deploy` (of nodes `a`, `b`) is ignored by `dora run`, which runs every node on this machine"),
        "{stderr}"
    );
}

#[test]
fn a_node_that_holds_twenty_messages_of_one_input_gets_them_all_intact() {
    let yaml = "nodes:
  - id: source
    build: BUILD
    path: BIN/test-source
    args: --count 30 --size 4096
    outputs: [out, sum]
  - id: sink
    path: BIN/test-sink
    args: --hold 20
    inputs:
      in: { source: source/out, queue_size: 30 }
      sum: { source: source/sum, queue_size: 30 }
";
    let (stdout, stderr) = run_to_end("hold", yaml);
    let report = sink_report(&stdout, "sink");
    assert_eq!(
        (report["received"], report["dropped"], report["mismatches"]),
        (30, 0, 0),
        "{stdout}"
    );
    assert_eq!((report["held"], report["intact"]), (20, 20), "{stdout}");
    assert_eq!(
        report["copies"], 17,
        "three are held in place, the rest are copies: {stdout}"
    );
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn a_node_that_stops_taking_its_events_is_killed_and_restarted_but_one_that_waits_is_not() {
    // `stuck` takes one message and then works on it for a minute; it is
    // killed after 0.5 s and restarted. `patient` waits 3 s for its
    // source to end, and is left alone.
    let yaml = "nodes:
  - id: source
    path: BIN/test-source
    args: --count 3 --wait-ms 3000
    outputs: [out, sum]
  - id: stuck
    path: BIN/test-sink
    args: --delay-ms 60000
    health_check_timeout: 500ms
    restart_policy: on-failure
    max_restarts: 1
    restart_delay: 10ms
    inputs:
      in: source/out
  - id: patient
    path: BIN/test-sink
    health_check_timeout: 500ms
    inputs:
      in: source/out
";
    build_nodes_once();
    let started = Instant::now();
    let (stdout, stderr) = run_failing("health-check", yaml, &["--stop-after", "30s"]);
    eprintln!("{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "not stopped by the time limit"
    );
    assert!(
        stderr.contains("node `stuck` killed: took no event for 0.5s (health_check_timeout); restarting it in 0.0s (restart 1 of 1)"),
        "{stderr}"
    );
    assert_eq!(sink_report(&stdout, "patient")["received"], 3, "{stdout}");
    let patient: Vec<&str> = summary_row(&stderr, "patient").split_whitespace().collect();
    assert_eq!(patient[1], "0", "not restarted: {stderr}");
    assert_eq!(patient.last(), Some(&"ok"), "{stderr}");
    let stuck: Vec<&str> = summary_row(&stderr, "stuck").split_whitespace().collect();
    assert_eq!(stuck[1], "1", "restarted once: {stderr}");
}

#[test]
fn an_input_silent_for_its_input_timeout_closes_then_recovers_and_both_are_counted() {
    // The source sends 5, pauses 1.5 s, then sends 5 more; the sink's
    // input times out after 500 ms of silence and recovers with message 6.
    let yaml = "nodes:
  - id: source
    path: BIN/test-source
    args: --count 10 --pause-after 5 --pause-ms 1500
    outputs: [out, sum]
  - id: sink
    path: BIN/test-sink
    inputs:
      in: { source: source/out, queue_policy: backpressure, input_timeout: 500ms }
  - id: async-sink
    path: BIN/test-sink
    args: --async
    inputs:
      in: { source: source/out, queue_policy: backpressure, input_timeout: 500ms }
";
    let (stdout, stderr) = run_to_end("input-timeout", yaml);
    for sink in ["sink", "async-sink"] {
        let events: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix(&format!("{sink} | ")))
            .filter(|l| l.starts_with("closed") || l.starts_with("recovered"))
            .collect();
        assert_eq!(
            events,
            [
                "closed in after 5",
                "recovered in after 5",
                "closed in after 10"
            ],
            "{stdout}"
        );
        assert_eq!(sink_report(&stdout, sink)["received"], 10, "{stdout}");
        assert_eq!(
            notes(&stderr, sink),
            ["input `in` timed out 1 time (no message for its `input_timeout`; the node was told `InputClosed`, then `InputRecovered` when messages came back)"],
            "{stderr}"
        );
    }
}

/// Runs `git ARGS` in `dir`, which must succeed; its stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=dora", "-c", "user.email=dora@example.org"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout).trim().to_owned()
}

#[test]
fn a_node_from_git_is_cloned_built_and_run_at_its_commit_and_the_clone_is_reused() {
    build_nodes_once();
    let base = std::env::temp_dir().join(format!("dora-git-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (repo, cache) = (base.join("repo"), base.join("cache"));
    std::fs::create_dir_all(&repo).unwrap();
    let sink = root().join("target/debug/test-sink");
    let script = |version: &str| {
        std::fs::write(
            repo.join("run.sh"),
            format!(
                "#!/bin/sh\necho version {version}\nexec {} \"$@\"\n",
                sink.display()
            ),
        )
        .unwrap();
    };
    git(&repo, &["init", "--quiet"]);
    script("one");
    git(&repo, &["add", "run.sh"]);
    git(&repo, &["commit", "--quiet", "-m", "one"]);
    git(&repo, &["tag", "v1"]);
    script("two");
    git(&repo, &["commit", "--quiet", "-am", "two"]);
    let second = git(&repo, &["rev-parse", "HEAD"]);

    let run = |name: &str, commit: &str| {
        let yaml = format!(
            "nodes:
  - id: source
    path: BIN/test-source
    args: --count 10
    outputs: [out, sum]
  - id: sink
    git: file://{}
    {commit}
    build: cp run.sh node.sh && chmod +x node.sh
    path: node.sh
    inputs:
      in: {{ source: source/out, queue_policy: backpressure }}
",
            repo.display()
        );
        let file = scratch_dataflow(name, &yaml);
        let output = finish(dora().arg("run").arg(&file).env("DORA_GIT_CACHE", &cache));
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert!(
            output.status.success(),
            "stdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert_eq!(sink_report(&stdout, "sink")["received"], 10, "{stdout}");
        std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
        (stdout, stderr)
    };
    let (stdout, stderr) = run("git-tag", "tag: v1");
    assert!(stdout.contains("sink | version one"), "{stdout}");
    assert!(stderr.contains("at tag v1: cloning into"), "{stderr}");
    let (stdout, _) = run("git-rev", &format!("rev: {second}"));
    assert!(stdout.contains("sink | version two"), "{stdout}");
    // The tag's clone is there: used again, and built again there.
    let (stdout, stderr) = run("git-again", "tag: v1");
    assert!(stdout.contains("sink | version one"), "{stdout}");
    assert!(stderr.contains("at tag v1: reusing"), "{stderr}");
    let clones = std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(clones, 2, "one clone per commit");
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn messages_whose_bytes_do_not_fit_their_edge_s_standard_type_are_counted_not_delivered() {
    // 12 bytes are not a whole number of UInt64 values; 16 are.
    let yaml = "nodes:
  - id: odd
    path: BIN/test-source
    args: --count 5 --size 12
    outputs: [out, sum]
    output_types: { out: std/core/v1/UInt64 }
  - id: even
    path: BIN/test-source
    args: --count 5 --size 16
    outputs: [out, sum]
  - id: strict
    path: BIN/test-sink
    inputs:
      in: { source: odd/out, queue_policy: backpressure }
  - id: fine
    path: BIN/test-sink
    inputs:
      in: { source: even/out, queue_policy: backpressure }
    input_types: { in: std/core/v1/UInt64 }
";
    let (stdout, stderr) = run_failing("type-layout", yaml, &["--stop-after", "30s"]);
    let (strict, fine) = (sink_report(&stdout, "strict"), sink_report(&stdout, "fine"));
    assert_eq!((strict["received"], strict["bytes"]), (0, 0), "{stdout}");
    assert_eq!((fine["received"], fine["bytes"]), (5, 80), "{stdout}");
    assert_eq!(
        notes(&stderr, "strict"),
        ["input `in` lost 5 messages: their bytes do not fit the type of its edge (`dora graph` shows it), so they were not delivered"],
        "{stderr}"
    );
    assert!(notes(&stderr, "fine").is_empty(), "{stderr}");
}

//! What the `dora run` tests share: scratch dataflows, running `dora`
//! with a time limit, and reading what nodes and the summary printed.

#![allow(dead_code)]

pub mod cluster;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The packages whose programs the tests' and examples' dataflows build.
const NODE_PACKAGES: &[&str] = &[
    "dora-test-nodes",
    "dora-test-operators",
    "dora-runtime",
    "dora-c",
    "hello-sender",
    "hello-receiver",
    "fan-out-fan-in",
    "operators-counter",
    "operators-doubler",
    "operators-summer",
];

/// Builds the node programs once per test binary, before the first `dora`
/// command. A dataflow's own `cargo build -p ...` resolves features apart
/// from `cargo test --workspace`, so the first one compiles the dora stack
/// again: minutes on two cores, which must not count against the time
/// limit of the run it happens in. Every selection of these packages has
/// the same features, so after this their builds have nothing to do.
pub fn build_nodes_once() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
        cargo
            .args(["build", "-q", "--manifest-path"])
            .arg(root().join("Cargo.toml"));
        for package in NODE_PACKAGES {
            cargo.args(["-p", package]);
        }
        let status = cargo.status().unwrap();
        assert!(status.success(), "the test nodes do not build");
    });
}

pub fn dora() -> Command {
    build_nodes_once();
    let mut command = Command::new(env!("CARGO_BIN_EXE_dora"));
    command.current_dir(root()).env_remove("CLICOLOR_FORCE");
    command
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The run folder named on the summary's `logs:` line.
pub fn run_dir(stderr: &str) -> PathBuf {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("logs: "))
        .unwrap_or_else(|| panic!("no logs line in:\n{stderr}"));
    PathBuf::from(line)
}

/// Nothing of the run is left in shared memory or in its iceoryx2 folder.
pub fn assert_no_leftovers(run_dir: &Path) {
    let id = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    let left: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| {
            name.starts_with(&format!("dora_{id}_")) || name.starts_with(&format!("dora-{id}."))
        })
        .collect();
    assert!(left.is_empty(), "left in /dev/shm: {left:?}");
    assert!(
        !Path::new(&format!("/dev/shm/dora-{id}")).exists(),
        "the run's iceoryx2 folder is left"
    );
}

/// A dataflow in a scratch folder, with the hello nodes by absolute path.
pub fn scratch_dataflow(name: &str, yaml: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dora-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bin = root().join("target/debug");
    let yaml = yaml
        .replace("BIN", &bin.display().to_string())
        .replace("ROOT", &root().display().to_string());
    let file = dir.join("dataflow.yml");
    std::fs::write(&file, yaml).unwrap();
    file
}

/// The summary's line of `node`, split into its words.
pub fn summary_row<'a>(stderr: &'a str, node: &str) -> &'a str {
    stderr
        .lines()
        .rev()
        .find(|l| l.starts_with(&format!("{node} ")))
        .unwrap_or_else(|| panic!("no summary line for {node} in:\n{stderr}"))
}

/// The summary's notes under node `node` (the indented lines after its
/// row).
pub fn notes<'a>(stderr: &'a str, node: &str) -> Vec<&'a str> {
    let row = summary_row(stderr, node);
    stderr
        .lines()
        .skip_while(|l| *l != row)
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect()
}

/// Runs `command` to its end, reading its output as it comes; a run that
/// hangs fails the test after two minutes instead of hanging the suite.
pub fn finish(command: &mut Command) -> Output {
    collect(spawn_piped(command), Duration::from_secs(120))
}

/// Starts `command` with its output piped, to be read by [`collect`].
pub fn spawn_piped(command: &mut Command) -> Child {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits at most `timeout` for `child` to end, reading its output as it
/// comes (a full pipe would otherwise stall it), and returns it all.
pub fn collect(mut child: Child, timeout: Duration) -> Output {
    use std::io::Read;
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dora run did not end within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

extern "C" {
    #[link_name = "kill"]
    pub fn libc_kill(pid: i32, signal: i32) -> i32;
}

/// Runs a dataflow of test nodes to its end; returns stdout and stderr.
pub fn run_to_end(name: &str, yaml: &str) -> (String, String) {
    run_test_dataflow(name, yaml, &["--stop-after", "60s"], 0)
}

/// Runs a dataflow of test nodes (`BUILD`, `BIN` and `ROOT` filled in)
/// with `extra` arguments, checks its exit code and that the run left
/// nothing behind, and returns stdout and stderr.
pub fn run_test_dataflow(name: &str, yaml: &str, extra: &[&str], code: i32) -> (String, String) {
    let yaml = yaml.replace(
        "BUILD",
        "cargo build -q --manifest-path ROOT/Cargo.toml -p dora-test-nodes",
    );
    let file = scratch_dataflow(name, &yaml);
    let output = finish(dora().arg("run").arg(&file).args(extra));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_no_leftovers(&run_dir(&stderr));
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
    (stdout, stderr)
}

/// The numbers a test sink printed, by name.
pub fn sink_report(stdout: &str, sink: &str) -> std::collections::BTreeMap<String, u64> {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{sink} | received ")))
        .unwrap_or_else(|| panic!("no report of {sink} in:\n{stdout}"));
    let words: Vec<&str> = line.split('|').nth(1).unwrap().split_whitespace().collect();
    words
        .chunks(2)
        .map(|pair| (pair[0].to_owned(), pair[1].parse().unwrap()))
        .collect()
}

/// Runs a dataflow of test nodes that must fail; returns stdout and stderr.
pub fn run_failing(name: &str, yaml: &str, extra: &[&str]) -> (String, String) {
    run_test_dataflow(name, yaml, extra, 1)
}

//! The `dora` command as a user runs it: a real process, real files, and
//! the exit codes and messages a person or a script sees.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

fn dora(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dora"))
        .args(args)
        .current_dir(dir)
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("the dora binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The repository root, where the examples are.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// A fresh, empty folder for one test, removed when the test ends.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("dora-cli-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

#[test]
fn check_accepts_every_example() {
    let output = dora(
        &[
            "check",
            "examples/hello/dataflow.yml",
            "examples/fan-out-fan-in/dataflow.yml",
            "examples/cluster/workload.yml",
            "examples/cluster/resources.yml",
        ],
        &root(),
    );
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        text(&output.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("valid ")).count(),
        4,
        "{stdout}"
    );
    assert!(
        stdout.contains("examples/hello/dataflow.yml: a dataflow with 2 nodes"),
        "{stdout}"
    );
    assert!(stdout.contains("Workload blue.red"), "{stdout}");
}

#[test]
fn check_walks_folders() {
    let output = dora(&["check", "examples"], &root());
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(
        stdout.contains("valid examples/cluster/resources.yml"),
        "{stdout}"
    );
    assert!(
        stdout.contains("valid examples/hello/dataflow.yml"),
        "{stdout}"
    );

    let empty = scratch("empty-folder");
    let output = dora(&["check", "."], &empty);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("holds no .yml or .yaml file"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn check_reports_errors_with_position_and_hint_and_fails() {
    let dir = scratch("bad");
    std::fs::write(
        dir.join("good.yml"),
        "nodes:\n  - id: a\n    path: /bin/true\n",
    )
    .unwrap();
    std::fs::write(dir.join("bad.yml"), "nodes:\n  - id: a\n    path: /bin/true\n    inputs:\n      x: b/out\n  - id: b\n    pth: /bin/true\n").unwrap();
    let output = dora(&["check", "good.yml", "bad.yml"], &dir);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("bad.yml:5:10"), "{stderr}");
    assert!(stderr.contains("bad.yml:7:5"), "{stderr}");
    assert!(stderr.contains("help: did you mean `path`?"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "colours on a pipe: {stderr:?}");
    let stdout = text(&output.stdout);
    assert!(stdout.contains("valid good.yml"), "{stdout}");
    // `pth` explains why `b` has no program: one error, not a second one
    // about the missing `path`.
    assert!(stdout.contains("invalid bad.yml: 2 errors"), "{stdout}");
}

#[test]
fn check_colours_when_forced() {
    let dir = scratch("colour");
    std::fs::write(dir.join("bad.yml"), "nodes: 3\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_dora"))
        .args(["check", "bad.yml"])
        .current_dir(&*dir)
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    assert!(
        text(&output.stderr).contains("\x1b[1;31merror"),
        "{:?}",
        text(&output.stderr)
    );
}

#[test]
fn check_explains_a_missing_file() {
    let output = dora(&["check", "no-such-file.yml"], &scratch("missing"));
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("cannot read the file"), "{stderr}");
    assert!(stderr.contains("no-such-file.yml"), "{stderr}");
}

#[test]
fn check_needs_a_file() {
    let output = dora(&["check"], &root());
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("<FILE>"));
}

#[test]
fn graph_prints_mermaid_and_dot() {
    let mermaid = dora(&["graph", "examples/fan-out-fan-in/dataflow.yml"], &root());
    assert!(mermaid.status.success(), "{}", text(&mermaid.stderr));
    let mermaid = text(&mermaid.stdout);
    assert!(mermaid.starts_with("flowchart TB\n"), "{mermaid}");
    assert!(
        mermaid.contains("v_source -- \"frame\" --> v_worker_a"),
        "{mermaid}"
    );
    assert!(
        mermaid.contains("v_worker_b -- \"result → b\" --> v_sink"),
        "{mermaid}"
    );
    assert!(
        mermaid.contains("v_dora_timer_hz_50([\"dora/timer/hz/50\"])"),
        "{mermaid}"
    );

    let dot = dora(&["graph", "--dot", "examples/hello/dataflow.yml"], &root());
    assert!(dot.status.success());
    let dot = text(&dot.stdout);
    assert!(dot.starts_with("digraph dataflow {"), "{dot}");
    assert!(
        dot.contains("v_sender -> v_receiver [label=\"message\"];"),
        "{dot}"
    );
    assert!(dot.trim_end().ends_with('}'));
}

#[test]
fn graph_writes_a_self_contained_page() {
    let dir = scratch("html");
    let page = dir.join("graph.html");
    let output = dora(
        &[
            "graph",
            "examples/fan-out-fan-in/dataflow.yml",
            "--html",
            page.to_str().unwrap(),
        ],
        &root(),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>"),
        "{}",
        &html[..80.min(html.len())]
    );
    assert!(html.contains("<svg"));
    for id in [
        "source",
        "worker-a",
        "worker-b",
        "worker-c",
        "sink",
        "dora/timer/hz/50",
    ] {
        assert!(html.contains(&format!(">{id}<")), "{id} is not drawn");
    }
    let external = html.replace("http://www.w3.org/2000/svg", "");
    assert!(
        !external.contains("http://") && !external.contains("https://"),
        "the page loads something from the network"
    );
    assert!(
        !html.contains("<script src") && !html.contains("<link"),
        "the page loads another file"
    );
}

#[test]
fn graph_refuses_an_invalid_dataflow() {
    let dir = scratch("graph-bad");
    std::fs::write(dir.join("bad.yml"), "nodes:\n  - id: a\n").unwrap();
    let output = dora(&["graph", "bad.yml"], &dir);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("bad.yml:2:5"), "{stderr}");
    assert!(stderr.contains("is not a valid dataflow"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn schema_describes_every_key_a_node_can_have() {
    let output = dora(&["schema"], &root());
    assert!(output.status.success());
    let schema: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the schema is JSON");
    let node = &schema["definitions"]["Node"]["properties"];
    let documented: Vec<&str> = node
        .as_object()
        .expect("Node has properties")
        .keys()
        .map(String::as_str)
        .collect();
    // The good corpus file that uses every key, so that schema and parser
    // cannot drift apart unnoticed.
    let every_key =
        std::fs::read_to_string(root().join("dora-core/tests/corpus/good/every-node-key.yml"))
            .unwrap();
    let used: std::collections::BTreeSet<&str> = every_key
        .lines()
        .filter_map(|l| l.strip_prefix("  - ").or_else(|| l.strip_prefix("    ")))
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_once(':').map(|(k, _)| k))
        .collect();
    let mut documented_sorted = documented.clone();
    documented_sorted.sort_unstable();
    assert_eq!(used.into_iter().collect::<Vec<_>>(), documented_sorted);
    assert!(
        node["restart_policy"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("start the node again")),
        "keys carry their docs"
    );
}

#[test]
fn resource_schema_has_a_branch_per_kind() {
    let output = dora(&["schema", "resource"], &root());
    assert!(output.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let kinds: Vec<&str> = schema["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["properties"]["kind"]["const"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "User",
            "Role",
            "Node",
            "Storage",
            "Credit",
            "Workload",
            "Container",
            "Volume",
            "Dataflow"
        ]
    );
}

#[test]
fn new_makes_a_dataflow_that_checks_clean() {
    let dir = scratch("new");
    let output = dora(&["new", "demo"], &dir);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let next = text(&output.stdout);
    let next = next.split_once("next:\n").map_or("", |(_, steps)| steps);
    let commands: Vec<&str> = next
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .collect();
    assert_eq!(
        commands,
        [
            "pip install ./dora-python",
            "dora check demo/dataflow.yml",
            "dora run demo/dataflow.yml"
        ],
        "{next}"
    );
    let check = dora(&["check", "demo/dataflow.yml"], &dir);
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(check.stderr.is_empty(), "warnings: {}", text(&check.stderr));

    let again = dora(&["new", "demo"], &dir);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("`demo` already exists"));

    let bad = dora(&["new", "../escape"], &dir);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("cannot be a dataflow name"));
}

#[test]
fn every_command_has_help() {
    for command in [
        "run",
        "check",
        "graph",
        "schema",
        "new",
        "coordinator",
        "apply",
        "get",
        "delete",
        "token",
        "login",
        "config",
        "daemon",
        "describe",
        "up",
        "down",
    ] {
        let output = dora(&[command, "--help"], &root());
        assert!(output.status.success(), "{command} --help failed");
        let help = text(&output.stdout);
        assert!(help.contains("Usage: dora"), "{help}");
    }
}

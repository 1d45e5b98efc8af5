//! The corpus: bad files pinned to the errors they must produce, and good
//! files that must pass (the examples are checked in `tests/`).
//!
//! Each `corpus/bad/NAME.yml` has `corpus/bad/NAME.errors` beside it: the
//! exact report `dora check` prints. After changing a message on purpose,
//! run `DORA_BLESS=1 cargo test -p dora-core --test corpus` and review the
//! diff of the `.errors` files.

use std::path::{Path, PathBuf};

use dora_core::check::{self, check_file};

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    check::yaml_files(Path::new(dir)).unwrap_or_else(|e| panic!("cannot read {dir}: {e}"))
}

#[test]
fn bad_files_give_their_pinned_errors() {
    let bless = std::env::var_os("DORA_BLESS").is_some();
    let files = yaml_files("tests/corpus/bad");
    assert!(
        files.len() >= 40,
        "the corpus has only {} bad files",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let checked = check_file(file);
        assert!(!checked.is_valid(), "{} was accepted", file.display());
        for diagnostic in checked.errors() {
            assert!(
                diagnostic.position.is_some(),
                "{}: `{}` has no line and column",
                file.display(),
                diagnostic.message
            );
            assert!(
                diagnostic.hint.is_some(),
                "{}: `{}` says nothing about what to do",
                file.display(),
                diagnostic.message
            );
        }
        let report = checked.render(false);
        let pinned = file.with_extension("errors");
        if bless {
            std::fs::write(&pinned, &report).unwrap();
            continue;
        }
        match std::fs::read_to_string(&pinned) {
            Ok(expected) if expected == report => {}
            Ok(expected) => failures.push(format!(
                "{}\n--- expected\n{expected}--- got\n{report}",
                file.display()
            )),
            Err(_) => failures.push(format!(
                "{} has no {}; got\n{report}",
                file.display(),
                pinned.display()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files differ (DORA_BLESS=1 updates them):\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_pinned_report_has_its_file() {
    for entry in std::fs::read_dir("tests/corpus/bad").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("errors") {
            assert!(
                path.with_extension("yml").exists(),
                "{} pins a file that is gone",
                path.display()
            );
        }
    }
}

#[test]
fn good_files_pass() {
    let files = yaml_files("tests/corpus/good");
    assert!(
        files.len() >= 5,
        "the corpus has only {} good files",
        files.len()
    );
    for file in &files {
        let checked = check_file(file);
        assert!(
            checked.is_valid(),
            "{} was rejected:\n{}",
            file.display(),
            checked.render(false)
        );
    }
}

#[test]
fn the_design_notes_workload_naming_its_volume_workspace_twice_is_read_with_a_warning() {
    let checked = check_file(Path::new("tests/corpus/good/workload-seed-complete.yml"));
    let warnings: Vec<_> = checked
        .diagnostics
        .iter()
        .map(|d| (d.is_error(), d.message.as_str(), d.position.map(|p| p.line)))
        .collect();
    assert_eq!(
        warnings,
        [(
            false,
            "`group` and `workspace` both name the workspace `datasets`",
            Some(37)
        )]
    );
}

#[test]
fn the_dataflow_with_modules_is_read_as_ordinary_nodes() {
    let checked = check_file(Path::new("tests/corpus/good/modules.yml"));
    let dora_core::check::Content::Dataflow(dataflow) = &checked.content else {
        panic!("{}", checked.render(false));
    };
    let nodes: Vec<(&str, Vec<String>)> = dataflow
        .nodes
        .iter()
        .map(|node| {
            let inputs = node
                .inputs
                .iter()
                .chain(node.operators.iter().flat_map(|op| op.inputs.iter()))
                .map(|(id, input)| format!("{id} <- {}", input.source))
                .collect();
            (node.id.as_str(), inputs)
        })
        .collect();
    let expected: Vec<(&str, Vec<&str>)> = vec![
        ("microphone", vec!["tick <- dora/timer/millis/10"]),
        ("pipeline.lowpass", vec!["samples <- microphone/audio"]),
        (
            "pipeline.gate",
            vec!["samples <- pipeline.lowpass/filtered"],
        ),
        (
            "studio.denoise.lowpass",
            vec!["samples <- microphone/audio"],
        ),
        (
            "studio.denoise.gate",
            vec!["samples <- studio.denoise.lowpass/filtered"],
        ),
        (
            "studio.mix",
            vec![
                "raw <- microphone/audio",
                "voice <- studio.denoise.gate/clean",
            ],
        ),
        (
            "speaker",
            vec![
                "audio <- pipeline.gate/clean",
                "mixed <- studio.mix/op/mixed",
            ],
        ),
    ];
    let nodes: Vec<(&str, Vec<&str>)> = nodes
        .iter()
        .map(|(id, inputs)| (*id, inputs.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(nodes, expected);
    let gate = dataflow.node("pipeline.gate").unwrap();
    assert_eq!(gate.path.as_deref(), Some("modules/gate.py"));
    assert_eq!(gate.args.0, ["--threshold", "0.2"]);
    assert_eq!(gate.inputs["samples"].queue_size, 2);
    let mix = dataflow.node("studio.mix").unwrap();
    assert_eq!(mix.build.as_deref(), Some("echo preparing cleanup"));
    assert_eq!(mix.env["LOG_LEVEL"].0, "debug");
}

/// A dataflow read from its file (modules expanded) and written as JSON
/// reads back as the same dataflow without its folder: what a coordinator
/// is sent when a dataflow is started on a cluster.
#[test]
fn every_good_dataflow_reads_back_from_its_json() {
    let mut read = 0;
    for file in yaml_files("tests/corpus/good") {
        let checked = check_file(&file);
        let check::Content::Dataflow(dataflow) = checked.content else {
            continue;
        };
        let json = serde_json::to_string(&dataflow).unwrap();
        let (again, diagnostics) = check::check_source(&json, None);
        let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}\n{json}", file.display());
        let check::Content::Dataflow(again) = again else {
            panic!("{}: not a dataflow again", file.display());
        };
        assert_eq!(again, dataflow, "{}", file.display());
        read += 1;
    }
    assert!(read >= 8, "only {read} good dataflows");
}

/// `max_restarts: 0` with a restart policy means no limit in dora-rs and
/// no restart here: said where it is written, as a warning.
#[test]
fn max_restarts_zero_with_a_restart_policy_is_warned_about() {
    let yaml =
        "nodes:\n  - id: a\n    path: /bin/true\n    restart_policy: always\n    max_restarts: 0\n";
    let checked = check::check_source_file("dataflow.yml", yaml);
    assert!(checked.is_valid());
    let report = checked.render(false);
    assert!(
        report.contains("dataflow.yml:5:19") && report.contains("in dora-rs, 0 means no limit"),
        "{report}"
    );
}

//! Every example of the repository is a valid dora file: the examples are
//! what users copy first, so none may rot.

use std::path::{Path, PathBuf};

use dora_core::check::{check_file, yaml_files, Content};

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    yaml_files(&root).expect("the examples folder can be read")
}

#[test]
fn every_example_checks_without_errors_or_warnings() {
    let files = examples();
    assert!(files.len() >= 4, "examples are missing: {files:?}");
    for file in files {
        let checked = check_file(&file);
        assert!(
            checked.diagnostics.is_empty(),
            "{}:\n{}",
            file.display(),
            checked.render(false)
        );
        assert!(
            !matches!(checked.content, Content::Invalid),
            "{} holds nothing usable",
            file.display()
        );
    }
}

#[test]
fn every_example_dataflow_builds_its_nodes() {
    // A node without a `build` step would need a program that the
    // repository does not make; a Python script is the program.
    for file in examples() {
        if let Content::Dataflow(dataflow) = check_file(&file).content {
            for node in &dataflow.nodes {
                let script = node.path.as_deref().is_some_and(|p| p.ends_with(".py"));
                assert!(
                    node.build.is_some() || node.is_runtime() || script,
                    "{}: node `{}` has no build step",
                    file.display(),
                    node.id
                );
            }
        }
    }
}

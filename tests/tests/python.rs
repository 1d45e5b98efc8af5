//! The Python package's own tests (`dora-python/tests`, pytest) against a
//! wheel built and installed in a fresh virtual environment, as a user
//! would: `pip install ./dora-python`.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{command:?} failed:\n{text}");
    text
}

#[test]
fn the_python_package_passes_its_tests_in_a_fresh_virtual_environment() {
    let venv = std::env::temp_dir().join(format!("dora-venv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&venv);
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    let bin = venv.join("bin");
    run(Command::new(bin.join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(root().join("dora-python"))
        .args(["numpy", "pytest"]));
    let report = run(Command::new(bin.join("python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root().join("dora-python/tests"))
        .current_dir(root()));
    assert!(report.contains(" passed"), "{report}");
    assert!(!report.contains("failed"), "{report}");
    std::fs::remove_dir_all(&venv).unwrap();
}

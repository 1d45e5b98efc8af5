//! The C API: a C program that calls every function of `dora.h` runs as a
//! node under valgrind, and the C example (a C node and a C operator
//! beside Rust nodes) runs.

mod common;

use common::*;

/// Builds libdora and the C test program against it with pkg-config, as
/// a user would.
const BUILD: &str = "cargo build -q --manifest-path ROOT/Cargo.toml -p dora-c && cc -std=c11 -Wall -Wextra -Werror -g $(PKG_CONFIG_PATH=ROOT/target/debug pkg-config --cflags dora) -o api_test ROOT/dora-c/tests/c/api_test.c $(PKG_CONFIG_PATH=ROOT/target/debug pkg-config --libs dora)";

#[test]
fn every_c_api_function_works_and_valgrind_finds_no_leak_or_bad_access() {
    // The program's output feeds its own input.
    let yaml = format!(
        "nodes:
  - id: api
    build: {BUILD}
    path: valgrind
    args:
      - --error-exitcode=99
      - --leak-check=full
      - --errors-for-leak-kinds=definite,indirect
      - --suppressions=ROOT/dora-c/tests/c/iceoryx2.supp
      - ./api_test
    inputs:
      in: api/out
    outputs: [out]
"
    );
    let (stdout, stderr) = run_to_end("c-api", &yaml);
    let line = stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("api | checks passed "))
        .unwrap_or_else(|| panic!("no result line in:\n{stdout}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[1..], ["failed", "0"], "{stdout}");
    assert!(words[0].parse::<u32>().unwrap() > 50, "{stdout}");
    // valgrind reports on the node's stderr.
    assert!(
        stderr.contains("ERROR SUMMARY: 0 errors"),
        "valgrind found errors:\n{stderr}"
    );
    assert!(stderr.contains("definitely lost: 0 bytes"), "{stderr}");
    // `dora_log` reached the launcher as a record: shown with its level.
    assert!(
        stderr.contains("api | WARN  api_test: logged from C"),
        "{stderr}"
    );
}

#[test]
fn the_c_example_passes_messages_and_parameters_through_a_c_node_and_a_c_operator() {
    let output = finish(dora().args([
        "run",
        "examples/c-dataflow/dataflow.yml",
        "--stop-after",
        "1s",
    ]));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains(r#"c-node | got "hello #1" (count 1)"#),
        "{stdout}"
    );
    // The C operator forwarded the C node's parameter and added its own.
    let line = stdout
        .lines()
        .find(|l| l.contains("receiver | C SAW MESSAGE 1 ("))
        .unwrap_or_else(|| panic!("no first message in:\n{stdout}"));
    assert!(
        line.ends_with(" us) count=Integer(1) shouted=Bool(true)"),
        "{line}"
    );
    let dir = run_dir(&stderr);
    assert_no_leftovers(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_build_writes_dora_pc_beside_the_library_it_made() {
    // `dora` is built into the target folder in use, wherever
    // `CARGO_TARGET_DIR` puts it; libdora goes beside it.
    let profile_dir = std::path::Path::new(env!("CARGO_BIN_EXE_dora"))
        .parent()
        .unwrap();
    let build = std::process::Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "dora-c"])
        .current_dir(root())
        .status()
        .unwrap();
    assert!(build.success());
    let variable = |name: &str| {
        let output = std::process::Command::new("pkg-config")
            .arg(format!("--variable={name}"))
            .arg("dora")
            .env("PKG_CONFIG_PATH", profile_dir)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        std::path::PathBuf::from(text(&output.stdout).trim())
    };
    assert_eq!(variable("libdir"), profile_dir);
    assert!(variable("libdir").join("libdora.so").exists());
    assert_eq!(variable("includedir"), root().join("dora-c/include"));
    assert!(variable("includedir").join("dora.h").exists());
}

//! The `build` steps of a dataflow, run before any node starts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use dora_core::descriptor::Dataflow;
use dora_core::protocol::cluster::DataflowReport;

use super::Out;
use eyre::{bail, WrapErr};

/// Runs every distinct `build` command once per folder, in the order nodes
/// list them, each from its node's folder (`folders`, by node: the
/// dataflow's, or the node's git clone), showing what runs and how long it
/// took.
pub fn run_builds(
    dataflow: &Dataflow,
    folders: &[PathBuf],
    stop: &AtomicBool,
    out: &Out,
) -> eyre::Result<()> {
    let mut done: Vec<(&str, &Path)> = Vec::new();
    let commands = dataflow.nodes.iter().zip(folders).flat_map(|(node, dir)| {
        let own = node
            .build
            .as_deref()
            .map(|b| (node.id.to_string(), b, dir.as_path()));
        let operators = node.operators.iter().filter_map(move |op| {
            op.build
                .as_deref()
                .map(|b| (format!("{}/{}", node.id, op.id), b, dir.as_path()))
        });
        own.into_iter().chain(operators)
    });
    for (owner, command, dir) in commands {
        if done.contains(&(command, dir)) {
            continue;
        }
        done.push((command, dir));
        let bold = anstyle::Style::new().bold();
        out.say(&format!("{bold}build{bold:#} {owner}: {command}"));
        let start = Instant::now();
        let mut build = Command::new("sh");
        build.arg("-c").arg(command).current_dir(dir);
        let status = match out {
            Out::Terminal => build.status(),
            // A daemon passes the build's output on once it has ended.
            Out::Forward(_) => build.output().map(|output| {
                for (bytes, stderr) in [(&output.stdout, false), (&output.stderr, true)] {
                    for line in String::from_utf8_lossy(bytes).lines() {
                        out.report(DataflowReport::Line {
                            node: owner.clone(),
                            stderr,
                            text: line.to_owned(),
                        });
                    }
                }
                output.status
            }),
        }
        .wrap_err_with(|| format!("cannot start the build of `{owner}`"))?;
        if stop.load(Ordering::Relaxed) {
            bail!("stopped during the build of `{owner}`; no node was started");
        }
        if !status.success() {
            bail!("the build of `{owner}` failed ({status}): {command}\nfix the build, or run it by hand from {} to see why", dir.display());
        }
        out.say(&format!(
            "{bold}built{bold:#} {owner} in {:.1}s",
            start.elapsed().as_secs_f64()
        ));
    }
    Ok(())
}

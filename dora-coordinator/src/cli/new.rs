//! `dora new`: a folder with a starter dataflow.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use eyre::WrapErr;

const DATAFLOW: &str = include_str!("templates/dataflow.yml");
const TALKER: &str = include_str!("templates/talker.py");
const LISTENER: &str = include_str!("templates/listener.py");

pub fn run(name: &str) -> eyre::Result<ExitCode> {
    let valid = !name.is_empty()
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        eyre::bail!("`{name}` cannot be a dataflow name: use letters, digits, `_`, `-` and `.`, starting with a letter or a digit");
    }
    let root = Path::new(name);
    if root.exists() {
        eyre::bail!("`{name}` already exists here; choose another name or remove it first");
    }
    let files = [
        ("dataflow.yml", DATAFLOW.replace("{name}", name)),
        ("nodes/talker.py", TALKER.to_owned()),
        ("nodes/listener.py", LISTENER.to_owned()),
    ];
    for (relative, content) in &files {
        let path = root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .wrap_err_with(|| format!("cannot create the folder {}", parent.display()))?;
        }
        std::fs::write(&path, content)
            .wrap_err_with(|| format!("cannot write {}", path.display()))?;
    }
    let mut out = anstream::stdout();
    writeln!(out, "created {name}/ with a dataflow of two Python nodes:")?;
    for (relative, _) in &files {
        writeln!(out, "  {name}/{relative}")?;
    }
    let steps = [
        (
            "pip install ./dora-python".to_owned(),
            "once, from dora's source tree: the `dora` package the nodes import",
        ),
        (format!("dora check {name}/dataflow.yml"), "validate it"),
        (
            format!("dora run {name}/dataflow.yml"),
            "run it; Ctrl-C stops it",
        ),
    ];
    let width = steps.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    writeln!(out, "next:")?;
    for (command, why) in steps {
        writeln!(out, "  {command:width$}  # {why}")?;
    }
    Ok(ExitCode::SUCCESS)
}

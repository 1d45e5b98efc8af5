//! `dora check`: validate files and report every error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use dora_core::check::{check_file, CheckedFile, Content};

pub fn run(paths: &[PathBuf]) -> eyre::Result<ExitCode> {
    let files = super::expand_folders(paths)?;
    let mut all_valid = true;
    for path in &files {
        let checked = check_file(path);
        super::print_rendered(&checked.render(true));
        all_valid &= checked.is_valid();
        print_summary(&checked);
    }
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One line per file on stdout: what it holds, or how many errors it has.
fn print_summary(checked: &CheckedFile) {
    let errors = checked.errors().count();
    let warnings = checked.diagnostics.len() - errors;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let green = anstyle::Style::new()
        .bold()
        .fg_color(Some(anstyle::AnsiColor::Green.into()));
    let red = anstyle::Style::new()
        .bold()
        .fg_color(Some(anstyle::AnsiColor::Red.into()));
    let path = checked.path.display();
    let mut line = match &checked.content {
        Content::Dataflow(dataflow) if errors == 0 => {
            let operators: usize = dataflow.nodes.iter().map(|n| n.operators.len()).sum();
            let mut what = format!("a dataflow with {}", plural(dataflow.nodes.len(), "node"));
            if operators > 0 {
                what.push_str(&format!(" and {}", plural(operators, "operator")));
            }
            format!("{green}valid{green:#} {path}: {what}")
        }
        Content::Resources(resources) if errors == 0 => {
            let kinds: Vec<String> = resources
                .iter()
                .map(|r| format!("{} {}", r.kind, r.metadata.name))
                .collect();
            format!("{green}valid{green:#} {path}: {}", kinds.join(", "))
        }
        Content::Module(module) if errors == 0 => format!(
            "{green}valid{green:#} {path}: module `{}` with {}, used through `module:`",
            module.name,
            plural(module.nodes.len(), "node")
        ),
        _ => format!("{red}invalid{red:#} {path}: {}", plural(errors, "error")),
    };
    if warnings > 0 {
        line.push_str(&format!(" ({})", plural(warnings, "warning")));
    }
    let _ = writeln!(anstream::stdout(), "{line}");
}

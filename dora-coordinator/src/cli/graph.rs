//! `dora graph`: draw a dataflow.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use dora_core::check::{check_file, Content};
use eyre::WrapErr;

use crate::graph::{dot::dot, html::html, mermaid::mermaid, Graph};

pub fn run(file: &Path, as_dot: bool, html_out: Option<&Path>) -> eyre::Result<ExitCode> {
    let checked = check_file(file);
    super::print_rendered(&checked.render(true));
    let dataflow = match checked.content {
        Content::Dataflow(dataflow) if checked.is_valid() => dataflow,
        Content::Resources(_) => eyre::bail!(
            "{} holds cluster resources, not a dataflow; only dataflows can be drawn",
            file.display()
        ),
        Content::Module(_) => eyre::bail!(
            "{} is a module file; draw a dataflow that uses it with `module:`",
            file.display()
        ),
        _ => eyre::bail!(
            "{} is not a valid dataflow; fix the errors above, then draw it again",
            file.display()
        ),
    };
    let graph = Graph::from_dataflow(&dataflow);
    match html_out {
        Some(out) => {
            let title = file.display().to_string();
            std::fs::write(out, html(&graph, &title))
                .wrap_err_with(|| format!("cannot write the page to {}", out.display()))?;
            let _ = writeln!(
                anstream::stdout(),
                "wrote {}; open it in a browser to see the graph",
                out.display()
            );
        }
        None => {
            let text = if as_dot { dot(&graph) } else { mermaid(&graph) };
            let _ = anstream::stdout().write_all(text.as_bytes());
        }
    }
    Ok(ExitCode::SUCCESS)
}

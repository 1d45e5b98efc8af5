//! The `dora` command line: one module per subcommand.

mod check;
mod graph;
mod new;
mod schema;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// dora: a dataflow framework for robotics and AI.
///
/// Nodes and operators exchange messages through shared memory on one
/// machine and zenoh across machines. Declare a dataflow in YAML, check it,
/// draw it, and run it.
#[derive(Debug, Parser)]
#[command(
    name = "dora",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = "Examples:\n  dora check dataflow.yml                  validate a dataflow\n  dora graph dataflow.yml --html g.html    draw it, then open g.html\n  dora new my-robot                        start a new dataflow"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate dataflow and resource files, reporting every error with its
    /// file, line and column.
    ///
    /// Exits with 0 when every file is valid (warnings allowed), 1 otherwise.
    Check {
        /// The files to check: dataflows (`nodes:`) or cluster resources
        /// (`apiVersion: v1` and `kind`), several per file with `---`. A
        /// folder stands for every `.yml` and `.yaml` file under it.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Draw a dataflow: as Mermaid (the default), Graphviz DOT, or an HTML
    /// page to open in a browser.
    Graph {
        /// The dataflow file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Print Graphviz DOT instead of Mermaid (render it with
        /// `dot -Tsvg`).
        #[arg(long, conflicts_with = "html")]
        dot: bool,
        /// Write a self-contained HTML page that shows the graph (it needs
        /// no network to view).
        #[arg(long, value_name = "OUT")]
        html: Option<PathBuf>,
    },
    /// Print the JSON Schema of dora's files, for editor completion.
    ///
    /// Save it, then name it at the top of a dataflow for editors that use
    /// the YAML language server:
    ///
    ///     dora schema > dataflow.schema.json
    ///     # yaml-language-server: $schema=dataflow.schema.json
    #[command(verbatim_doc_comment)]
    Schema {
        /// Which file the schema describes.
        #[arg(value_enum, default_value_t = schema::Which::Dataflow)]
        which: schema::Which,
    },
    /// Run a dataflow on this machine: build it, start every node, and stop
    /// them all on Ctrl-C.
    ///
    /// Each line a node prints is shown with the node's id in front and
    /// kept in `out/<run>/<node>.log` beside the dataflow. At the end, a
    /// summary says how each node ended; the exit code is 1 if one failed.
    Run {
        /// The dataflow file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// How long nodes have to end after Stop before they are killed.
        #[arg(long, value_name = "DURATION", default_value = "5s")]
        grace: dora_core::Duration,
        /// Stop the dataflow after this long, like Ctrl-C (`10s`, `1m`).
        #[arg(long, value_name = "DURATION")]
        stop_after: Option<dora_core::Duration>,
    },
    /// Create a folder with a starter dataflow and its nodes.
    New {
        /// The name of the dataflow and of the folder to create.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// Runs the command; the exit code says whether it succeeded.
pub fn run(cli: Cli) -> eyre::Result<ExitCode> {
    match cli.command {
        Command::Check { files } => check::run(&files),
        Command::Graph { file, dot, html } => graph::run(&file, dot, html.as_deref()),
        Command::Schema { which } => schema::run(which),
        Command::New { name } => new::run(&name),
        Command::Run {
            file,
            grace,
            stop_after,
        } => crate::run::run(
            &file,
            &crate::run::RunOptions {
                grace: grace.as_std(),
                stop_after: stop_after.map(dora_core::Duration::as_std),
            },
        ),
    }
}

/// Prints an error and its causes to stderr, in colour on a terminal.
pub fn print_error(error: &eyre::Report) {
    let mut stderr = anstream::stderr();
    let bold_red = anstyle::Style::new()
        .bold()
        .fg_color(Some(anstyle::AnsiColor::Red.into()));
    let _ = write!(stderr, "{bold_red}error{bold_red:#}: {error}");
    for cause in error.chain().skip(1) {
        let _ = write!(stderr, ": {cause}");
    }
    let _ = writeln!(stderr);
}

/// Prints diagnostics already rendered with colours; the stream drops the
/// colours when stderr is not a terminal (or `NO_COLOR` is set).
pub fn print_rendered(rendered: &str) {
    let _ = anstream::stderr().write_all(rendered.as_bytes());
}

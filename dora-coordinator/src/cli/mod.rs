//! The `dora` command line: one module per subcommand.

mod check;
#[cfg(feature = "cluster")]
mod cluster;
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
    /// Run the coordinator: the server that keeps a cluster's resources,
    /// users and tokens, and serves them over an HTTP API (TLS by default).
    ///
    /// The first start creates user `admin` and writes its token to
    /// `<state-dir>/admin.token`, readable by you alone.
    #[cfg(feature = "cluster")]
    Coordinator(cluster::CoordinatorArgs),
    /// Run a machine's daemon: join the cluster (the first time, with a
    /// join token), report the machine's inventory, and keep it present
    /// on the coordinator's control plane.
    #[cfg(feature = "cluster")]
    Daemon(cluster::DaemonArgs),
    /// Start a coordinator and this machine's daemon in the background,
    /// log in to them (context `local`), and say where the admin token is.
    #[cfg(feature = "cluster")]
    Up(cluster::UpArgs),
    /// Stop what `dora up` started.
    #[cfg(feature = "cluster")]
    Down(cluster::DownArgs),
    /// Create or update the resources of files on the coordinator; each
    /// file is applied whole or not at all.
    #[cfg(feature = "cluster")]
    Apply {
        /// Resource files, or folders of them.
        #[arg(
            short = 'f',
            long = "filename",
            value_name = "FILE|DIR",
            required = true
        )]
        files: Vec<PathBuf>,
        /// Replaces `${NAME}` in the files by VALUE (`$${` is a literal `${`).
        #[arg(short = 'e', long = "env", value_name = "NAME=VALUE")]
        values: Vec<String>,
        #[command(flatten)]
        place: cluster::Place,
        #[command(flatten)]
        connection: cluster::Connection,
    },
    /// List resources of a kind, or show one.
    #[cfg(feature = "cluster")]
    Get {
        /// The kind: users, roles, nodes, storages, credits, workloads,
        /// containers, volumes, dataflows.
        kind: String,
        /// One resource's name.
        name: Option<String>,
        /// Print as a wide table, JSON or YAML.
        #[arg(short, long, value_enum)]
        output: Option<cluster::Output>,
        /// After the list, print every change as it happens.
        #[arg(short, long)]
        watch: bool,
        #[command(flatten)]
        place: cluster::Place,
        #[command(flatten)]
        connection: cluster::Connection,
    },
    /// Show one resource for a person: for a machine, its state, labels,
    /// inventory (GPUs by UUID), and recent events.
    #[cfg(feature = "cluster")]
    Describe {
        /// The kind (`machine`, `workload`, ...).
        kind: String,
        name: String,
        #[command(flatten)]
        place: cluster::Place,
        #[command(flatten)]
        connection: cluster::Connection,
    },
    /// Delete a resource, or those of files.
    #[cfg(feature = "cluster")]
    Delete {
        kind: Option<String>,
        name: Option<String>,
        /// Delete the resources these files define.
        #[arg(short = 'f', long = "filename", value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        place: cluster::Place,
        #[command(flatten)]
        connection: cluster::Connection,
    },
    /// Make, list and revoke API tokens.
    /// Start a dataflow on the cluster: the coordinator places it on a
    /// machine, whose daemon builds and runs it from the dataflow's folder
    /// (which must be at the same path there).
    #[cfg(feature = "cluster")]
    Start {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Its name (default: the file's name without extension).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Follow its output until it ends; Ctrl-C stops it.
        #[arg(long)]
        attach: bool,
        #[command(flatten)]
        place: cluster::Place,
        #[command(flatten)]
        connection: cluster::Connection,
    },
    /// Stop a dataflow that runs on the cluster.
    #[cfg(feature = "cluster")]
    Stop {
        #[arg(value_name = "NAME")]
        name: String,
        /// How long its nodes have after `Stop` before they are killed.
        #[arg(long, value_name = "DURATION")]
        grace: Option<dora_core::Duration>,
        #[command(flatten)]
        place: cluster::Place,
        #[command(flatten)]
        connection: cluster::Connection,
    },
    /// List the dataflows of the cluster: state, machine, nodes running.
    #[cfg(feature = "cluster")]
    List {
        #[command(flatten)]
        place: cluster::Place,
        #[command(flatten)]
        connection: cluster::Connection,
    },
    /// Run a dataflow node in a container and stand for it (the
    /// supervisor starts this for `driver: docker` nodes).
    #[cfg(feature = "cluster")]
    #[command(hide = true)]
    ContainerNode {
        #[arg(long)]
        image: String,
        #[arg(long)]
        name: String,
        /// The run's id.
        #[arg(long)]
        run: String,
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        #[arg(long = "mount", value_name = "FOLDER")]
        mounts: Vec<String>,
        /// The program in the image and its arguments (default: the
        /// image's command).
        #[arg(last = true)]
        cmd: Vec<String>,
    },
    /// Run a command in a workload's container: `dora exec workload/NAME
    /// -- COMMAND ARGS...`, with this terminal when it is one.
    #[cfg(feature = "cluster")]
    Exec {
        /// `workload/NAME`.
        #[arg(value_name = "WORKLOAD")]
        target: String,
        /// The replica to run it in (from 0; default 0).
        #[arg(long, value_name = "INDEX")]
        replica: Option<u32>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        cmd: Vec<String>,
        #[command(flatten)]
        place: cluster::Place,
        #[command(flatten)]
        connection: cluster::Connection,
    },
    /// Show what a dataflow's nodes printed, also after it ended; or,
    /// for `workload/NAME`, what a workload's containers printed.
    #[cfg(feature = "cluster")]
    Logs {
        /// A dataflow, or `workload/NAME`.
        #[arg(value_name = "NAME")]
        name: String,
        /// Only this node's lines.
        #[arg(value_name = "NODE")]
        node: Option<String>,
        /// Only this replica of the workload (from 0).
        #[arg(long, value_name = "INDEX")]
        replica: Option<u32>,
        /// Keep printing new lines until the dataflow ends.
        #[arg(short, long)]
        follow: bool,
        #[command(flatten)]
        place: cluster::Place,
        #[command(flatten)]
        connection: cluster::Connection,
    },
    #[cfg(feature = "cluster")]
    Token {
        #[command(subcommand)]
        command: cluster::TokenCommand,
        #[command(flatten)]
        connection: cluster::Connection,
    },
    /// Check a token against a coordinator and save both as a context.
    #[cfg(feature = "cluster")]
    Login {
        /// The coordinator's address (`https://host:7800`).
        address: String,
        #[arg(long, value_name = "TOKEN")]
        token: String,
        /// The cluster's CA certificate (`ca.pem` in its state folder).
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// The context's name (default: `default`).
        #[arg(long, value_name = "NAME")]
        context: Option<String>,
    },
    /// Switch and list the contexts that `dora login` saved.
    #[cfg(feature = "cluster")]
    Config {
        #[command(subcommand)]
        command: cluster::ConfigCommand,
    },
}

impl Command {
    /// Whether the command prints what it was asked and ends, so that a
    /// reader that goes away may end it: not one that runs nodes, serves,
    /// or stands for a process (they deal with a closed output
    /// themselves).
    fn prints_and_ends(&self) -> bool {
        match self {
            Command::Run { .. } | Command::New { .. } => false,
            #[cfg(feature = "cluster")]
            Command::Coordinator(_)
            | Command::Daemon(_)
            | Command::Up(_)
            | Command::Start { .. }
            | Command::ContainerNode { .. }
            | Command::Exec { .. } => false,
            _ => true,
        }
    }
}

/// Runs the command; the exit code says whether it succeeded.
pub fn run(cli: Cli) -> eyre::Result<ExitCode> {
    if cli.command.prints_and_ends() {
        // Like any Unix tool, a command whose reader went away (`| head`)
        // just ends, instead of failing to print.
        // SAFETY: setting a signal's disposition to the default.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match cli.command {
        Command::Check { files } => check::run(&files),
        Command::Graph { file, dot, html } => graph::run(&file, dot, html.as_deref()),
        Command::Schema { which } => schema::run(which),
        Command::New { name } => new::run(&name),
        #[cfg(feature = "cluster")]
        Command::Coordinator(args) => cluster::coordinator(args),
        #[cfg(feature = "cluster")]
        Command::Daemon(args) => cluster::daemon(args),
        #[cfg(feature = "cluster")]
        Command::Up(args) => cluster::up(args),
        #[cfg(feature = "cluster")]
        Command::Down(args) => cluster::down(args),
        #[cfg(feature = "cluster")]
        Command::Apply {
            files,
            values,
            place,
            connection,
        } => cluster::apply(&connection, &place, &files, &values),
        #[cfg(feature = "cluster")]
        Command::Get {
            kind,
            name,
            output,
            watch,
            place,
            connection,
        } => cluster::get(&connection, &place, &kind, name.as_deref(), output, watch),
        #[cfg(feature = "cluster")]
        Command::Describe {
            kind,
            name,
            place,
            connection,
        } => cluster::describe(&connection, &place, &kind, &name),
        #[cfg(feature = "cluster")]
        Command::Delete {
            kind,
            name,
            files,
            place,
            connection,
        } => cluster::delete(
            &connection,
            &place,
            kind.as_deref(),
            name.as_deref(),
            &files,
        ),
        #[cfg(feature = "cluster")]
        Command::Start {
            file,
            name,
            attach,
            place,
            connection,
        } => cluster::start(&connection, &place, &file, name.as_deref(), attach),
        #[cfg(feature = "cluster")]
        Command::Stop {
            name,
            grace,
            place,
            connection,
        } => cluster::stop(
            &connection,
            &place,
            &name,
            grace.map(dora_core::Duration::as_std),
        ),
        #[cfg(feature = "cluster")]
        Command::List { place, connection } => cluster::list(&connection, &place),
        #[cfg(feature = "cluster")]
        Command::Logs {
            name,
            node,
            replica,
            follow,
            place,
            connection,
        } => match name.strip_prefix("workload/") {
            Some(workload) => {
                if let Some(node) = node {
                    eyre::bail!(
                        "`{node}`: a workload has replicas, not nodes; give --replica INDEX"
                    );
                }
                cluster::workload_logs(&connection, &place, workload, replica, follow)
            }
            None if replica.is_some() => eyre::bail!(
                "--replica is for workloads: write `dora logs workload/{name} --replica INDEX`"
            ),
            None => cluster::logs(&connection, &place, &name, node.as_deref(), follow),
        },
        #[cfg(feature = "cluster")]
        Command::ContainerNode {
            image,
            name,
            run,
            env,
            mounts,
            cmd,
        } => cluster::container_node(image, name, run, env, mounts, cmd),
        #[cfg(feature = "cluster")]
        Command::Exec {
            target,
            replica,
            cmd,
            place,
            connection,
        } => cluster::exec(&connection, &place, &target, replica, cmd),
        #[cfg(feature = "cluster")]
        Command::Token {
            command,
            connection,
        } => cluster::token(&connection, &command),
        #[cfg(feature = "cluster")]
        Command::Login {
            address,
            token,
            ca,
            context,
        } => cluster::login(&address, &token, ca.as_deref(), context.as_deref()),
        #[cfg(feature = "cluster")]
        Command::Config { command } => cluster::config(&command),
        Command::Run {
            file,
            grace,
            stop_after,
        } => crate::run::run(
            &file,
            &crate::run::RunOptions {
                grace: grace.as_std(),
                stop_after: stop_after.map(dora_core::Duration::as_std),
                grace_at_stop: None,
            },
        ),
    }
}

/// The files that `paths` name: a folder stands for every `.yml` and
/// `.yaml` file under it, and must hold one.
pub fn expand_folders(paths: &[PathBuf]) -> eyre::Result<Vec<PathBuf>> {
    use eyre::WrapErr;
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let found = dora_core::check::yaml_files(path)
                .wrap_err_with(|| format!("cannot read the folder {}", path.display()))?;
            if found.is_empty() {
                eyre::bail!("the folder {} holds no .yml or .yaml file", path.display());
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
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

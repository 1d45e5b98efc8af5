//! Starting node processes and passing on what they print: each line gets
//! the node's id in front (coloured on a terminal) and also goes to the
//! node's log file in the run folder.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use dora_core::config::{NodeConfig, ENV_VAR};
use dora_core::descriptor::{Driver, Node, OperatorSource};

use super::logs::NodeLog;
use super::output::Printing;
use eyre::{bail, WrapErr};

/// Where a node's output and counts go, in the run folder.
pub struct NodeFiles {
    pub log: PathBuf,
    pub stats: PathBuf,
    /// The node's configuration, when it is too large for the environment.
    pub config: PathBuf,
}

impl NodeFiles {
    pub fn new(run_dir: &Path, node: &str) -> NodeFiles {
        NodeFiles {
            log: run_dir.join(format!("{node}.log")),
            stats: run_dir.join(format!("{node}.stats")),
            config: run_dir.join(format!("{node}.config.json")),
        }
    }
}

/// A started node process, and the passing on of its output.
pub struct NodeProcess {
    pub child: Child,
    printing: Printing,
    /// The container the process stands for (`driver: docker`).
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    container: Option<String>,
}

impl NodeProcess {
    /// Kills the process (if it still runs) and waits for it; a node in a
    /// container is removed with its container.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        #[cfg(feature = "cluster")]
        if let Some(name) = &self.container {
            crate::driver::node::remove(name);
        }
    }

    /// Waits at most `patience` for what the process printed to be passed
    /// on: a child it left behind may hold its pipes open.
    pub fn join_printers_for(&mut self, patience: std::time::Duration) {
        self.printing.wait_for(patience);
    }

    /// Waits until everything the process printed has been passed on.
    pub fn join_printers(&mut self) {
        self.printing.wait();
    }
}

/// A single environment variable holds at most 128 KiB; a configuration
/// larger than this goes in a file that the variable names.
const MAX_CONFIG_IN_ENV: usize = 32 * 1024;

fn config_value(config: &NodeConfig, files: &NodeFiles) -> eyre::Result<String> {
    let value = config.to_env_value();
    if value.len() <= MAX_CONFIG_IN_ENV {
        return Ok(value);
    }
    std::fs::write(&files.config, value)
        .wrap_err_with(|| format!("cannot write {}", files.config.display()))?;
    Ok(format!("@{}", files.config.display()))
}

/// The command that hosts a node's operators: `DORA_RUNTIME` when set (the
/// Python package's `dora` sets it to its own runtime, which also hosts
/// Python operators), else `dora-runtime`, built and installed beside
/// `dora`.
fn runtime_command(node: &Node) -> eyre::Result<Command> {
    let conda: BTreeSet<&str> = node
        .operators
        .iter()
        .filter_map(|o| o.python.as_ref()?.conda_env.as_deref())
        .collect();
    match conda.into_iter().collect::<Vec<_>>().as_slice() {
        [] => {}
        [env] => return conda_runtime(node, env),
        envs => bail!(
            "the operators of node `{}` ask for the conda environments {}, but they run in one process; give them one environment, or put them in nodes of their own",
            node.id,
            envs.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(" and ")
        ),
    }
    if let Ok(custom) = std::env::var("DORA_RUNTIME") {
        let words = shell_words::split(&custom)
            .wrap_err_with(|| format!("DORA_RUNTIME is not a valid command: {custom}"))?;
        let Some((program, args)) = words.split_first() else {
            bail!("DORA_RUNTIME is empty; unset it to use `dora-runtime`");
        };
        let mut command = Command::new(program);
        command.args(args);
        return Ok(command);
    }
    if let Some(operator) = node
        .operators
        .iter()
        .find(|o| matches!(o.source(), Some(OperatorSource::Python(_))))
    {
        bail!(
            "operator `{}` of node `{}` is a Python operator; run the dataflow with the `dora` command of the Python package (`pip install ./dora-python`)",
            operator.id,
            node.id
        );
    }
    let dora = std::env::current_exe().wrap_err("cannot find the `dora` program")?;
    let runtime = dora.with_file_name("dora-runtime");
    if !runtime.exists() {
        bail!(
            "node `{}` hosts operators, which run in `dora-runtime`, but {} does not exist; build it with `cargo build -p dora-runtime` (or add that to the node's `build`)",
            node.id,
            runtime.display()
        );
    }
    Ok(Command::new(runtime))
}

/// The runtime of a node whose Python operators run in conda environment
/// `env`: that environment's Python, with the `dora` package installed in
/// it, through `conda run`.
fn conda_runtime(node: &Node, env: &str) -> eyre::Result<Command> {
    let conda = std::env::var("CONDA_EXE").unwrap_or_else(|_| "conda".to_owned());
    let found = Command::new(&conda)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        bail!(
            "node `{}` runs its Python operators in the conda environment `{env}`, but `{conda}` cannot be started; install conda (with `pip install ./dora-python` in that environment), or remove `conda_env` to use the Python that runs `dora`",
            node.id
        );
    }
    let mut command = Command::new(conda);
    command.args([
        "run",
        "--no-capture-output",
        "-n",
        env,
        "python",
        "-m",
        "dora.runtime",
    ]);
    Ok(command)
}

/// The Python that runs `.py` nodes: `DORA_PYTHON` when set (the Python
/// package's `dora` sets it to its own interpreter), else `python3`.
fn python() -> String {
    std::env::var("DORA_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Checks, before anything starts, that the Python which runs the
/// dataflow's `.py` nodes can import the `dora` package: without it every
/// such node would fail at its first line, each with its own traceback.
pub fn check_python(nodes: &[Node]) -> eyre::Result<()> {
    let python_nodes: Vec<&str> = nodes
        .iter()
        .filter(|n| !n.is_runtime() && n.path.as_deref().is_some_and(|p| p.ends_with(".py")))
        .map(|n| n.id.as_str())
        .collect();
    let Some(first) = python_nodes.first() else {
        return Ok(());
    };
    let named: Vec<String> = python_nodes
        .iter()
        .take(3)
        .map(|id| format!("`{id}`"))
        .collect();
    let nodes = match python_nodes.len() {
        1 => format!("node `{first}`"),
        n if n <= 3 => format!("nodes {}", named.join(", ")),
        n => format!("nodes {} and {} more", named.join(", "), n - 3),
    };
    let python = python();
    let fix = "install the package into that Python with `pip install ./dora-python` (from dora's source tree), or set DORA_PYTHON to a Python that has it";
    let output = Command::new(&python)
        .args([
            "-c",
            "import sys; print(sys.executable, sys.version.split()[0]); import dora",
        ])
        .stdin(Stdio::null())
        .output()
        .wrap_err_with(|| {
            format!("{nodes} run with `{python}`, which cannot be started; install Python 3, or set DORA_PYTHON to the Python to use")
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let which = match stdout.split_once(' ') {
        Some((path, version)) => format!("{path} (Python {})", version.trim()),
        None => python,
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reason = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("it exited with an error");
    bail!("{nodes} run with {which}, which cannot import the `dora` package ({reason}); {fix}")
}

/// The command that runs a node: its program, or Python for a `.py` file.
fn command(node: &Node, dir: &Path) -> eyre::Result<Command> {
    if node.is_runtime() {
        return runtime_command(node);
    }
    let Some(path) = &node.path else {
        bail!("node `{}` has no `path` to run", node.id);
    };
    // A program from git is in its clone, even by a bare name.
    let local = path.contains('/') || path.ends_with(".py") || node.git.is_some();
    let program: PathBuf = if local {
        dir.join(path)
    } else {
        PathBuf::from(path)
    };
    let mut command = if path.ends_with(".py") {
        let mut python = Command::new(python());
        python.arg(&program);
        python
    } else {
        Command::new(&program)
    };
    command.args(&node.args.0);
    Ok(command)
}

/// The command that runs a `driver: docker` node: `dora container-node`,
/// which stands for the node's container (see `driver/node.rs`), with
/// the node's environment and the run folder passed on.
#[cfg(feature = "cluster")]
fn container_command(
    node: &Node,
    config: &NodeConfig,
    files: &NodeFiles,
    env: &[(String, String)],
) -> eyre::Result<Command> {
    let Some(image) = &node.image else {
        bail!(
            "node `{}` uses the docker driver: give its `image`",
            node.id
        );
    };
    let dora = std::env::current_exe().wrap_err("cannot find the `dora` program")?;
    let name = container_name(config, node);
    let mut command = Command::new(dora);
    command.args(["container-node", "--image", image, "--name", &name]);
    command.args(["--run", &config.dataflow_id]);
    if let Some(run_dir) = files.stats.parent() {
        command.arg("--mount").arg(run_dir);
    }
    for (key, value) in env {
        command.arg("--env").arg(format!("{key}={value}"));
    }
    // Without `path`, the image's own command runs.
    if let Some(path) = &node.path {
        command.arg("--").arg(path).args(&node.args.0);
    }
    Ok(command)
}

/// The name of a `driver: docker` node's container, unique on the
/// machine: its run and its id.
fn container_name(config: &NodeConfig, node: &Node) -> String {
    dora_core::id::safe_name(&format!("dora-{}-{}", config.dataflow_id, node.id))
}

/// Without the cluster's parts (the Python package's `dora`), there is no
/// Docker driver.
#[cfg(not(feature = "cluster"))]
fn container_command(
    node: &Node,
    _config: &NodeConfig,
    _files: &NodeFiles,
    _env: &[(String, String)],
) -> eyre::Result<Command> {
    bail!(
        "node `{}` uses the docker driver, which this `dora` (the Python package's) does not have; run the dataflow with the `dora` program built from the repository (`cargo install`), or use `driver: process`",
        node.id
    )
}

/// Starts `node` with its configuration in the environment, in a process
/// group of its own so that Ctrl-C reaches `dora run` alone (which then
/// stops every node the orderly way).
pub fn spawn(
    node: &Node,
    config: &NodeConfig,
    dir: &Path,
    files: &NodeFiles,
    prefix: String,
    out: &super::out::Out,
    relay: Option<super::relay::RelayLine>,
) -> eyre::Result<NodeProcess> {
    let mut env: Vec<(String, String)> = node
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    env.push((ENV_VAR.to_owned(), config_value(config, files)?));
    // Python nodes and runtimes print line by line, as they go.
    env.push(("PYTHONUNBUFFERED".to_owned(), "1".to_owned()));
    env.push((
        dora_node_api::stats::ENV_VAR.to_owned(),
        files.stats.display().to_string(),
    ));
    let mut command = if node.driver == Driver::Docker {
        container_command(node, config, files, &env)?
    } else {
        let mut command = command(node, dir)?;
        command.envs(env);
        command
    };
    command
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let cores = cpu_set(&node.cpu_affinity)
        .wrap_err_with(|| format!("cannot pin node `{}` to its `cpu_affinity`", node.id))?;
    die_with_launcher(&mut command, cores);
    // Appended to, so that a restarted node's output follows its earlier
    // output.
    let log = NodeLog::new(node, files.log.clone(), relay)
        .wrap_err_with(|| format!("cannot create the log file {}", files.log.display()))?;
    let mut child = command.spawn().wrap_err_with(|| {
        format!(
            "cannot start node `{}` ({:?}); check its `path` and that it was built",
            node.id,
            command.get_program()
        )
    })?;
    let mut streams = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        streams.push((OwnedFd::from(stdout), Stream::Stdout));
    }
    if let Some(stderr) = child.stderr.take() {
        streams.push((OwnedFd::from(stderr), Stream::Stderr));
    }
    let printing = match super::output::pass(streams, node.id.as_str(), &prefix, log, out) {
        Ok(printing) => printing,
        Err(error) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(error)
                .wrap_err_with(|| format!("cannot pass on what node `{}` prints", node.id));
        }
    };
    let container = (node.driver == Driver::Docker).then(|| container_name(config, node));
    Ok(NodeProcess {
        child,
        printing,
        container,
    })
}

/// The cores this process may run on, which are those `dora run` may pin
/// nodes to.
pub fn allowed_cores() -> eyre::Result<BTreeSet<usize>> {
    // SAFETY: an all-zero `cpu_set_t` is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid `cpu_set_t` of the size given.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) } != 0 {
        return Err(std::io::Error::last_os_error())
            .wrap_err("cannot read which cores this process may run on");
    }
    // SAFETY: `set` is initialised and every core asked about is below
    // `CPU_SETSIZE`.
    Ok((0..libc::CPU_SETSIZE as usize)
        .filter(|&core| unsafe { libc::CPU_ISSET(core, &set) })
        .collect())
}

/// The set of `cores` for `sched_setaffinity`, or `None` for a node not
/// pinned. Built before the fork: nothing may allocate between fork and
/// exec. The cores were checked against [`allowed_cores`] with the rest
/// of the dataflow; one out of range here is still an error, not a panic.
fn cpu_set(cores: &[usize]) -> eyre::Result<Option<libc::cpu_set_t>> {
    if cores.is_empty() {
        return Ok(None);
    }
    // SAFETY: an all-zero `cpu_set_t` is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &core in cores {
        if core >= libc::CPU_SETSIZE as usize {
            bail!(
                "core {core} is beyond the {} cores the kernel's CPU sets can name",
                libc::CPU_SETSIZE
            );
        }
        // SAFETY: `core` is below `CPU_SETSIZE`, so within the set.
        unsafe { libc::CPU_SET(core, &mut set) };
    }
    Ok(Some(set))
}

/// Between fork and exec, before the node runs any code of its own: the
/// node is killed when `dora run` dies, even by SIGKILL (without this,
/// nodes in their own process group would outlive it), and it is pinned
/// to `cores` when it has any.
fn die_with_launcher(command: &mut Command, cores: Option<libc::cpu_set_t>) {
    let launcher = std::process::id();
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe calls (prctl, getppid, sched_setaffinity); the CPU
    // set was built before the fork and is only read here.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The launcher may have died before the request was made.
            // (No allocation here: another thread may hold malloc's lock.)
            if libc::getppid() as u32 != launcher {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            if let Some(cores) = &cores {
                if libc::sched_setaffinity(0, std::mem::size_of_val(cores), cores) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Held while a prefixed line is written, by the printers of every node
/// and both streams: when stdout and stderr go to one file (`2>&1`), a
/// line from one stream cannot land inside a line from the other.
static PRINT: Mutex<()> = Mutex::new(());

/// One of the two streams `dora run` passes node output on to.
#[derive(Clone, Copy)]
pub(super) enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// Whether this stream gets colours: on a terminal, unless `NO_COLOR`
    /// or `CLICOLOR` says otherwise (or `CLICOLOR_FORCE` asks for them
    /// anyway), as anstream decides for the rest of `dora`.
    pub(super) fn colours(self) -> bool {
        let choice = match self {
            Stream::Stdout => anstream::AutoStream::choice(&std::io::stdout()),
            Stream::Stderr => anstream::AutoStream::choice(&std::io::stderr()),
        };
        choice != anstream::ColorChoice::Never
    }

    /// Writes `line` in a single write, so that it is never split around
    /// what another process or thread writes to the same file.
    pub(super) fn write_line(self, line: &[u8]) -> std::io::Result<()> {
        let _whole = PRINT
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match self {
            Stream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(line)?;
                out.flush()
            }
            Stream::Stderr => std::io::stderr().lock().write_all(line),
        }
    }
}

/// Prints a line of `dora run`'s own on stderr while nodes may be
/// printing: in one write, under the printers' lock, so that it is not
/// spliced into a node's line (`eprintln!` writes in pieces).
pub fn say(text: &str) {
    let _ = Stream::Stderr.write_line(format!("{text}\n").as_bytes());
}

/// The line that `dora run` prints for `text`, a line a node printed:
/// `prefix` in front, a newline at the end, and no colour codes (the
/// node's own included) when `colours` is false.
pub(super) fn prefixed_line(prefix: &str, text: &str, colours: bool) -> Vec<u8> {
    // A record's message may hold several lines (a Python traceback): each
    // gets the prefix.
    let line = match text.contains('\n') {
        true => format!("{prefix}{}\n", text.replace('\n', &format!("\n{prefix}"))),
        false => format!("{prefix}{text}\n"),
    };
    if colours {
        line.into_bytes()
    } else {
        anstream::adapter::strip_str(&line).to_string().into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::prefixed_line;

    #[test]
    fn every_line_of_a_message_of_several_gets_the_prefix() {
        assert_eq!(
            prefixed_line("py | ", "failed\nTraceback\n  line 3", false),
            b"py | failed\npy | Traceback\npy |   line 3\n"
        );
    }

    #[test]
    fn a_line_without_colours_loses_every_colour_code() {
        let style = anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Cyan.into()));
        let prefix = format!("{style}rt |{style:#} ");
        let text = "\u{1b}[31mred\u{1b}[0m text";
        assert_eq!(prefixed_line(&prefix, text, false), b"rt | red text\n");
        assert_eq!(
            prefixed_line(&prefix, text, true),
            format!("{prefix}{text}\n").into_bytes()
        );
    }
}

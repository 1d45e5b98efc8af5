//! `dora up` and `dora down`: a coordinator and this machine's daemon in
//! the background, for one machine or a first try, with their state and
//! logs in the user's data folder.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use eyre::{bail, eyre, WrapErr};
use hyper::Method;
use serde::{Deserialize, Serialize};

use super::context::save_context;
use super::home_dir;
use crate::client::Client;

/// `dora up`'s arguments.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Where the coordinator's and the daemon's state and logs are kept
    /// (default: ~/.local/share/dora/cluster).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The coordinator's API address.
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:7800")]
    listen: SocketAddr,
    /// Where the daemon reaches the coordinator's control plane.
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:7447")]
    control_listen: SocketAddr,
    /// This machine's name in the cluster (default: its host name).
    #[arg(long, value_name = "NAME")]
    machine: Option<String>,
}

/// `dora down`'s arguments.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// The folder `dora up` used.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

/// What `dora up` started, in `up.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Up {
    coordinator: u32,
    daemon: u32,
    address: String,
}

/// How long `dora up` waits for the coordinator to serve and the machine
/// to be Ready.
const START_WAIT: Duration = Duration::from_secs(30);
/// How long `dora down` waits for each process after SIGTERM.
const STOP_WAIT: Duration = Duration::from_secs(5);

fn state_dir(given: Option<PathBuf>) -> eyre::Result<PathBuf> {
    match given {
        Some(dir) => Ok(dir),
        None => Ok(home_dir("XDG_DATA_HOME", ".local/share")?.join("dora/cluster")),
    }
}

/// Whether process `pid` runs: it exists and is not a zombie waiting to be
/// reaped (which may take long where no init reaps orphans).
fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the command name, which is in parentheses.
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    pid > 0 && matches!(state, Some(s) if s != 'Z' && s != 'X')
}

/// Starts `dora ARGS` in the background, in a process group of its own
/// (Ctrl-C in this terminal leaves it running), its output in `log`.
fn spawn(args: &[String], log: &Path) -> eyre::Result<std::process::Child> {
    let exe = std::env::current_exe().wrap_err("cannot find the `dora` program")?;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .wrap_err_with(|| format!("cannot write {}", log.display()))?;
    Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .process_group(0)
        .spawn()
        .wrap_err_with(|| format!("cannot start `dora {}`", args[0]))
}

/// Waits until `ready` or the process exits; an error that shows the end of
/// its log when it exits or takes too long.
fn wait_for(
    child: &mut std::process::Child,
    log: &Path,
    what: &str,
    mut ready: impl FnMut() -> bool,
) -> eyre::Result<()> {
    let start = Instant::now();
    loop {
        if ready() {
            return Ok(());
        }
        let ended = child.try_wait()?;
        if ended.is_some() || start.elapsed() > START_WAIT {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            let how = match ended {
                Some(status) => format!("exited ({status})"),
                None => format!("was not ready within {}s", START_WAIT.as_secs()),
            };
            let _ = child.kill();
            bail!(
                "the {what} {how}; the end of {}:\n{}",
                log.display(),
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = dora_core::id::safe_name(name.trim());
    if name.is_empty() {
        "localhost".to_owned()
    } else {
        name
    }
}

/// `dora up`.
pub fn up(args: UpArgs) -> eyre::Result<ExitCode> {
    let dir = state_dir(args.state_dir)?;
    std::fs::create_dir_all(&dir).wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    let record = dir.join("up.json");
    // A daemon still running (its coordinator was killed) is kept: its
    // dataflows ran on meanwhile, and it reconnects by itself.
    let mut running_daemon = None;
    if let Ok(text) = std::fs::read_to_string(&record) {
        if let Ok(up) = serde_json::from_str::<Up>(&text) {
            if alive(up.coordinator) {
                bail!(
                    "dora is up already: the coordinator at {} (process {}); `dora down` stops it",
                    up.address,
                    up.coordinator
                );
            }
            running_daemon = alive(up.daemon).then_some(up.daemon);
        }
    }
    let coordinator_dir = dir.join("coordinator");
    let address = format!("https://{}", args.listen);
    let coordinator_log = dir.join("coordinator.log");
    let mut coordinator = spawn(
        &[
            "coordinator".to_owned(),
            "--state-dir".to_owned(),
            coordinator_dir.display().to_string(),
            "--listen".to_owned(),
            args.listen.to_string(),
            "--control-listen".to_owned(),
            args.control_listen.to_string(),
        ],
        &coordinator_log,
    )?;
    let (ca, token_file) = (
        coordinator_dir.join("ca.pem"),
        coordinator_dir.join("admin.token"),
    );
    let admin = |token: &str| Client::new(&address, token.to_owned(), Some(ca.clone()));
    let mut token = String::new();
    wait_for(&mut coordinator, &coordinator_log, "coordinator", || {
        let Ok(text) = std::fs::read_to_string(&token_file) else {
            return false;
        };
        token = text.trim().to_owned();
        ca.exists()
            && admin(&token)
                .and_then(|c| c.call(Method::GET, "/api/v1/whoami", None))
                .is_ok_and(|a| a.status.is_success())
    })?;
    let client = admin(&token)?;
    let machine = args.machine.unwrap_or_else(host_name);
    let daemon_dir = dir.join("daemon");
    let mut daemon_args = vec![
        "daemon".to_owned(),
        "--coordinator".to_owned(),
        address.clone(),
        "--machine".to_owned(),
        machine.clone(),
        "--ca".to_owned(),
        ca.display().to_string(),
        "--state-dir".to_owned(),
        daemon_dir.display().to_string(),
    ];
    if !daemon_dir.join("joined.json").exists() {
        let answer = client.call(
            Method::POST,
            "/api/v1/tokens",
            Some((
                "application/json",
                br#"{"join_zone": "default", "ttl": "10m"}"#.to_vec(),
            )),
        )?;
        let join = answer.body["token"]
            .as_str()
            .ok_or_else(|| eyre!("the coordinator made no join token: {}", answer.body))?;
        daemon_args.extend(["--join-token".to_owned(), join.to_owned()]);
    }
    let daemon_log = dir.join("daemon.log");
    let machine_path = format!("/api/v1/resources/machines/{machine}");
    let ready = || {
        client
            .call(Method::GET, &machine_path, None)
            .is_ok_and(|a| a.body["status"]["state"] == "Ready")
    };
    let daemon = match running_daemon {
        Some(pid) => {
            let deadline = std::time::Instant::now() + START_WAIT;
            while !ready() {
                if std::time::Instant::now() > deadline || !alive(pid) {
                    bail!(
                        "the daemon left running (process {pid}) did not come back to the new coordinator; see {}",
                        daemon_log.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!(
                "the daemon was still running (process {pid}); the new coordinator took it back"
            );
            pid
        }
        None => {
            let mut daemon = spawn(&daemon_args, &daemon_log)?;
            wait_for(&mut daemon, &daemon_log, "daemon", ready)?;
            daemon.id()
        }
    };
    let up = Up {
        coordinator: coordinator.id(),
        daemon,
        address: address.clone(),
    };
    std::fs::write(&record, serde_json::to_string_pretty(&up)?)
        .wrap_err_with(|| format!("cannot write {}", record.display()))?;
    let config = save_context("local", &address, &token, Some(ca))?;
    println!(
        "coordinator at {address} (admin token in {}; logs in {})",
        token_file.display(),
        dir.display()
    );
    println!("machine `{machine}` joined and is Ready");
    println!(
        "context `local` saved in {} and made current: try `dora get machines`; `dora down` stops both",
        config.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `dora down`.
pub fn down(args: DownArgs) -> eyre::Result<ExitCode> {
    let dir = state_dir(args.state_dir)?;
    let record = dir.join("up.json");
    let text = std::fs::read_to_string(&record)
        .map_err(|_| eyre!("dora is not up here: {} does not exist", record.display()))?;
    let up: Up = serde_json::from_str(&text).wrap_err_with(|| {
        format!(
            "{} is damaged; stop the processes by hand",
            record.display()
        )
    })?;
    for (what, pid) in [("daemon", up.daemon), ("coordinator", up.coordinator)] {
        if !alive(pid) {
            println!("the {what} (process {pid}) had already ended");
            continue;
        }
        // SAFETY: sends SIGTERM to a process this command's `up` started.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let start = Instant::now();
        while alive(pid) && start.elapsed() < STOP_WAIT {
            std::thread::sleep(Duration::from_millis(20));
        }
        if alive(pid) {
            // SAFETY: as above; it did not end by itself.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            println!(
                "the {what} (process {pid}) did not stop within {}s and was killed",
                STOP_WAIT.as_secs()
            );
        } else {
            println!("the {what} (process {pid}) stopped");
        }
    }
    std::fs::remove_file(&record)
        .wrap_err_with(|| format!("cannot remove {}", record.display()))?;
    Ok(ExitCode::SUCCESS)
}

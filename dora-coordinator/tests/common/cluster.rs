//! A cluster made of real processes: a coordinator on loopback, daemons
//! that join it, and `dora` commands against it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::text;

fn dora() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dora"))
}

pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dora-coord-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A coordinator process, killed with SIGKILL when dropped.
pub struct Coordinator {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub token: String,
}

impl Coordinator {
    /// Starts one on a free loopback port with `extra` arguments.
    pub fn start(dir: &Path, extra: &[&str]) -> Coordinator {
        let mut command = dora();
        command
            .args(["coordinator", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(dir)
            .args(extra);
        if !extra.contains(&"--control-listen") {
            command
                .arg("--control-listen")
                .arg(format!("127.0.0.1:{}", free_port()));
        }
        let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let port = line
            .split("://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split([' ', ',']).next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no address in: {line}"));
        // Whatever it says later goes on to the test's stderr.
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = stderr.read_to_string(&mut rest);
            eprint!("{rest}");
        });
        let token = std::fs::read_to_string(dir.join("admin.token"))
            .unwrap()
            .trim()
            .to_owned();
        Coordinator {
            child,
            port,
            dir: dir.to_owned(),
            token,
        }
    }

    pub fn address(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Runs `dora ARGS` against this coordinator (plain HTTP).
    pub fn cli(&self, args: &[&str]) -> Output {
        dora()
            .args(args)
            .env("DORA_COORDINATOR", self.address("http"))
            .env("DORA_TOKEN", &self.token)
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .output()
            .unwrap()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1.1 request on a new connection; the status and JSON body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, serde_json::Value) {
    try_http(port, method, path, token, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Like [`http`]; an error when the coordinator is gone.
pub fn try_http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> std::io::Result<(u16, serde_json::Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let kind = if body.starts_with(b"{") {
        "application/json"
    } else {
        "application/yaml"
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    // A server may answer (413) before reading a large body, and close.
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = text(&answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in: {answer:?}")))?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    ))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A daemon process, killed with SIGKILL when dropped.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `dora daemon` for `machine`, with the simulated GPUs of
/// `gpus-MACHINE.yml` in the coordinator's folder, or else of `gpus.yml`.
pub fn daemon(
    coordinator: &Coordinator,
    machine: &str,
    zone: &str,
    token: Option<&str>,
) -> Command {
    let own = coordinator.dir.join(format!("gpus-{machine}.yml"));
    let inventory = if own.exists() {
        own
    } else {
        coordinator.dir.join("gpus.yml")
    };
    let mut command = dora();
    command
        .args(["daemon", "--coordinator", &coordinator.address("https")])
        .args(["--machine", machine, "--zone", zone])
        .arg("--ca")
        .arg(coordinator.dir.join("ca.pem"))
        .arg("--state-dir")
        .arg(coordinator.dir.join(format!("daemon-{machine}")))
        .args(["--inventory"])
        .arg(inventory);
    if let Some(token) = token {
        command.args(["--join-token", token]);
    }
    command
}

/// `dora ARGS` against a coordinator that serves https with its own CA.
pub fn secure_cli(coordinator: &Coordinator, args: &[&str]) -> Output {
    secure_command(coordinator, args).output().unwrap()
}

/// `dora ARGS` against a coordinator that serves https, not yet run.
pub fn secure_command(coordinator: &Coordinator, args: &[&str]) -> Command {
    let mut command = dora();
    command
        .args(args)
        .args([
            "--coordinator",
            &coordinator.address("https"),
            "--token",
            &coordinator.token,
        ])
        .arg("--ca")
        .arg(coordinator.dir.join("ca.pem"))
        .env("XDG_CONFIG_HOME", coordinator.dir.join("config"));
    command
}

/// The `dora list` row of dataflow `name`, split into its words.
pub fn listed(coordinator: &Coordinator, name: &str) -> Vec<String> {
    let output = secure_cli(coordinator, &["list"]);
    text(&output.stdout)
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|words| words.first().is_some_and(|w| w == name))
        .unwrap_or_default()
}

/// Waits until dataflow `name` is in `state`; its `dora list` row. Fails
/// after 60 s, with the dataflow's log.
pub fn wait_for_dataflow(coordinator: &Coordinator, name: &str, state: &str) -> Vec<String> {
    let start = Instant::now();
    loop {
        let row = listed(coordinator, name);
        if row.get(2).is_some_and(|s| s == state) {
            return row;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "dataflow `{name}` is not {state}: {row:?}\n{}",
            text(&secure_cli(coordinator, &["logs", name]).stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A scratch dataflow of `yaml` with `COUNT` and `WAIT` (milliseconds)
/// filled in.
pub fn counted_dataflow(name: &str, yaml: &str, count: u64, wait_ms: u64) -> PathBuf {
    super::scratch_dataflow(
        name,
        &yaml
            .replace("COUNT", &count.to_string())
            .replace("WAIT", &wait_ms.to_string()),
    )
}

/// The machine's state as the coordinator has it.
pub fn machine_state(coordinator: &Coordinator, zone: &str, machine: &str) -> String {
    let output = secure_cli(
        coordinator,
        &["get", "machine", machine, "--zone", zone, "-o", "json"],
    );
    let body: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    body["status"]["state"]
        .as_str()
        .unwrap_or("absent")
        .to_owned()
}

/// How long until the machine shows `state`; fails after 20 s.
pub fn wait_for_state(
    coordinator: &Coordinator,
    zone: &str,
    machine: &str,
    state: &str,
) -> Duration {
    let start = Instant::now();
    while machine_state(coordinator, zone, machine) != state {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "`{machine}` is {}, not {state}",
            machine_state(coordinator, zone, machine)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

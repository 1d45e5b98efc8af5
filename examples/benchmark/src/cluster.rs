//! The coordinator: how long an acknowledged apply takes over the HTTP API,
//! how long a restart takes until it serves again with many resources
//! stored, how much memory it then holds, and how long a machine whose
//! daemon is killed takes to show `NotReady`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::AnyResult;

/// Applies timed one by one.
const APPLIES: usize = 1000;
/// Resources stored before the restart is timed.
const STORED: usize = 100_000;
/// Resources per apply while filling the store.
const BATCH: usize = 1000;
/// Daemon kills timed.
const KILLS: usize = 5;
/// Machines present at once, for the coordinator's memory.
const MACHINES: usize = 10_000;

pub(crate) struct Coordinator {
    pub(crate) child: Child,
    pub(crate) port: u16,
    pub(crate) token: String,
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start(dora: &Path, dir: &Path, control: u16) -> AnyResult<Coordinator> {
    let mut child = Command::new(dora)
        .args([
            "coordinator",
            "--no-tls",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
        ])
        .arg(dir)
        .args(["--control-listen", &format!("127.0.0.1:{control}")])
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", dora.display()))?;
    let mut stderr = BufReader::new(child.stderr.take().ok_or("no stderr")?);
    let mut line = String::new();
    stderr.read_line(&mut line)?;
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let port = line
        .split("://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split([' ', ',']).next())
        .and_then(|port| port.parse().ok())
        .ok_or_else(|| format!("the coordinator did not start: {line}"))?;
    let token = std::fs::read_to_string(dir.join("admin.token"))?
        .trim()
        .to_owned();
    Ok(Coordinator { child, port, token })
}

/// One request on a new connection: the status and the body.
pub(crate) fn http(
    port: u16,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> AnyResult<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_nodelay(true)?;
    let kind = if body.starts_with('{') {
        "application/json"
    } else {
        "application/yaml"
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no HTTP status")?;
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

fn volume(name: &str) -> String {
    format!("apiVersion: v1\nkind: Volume\nmetadata: {{ name: {name}, workspace: bench }}\nspec: {{ storage: disk }}\n")
}

pub(crate) fn free_port() -> AnyResult<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The `dora` program beside `exe`, and an empty scratch folder for
/// benchmark `name`.
pub(crate) fn dora_and_scratch(exe: &Path, name: &str) -> AnyResult<(PathBuf, PathBuf)> {
    let dora = exe.with_file_name("dora");
    if !dora.exists() {
        return Err(format!(
            "{} is missing; build it with `cargo build --release -p dora-coordinator`",
            dora.display()
        )
        .into());
    }
    let dir = std::env::temp_dir().join(format!("dora-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok((dora, dir))
}

/// Runs the cluster benchmark with the `dora` program beside this one.
pub fn run(exe: &Path) -> AnyResult<()> {
    let (dora, dir) = dora_and_scratch(exe, "cluster")?;
    let control = free_port()?;
    let coordinator = start(&dora, &dir, control)?;

    let mut applies = Vec::with_capacity(APPLIES);
    for i in 0..APPLIES {
        let body = volume(&format!("one-{i}"));
        let start = Instant::now();
        let (status, answer) = http(
            coordinator.port,
            "POST",
            "/api/v1/apply",
            &coordinator.token,
            &body,
        )?;
        applies.push(start.elapsed().as_secs_f64() * 1e3);
        if status != 200 {
            return Err(format!("an apply failed ({status}): {answer}").into());
        }
    }
    applies.sort_by(f64::total_cmp);

    let fill = Instant::now();
    for batch in 0..STORED / BATCH {
        let body: Vec<String> = (0..BATCH)
            .map(|i| volume(&format!("many-{batch}-{i}")))
            .collect();
        let (status, answer) = http(
            coordinator.port,
            "POST",
            "/api/v1/apply",
            &coordinator.token,
            &body.join("---\n"),
        )?;
        if status != 200 {
            return Err(format!("a batch apply failed ({status}): {answer}").into());
        }
    }
    let fill = fill.elapsed().as_secs_f64();
    let rss_full = rss_mib(coordinator.child.id());
    drop(coordinator);
    let restart = Instant::now();
    let coordinator = start(&dora, &dir, control)?;
    loop {
        if let Ok((200, _)) = http(
            coordinator.port,
            "GET",
            "/api/v1/whoami",
            &coordinator.token,
            "",
        ) {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let restart = restart.elapsed().as_secs_f64() * 1e3;
    let (_, listed) = http(
        coordinator.port,
        "GET",
        "/api/v1/resources/volumes?workspace=bench",
        &coordinator.token,
        "",
    )?;
    let stored = listed.matches("\"apiVersion\":").count();
    let rss_listed = rss_mib(coordinator.child.id());

    let losses = loss_detection(&dora, &dir, &coordinator)?;
    let (fleet_ready, rss_fleet) = many_machines(&dora, &dir, &coordinator)?;
    drop(coordinator);
    std::fs::remove_dir_all(&dir)?;

    println!("coordinator (HTTP API on loopback, no TLS; state in redb)");
    println!("  apply, acknowledged, one resource each ({APPLIES}): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&applies, 0.5), percentile(&applies, 0.99), percentile(&applies, 1.0));
    println!(
        "  {STORED} resources stored in {:.1} s ({} per apply)",
        fill, BATCH
    );
    println!("  restart until serving with {stored} resources: {restart:.0} ms");
    println!("  resident memory: {rss_full:.0} MiB after storing them, {rss_listed:.0} MiB after a restart and a list of all");
    println!(
        "  {MACHINES} more machines present (simulated on one daemon's link): all Ready after {fleet_ready:.1} s; resident memory then {rss_fleet:.0} MiB"
    );
    let mut losses = losses;
    losses.sort_by(f64::total_cmp);
    println!(
        "  machine loss (daemon killed with SIGKILL) to NotReady, {KILLS} runs: min {:.0} ms, median {:.0} ms, max {:.0} ms",
        losses[0],
        percentile(&losses, 0.5),
        losses[losses.len() - 1]
    );
    Ok(())
}

/// Joins a daemon, kills it, and times until its machine is NotReady.
fn loss_detection(dora: &Path, dir: &Path, coordinator: &Coordinator) -> AnyResult<Vec<f64>> {
    let token = join_token(coordinator, "bench")?;
    let state = |port: u16, token: &str| -> AnyResult<String> {
        let (_, body) = http(
            port,
            "GET",
            "/api/v1/resources/machines/bench-1?zone=bench",
            token,
            "",
        )?;
        Ok(body
            .split("\"state\":\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("absent")
            .to_owned())
    };
    let mut times = Vec::with_capacity(KILLS);
    for _ in 0..KILLS {
        let mut daemon = Command::new(dora)
            .args([
                "daemon",
                "--coordinator",
                &format!("http://127.0.0.1:{}", coordinator.port),
            ])
            .args([
                "--machine",
                "bench-1",
                "--zone",
                "bench",
                "--join-token",
                &token,
                "--state-dir",
            ])
            .arg(dir.join("daemon"))
            .stderr(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while state(coordinator.port, &coordinator.token)? != "Ready" {
            if Instant::now() > deadline {
                return Err("the daemon did not become Ready within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let killed = Instant::now();
        daemon.kill()?;
        daemon.wait()?;
        while state(coordinator.port, &coordinator.token)? != "NotReady" {
            if killed.elapsed() > Duration::from_secs(30) {
                return Err("the machine did not become NotReady within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        times.push(killed.elapsed().as_secs_f64() * 1e3);
    }
    Ok(times)
}

/// Records `MACHINES` machines, has one daemon present them all on its
/// link, and returns how long until all were Ready, in seconds, and the
/// coordinator's resident memory then, in MiB.
fn many_machines(dora: &Path, dir: &Path, coordinator: &Coordinator) -> AnyResult<(f64, f64)> {
    let (ready, _daemon) = present(dora, dir, coordinator, "fleet", MACHINES)?;
    Ok((ready, rss_mib(coordinator.child.id())))
}

/// A daemon process, killed when dropped.
pub(crate) struct Daemon(pub(crate) Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Records `count` machines in `zone` and has one daemon (machine `zone`)
/// present them all on its link; returns how long until all were Ready,
/// in seconds, and the daemon.
pub(crate) fn present(
    dora: &Path,
    dir: &Path,
    coordinator: &Coordinator,
    zone: &str,
    count: usize,
) -> AnyResult<(f64, Daemon)> {
    for batch in 0..count.div_ceil(BATCH) {
        let body: Vec<String> = (batch * BATCH..((batch + 1) * BATCH).min(count))
            .map(|i| {
                format!(
                    "apiVersion: v1\nkind: Node\nmetadata: {{ name: {zone}-sim-{i}, zone: {zone} }}\nspec: {{}}\n"
                )
            })
            .collect();
        let (status, answer) = http(
            coordinator.port,
            "POST",
            "/api/v1/apply",
            &coordinator.token,
            &body.join("---\n"),
        )?;
        if status != 200 {
            return Err(format!("cannot record the machines ({status}): {answer}").into());
        }
    }
    let token = join_token(coordinator, zone)?;
    let start = Instant::now();
    let daemon = Daemon(
        Command::new(dora)
            .args([
                "daemon",
                "--coordinator",
                &format!("http://127.0.0.1:{}", coordinator.port),
            ])
            .args(["--machine", zone, "--zone", zone, "--join-token", &token])
            .args(["--simulate", &count.to_string(), "--state-dir"])
            .arg(dir.join(zone))
            .stderr(Stdio::null())
            .spawn()?,
    );
    loop {
        let (_, body) = http(
            coordinator.port,
            "GET",
            &format!("/api/v1/resources/machines?zone={zone}"),
            &coordinator.token,
            "",
        )?;
        if body.matches("\"state\":\"Ready\"").count() > count {
            return Ok((start.elapsed().as_secs_f64(), daemon));
        }
        if start.elapsed() > Duration::from_secs(300) {
            return Err("the machines were not all Ready within 300 s".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A join token for `zone`, made through the API.
pub(crate) fn join_token(coordinator: &Coordinator, zone: &str) -> AnyResult<String> {
    let request = format!(r#"{{"join_zone": "{zone}"}}"#);
    let (status, answer) = http(
        coordinator.port,
        "POST",
        "/api/v1/tokens",
        &coordinator.token,
        &request,
    )?;
    if status != 201 {
        return Err(format!("cannot make a join token ({status}): {answer}").into());
    }
    let token = answer
        .split("\"token\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("no token in the answer")?;
    Ok(token.to_owned())
}

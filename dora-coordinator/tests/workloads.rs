//! Workloads on a cluster of real processes (a coordinator and daemons
//! with distinct machine names) and the machine's real Docker engine:
//! placement by affinity and GPU, dora's restart policies, a daemon
//! killed and adopting its containers, and delete leaving nothing.
//!
//! No registry is reachable: each test imports its own image, a root
//! filesystem holding the machine's static busybox, and removes it and
//! every container of its zone at the end, even when it fails.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::*;
use common::text;
use serde_json::Value as Json;

/// Whether the engine answers; when not, the test says why it is skipped.
fn engine_or_skip() -> bool {
    let answers = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !answers {
        eprintln!("skipped: no Docker engine answers here (`docker info` fails)");
    }
    answers
}

fn docker(args: &[&str]) -> String {
    let output = Command::new("docker").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// An image made here from busybox, removed when dropped.
struct Image(String);

impl Image {
    fn import(dir: &Path, tag: &str) -> Image {
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox is not installed (Debian's busybox-static; .ci/run installs it)");
        let root = dir.join("rootfs");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
        for tool in ["sh", "sleep", "echo", "true", "false", "cat", "env"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(tool)).unwrap();
        }
        Image::from_root(
            &root,
            format!("dora-test-busybox:{}-{tag}", std::process::id()),
        )
    }

    /// The image named `name` of the root filesystem in folder `root`.
    fn from_root(root: &Path, name: String) -> Image {
        let tar = root.with_extension("tar");
        let status = Command::new("tar")
            .arg("-C")
            .arg(root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
        docker(&[
            "import",
            "--change",
            "LABEL dora.test=1",
            tar.to_str().unwrap(),
            &name,
        ]);
        Image(name)
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

/// A zone of the cluster; every container with its label is removed when
/// dropped.
struct Zone(String);

impl Zone {
    fn containers(&self, filter: &str) -> Vec<String> {
        let label = format!("label=dora.zone={}", self.0);
        let mut args = vec!["ps", "-aq", "--filter", label.as_str()];
        if !filter.is_empty() {
            args.extend(["--filter", filter]);
        }
        docker(&args).lines().map(str::to_owned).collect()
    }
}

impl Drop for Zone {
    fn drop(&mut self) {
        let ids = self.containers("");
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = Command::new("docker").args(&args).output();
        }
    }
}

/// A coordinator and daemons for `machines` (name, GPU products), joined
/// to a zone of their own.
struct Cluster {
    coordinator: Coordinator,
    daemons: Vec<(String, Daemon)>,
    zone: Zone,
    image: Image,
}

impl Cluster {
    fn start(test: &str, machines: &[(&str, &[&str])]) -> Cluster {
        Cluster::start_with(test, machines, &[])
    }

    /// Like [`Cluster::start`], with more arguments for the coordinator.
    fn start_with(test: &str, machines: &[(&str, &[&str])], extra: &[&str]) -> Cluster {
        let dir = scratch(test);
        let image = Image::import(&dir, test);
        let coordinator = Coordinator::start(&dir, extra);
        let zone = Zone(format!("wl-{}-{test}", std::process::id()));
        let output = secure_cli(
            &coordinator,
            &["token", "create", "--join", "--zone", &zone.0],
        );
        assert!(output.status.success(), "{}", text(&output.stderr));
        let token = text(&output.stdout).trim().to_owned();
        let mut daemons = Vec::new();
        for (machine, gpus) in machines {
            let mut inventory = String::from("gpus:\n");
            for (i, product) in gpus.iter().enumerate() {
                inventory += &format!(
                    "  - {{ uuid: GPU-{machine}-{i}, productName: {product}, memoryBytes: 1024 }}\n"
                );
            }
            if gpus.is_empty() {
                inventory = "gpus: []\n".to_owned();
            }
            std::fs::write(dir.join(format!("gpus-{machine}.yml")), inventory).unwrap();
            let child = daemon(&coordinator, machine, &zone.0, Some(&token))
                .spawn()
                .unwrap();
            daemons.push((machine.to_string(), Daemon(child)));
        }
        for (machine, _) in machines {
            wait_for_state(&coordinator, &zone.0, machine, "Ready");
        }
        Cluster {
            coordinator,
            daemons,
            zone,
            image,
        }
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        secure_cli(&self.coordinator, args)
    }

    /// Applies `yaml`, with `IMAGE` and `ZONE` filled in.
    fn apply(&self, name: &str, yaml: &str) {
        let file = self.coordinator.dir.join(format!("{name}.yml"));
        let yaml = yaml
            .replace("IMAGE", &self.image.0)
            .replace("ZONE", &self.zone.0);
        std::fs::write(&file, yaml).unwrap();
        let output = self.cli(&["apply", "-f", file.to_str().unwrap()]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }

    /// The replicas of `workload`, by index.
    fn replicas(&self, workload: &str) -> Vec<Json> {
        let output = self.cli(&["get", "containers", "--zone", &self.zone.0, "-o", "json"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let all: Vec<Json> = serde_json::from_slice(&output.stdout).unwrap_or_default();
        let mut mine: Vec<Json> = all
            .into_iter()
            .filter(|c| c["spec"]["workload"] == workload)
            .collect();
        mine.sort_by_key(|c| c["spec"]["replica"].as_u64());
        mine
    }

    /// Waits until the replicas of `workload` satisfy `done`; fails after
    /// `limit` with what they were.
    fn wait(&self, workload: &str, limit: Duration, done: impl Fn(&[Json]) -> bool) -> Vec<Json> {
        let start = Instant::now();
        loop {
            let replicas = self.replicas(workload);
            if done(&replicas) {
                return replicas;
            }
            assert!(
                start.elapsed() < limit,
                "replicas of `{workload}` after {limit:?}: {}",
                serde_json::to_string_pretty(&replicas).unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn daemon_dir(&self, machine: &str) -> PathBuf {
        self.coordinator.dir.join(format!("daemon-{machine}"))
    }
}

fn states(replicas: &[Json]) -> Vec<&str> {
    replicas
        .iter()
        .map(|r| r["status"]["state"].as_str().unwrap_or("-"))
        .collect()
}

fn workload(name: &str, replicas: u32, rest: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Workload\nmetadata: {{ name: {name}, zone: ZONE }}\nspec:\n  replica: {{ count: {replicas} }}\n  driver: Docker\n  image: {{ image: IMAGE }}\n{rest}"
    )
}

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn replicas_are_spread_or_packed_get_their_gpus_by_uuid_and_delete_leaves_nothing() {
    if !engine_or_skip() {
        return;
    }
    let cluster = Cluster::start(
        "place",
        &[("m1", &["H100", "H100"]), ("m2", &["H100", "H100"])],
    );
    let storage = cluster.coordinator.dir.join("storage");
    cluster.apply(
        "volume",
        &format!(
            "apiVersion: v1\nkind: Storage\nmetadata: {{ name: disk, zone: ZONE }}\nspec: {{ backend: Local, path: {} }}\n---\napiVersion: v1\nkind: Volume\nmetadata: {{ name: data, zone: ZONE }}\nspec: {{ storage: disk }}\n",
            storage.display()
        ),
    );
    cluster.apply(
        "spread",
        &workload(
            "spread",
            2,
            "  selectors: { cpu: { product_name: All, count: 1 } }\n  config:\n    cmd: sh -c 'echo \"replica $REPLICA\" > /data/$HOSTNAME; echo hello from $REPLICA; echo oops >&2; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done'\n    env: { REPLICA: here }\n    affinity: Distribute\n  volumes: [{ name: data, target: /data }]\n",
        ),
    );
    let spread = cluster.wait("spread", LIMIT, |r| {
        r.len() == 2 && states(r) == ["Running", "Running"]
    });
    let machines: Vec<&str> = spread
        .iter()
        .map(|r| r["spec"]["machine"].as_str().unwrap())
        .collect();
    assert_ne!(machines[0], machines[1], "Distribute stacked replicas");
    // The engine runs them with dora's labels, and not its own restarts.
    let running = cluster.zone.containers("label=dora.workload=spread");
    assert_eq!(running.len(), 2, "{running:?}");
    for replica in &spread {
        let id = replica["status"]["containerId"].as_str().unwrap();
        let inspected: Json = serde_json::from_str(&docker(&["inspect", id])).unwrap();
        let container = &inspected[0];
        assert_eq!(
            container["Config"]["Labels"]["dora.machine"],
            replica["spec"]["machine"]
        );
        assert_eq!(container["HostConfig"]["RestartPolicy"]["Name"], "no");
        assert!(container["Config"]["Env"]
            .as_array()
            .unwrap()
            .contains(&Json::from("REPLICA=here")));
    }
    // The volume's folder was made and written through the mount.
    let volume = storage.join("admin").join("data");
    let start = Instant::now();
    while std::fs::read_dir(&volume).map_or(0, |d| d.count()) < 2 {
        assert!(
            start.elapsed() < LIMIT,
            "the replicas wrote nothing to {}",
            volume.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // What they printed, from their machines' engines.
    let zone = cluster.zone.0.as_str();
    let logs = cluster.cli(&["logs", "workload/spread", "--zone", zone]);
    assert!(logs.status.success(), "{}", text(&logs.stderr));
    let (out, err) = (text(&logs.stdout), text(&logs.stderr));
    for replica in ["spread-0", "spread-1"] {
        assert!(
            out.contains(&format!("{replica} | hello from here\n")),
            "{out}"
        );
        assert!(err.contains(&format!("{replica} | oops\n")), "{err}");
    }
    let last_tick = |out: &str| {
        out.lines()
            .filter_map(|l| {
                l.rsplit_once("tick ")
                    .and_then(|(_, n)| n.parse::<u64>().ok())
            })
            .max()
            .unwrap_or(0)
    };
    let seen = last_tick(&out);
    let mut follow = secure_command(
        &cluster.coordinator,
        &[
            "logs",
            "workload/spread",
            "--replica",
            "1",
            "-f",
            "--zone",
            zone,
        ],
    )
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "hello from here",
        "no replica prefix for one replica"
    );
    let start = Instant::now();
    // Followed: lines printed after the first read arrive too.
    loop {
        let line = lines.next().unwrap().unwrap();
        if last_tick(&line) > seen + 3 {
            break;
        }
        assert!(start.elapsed() < LIMIT, "no new lines while following");
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let wrong = cluster.cli(&["logs", "workload/spread", "--replica", "5", "--zone", zone]);
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains("has no replica 5; it has 2"),
        "{}",
        text(&wrong.stderr)
    );

    // Pack: both on one machine, each with one GPU of its own, by UUID.
    // There is no GPU here: the engine refuses to start them, and says so.
    cluster.apply(
        "packed",
        &workload(
            "packed",
            2,
            "  selectors: { gpu: { product_name: H100, count: 1 } }\n  config: { cmd: sleep 300, affinity: Pack }\n",
        ),
    );
    let packed = cluster.wait("packed", LIMIT, |r| {
        r.len() == 2 && states(r) == ["Failed", "Failed"]
    });
    assert_eq!(
        packed[0]["spec"]["machine"], packed[1]["spec"]["machine"],
        "Pack spread replicas"
    );
    let machine = packed[0]["spec"]["machine"].as_str().unwrap();
    let mut gpus: Vec<String> = packed
        .iter()
        .map(|r| {
            let gpus = r["spec"]["gpus"].as_array().unwrap();
            assert_eq!(gpus.len(), 1, "{r}");
            gpus[0].as_str().unwrap().to_owned()
        })
        .collect();
    gpus.sort();
    assert_eq!(
        gpus,
        [format!("GPU-{machine}-0"), format!("GPU-{machine}-1")]
    );
    for replica in &packed {
        let reason = replica["status"]["reason"].as_str().unwrap();
        assert!(reason.contains("refused to start"), "{reason}");
        // What the engine was asked for: exactly the replica's GPU.
        let created = cluster.zone.containers(&format!(
            "label=dora.uid={}",
            replica["status"]["uid"].as_str().unwrap()
        ));
        assert_eq!(created.len(), 1);
        let inspected: Json = serde_json::from_str(&docker(&["inspect", &created[0]])).unwrap();
        let requests = &inspected[0]["HostConfig"]["DeviceRequests"];
        assert_eq!(
            requests[0]["DeviceIDs"], replica["spec"]["gpus"],
            "{requests}"
        );
        assert_eq!(requests[0]["Driver"], "nvidia");
    }
    // Failed replicas hold no GPU: a third workload gets them.
    cluster.apply(
        "after",
        &workload(
            "after",
            4,
            "  selectors: { gpu: { product_name: H100, count: 1 } }\n  config: { cmd: sleep 300 }\n",
        ),
    );
    let after = cluster.wait("after", LIMIT, |r| {
        r.len() == 4 && r.iter().all(|r| r["status"]["state"] == "Failed")
    });
    let mut all: Vec<&str> = after
        .iter()
        .map(|r| r["spec"]["gpus"][0].as_str().unwrap())
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4, "a GPU was given twice: {all:?}");
    // A volume that does not exist: the replica waits, and says so.
    cluster.apply(
        "lost",
        &workload(
            "lost",
            1,
            "  selectors: {}\n  config: { cmd: sleep 300 }\n  volumes: [{ name: nowhere, target: /data }]\n",
        ),
    );
    let lost = cluster.wait("lost", LIMIT, |r| {
        r.len() == 1
            && r[0]["status"]["reason"]
                .as_str()
                .is_some_and(|t| t.contains("nowhere"))
    });
    assert_eq!(states(&lost), ["Pending"]);
    assert!(
        lost[0]["status"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("volume `nowhere` does not exist in workspace `admin`"),
        "{}",
        lost[0]["status"]
    );
    // A fifth replica does not fit, and says why.
    cluster.apply(
        "more",
        &workload(
            "more",
            1,
            "  selectors: { gpu: { product_name: A100, count: 1 } }\n  config: { cmd: sleep 300 }\n",
        ),
    );
    let more = cluster.wait("more", LIMIT, |r| {
        r.len() == 1
            && r[0]["status"]["reason"]
                .as_str()
                .is_some_and(|t| t.contains("A100"))
    });
    assert_eq!(states(&more), ["Pending"]);

    for name in ["spread", "packed", "after", "more", "lost"] {
        let output = cluster.cli(&["delete", "workload", name, "--zone", &cluster.zone.0]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
    for name in ["spread", "packed", "after", "more", "lost"] {
        cluster.wait(name, LIMIT, <[Json]>::is_empty);
    }
    assert_eq!(
        cluster.zone.containers(""),
        Vec::<String>::new(),
        "containers outlived their workloads"
    );
}

#[test]
fn restart_policies_are_dora_s_with_a_growing_back_off() {
    if !engine_or_skip() {
        return;
    }
    let cluster = Cluster::start("restart", &[("m1", &[])]);
    // They ask for no CPU: the machine may have fewer than four.
    let cpu = "  selectors: {}\n";
    for (name, policy, cmd) in [
        ("fails", "OnFailure", "sh -c 'exit 3'"),
        ("done", "OnFailure", "true"),
        ("never", "Never", "sh -c 'exit 2'"),
        ("always", "Always", "true"),
    ] {
        cluster.apply(
            name,
            &workload(
                name,
                1,
                &format!("{cpu}  config: {{ cmd: \"{cmd}\", restartPolicy: {policy} }}\n"),
            ),
        );
    }
    // `Always` pulls, and no registry is reachable here: the engine's
    // reason is the replica's.
    cluster.apply(
        "pull",
        &workload("pull", 1, "  selectors: {}\n  config: { cmd: 'true' }\n")
            .replace(
                "image: { image: IMAGE }",
                "image: { image: IMAGE, pullPolicy: Always }",
            )
            .replace("IMAGE", &cluster.image.0),
    );
    let pull = cluster.wait("pull", LIMIT, |r| states(r) == ["Failed"]);
    let reason = pull[0]["status"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!(
            "ImagePullFailed: cannot pull image `{}`: ",
            cluster.image.0
        )),
        "{reason}"
    );
    let done = cluster.wait("done", LIMIT, |r| states(r) == ["Succeeded"]);
    assert_eq!(done[0]["status"]["exitCode"], 0);
    assert_eq!(done[0]["status"]["restarts"], 0);
    let never = cluster.wait("never", LIMIT, |r| states(r) == ["Failed"]);
    assert_eq!(never[0]["status"]["exitCode"], 2);
    assert_eq!(never[0]["status"]["restarts"], 0);
    // Restarts wait 1 s, 2 s, 4 s...: three take at least 3 s.
    let start = Instant::now();
    for name in ["fails", "always"] {
        let looping = cluster.wait(name, LIMIT, |r| {
            r.len() == 1 && r[0]["status"]["restarts"].as_u64() >= Some(3)
        });
        let status = &looping[0]["status"];
        let events: Vec<&str> = status["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["text"].as_str().unwrap())
            .collect();
        assert!(
            events
                .iter()
                .any(|e| e.contains("starts again in 2s (restart 2)")),
            "{events:?}"
        );
        assert!(events.contains(&"started again (restart 2)"), "{events:?}");
        // One container, started again by dora, not a new one per restart.
        assert_eq!(
            cluster
                .zone
                .containers(&format!("label=dora.workload={name}"))
                .len(),
            1
        );
    }
    assert!(start.elapsed() >= Duration::from_secs(3));
    let fails = cluster.wait("fails", LIMIT, |r| states(r) == ["CrashLoop"]);
    assert!(
        fails[0]["status"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("exited with code 3; starts again in"),
        "{}",
        fails[0]["status"]
    );
    let described = cluster.cli(&["describe", "workload", "fails", "--zone", &cluster.zone.0]);
    assert!(described.status.success(), "{}", text(&described.stderr));
    let described = text(&described.stdout);
    assert!(
        described.contains("fails-0") && described.contains("m1"),
        "{described}"
    );
}

#[test]
fn a_daemon_killed_with_kill_9_adopts_its_containers_when_it_restarts() {
    if !engine_or_skip() {
        return;
    }
    let mut cluster = Cluster::start("adopt", &[("m1", &[])]);
    cluster.apply(
        "steady",
        &workload(
            "steady",
            1,
            "  selectors: { cpu: { product_name: All, count: 1 } }\n  config: { cmd: sleep 300, restartPolicy: Always }\n",
        ),
    );
    let before = cluster.wait("steady", LIMIT, |r| states(r) == ["Running"]);
    let id = before[0]["status"]["containerId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, mut daemon) = cluster.daemons.pop().unwrap();
    let _ = daemon.0.kill();
    let _ = daemon.0.wait();
    wait_for_state(&cluster.coordinator, &cluster.zone.0, "m1", "NotReady");
    // The container runs on without its daemon.
    assert_eq!(
        cluster.zone.containers("status=running"),
        [id[..12].to_owned()]
    );
    assert!(cluster.daemon_dir("m1").exists());
    let again = Daemon(daemon_command(&cluster, "m1").spawn().unwrap());
    wait_for_state(&cluster.coordinator, &cluster.zone.0, "m1", "Ready");
    let after = cluster.wait("steady", LIMIT, |r| {
        r[0]["status"]["events"].as_array().is_some_and(|e| {
            e.iter()
                .any(|e| e["text"] == "adopted by the restarted daemon")
        })
    });
    assert_eq!(states(&after), ["Running"]);
    assert_eq!(
        after[0]["status"]["containerId"],
        id.as_str(),
        "not the same container"
    );
    assert_eq!(after[0]["status"]["restarts"], 0, "it was started again");
    assert_eq!(
        cluster.zone.containers(""),
        [id[..12].to_owned()],
        "duplicated"
    );

    // Commands in its container: input in, output out, the exit code.
    let zone = cluster.zone.0.clone();
    let exec = |cmd: &[&str]| {
        let mut command = secure_command(
            &cluster.coordinator,
            &["exec", "workload/steady", "--zone", zone.as_str()],
        );
        command.arg("--").args(cmd);
        command
    };
    let mut cat = exec(&["cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    cat.stdin
        .take()
        .unwrap()
        .write_all(b"hello through exec\n")
        .unwrap();
    let cat = cat.wait_with_output().unwrap();
    assert!(cat.status.success(), "{}", text(&cat.stderr));
    assert_eq!(text(&cat.stdout), "hello through exec\n");
    let failing = exec(&["sh", "-c", "echo out; echo err >&2; exit 3"])
        .output()
        .unwrap();
    assert_eq!(
        failing.status.code(),
        Some(3),
        "{:?} {:?}",
        text(&failing.stdout),
        text(&failing.stderr)
    );
    assert_eq!(
        (text(&failing.stdout), text(&failing.stderr)),
        ("out\n".to_owned(), "err\n".to_owned())
    );
    // With a terminal (made by `script`), the command gets one too.
    let command = exec(&["sh", "-c", "tty; echo $((6*7))"]);
    let line: Vec<String> = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let script = Command::new("script")
        .args(["-qec", &shell_words::join(&line), "/dev/null"])
        .env("XDG_CONFIG_HOME", cluster.coordinator.dir.join("config"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
        .wait_with_output()
        .unwrap();
    let shown = text(&script.stdout);
    assert!(
        shown.contains("/dev/pts/") && shown.contains("42"),
        "{shown:?}"
    );
    // Nothing to run in: the reason, and no connection switched.
    let nowhere = secure_command(
        &cluster.coordinator,
        &["exec", "workload/absent", "--zone", &zone],
    )
    .args(["--", "true"])
    .output()
    .unwrap();
    assert!(!nowhere.status.success());
    assert!(
        text(&nowhere.stderr).contains("there is no Workload `absent`"),
        "{}",
        text(&nowhere.stderr)
    );

    // Adopted means supervised: delete still stops and removes it.
    let output = cluster.cli(&["delete", "workload", "steady", "--zone", &cluster.zone.0]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    cluster.wait("steady", LIMIT, <[Json]>::is_empty);
    assert_eq!(cluster.zone.containers(""), Vec::<String>::new());
    drop(again);
}

/// The daemon of `machine`, started again: it has joined already.
fn daemon_command(cluster: &Cluster, machine: &str) -> Command {
    daemon(&cluster.coordinator, machine, &cluster.zone.0, None)
}

#[test]
fn a_machine_port_goes_to_one_replica_and_a_port_held_outside_dora_fails_with_the_reason() {
    if !engine_or_skip() {
        return;
    }
    let cluster = Cluster::start("ports", &[("m1", &[])]);
    let port = free_port();
    let web = |name: &str| {
        workload(
            name,
            1,
            &format!("  selectors: {{}}\n  config: {{ cmd: sleep 300 }}\n  network:\n    ports: [{{ name: http, nodePort: {port}, port: 8008 }}]\n"),
        )
    };
    cluster.apply("first", &web("first"));
    let first = cluster.wait("first", LIMIT, |r| states(r) == ["Running"]);
    let id = first[0]["status"]["containerId"].as_str().unwrap();
    let inspected: Json = serde_json::from_str(&docker(&["inspect", id])).unwrap();
    assert_eq!(
        inspected[0]["HostConfig"]["PortBindings"]["8008/tcp"][0]["HostPort"],
        port.to_string()
    );
    // The second waits for the port, and says so.
    cluster.apply("second", &web("second"));
    let second = cluster.wait("second", LIMIT, |r| {
        r.len() == 1
            && r[0]["status"]["reason"]
                .as_str()
                .is_some_and(|t| t.contains("port"))
    });
    assert_eq!(states(&second), ["Pending"]);
    assert!(
        second[0]["status"]["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("machine port {port}/tcp taken")),
        "{}",
        second[0]["status"]
    );
    // Deleting the first frees the port for it.
    let output = cluster.cli(&["delete", "workload", "first", "--zone", &cluster.zone.0]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    cluster.wait("second", LIMIT, |r| states(r) == ["Running"]);
    let output = cluster.cli(&["delete", "workload", "second", "--zone", &cluster.zone.0]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    cluster.wait("second", LIMIT, <[Json]>::is_empty);

    // A port that something else on the machine holds: the engine refuses,
    // and the replica says why.
    let holder = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap();
    let held = holder.local_addr().unwrap().port();
    cluster.apply(
        "blocked",
        &workload(
            "blocked",
            1,
            &format!("  selectors: {{}}\n  config: {{ cmd: sleep 300 }}\n  network:\n    ports: [{{ name: http, nodePort: {held}, port: 8008 }}]\n"),
        ),
    );
    let blocked = cluster.wait("blocked", LIMIT, |r| states(r) == ["Failed"]);
    let reason = blocked[0]["status"]["reason"].as_str().unwrap();
    assert!(reason.contains("refused to start"), "{reason}");
    assert!(
        reason.contains(&held.to_string()) || reason.contains("in use"),
        "{reason}"
    );
    drop(holder);
}

/// A local SMTP server that keeps every mail it is given, as text.
struct SmtpSink {
    port: u16,
    mails: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let kept = mails.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let _ = stream.write_all(b"220 sink\r\n");
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    let command = line.trim_end().to_ascii_uppercase();
                    let answer: &[u8] = if command.starts_with("DATA") {
                        let _ = stream.write_all(b"354 go on\r\n");
                        let mut mail = String::new();
                        let mut part = String::new();
                        while reader.read_line(&mut part).is_ok_and(|n| n > 0) {
                            if part.trim_end() == "." {
                                break;
                            }
                            mail.push_str(&part);
                            part.clear();
                        }
                        kept.lock().unwrap().push(mail);
                        b"250 kept\r\n"
                    } else if command.starts_with("QUIT") {
                        let _ = stream.write_all(b"221 bye\r\n");
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = stream.write_all(answer);
                    line.clear();
                }
            }
        });
        SmtpSink { port, mails }
    }

    /// Waits for a mail that holds `text`.
    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(mail) = self.mails.lock().unwrap().iter().find(|m| m.contains(text)) {
                return mail.clone();
            }
            assert!(
                start.elapsed() < LIMIT,
                "no mail with `{text}`; mails: {:?}",
                self.mails.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn credit_running_out_stops_replicas_and_a_top_up_resumes_them_with_mail_to_the_owner() {
    if !engine_or_skip() {
        return;
    }
    let sink = SmtpSink::start();
    let smtp = format!("smtp://127.0.0.1:{}", sink.port);
    let cluster = Cluster::start_with(
        "credit",
        &[("m1", &[])],
        &["--smtp", &smtp, "--smtp-from", "dora@cluster.test"],
    );
    cluster.apply(
        "owner",
        "apiVersion: v1\nkind: User\nmetadata: { name: admin }\nspec: { roles: [admin], email: admin@lab.test }\n",
    );
    // 0.001 CPU-hours: 3.6 s of one CPU.
    let credit = |hours: &str| {
        format!("apiVersion: v1\nkind: Credit\nmetadata: {{ name: lab, zone: ZONE }}\nspec: {{ workspace: admin, cpuHours: {hours} }}\n")
    };
    cluster.apply("credit", &credit("0.001"));
    let cpu = "  selectors: { cpu: { product_name: All, count: 1 } }\n";
    cluster.apply(
        "train",
        &workload(
            "train",
            1,
            &format!("{cpu}  notify: {{ byEmail: true }}\n  config: {{ cmd: sleep 300 }}\n"),
        ),
    );
    let running = cluster.wait("train", LIMIT, |r| states(r) == ["Running"]);
    let first = running[0]["status"]["containerId"]
        .as_str()
        .unwrap()
        .to_owned();
    sink.wait_for("Subject: dora: workload train is Running");
    let exhausted = cluster.wait("train", LIMIT, |r| {
        states(r) == ["CreditExhausted"] && r[0]["status"]["containerId"].is_null()
    });
    let reason = exhausted[0]["status"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("CreditExhausted: workspace `admin` has used"),
        "{reason}"
    );
    assert!(
        cluster.zone.containers("").is_empty(),
        "its container was not removed"
    );
    let mail = sink.wait_for("Subject: dora: workload train is CreditExhausted");
    assert!(mail.contains("To: admin@lab.test"), "{mail}");
    // What was used: the 3.6 s granted, and at most a few seconds more
    // until the coordinator saw it.
    let listed = cluster.cli(&["get", "credits", "--zone", &cluster.zone.0, "-o", "json"]);
    let credits: Json = serde_json::from_slice(&listed.stdout).unwrap();
    let used = credits[0]["status"]["usedCpuHours"].as_f64().unwrap();
    assert!((0.001..0.0025).contains(&used), "used {used} CPU-hours");
    let table = text(
        &cluster
            .cli(&["get", "credits", "--zone", &cluster.zone.0])
            .stdout,
    );
    assert!(table.contains("of 0.001 (0.000 left)"), "{table}");
    // Nothing new starts meanwhile, and says why.
    cluster.apply(
        "eval",
        &workload("eval", 1, &format!("{cpu}  config: {{ cmd: sleep 300 }}\n")),
    );
    let eval = cluster.wait("eval", LIMIT, |r| {
        r.len() == 1
            && r[0]["status"]["reason"]
                .as_str()
                .is_some_and(|t| t.starts_with("NoCredit:"))
    });
    assert_eq!(states(&eval), ["Pending"]);
    // More credit: both run, train in a new container; nothing was set
    // to zero for good.
    cluster.apply("credit", &credit("1.0"));
    let resumed = cluster.wait("train", LIMIT, |r| states(r) == ["Running"]);
    assert_ne!(resumed[0]["status"]["containerId"], first.as_str());
    cluster.wait("eval", LIMIT, |r| states(r) == ["Running"]);
    let workload: Json = serde_json::from_slice(
        &cluster
            .cli(&[
                "get",
                "workload",
                "train",
                "--zone",
                &cluster.zone.0,
                "-o",
                "json",
            ])
            .stdout,
    )
    .unwrap();
    assert_eq!(workload["spec"]["replica"]["count"], 1);
    for name in ["train", "eval"] {
        let output = cluster.cli(&["delete", "workload", name, "--zone", &cluster.zone.0]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        cluster.wait(name, LIMIT, <[Json]>::is_empty);
    }
    assert!(cluster.zone.containers("").is_empty());
}

/// An image holding the test sink and the libraries it links, made here.
fn sink_image(dir: &Path) -> Image {
    let sink = common::root().join("target/debug/test-sink");
    let root = dir.join("sink-rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(&sink, root.join("bin/test-sink")).unwrap();
    let linked = Command::new("ldd").arg(&sink).output().unwrap();
    for library in text(&linked.stdout)
        .split_whitespace()
        .filter(|word| word.starts_with('/'))
    {
        let target = root.join(library.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(library, &target).unwrap();
    }
    Image::from_root(&root, format!("dora-test-sink:{}", std::process::id()))
}

#[test]
fn a_node_in_a_container_gets_every_message_of_a_node_outside_through_shared_memory() {
    if !engine_or_skip() {
        return;
    }
    common::build_nodes_once();
    let dir = scratch("container-node");
    let image = sink_image(&dir);
    let yaml = format!(
        "nodes:\n  - id: source\n    path: BIN/test-source\n    args: --count 500 --wait-ms 0\n    outputs: [out, sum]\n  - id: sink\n    driver: docker\n    image: {}\n    path: /bin/test-sink\n    inputs:\n      in: {{ source: source/out, queue_policy: backpressure }}\n",
        image.0
    );
    let file = common::scratch_dataflow("container-node", &yaml);
    let output = common::finish(common::dora().arg("run").arg(&file));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let report = common::sink_report(&stdout, "sink");
    assert_eq!(report["received"], 500, "{stdout}");
    common::assert_no_leftovers(&common::run_dir(&stderr));
    let run = common::run_dir(&stderr);
    let id = run.file_name().unwrap().to_string_lossy();
    let left = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=dora.dataflow-run={id}"),
    ]);
    assert!(left.trim().is_empty(), "containers left: {left}");
}

//! `dora coordinator` as a real process with its real database, driven
//! over HTTP on loopback: durability across `kill -9`, atomic applies,
//! versions, authorisation, bad requests, TLS, watch, the CLI, and
//! dataflows run by a machine's daemon.

mod common;

use common::cluster::*;
use common::text;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn dora() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dora"))
}

fn volumes(coordinator: &Coordinator) -> Vec<String> {
    let (status, body) = http(
        coordinator.port,
        "GET",
        "/api/v1/resources/volumes?workspace=lab",
        Some(&coordinator.token),
        b"",
    );
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Two volumes in one apply: `v<i>-a` and `v<i>-b`.
fn pair(i: usize) -> String {
    format!(
        "apiVersion: v1\nkind: Volume\nmetadata: {{ name: v{i}-a, workspace: lab }}\nspec: {{ storage: disk }}\n---\napiVersion: v1\nkind: Volume\nmetadata: {{ name: v{i}-b, workspace: lab }}\nspec: {{ storage: disk }}\n"
    )
}

#[test]
fn every_acknowledged_apply_survives_kill_9_and_none_is_half_stored() {
    let dir = scratch("kill9");
    let mut coordinator = Coordinator::start(&dir, &["--no-tls"]);
    let (port, token) = (coordinator.port, coordinator.token.clone());
    let next = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (next, acknowledged, token) = (next.clone(), acknowledged.clone(), token.clone());
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= 500 {
                    return;
                }
                match try_http(
                    port,
                    "POST",
                    "/api/v1/apply",
                    Some(&token),
                    pair(i).as_bytes(),
                ) {
                    Ok((200, _)) => acknowledged.lock().unwrap().push(i),
                    // The coordinator is gone: what follows cannot land.
                    _ => return,
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 150 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    coordinator.kill();
    for worker in workers {
        let _ = worker.join();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 150,
        "only {} applies",
        acknowledged.len()
    );

    let restarted = Coordinator::start(&dir, &["--no-tls"]);
    let stored = volumes(&restarted);
    eprintln!(
        "{} applies acknowledged before kill -9; {} volumes stored after the restart",
        acknowledged.len(),
        stored.len()
    );
    for i in &acknowledged {
        for half in ["a", "b"] {
            assert!(
                stored.contains(&format!("v{i}-{half}")),
                "acknowledged apply {i} lost its volume {half}"
            );
        }
    }
    for name in &stored {
        let i = name.trim_start_matches('v').split('-').next().unwrap();
        for half in ["a", "b"] {
            assert!(
                stored.contains(&format!("v{i}-{half}")),
                "apply {i} is half stored: {stored:?}"
            );
        }
    }
    // Nothing acknowledged was lost, and the restarted coordinator writes on.
    let (status, body) = http(
        restarted.port,
        "POST",
        "/api/v1/apply",
        Some(&restarted.token),
        pair(1000).as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    drop(restarted);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_requests_get_a_4xx_that_says_what_is_wrong_and_store_nothing() {
    let dir = scratch("bad");
    let coordinator = Coordinator::start(&dir, &["--no-tls"]);
    let (port, token) = (coordinator.port, coordinator.token.as_str());
    let revision = |coordinator: &Coordinator| {
        let (_, body) = http(
            coordinator.port,
            "GET",
            "/api/v1/resources/volumes?workspace=lab",
            Some(&coordinator.token),
            b"",
        );
        body["resourceVersion"].as_str().unwrap().to_owned()
    };
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/apply",
        Some(token),
        pair(1).as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    let before = revision(&coordinator);

    let stale = "apiVersion: v1\nkind: Volume\nmetadata: { name: v1-a, workspace: lab, resourceVersion: \"1\" }\nspec: { storage: disk, size: 5 }\n";
    let tabs = "apiVersion: v1\nkind: Volume\nmetadata:\n\tname: x\nspec: {}\n";
    let cases: [(&str, &str, Vec<u8>, u16, &str); 8] = [
        (
            "POST",
            "/api/v1/apply",
            b"kind: [unclosed".to_vec(),
            422,
            "not valid YAML",
        ),
        (
            "POST",
            "/api/v1/apply",
            tabs.as_bytes().to_vec(),
            422,
            "a tab is used for indentation",
        ),
        (
            "POST",
            "/api/v1/apply",
            b"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {}\n".to_vec(),
            422,
            "`Pod` is not one of the accepted values",
        ),
        (
            "POST",
            "/api/v1/apply",
            b"apiVersion: v1\nkind: Volume\nmetadata: {name: ../etc, workspace: lab}\nspec: {}\n"
                .to_vec(),
            422,
            "cannot be used",
        ),
        (
            "POST",
            "/api/v1/apply",
            stale.as_bytes().to_vec(),
            409,
            "changed since it was read",
        ),
        (
            "POST",
            "/api/v1/apply",
            vec![b'#'; 10 << 20],
            413,
            "larger than 8 MiB",
        ),
        (
            "POST",
            "/api/v1/tokens",
            b"{\"user\": ".to_vec(),
            400,
            "JSON",
        ),
        (
            "GET",
            "/api/v1/resources/pods",
            Vec::new(),
            404,
            "`pods` is not a kind",
        ),
    ];
    for (method, path, body, expected, says) in cases {
        let (status, answer) = http(port, method, path, Some(token), &body);
        assert_eq!(status, expected, "{path}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        let details = answer["diagnostics"].to_string();
        assert!(
            message.contains(says) || details.contains(says),
            "{path} answered {answer}"
        );
        assert!(
            answer["hint"].as_str().is_some_and(|h| !h.is_empty()),
            "{answer}"
        );
    }
    // The tab error carries its line and column in what was sent.
    let (_, answer) = http(port, "POST", "/api/v1/apply", Some(token), tabs.as_bytes());
    assert_eq!(answer["diagnostics"][0]["line"], 4, "{answer}");
    assert_eq!(answer["diagnostics"][0]["column"], 1, "{answer}");
    assert_eq!(
        revision(&coordinator),
        before,
        "a refused request changed the store"
    );

    // An update against the version it read goes through, once.
    let current = "apiVersion: v1\nkind: Volume\nmetadata: { name: v1-a, workspace: lab, resourceVersion: \"VERSION\" }\nspec: { storage: disk, size: 5 }\n"
        .replace("VERSION", &before);
    let (status, answer) = http(
        port,
        "POST",
        "/api/v1/apply",
        Some(token),
        current.as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["applied"][0]["outcome"], "configured");
    let (status, _) = http(
        port,
        "POST",
        "/api/v1/apply",
        Some(token),
        current.as_bytes(),
    );
    assert_eq!(status, 409);
    drop(coordinator);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_call_is_authorised_and_every_write_audited() {
    let dir = scratch("auth");
    let coordinator = Coordinator::start(&dir, &["--no-tls"]);
    let (port, admin) = (coordinator.port, coordinator.token.as_str());
    let setup = "apiVersion: v1\nkind: Role\nmetadata: { name: lab-editor }\nspec:\n  rules:\n    - kinds: [Volume]\n      verbs: [Get, List, Apply]\n      workspaces: [lab]\n---\napiVersion: v1\nkind: User\nmetadata: { name: ana }\nspec: { roles: [lab-editor], defaultWorkspace: lab }\n";
    let (status, answer) = http(port, "POST", "/api/v1/apply", Some(admin), setup.as_bytes());
    assert_eq!(status, 200, "{answer}");
    let make_token = |ttl: &str| {
        let request = format!("{{\"user\": \"ana\", \"ttl\": \"{ttl}\"}}");
        let (status, answer) = http(
            port,
            "POST",
            "/api/v1/tokens",
            Some(admin),
            request.as_bytes(),
        );
        assert_eq!(status, 201, "{answer}");
        (
            answer["token"].as_str().unwrap().to_owned(),
            answer["id"].as_str().unwrap().to_owned(),
        )
    };
    let (ana, _) = make_token("1h");
    let (short, _) = make_token("1s");
    let (revoked, revoked_id) = make_token("1h");
    let (status, _) = http(
        port,
        "DELETE",
        &format!("/api/v1/tokens/{revoked_id}"),
        Some(admin),
        b"",
    );
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(2100));

    let volume = |workspace: &str| {
        format!("apiVersion: v1\nkind: Volume\nmetadata: {{ name: data, workspace: {workspace} }}\nspec: {{ storage: disk }}\n")
    };
    let unauthorised: [(Option<&str>, &str); 4] = [
        (None, "no token"),
        (Some("dora_not-a-token"), "not known"),
        (Some(&short), "expired"),
        (Some(&revoked), "revoked"),
    ];
    for (token, says) in unauthorised {
        let (status, answer) = http(port, "GET", "/api/v1/resources/volumes", token, b"");
        assert_eq!(status, 401, "{says}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    let (status, answer) = http(
        port,
        "POST",
        "/api/v1/apply",
        Some(&ana),
        volume("lab").as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    let (status, _) = http(
        port,
        "GET",
        "/api/v1/resources/volumes/data",
        Some(&ana),
        b"",
    );
    assert_eq!(status, 200, "ana's default workspace is lab");
    let forbidden = [
        (
            "POST",
            "/api/v1/apply",
            volume("other"),
            "may not Apply Volume in workspace `other`",
        ),
        (
            "DELETE",
            "/api/v1/resources/volumes/data",
            String::new(),
            "may not Delete Volume in workspace `lab`",
        ),
        (
            "GET",
            "/api/v1/resources/users",
            String::new(),
            "may not List User",
        ),
        (
            "POST",
            "/api/v1/tokens",
            "{\"user\": \"ana\"}".to_owned(),
            "may not Apply User",
        ),
        ("GET", "/api/v1/events", String::new(), "may not List User"),
    ];
    for (method, path, body, says) in forbidden {
        let (status, answer) = http(port, method, path, Some(&ana), body.as_bytes());
        assert_eq!(status, 403, "{path}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    // The audit log names who wrote what; refused writes wrote nothing.
    let (status, answer) = http(port, "GET", "/api/v1/events", Some(admin), b"");
    assert_eq!(status, 200);
    let log: Vec<(String, String)> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["user"].as_str().unwrap().to_owned(),
                r["verb"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let writes: Vec<(&str, &str)> = log.iter().map(|(u, v)| (u.as_str(), v.as_str())).collect();
    assert_eq!(
        writes,
        [
            ("coordinator", "Bootstrap"),
            ("coordinator", "CreateToken"),
            ("admin", "Apply"),
            ("admin", "CreateToken"),
            ("admin", "CreateToken"),
            ("admin", "CreateToken"),
            ("admin", "RevokeToken"),
            ("ana", "Apply"),
        ]
    );
    // The CLI shows the same log.
    let shown = coordinator.cli(&["get", "events"]);
    let table = text(&shown.stdout);
    let verbs: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(verbs.len(), writes.len(), "{table}");
    assert_eq!(verbs.last(), Some(&"Apply"), "{table}");
    let stored = std::fs::read(dir.join("state.redb")).unwrap();
    assert!(
        !stored.windows(ana.len()).any(|w| w == ana.as_bytes()),
        "a token is stored in clear"
    );
    drop(coordinator);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tls_is_the_default_and_plain_http_beyond_loopback_is_refused() {
    let dir = scratch("tls");
    let refused = dora()
        .args([
            "coordinator",
            "--no-tls",
            "--listen",
            "0.0.0.0:0",
            "--state-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("refusing to serve plain HTTP on 0.0.0.0:0"),
        "{}",
        text(&refused.stderr)
    );

    let control = format!("127.0.0.1:{}", free_port());
    let coordinator = Coordinator::start(&dir, &["--control-listen", &control]);
    // A second coordinator cannot take the same control-plane port, and
    // says so rather than serve without its machines.
    let second = dora()
        .args([
            "coordinator",
            "--listen",
            "127.0.0.1:0",
            "--control-listen",
            &control,
        ])
        .arg("--state-dir")
        .arg(dir.join("second"))
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(
        text(&second.stderr).contains(&format!("cannot open the control plane on {control}")),
        "{}",
        text(&second.stderr)
    );
    let ca = dir.join("ca.pem");
    assert!(ca.exists());
    let get = |extra: &[&str]| {
        dora()
            .args([
                "get",
                "users",
                "--coordinator",
                &coordinator.address("https"),
                "--token",
                &coordinator.token,
            ])
            .args(extra)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .output()
            .unwrap()
    };
    let output = get(&["--ca", ca.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("admin"));
    let output = get(&[]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("give --ca FILE"),
        "{}",
        text(&output.stderr)
    );
    // Plain HTTP to the TLS port gets no answer.
    let mut stream = TcpStream::connect(("127.0.0.1", coordinator.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
        .write_all(b"GET /api/v1/whoami HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(!text(&answer).contains("HTTP/1.1 200"), "{}", text(&answer));
    drop(coordinator);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_cli_applies_lists_watches_and_deletes_through_a_saved_context() {
    let dir = scratch("cli");
    let coordinator = Coordinator::start(&dir, &["--no-tls"]);
    // Logged in once, later commands need no flag.
    let login = dora()
        .args([
            "login",
            &coordinator.address("http"),
            "--token",
            &coordinator.token,
        ])
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .output()
        .unwrap();
    assert!(login.status.success(), "{}", text(&login.stderr));
    let plain = |args: &[&str]| {
        dora()
            .args(args)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env_remove("DORA_COORDINATOR")
            .env_remove("DORA_TOKEN")
            .output()
            .unwrap()
    };
    let file = dir.join("volumes.yml");
    std::fs::write(&file, pair(7)).unwrap();
    let applied = plain(&["apply", "-f", file.to_str().unwrap()]);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    assert_eq!(
        text(&applied.stdout),
        "volume/v7-a created\nvolume/v7-b created\n"
    );
    let again = plain(&["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(
        text(&again.stdout),
        "volume/v7-a unchanged\nvolume/v7-b unchanged\n"
    );

    let mut watch = dora()
        .args(["get", "volumes", "--workspace", "lab", "-w"])
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut next = || lines.next().unwrap().unwrap();
    assert!(next().starts_with("EVENT"));
    assert!(next().starts_with("ADDED      v7-a"));
    assert!(next().starts_with("ADDED      v7-b"));
    let deleted = plain(&["delete", "volume", "v7-a", "--workspace", "lab"]);
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    assert!(next().starts_with("DELETED    v7-a"));
    let _ = watch.kill();
    let _ = watch.wait();

    let listed = plain(&["get", "volumes", "--workspace", "lab"]);
    let table = text(&listed.stdout);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "ZONE", "WORKSPACE", "VERSION", "AGE"]);
    assert_eq!(rows[1][..3], ["v7-b", "default", "lab"]);
    assert_eq!(rows.len(), 2, "{table}");
    let yaml = plain(&["get", "volume", "v7-b", "--workspace", "lab", "-o", "yaml"]);
    let got = dir.join("got.yml");
    std::fs::write(&got, yaml.stdout).unwrap();
    // What `get` printed applies again as it is.
    let reapplied = plain(&["apply", "-f", got.to_str().unwrap()]);
    assert_eq!(
        text(&reapplied.stdout),
        "volume/v7-b unchanged\n",
        "{}",
        text(&reapplied.stderr)
    );

    // `-e NAME=VALUE` fills `${NAME}` in before the file is sent; a name
    // without a value stops the apply at its place, before anything is sent.
    let templated = dir.join("templated.yml");
    std::fs::write(
        &templated,
        "apiVersion: v1\nkind: Volume\nmetadata: { name: v-${SUFFIX}, workspace: lab }\nspec: { storage: ${STORAGE} }\n",
    )
    .unwrap();
    let path = templated.to_str().unwrap();
    let filled = plain(&[
        "apply",
        "-f",
        path,
        "-e",
        "SUFFIX=x1",
        "-e",
        "STORAGE=disk",
        "-e",
        "UNUSED=1",
    ]);
    assert!(filled.status.success(), "{}", text(&filled.stderr));
    assert_eq!(text(&filled.stdout), "volume/v-x1 created\n");
    assert!(text(&filled.stderr).contains("warning: `-e UNUSED` is used by none of the files"));
    let shown = plain(&["get", "volume", "v-x1", "--workspace", "lab", "-o", "json"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["spec"]["storage"], "disk");
    let holey = plain(&["apply", "-f", path, "-e", "SUFFIX=x2"]);
    assert_eq!(holey.status.code(), Some(1));
    let error = text(&holey.stderr);
    assert!(
        error.contains("`${STORAGE}` has no value")
            && error.contains("templated.yml:4:18")
            && error.contains("pass `-e STORAGE=VALUE`")
            && error.contains("nothing was applied"),
        "{error}"
    );
    let absent = plain(&["get", "volume", "v-x2", "--workspace", "lab"]);
    assert_eq!(absent.status.code(), Some(1));

    let missing = coordinator.cli(&["delete", "volume", "nope", "--workspace", "lab"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr)
        .contains("there is no Volume `nope` in zone `default`, workspace `lab`"));
    drop(coordinator);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A free loopback port, for the control plane.
#[test]
fn machines_join_with_a_join_token_and_show_not_ready_within_3s_when_their_daemon_dies() {
    let dir = scratch("machines");
    let control = free_port();
    let coordinator =
        // Machines dial the control plane by a host name, which its
        // certificate names.
        Coordinator::start(
            &dir,
            &["--control-listen", &format!("127.0.0.1:{control}"), "--advertise", "localhost"],
        );
    std::fs::write(
        dir.join("gpus.yml"),
        "gpus:\n  - { uuid: GPU-sim-0, productName: Tesla V100-SXM2-16GB, memoryBytes: 17179869184 }\n",
    )
    .unwrap();
    let token = |ttl: &str| {
        let output = secure_cli(
            &coordinator,
            &["token", "create", "--join", "--zone", "dc-1", "--ttl", ttl],
        );
        assert!(output.status.success(), "{}", text(&output.stderr));
        let id = text(&output.stderr)
            .split(['(', ')'])
            .nth(1)
            .unwrap()
            .to_owned();
        (text(&output.stdout).trim().to_owned(), id)
    };
    let (good, _) = token("1h");
    let (short, _) = token("1s");
    let (revoked, revoked_id) = token("1h");
    let output = secure_cli(&coordinator, &["token", "revoke", &revoked_id]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    std::thread::sleep(Duration::from_millis(2100));

    let refused: [(&str, &str, String, &str); 5] = [
        ("m-bad", "dc-1", "dora_nope".to_owned(), "not known"),
        ("m-expired", "dc-1", short, "expired"),
        ("m-revoked", "dc-1", revoked, "revoked"),
        (
            "m-user",
            "dc-1",
            coordinator.token.clone(),
            "not a join token",
        ),
        (
            "m-zone",
            "dc-2",
            good.clone(),
            "is for zone `dc-1`, not `dc-2`",
        ),
    ];
    for (machine, zone, token, says) in refused {
        let output = daemon(&coordinator, machine, zone, Some(&token))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{machine}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("cannot join") && stderr.contains(says),
            "{machine}: {stderr}"
        );
        assert_eq!(machine_state(&coordinator, zone, machine), "absent");
    }

    let spawn = |token: Option<&str>| {
        Daemon(
            daemon(&coordinator, "gpu-1", "dc-1", token)
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let mut first = spawn(Some(&good));
    wait_for_state(&coordinator, "dc-1", "gpu-1", "Ready");
    let listed = secure_cli(&coordinator, &["get", "machines", "--zone", "dc-1"]);
    let table = text(&listed.stdout);
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row[..3], ["gpu-1", "dc-1", "Ready"], "{table}");
    assert_eq!(row[4..6], ["1", "(1"], "one simulated GPU: {table}");

    // kill -9: the link closes, and the machine is NotReady at once.
    let _ = first.0.kill();
    let _ = first.0.wait();
    let lost = wait_for_state(&coordinator, "dc-1", "gpu-1", "NotReady");
    assert!(lost < Duration::from_secs(3), "NotReady after {lost:?}");
    // Back, with no token: it joined before.
    let _second = spawn(None);
    wait_for_state(&coordinator, "dc-1", "gpu-1", "Ready");
    eprintln!("a killed daemon showed NotReady after {lost:?}");
    drop(coordinator);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn up_starts_a_coordinator_and_this_machine_and_down_stops_both() {
    let dir = scratch("up");
    let with_home = |args: &[&str]| {
        dora()
            .args(args)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env_remove("DORA_COORDINATOR")
            .env_remove("DORA_TOKEN")
            .output()
            .unwrap()
    };
    let (api, control) = (free_port(), free_port());
    let up = with_home(&[
        "up",
        "--listen",
        &format!("127.0.0.1:{api}"),
        "--control-listen",
        &format!("127.0.0.1:{control}"),
        "--machine",
        "here",
    ]);
    assert!(up.status.success(), "{}", text(&up.stderr));
    let said = text(&up.stdout);
    assert!(
        said.contains(&format!("coordinator at https://127.0.0.1:{api}")),
        "{said}"
    );
    assert!(
        said.contains("machine `here` joined and is Ready"),
        "{said}"
    );
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("data/dora/cluster/up.json")).unwrap(),
    )
    .unwrap();
    let pids: Vec<u64> = ["coordinator", "daemon"]
        .iter()
        .map(|k| record[k].as_u64().unwrap())
        .collect();
    let running = |pid: u64| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, r)| !r.starts_with('Z'))
        })
    };
    assert!(pids.iter().all(|p| running(*p)));
    // Logged in: the context `local` needs no flag.
    let machines = with_home(&["get", "machines"]);
    assert!(machines.status.success(), "{}", text(&machines.stderr));
    let table = text(&machines.stdout);
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("here ") && l.contains("Ready")),
        "{table}"
    );
    let described = with_home(&["describe", "machine", "here"]);
    let description = text(&described.stdout);
    assert!(description.contains("State:     Ready"), "{description}");
    assert!(description.contains("Join"), "{description}");
    let again = with_home(&["up", "--listen", &format!("127.0.0.1:{api}")]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("dora is up already"));

    let down = with_home(&["down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_eq!(
        text(&down.stdout),
        format!(
            "the daemon (process {}) stopped\nthe coordinator (process {}) stopped\n",
            pids[1], pids[0]
        )
    );
    assert!(pids.iter().all(|p| !running(*p)));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two network namespaces joined by a veth pair, with addresses in
/// 198.18.0.0/15 (set aside for network tests); removed when dropped.
struct Network {
    coordinator_ns: String,
    machine_ns: String,
    machine_link: String,
    coordinator_ip: String,
}

impl Network {
    /// `None` when this process may not make namespaces (not root).
    fn new() -> Option<Network> {
        // SAFETY: reads this process's effective user id.
        if unsafe { libc_geteuid() } != 0 {
            eprintln!("skipped: making network namespaces needs root");
            return None;
        }
        let id = std::process::id();
        let subnet = 1 + id % 250;
        let network = Network {
            coordinator_ns: format!("dora-c{id}"),
            machine_ns: format!("dora-m{id}"),
            machine_link: format!("dm{id}"),
            coordinator_ip: format!("198.18.{subnet}.1"),
        };
        let coordinator_link = format!("dc{id}");
        let ip = |args: &str| {
            let status = Command::new("ip")
                .args(args.split_whitespace())
                .status()
                .unwrap();
            assert!(status.success(), "ip {args}");
        };
        ip(&format!("netns add {}", network.coordinator_ns));
        ip(&format!("netns add {}", network.machine_ns));
        ip(&format!(
            "link add {coordinator_link} type veth peer name {}",
            network.machine_link
        ));
        ip(&format!(
            "link set {coordinator_link} netns {}",
            network.coordinator_ns
        ));
        ip(&format!(
            "link set {} netns {}",
            network.machine_link, network.machine_ns
        ));
        for (ns, link, host) in [
            (&network.coordinator_ns, &coordinator_link, 1),
            (&network.machine_ns, &network.machine_link, 2),
        ] {
            ip(&format!(
                "-n {ns} addr add 198.18.{subnet}.{host}/24 dev {link}"
            ));
            ip(&format!("-n {ns} link set {link} up"));
            ip(&format!("-n {ns} link set lo up"));
        }
        Some(network)
    }

    /// `dora ARGS` inside namespace `ns`.
    fn dora(&self, ns: &str) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", ns])
            .arg(env!("CARGO_BIN_EXE_dora"));
        command
    }

    fn link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        let status = Command::new("ip")
            .args([
                "-n",
                &self.machine_ns,
                "link",
                "set",
                &self.machine_link,
                state,
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for ns in [&self.coordinator_ns, &self.machine_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

#[test]
fn a_machine_cut_off_by_the_network_shows_not_ready_within_3s_and_plain_tcp_is_refused() {
    let Some(network) = Network::new() else {
        return;
    };
    let dir = scratch("netns");
    let ip = &network.coordinator_ip;
    let mut coordinator = network
        .dora(&network.coordinator_ns)
        .args(["coordinator", "--listen", &format!("{ip}:7800")])
        .args(["--control-listen", &format!("{ip}:7447"), "--state-dir"])
        .arg(dir.join("coordinator"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(coordinator.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains(&format!("https://{ip}:7800")), "{first}");
    let coordinator = Daemon(coordinator);
    let ca = dir.join("coordinator/ca.pem");
    let admin = std::fs::read_to_string(dir.join("coordinator/admin.token")).unwrap();
    let cli = |args: &[&str]| {
        network
            .dora(&network.coordinator_ns)
            .args(args)
            .args([
                "--coordinator",
                &format!("https://{ip}:7800"),
                "--token",
                admin.trim(),
            ])
            .arg("--ca")
            .arg(&ca)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .output()
            .unwrap()
    };
    let state = || {
        let output = cli(&["get", "machine", "far", "--zone", "lab", "-o", "json"]);
        let body: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        body["status"]["state"]
            .as_str()
            .unwrap_or("absent")
            .to_owned()
    };
    let wait_for = |wanted: &str, limit: Duration| {
        let start = Instant::now();
        while state() != wanted {
            assert!(start.elapsed() < limit, "not {wanted} after {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        start.elapsed()
    };
    let token = cli(&["token", "create", "--join", "--zone", "lab"]);
    assert!(token.status.success(), "{}", text(&token.stderr));
    let daemon = Daemon(
        network
            .dora(&network.machine_ns)
            .args(["daemon", "--coordinator", &format!("https://{ip}:7800")])
            .args([
                "--machine",
                "far",
                "--zone",
                "lab",
                "--join-token",
                text(&token.stdout).trim(),
            ])
            .arg("--ca")
            .arg(&ca)
            .arg("--state-dir")
            .arg(dir.join("daemon"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("Ready", Duration::from_secs(20));
    network.link(false);
    let cut = wait_for("NotReady", Duration::from_secs(20));
    assert!(cut < Duration::from_secs(3), "NotReady after {cut:?}");
    network.link(true);
    let back = wait_for("Ready", Duration::from_secs(30));
    eprintln!("cut off: NotReady after {cut:?}; Ready again {back:?} after the link came back");
    drop(daemon);

    // The same machine told to use plain TCP is not let in: the link is
    // TLS, so it stays NotReady, and its daemon says it cannot connect.
    wait_for("NotReady", Duration::from_secs(20));
    let plain = dir.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(
        plain.join("joined.json"),
        format!(r#"{{"machine": "far", "zone": "lab", "endpoints": ["tcp/{ip}:7447"]}}"#),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("plain.log")).unwrap();
    let plain_daemon = Daemon(
        network
            .dora(&network.machine_ns)
            .args(["daemon", "--coordinator", &format!("https://{ip}:7800")])
            .args(["--machine", "far", "--zone", "lab", "--state-dir"])
            .arg(&plain)
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(state(), "NotReady");
    drop(plain_daemon);
    let said = std::fs::read_to_string(dir.join("plain.log")).unwrap();
    assert!(
        said.contains("cannot reach the coordinator's control plane"),
        "{said}"
    );
    drop(coordinator);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_watch_from_a_revision_gets_only_the_changes_after_it() {
    let dir = scratch("resume");
    let coordinator = Coordinator::start(&dir, &["--no-tls"]);
    let (port, token) = (coordinator.port, coordinator.token.clone());
    let apply = |i: usize| {
        let (status, answer) = http(
            port,
            "POST",
            "/api/v1/apply",
            Some(&token),
            pair(i).as_bytes(),
        );
        assert_eq!(status, 200, "{answer}");
        answer["applied"][0]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let first = apply(1);
    apply(2);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /api/v1/resources/volumes?workspace=lab&watch=1&resourceVersion={first} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    // Read until the change made after the watch started has come.
    let mut seen = String::new();
    let mut buffer = [0u8; 4096];
    apply(3);
    while !seen.contains("v3-b") {
        let n = stream.read(&mut buffer).expect("the watch went silent");
        assert!(n > 0, "the watch ended:\n{seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    let names: Vec<String> = seen
        .lines()
        // The body is chunked: the changes are the lines that are JSON
        // objects.
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|change| {
            assert_eq!(change["type"], "ADDED", "{change}");
            change["object"]["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["v2-a", "v2-b", "v3-a", "v3-b"], "{seen}");
    let (status, answer) = http(
        port,
        "GET",
        "/api/v1/resources/volumes?watch=1&resourceVersion=soon",
        Some(&token),
        b"",
    );
    assert_eq!(status, 400, "{answer}");
    drop(coordinator);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A machine `m1` of zone `default` that has joined `coordinator`.
fn joined_machine(coordinator: &Coordinator) -> Daemon {
    std::fs::write(coordinator.dir.join("gpus.yml"), "gpus: []\n").unwrap();
    let output = secure_cli(
        coordinator,
        &["token", "create", "--join", "--zone", "default"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let token = text(&output.stdout).trim().to_owned();
    let daemon = Daemon(
        daemon(coordinator, "m1", "default", Some(&token))
            .spawn()
            .unwrap(),
    );
    wait_for_state(coordinator, "default", "m1", "Ready");
    daemon
}

const SOURCE_AND_SINK: &str = "nodes:
  - id: source
    path: BIN/test-source
    args: --count COUNT --wait-ms WAIT
    outputs: [out, sum]
  - id: sink
    path: BIN/test-sink
    inputs:
      in: { source: source/out, queue_policy: backpressure }
";

/// A source that sends `count` messages, then waits `wait_ms` (ending
/// early at `Stop`), and a sink that reads them.
fn source_and_sink(name: &str, count: u64, wait_ms: u64) -> PathBuf {
    counted_dataflow(name, SOURCE_AND_SINK, count, wait_ms)
}

#[test]
fn a_dataflow_started_on_the_cluster_runs_on_a_machine_and_its_logs_and_state_are_kept() {
    common::build_nodes_once();
    let dir = scratch("dataflows");
    let coordinator = Coordinator::start(&dir, &["--advertise", "localhost"]);
    let mut machine = joined_machine(&coordinator);

    // It runs to its end; every message arrives; its log outlives it.
    let file = source_and_sink("cluster-counted", 1000, 0);
    let output = secure_cli(
        &coordinator,
        &["start", file.to_str().unwrap(), "--name", "counted"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("starts on machine `m1`"),
        "{}",
        text(&output.stderr)
    );
    let row = wait_for_dataflow(&coordinator, "counted", "Succeeded");
    assert_eq!(row[3..5], ["m1", "0/2"], "{row:?}");
    let logs = secure_cli(&coordinator, &["logs", "counted", "sink"]);
    assert!(logs.status.success(), "{}", text(&logs.stderr));
    let report = common::sink_report(&text(&logs.stdout), "sink");
    assert_eq!(report["received"], 1000, "{report:?}");
    assert_eq!(report["dropped"], 0, "{report:?}");
    let all = secure_cli(&coordinator, &["logs", "counted"]);
    let summary = text(&all.stderr);
    assert!(
        summary.contains("restarts") && summary.contains("logs: "),
        "the summary is in the log:\n{summary}"
    );
    let words: Vec<&str> = summary
        .lines()
        .find(|l| l.starts_with("sink "))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        words.get(3),
        Some(&"1000"),
        "sink received 1000:\n{summary}"
    );
    // Again, under the same name, now that it has ended: a new run.
    let again = secure_cli(
        &coordinator,
        &[
            "start",
            file.to_str().unwrap(),
            "--name",
            "counted",
            "--attach",
        ],
    );
    assert!(again.status.success(), "{}", text(&again.stderr));
    let report = common::sink_report(&text(&again.stdout), "sink");
    assert_eq!(report["received"], 1000, "{report:?}");

    // One that runs until it is stopped; a second start under its name
    // is refused while it runs.
    let slow = source_and_sink("cluster-slow", 100, 600_000);
    let output = secure_cli(
        &coordinator,
        &["start", slow.to_str().unwrap(), "--name", "slow"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    wait_for_dataflow(&coordinator, "slow", "Running");
    let twice = secure_cli(
        &coordinator,
        &["start", slow.to_str().unwrap(), "--name", "slow"],
    );
    assert!(!twice.status.success());
    assert!(
        text(&twice.stderr).contains("dataflow `slow` is Running"),
        "{}",
        text(&twice.stderr)
    );
    // Nor may it be deleted: its nodes would run on, out of reach.
    let deleted = secure_cli(&coordinator, &["delete", "dataflow", "slow"]);
    assert!(!deleted.status.success());
    assert!(
        text(&deleted.stderr).contains("dataflow `slow` is Running on machine `m1`")
            && text(&deleted.stderr).contains("stop it first (`dora stop slow`)"),
        "{}",
        text(&deleted.stderr)
    );
    let described = secure_cli(&coordinator, &["describe", "machine", "m1"]);
    assert!(
        text(&described.stdout).contains("dataflow slow (2 nodes here, Running)"),
        "{}",
        text(&described.stdout)
    );
    let stop = secure_cli(&coordinator, &["stop", "slow", "--grace", "3s"]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    let row = wait_for_dataflow(&coordinator, "slow", "Stopped");
    assert_eq!(row[4], "0/2", "{row:?}");
    let logs = text(&secure_cli(&coordinator, &["logs", "slow", "sink"]).stdout);
    assert_eq!(
        common::sink_report(&logs, "sink")["received"],
        100,
        "{logs}"
    );
    let not_running = secure_cli(&coordinator, &["stop", "slow"]);
    assert!(
        text(&not_running.stderr).contains("is not running: it is Stopped"),
        "{}",
        text(&not_running.stderr)
    );

    // A dataflow that uses a module runs as the module's nodes.
    let moduled = common::scratch_dataflow(
        "cluster-module",
        "nodes:
  - id: source
    path: BIN/test-source
    args: --count 50
    outputs: [out, sum]
  - id: pipeline
    module: relay.yml
    inputs:
      in: source/out
",
    );
    let bin = common::root().join("target/debug/test-sink");
    std::fs::write(
        moduled.parent().unwrap().join("relay.yml"),
        format!(
            "module:\n  name: relay\n  inputs: [in]\nnodes:\n  - id: sink\n    path: {}\n    inputs:\n      in: {{ source: _mod/in, queue_policy: backpressure }}\n",
            bin.display()
        ),
    )
    .unwrap();
    let output = secure_cli(
        &coordinator,
        &["start", moduled.to_str().unwrap(), "--attach"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report = common::sink_report(&text(&output.stdout), "pipeline.sink");
    assert_eq!(report["received"], 50, "{report:?}");

    // Refused before anything starts: a machine that is not there, and a
    // file with an error (shown at its line and column, here).
    let pinned = common::scratch_dataflow(
        "cluster-pinned",
        "nodes:\n  - id: detector\n    path: BIN/test-sink\n    deploy:\n      machine: gpu-2\n",
    );
    let output = secure_cli(&coordinator, &["start", pinned.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("node `detector` asks for machine `gpu-2`, which is not in the cluster; machines of zone `default`: m1 (Ready)"),
        "{}",
        text(&output.stderr)
    );
    let broken = common::scratch_dataflow("cluster-broken", "nodes:\n  - id: a\n    pth: x\n");
    let output = secure_cli(&coordinator, &["start", broken.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("dataflow.yml:3:5"),
        "{}",
        text(&output.stderr)
    );

    // A node that fails is restarted as its policy says; the coordinator
    // records the restart, the log has the supervisor's line.
    let flaky = common::scratch_dataflow(
        "cluster-flaky",
        "nodes:
  - id: source
    path: BIN/test-source
    args: --count 20
    outputs: [out, sum]
  - id: sink
    path: BIN/test-sink
    args: --fail-after 5
    restart_policy: on-failure
    max_restarts: 1
    restart_delay: 10ms
    inputs:
      in: { source: source/out, queue_policy: backpressure }
",
    );
    let output = secure_cli(
        &coordinator,
        &["start", flaky.to_str().unwrap(), "--name", "flaky"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    wait_for_dataflow(&coordinator, "flaky", "Failed");
    let described = text(&secure_cli(&coordinator, &["describe", "dataflow", "flaky"]).stdout);
    assert!(described.contains("restarted 1 times"), "{described}");
    let logs = text(&secure_cli(&coordinator, &["logs", "flaky"]).stderr);
    assert!(
        logs.contains("node `sink` failed: exit code 1; restarting it in 0.0s (restart 1 of 1)"),
        "{logs}"
    );

    // The daemon dies (its nodes with it) while a dataflow runs; once it
    // is back, the dataflow shows Failed with the reason, and the
    // machine's inventory is what the new daemon found.
    let output = secure_cli(
        &coordinator,
        &["start", slow.to_str().unwrap(), "--name", "orphan"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    wait_for_dataflow(&coordinator, "orphan", "Running");
    let _ = machine.0.kill();
    let _ = machine.0.wait();
    wait_for_state(&coordinator, "default", "m1", "NotReady");
    std::fs::write(
        coordinator.dir.join("gpus.yml"),
        "gpus:\n  - { uuid: GPU-sim-0, productName: H100, memoryBytes: 1024 }\n",
    )
    .unwrap();
    machine = Daemon(daemon(&coordinator, "m1", "default", None).spawn().unwrap());
    wait_for_dataflow(&coordinator, "orphan", "Failed");
    let listed = text(&secure_cli(&coordinator, &["get", "machines"]).stdout);
    assert!(listed.contains("1 (1 simulated)"), "{listed}");
    let described = secure_cli(&coordinator, &["describe", "dataflow", "orphan"]);
    assert!(
        text(&described.stdout).contains("restarted, and the nodes ended with it"),
        "{}",
        text(&described.stdout)
    );

    drop(machine);
    drop(coordinator);
    for file in [file, slow, pinned, broken, flaky, moduled] {
        std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reports_a_restarted_coordinator_missed_are_counted_and_the_run_still_ends() {
    common::build_nodes_once();
    let dir = scratch("missed");
    let control = free_port();
    let control_arg = format!("127.0.0.1:{control}");
    let args = [
        "--advertise",
        "localhost",
        "--control-listen",
        control_arg.as_str(),
    ];
    let mut coordinator = Coordinator::start(&dir, &args);
    let machine = joined_machine(&coordinator);
    let file = common::scratch_dataflow(
        "cluster-chatter",
        "nodes:\n  - id: chatter\n    path: BIN/test-chatter\n    args: --lines 400 --width 10 --every-ms 10\n",
    );
    let output = secure_cli(
        &coordinator,
        &["start", file.to_str().unwrap(), "--name", "chatter"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let id = wait_for_dataflow(&coordinator, "chatter", "Running")[1].clone();
    // Down for a while as the node prints, then back on the same state.
    std::thread::sleep(Duration::from_millis(500));
    coordinator.kill();
    std::thread::sleep(Duration::from_millis(1000));
    coordinator = Coordinator::start(&dir, &args);
    wait_for_dataflow(&coordinator, "chatter", "Succeeded");

    // Every report is either in the log or counted as missed.
    let log = std::fs::read_to_string(dir.join("logs").join(format!("{id}.jsonl"))).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: std::collections::BTreeSet<u64> =
        lines.iter().filter_map(|l| l["seq"].as_u64()).collect();
    let missed: u64 = lines
        .iter()
        .filter_map(|l| l["text"].as_str())
        .filter(|t| t.contains("did not reach the coordinator"))
        .map(|t| t.split_whitespace().next().unwrap().parse::<u64>().unwrap())
        .sum();
    let last = *seqs.last().unwrap();
    assert!(
        missed > 0,
        "nothing was missed while the coordinator was down:\n{log}"
    );
    assert_eq!(seqs.len() as u64 + missed, last + 1, "{log}");
    let object = secure_cli(&coordinator, &["get", "dataflow", "chatter", "-o", "json"]);
    let object: serde_json::Value = serde_json::from_slice(&object.stdout).unwrap();
    assert_eq!(object["status"]["lostReports"], missed, "{object}");
    // The node's own log on the machine has all 800 lines.
    let run_log = std::fs::read_dir(file.parent().unwrap().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path().join("chatter.log"))
        .next()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(run_log).unwrap().lines().count(),
        800
    );
    eprintln!("{missed} reports missed while the coordinator was down, all counted");

    drop(machine);
    drop(coordinator);
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

//! `dora-bench remote`: one edge between two machines, made of two network
//! namespaces joined by a veth pair (198.18.200.1 and .2), through dora's
//! node API and through raw zenoh (the same version, the same link and
//! link settings, one process per side), and the time a plain TCP stream
//! takes to move 40 MiB over the same link. Needs root (`ip netns`).
//!
//! Each side of the dora half is a machine of its own: a launcher with
//! its own shared memory, and the node, in one process; the sender's
//! configuration says the reader is on the other machine, so every message
//! goes over zenoh, node to node.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dora_core::config::NodeConfig;
use dora_core::descriptor::Dataflow;
use dora_core::id::NodeId;
use dora_node_api::launch::RunChannels;
use dora_node_api::transport::{zenoh_config, LinkMode, NODE_LEASE_MS};
use dora_node_api::{DoraNode, Event, Parameters};
use zenoh::Wait as _;

use crate::report::Results;
use crate::{now_ns, samples, AnyResult, GAP, SIZES};

const SENDER_NS: &str = "dora-bench-a";
const RECEIVER_NS: &str = "dora-bench-b";
const SENDER_IP: &str = "198.18.200.1";
const RECEIVER_IP: &str = "198.18.200.2";
const DORA_PORT: u16 = 7600;
const ZENOH_PORT: u16 = 7601;
const TCP_PORT: u16 = 7602;
/// Messages of the throughput run at 8 B.
const THROUGHPUT_MESSAGES: u64 = 200_000;
/// Runs of the TCP stream.
const TCP_RUNS: usize = 10;

const DATAFLOW: &str = "nodes:\n  - id: sender\n    path: s\n    outputs: [latency, throughput]\n  - id: receiver\n    path: r\n    inputs:\n      latency: { source: sender/latency, queue_size: 100 }\n      throughput: { source: sender/throughput, queue_size: 10000, queue_policy: backpressure }\n";

fn ip(args: &str) -> AnyResult<()> {
    let status = Command::new("ip").args(args.split_whitespace()).status()?;
    if !status.success() {
        return Err(format!("`ip {args}` failed").into());
    }
    Ok(())
}

/// The two namespaces, removed when dropped.
struct Link;

impl Link {
    fn new() -> AnyResult<Link> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc_geteuid() } != 0 {
            return Err("`dora-bench remote` makes network namespaces, which needs root".into());
        }
        // Namespaces an interrupted run left behind.
        for ns in [SENDER_NS, RECEIVER_NS] {
            if Path::new("/run/netns").join(ns).exists() {
                ip(&format!("netns del {ns}"))?;
            }
        }
        ip(&format!("netns add {SENDER_NS}"))?;
        let link = Link;
        ip(&format!("netns add {RECEIVER_NS}"))?;
        ip(&format!(
            "link add dbench-a netns {SENDER_NS} type veth peer name dbench-b netns {RECEIVER_NS}"
        ))?;
        for (ns, dev, address) in [
            (SENDER_NS, "dbench-a", SENDER_IP),
            (RECEIVER_NS, "dbench-b", RECEIVER_IP),
        ] {
            ip(&format!("-n {ns} addr add {address}/24 dev {dev}"))?;
            ip(&format!("-n {ns} link set {dev} up"))?;
            ip(&format!("-n {ns} link set lo up"))?;
        }
        Ok(link)
    }

    fn remove() -> AnyResult<()> {
        ip(&format!("netns del {SENDER_NS}"))?;
        ip(&format!("netns del {RECEIVER_NS}"))
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = Link::remove();
    }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// `exe ARGS` inside namespace `ns`.
fn inside(ns: &str, exe: &Path, args: &[&str], results: Option<&Path>) -> AnyResult<Child> {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns]).arg(exe).args(args);
    if let Some(results) = results {
        command.env("DORA_BENCH_RESULTS", results);
    }
    Ok(command.stdout(Stdio::null()).spawn()?)
}

fn wait_for(mut child: Child, what: &str) -> AnyResult<()> {
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("{what} failed ({status})").into());
    }
    Ok(())
}

/// Runs one half (`dora` or `zenoh`): the receiver, then the sender; what
/// the receiver measured.
fn half(exe: &Path, kind: &str) -> AnyResult<Results> {
    let results = std::env::temp_dir().join(format!("dora-bench-remote-{kind}.txt"));
    let _ = std::fs::remove_file(&results);
    let run = format!("bench{}", std::process::id());
    let receiver = inside(
        RECEIVER_NS,
        exe,
        &["remote-side", kind, "receiver", &run],
        Some(&results),
    )?;
    let sender = inside(SENDER_NS, exe, &["remote-side", kind, "sender", &run], None)?;
    wait_for(sender, &format!("the {kind} sender"))?;
    wait_for(receiver, &format!("the {kind} receiver"))?;
    Results::parse(&std::fs::read_to_string(&results)?)
}

/// Writes what a receiver measured for the benchmark's process to read.
fn save(results: &Results) -> AnyResult<()> {
    results.to_text().lines().try_for_each(crate::append_result)
}

/// The whole benchmark, and its table.
pub fn run(exe: &Path) -> AnyResult<()> {
    let _link = Link::new()?;
    eprintln!("raw zenoh between two namespaces ...");
    let zenoh = half(exe, "zenoh")?;
    eprintln!("raw zenoh, taken on the program's thread ...");
    let zenoh_recv = half(exe, "zenoh-recv")?;
    eprintln!("dora between two namespaces ...");
    let dora = half(exe, "dora")?;
    eprintln!("a TCP stream of 40 MiB ...");
    let receiver = inside(
        RECEIVER_NS,
        exe,
        &["remote-side", "tcp", "receiver", "-"],
        None,
    )?;
    let tcp = tcp_sender()?;
    wait_for(receiver, "the TCP receiver")?;
    print(&dora, &zenoh, &zenoh_recv, tcp);
    Ok(())
}

fn size_name(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

fn print(dora: &Results, zenoh: &Results, zenoh_recv: &Results, tcp: Duration) {
    println!("\nOne edge between two network namespaces (veth), one-way latency in µs;");
    println!("zenoh: taken in zenoh's callback; zenoh recv: taken on the program's thread:\n");
    println!(
        "| size | dora p50 | dora p99 | dora max | zenoh p50 | zenoh p99 | zenoh max | zenoh recv p50 | p50 dora/zenoh | p50 dora/zenoh recv |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for size in SIZES {
        let (Some(d), Some(z), Some(r)) = (
            dora.latency.get(&size),
            zenoh.latency.get(&size),
            zenoh_recv.latency.get(&size),
        ) else {
            continue;
        };
        let (d50, d99, dmax) = d.summary();
        let (z50, z99, zmax) = z.summary();
        let r50 = r.summary().0;
        println!(
            "| {} | {d50:.0} | {d99:.0} | {dmax:.0} | {z50:.0} | {z99:.0} | {zmax:.0} | {r50:.0} | {:.2}x | {:.2}x |",
            size_name(size),
            d50 / z50,
            d50 / r50
        );
    }
    let rate = |r: &Results| r.throughput.first().map_or(0.0, |(_, rate)| *rate);
    println!(
        "\nThroughput at 8 B: dora {:.0} msg/s, zenoh {:.0} msg/s ({:.2}x)",
        rate(dora),
        rate(zenoh),
        rate(dora) / rate(zenoh)
    );
    let big = |r: &Results| {
        r.latency
            .get(&(40 << 20))
            .map_or(0.0, |l| l.summary().0 / 1e3)
    };
    println!(
        "40 MiB: a raw TCP stream {:.1} ms (median of {TCP_RUNS}); dora p50 {:.1} ms ({:.2}x), zenoh p50 {:.1} ms",
        tcp.as_secs_f64() * 1e3,
        big(dora),
        big(dora) / (tcp.as_secs_f64() * 1e3),
        big(zenoh)
    );
}

/// One side of a half, in its namespace.
pub fn side(kind: &str, role: &str, run: &str) -> AnyResult<()> {
    match (kind, role) {
        ("dora", "sender") => dora_sender(run),
        ("dora", "receiver") => dora_receiver(run),
        ("zenoh", "sender") => zenoh_sender(),
        ("zenoh", "receiver") => zenoh_receiver(true),
        ("zenoh-recv", "sender") => zenoh_sender(),
        ("zenoh-recv", "receiver") => zenoh_receiver(false),
        ("tcp", "receiver") => tcp_receiver(),
        _ => Err(format!("no side `{kind} {role}`").into()),
    }
}

/// The dora configuration of `node` on its machine, and that machine's
/// launcher, ready to start it.
fn dora_node(run: &str, node: &str) -> AnyResult<(NodeConfig, RunChannels, usize)> {
    let dataflow = Dataflow::from_yaml_str(DATAFLOW).map_err(|d| format!("{d:?}"))?;
    let machine_of = [("sender", "a"), ("receiver", "b")]
        .into_iter()
        .map(|(n, m)| (NodeId::from(n), m.to_owned()))
        .collect();
    let mut machines = dora_core::spread::over_machines(
        NodeConfig::for_dataflow(&dataflow, run),
        &machine_of,
        &|_| vec![format!("tcp/{RECEIVER_IP}:{DORA_PORT}")],
    )?;
    let machine = if node == "sender" { "a" } else { "b" };
    let config = machines
        .get_mut(machine)
        .and_then(|m| m.remove(node))
        .ok_or("no such node")?;
    let index = config
        .nodes
        .iter()
        .position(|n| n.as_str() == node)
        .ok_or("no index")?;
    let launcher = RunChannels::open(&config.dataflow_id, &config.nodes)?;
    Ok((config, launcher, index))
}

/// Starts the node on a thread, runs the launcher's start-up for it, and
/// returns what the node returned.
fn run_dora_node<T: Send + 'static>(
    run: &str,
    node: &str,
    body: impl FnOnce(DoraNode, dora_node_api::EventStream) -> AnyResult<T> + Send + 'static,
) -> AnyResult<T> {
    let (config, launcher, index) = dora_node(run, node)?;
    let local_id = config.dataflow_id.clone();
    let thread = std::thread::spawn(move || -> Result<T, String> {
        let (node, events) = DoraNode::init(config).map_err(|e| e.to_string())?;
        body(node, events).map_err(|e| e.to_string())
    });
    launcher.start(&[index], false, Duration::from_secs(60), || None)?;
    let result = thread.join().map_err(|_| "the node panicked")?;
    drop(launcher);
    let _ = dora_node_api::transport::remove_run_files(&local_id);
    Ok(result?)
}

fn dora_sender(run: &str) -> AnyResult<()> {
    run_dora_node(run, "sender", |mut node, _events| {
        for size in SIZES {
            let payload = vec![0xa5u8; size];
            for _ in 0..samples(size) {
                node.send_output("latency", Parameters::new(), &payload)?;
                std::thread::sleep(GAP);
            }
        }
        let payload = [0u8; 8];
        for _ in 0..THROUGHPUT_MESSAGES {
            node.send_output("throughput", Parameters::new(), &payload)?;
        }
        Ok(())
    })
}

fn dora_receiver(run: &str) -> AnyResult<()> {
    let results = run_dora_node(run, "receiver", |_node, mut events| {
        events.set_spin(crate::spin_from_env());
        let mut results = Results::default();
        let expected: usize = SIZES.iter().map(|&s| samples(s)).sum();
        let mut got = 0;
        let mut first: Option<Instant> = None;
        let mut counted = 0u64;
        while got < expected || counted < THROUGHPUT_MESSAGES {
            match events.recv_timeout(Duration::from_secs(30)) {
                Some(Event::Input { id, metadata, data }) if id.as_str() == "latency" => {
                    results
                        .record_latency(data.len(), now_ns().saturating_sub(metadata.timestamp_ns));
                    got += 1;
                }
                Some(Event::Input { .. }) => {
                    first.get_or_insert_with(Instant::now);
                    counted += 1;
                }
                Some(_) => {}
                None => return Err("the sender went quiet".into()),
            }
        }
        let elapsed = first.map_or(1.0, |f| f.elapsed().as_secs_f64());
        results.throughput.push((8, counted as f64 / elapsed));
        Ok(results)
    })?;
    save(&results)
}

fn zenoh_session(listen: bool) -> AnyResult<zenoh::Session> {
    let endpoint = vec![format!("tcp/{RECEIVER_IP}:{ZENOH_PORT}")];
    let (listen, connect) = if listen {
        (endpoint, Vec::new())
    } else {
        (Vec::new(), endpoint)
    };
    let config = zenoh_config(LinkMode::Peer, &listen, &connect, None, NODE_LEASE_MS)?;
    zenoh::open(config).wait().map_err(|e| e.to_string().into())
}

fn zenoh_sender() -> AnyResult<()> {
    let session = zenoh_session(false)?;
    let latency = session
        .declare_publisher("bench/latency")
        .congestion_control(zenoh::qos::CongestionControl::Block)
        .wait()
        .map_err(|e| e.to_string())?;
    let throughput = session
        .declare_publisher("bench/throughput")
        .congestion_control(zenoh::qos::CongestionControl::Block)
        .wait()
        .map_err(|e| e.to_string())?;
    // The receiver says it is subscribed with a liveliness token.
    let ready = session
        .liveliness()
        .declare_subscriber("bench/ready")
        .history(true)
        .wait()
        .map_err(|e| e.to_string())?;
    ready
        .recv_timeout(Duration::from_secs(30))
        .map_err(|e| e.to_string())?
        .ok_or("the zenoh receiver did not get ready")?;
    for size in SIZES {
        let payload = vec![0xa5u8; size];
        for _ in 0..samples(size) {
            let bytes = payload.clone();
            latency
                .put(bytes)
                .attachment(now_ns().to_le_bytes().to_vec())
                .wait()
                .map_err(|e| e.to_string())?;
            std::thread::sleep(GAP);
        }
    }
    for _ in 0..THROUGHPUT_MESSAGES {
        throughput
            .put(vec![0u8; 8])
            .wait()
            .map_err(|e| e.to_string())?;
    }
    session.close().wait().map_err(|e| e.to_string())?;
    Ok(())
}

/// The raw zenoh receiver. `in_callback`: a message counts as received in
/// zenoh's callback, on zenoh's thread, the most favourable measure for
/// zenoh; otherwise once the program's own thread has it, as with zenoh's
/// default channel handler (`subscriber.recv()`), and as a dora node
/// has it.
fn zenoh_receiver(in_callback: bool) -> AnyResult<()> {
    let session = zenoh_session(true)?;
    // (latency?, sent at, size, taken at in the callback)
    let (sender, samples_rx) = std::sync::mpsc::channel::<(bool, u64, usize, u64)>();
    let latency_sender = sender.clone();
    let _latency = session
        .declare_subscriber("bench/latency")
        .callback(move |sample| {
            let at = now_ns();
            let sent = sample
                .attachment()
                .map(|a| a.to_bytes())
                .and_then(|a| {
                    a.get(..8)
                        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
                })
                .unwrap_or(at);
            let _ = latency_sender.send((true, sent, sample.payload().len(), at));
        })
        .wait()
        .map_err(|e| e.to_string())?;
    let _throughput = session
        .declare_subscriber("bench/throughput")
        .callback(move |_sample| {
            let _ = sender.send((false, 0, 8, 0));
        })
        .wait()
        .map_err(|e| e.to_string())?;
    let _token = session
        .liveliness()
        .declare_token("bench/ready")
        .wait()
        .map_err(|e| e.to_string())?;
    let mut results = Results::default();
    let expected: usize = SIZES.iter().map(|&s| samples(s)).sum();
    let (mut got, mut counted) = (0, 0u64);
    let mut first: Option<Instant> = None;
    while got < expected || counted < THROUGHPUT_MESSAGES {
        let (is_latency, sent, size, at) = samples_rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| "the zenoh sender went quiet")?;
        let latency = if in_callback { at } else { now_ns() }.saturating_sub(sent);
        if is_latency {
            results.record_latency(size, latency);
            got += 1;
        } else {
            first.get_or_insert_with(Instant::now);
            counted += 1;
        }
    }
    let elapsed = first.map_or(1.0, |f| f.elapsed().as_secs_f64());
    results.throughput.push((8, counted as f64 / elapsed));
    save(&results)
}

/// The median time of a TCP stream carrying 40 MiB, from the sender's
/// first write to the receiver's last read (the receiver writes one byte
/// back when it has everything).
fn tcp_sender() -> AnyResult<Duration> {
    let payload = vec![0x5au8; 40 << 20];
    let mut times = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    for _ in 0..TCP_RUNS {
        let mut stream = loop {
            match tcp_connect_from_namespace() {
                Ok(stream) => break stream,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(error) => return Err(error),
            }
        };
        let started = Instant::now();
        stream.write_all(&payload)?;
        let mut done = [0u8; 1];
        stream.read_exact(&mut done)?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// A TCP connection to the receiver made from inside the sender's
/// namespace, by a thread that enters it; the socket stays in it.
fn tcp_connect_from_namespace() -> AnyResult<TcpStream> {
    let handle = std::thread::spawn(|| -> Result<TcpStream, String> {
        let ns = std::fs::File::open(format!("/var/run/netns/{SENDER_NS}"))
            .map_err(|e| e.to_string())?;
        use std::os::fd::AsRawFd;
        // SAFETY: setns on this thread only, with a namespace file.
        if unsafe { libc_setns(ns.as_raw_fd(), 0) } != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        TcpStream::connect((RECEIVER_IP, TCP_PORT)).map_err(|e| e.to_string())
    });
    Ok(handle
        .join()
        .map_err(|_| "the connecting thread panicked")??)
}

extern "C" {
    #[link_name = "setns"]
    fn libc_setns(fd: i32, nstype: i32) -> i32;
}

fn tcp_receiver() -> AnyResult<()> {
    let listener = TcpListener::bind((RECEIVER_IP, TCP_PORT))?;
    let mut buffer = vec![0u8; 1 << 20];
    for _ in 0..TCP_RUNS {
        let (mut stream, _) = listener.accept()?;
        let mut left = 40usize << 20;
        while left > 0 {
            let n = stream.read(&mut buffer[..left.min(1 << 20)])?;
            if n == 0 {
                return Err("the TCP sender stopped early".into());
            }
            left -= n;
        }
        stream.write_all(&[1])?;
    }
    Ok(())
}

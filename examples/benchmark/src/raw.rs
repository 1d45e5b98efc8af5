//! The same measurements over raw iceoryx2, as a reference: a publisher
//! and a notifier in this process, a subscriber and a listener in a child
//! process, with the same payloads, queue settings and pacing as the dora
//! half.

use std::path::Path as FsPath;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;

use crate::report::{Latency, Results};
use crate::{now_ns, samples, AnyResult, GAP, SIZES};

#[derive(Debug, Default, Clone, Copy, ZeroCopySend)]
#[repr(C)]
struct Header {
    timestamp_ns: u64,
}

type Publisher = iceoryx2::port::publisher::Publisher<ipc::Service, [u8], Header>;
type Subscriber = iceoryx2::port::subscriber::Subscriber<ipc::Service, [u8], Header>;

fn config() -> AnyResult<Config> {
    let id = std::env::var("DORA_BENCH_RAW_ID").unwrap_or_else(|_| std::process::id().to_string());
    let mut config = Config::default();
    config.global.prefix = FileName::new(format!("bench_{id}_").as_bytes())?;
    config
        .global
        .set_root_path(&Path::new(format!("/tmp/bench-{id}/").as_bytes())?);
    Ok(config)
}

fn node() -> AnyResult<Node<ipc::Service>> {
    Ok(NodeBuilder::new()
        .config(&config()?)
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()?)
}

fn data_service(
    node: &Node<ipc::Service>,
    name: &str,
    queue: usize,
    backpressure: bool,
) -> AnyResult<
    iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, [u8], Header>,
> {
    Ok(node
        .service_builder(&ServiceName::new(name)?)
        .publish_subscribe::<[u8]>()
        .user_header::<Header>()
        .enable_safe_overflow(!backpressure)
        .subscriber_max_buffer_size(queue)
        .subscriber_max_borrowed_samples(4)
        .max_subscribers(1)
        .max_publishers(1)
        .open_or_create()?)
}

fn events(
    node: &Node<ipc::Service>,
    name: &str,
) -> AnyResult<iceoryx2::service::port_factory::event::PortFactory<ipc::Service>> {
    Ok(node
        .service_builder(&ServiceName::new(name)?)
        .event()
        .open_or_create()?)
}

/// The sending side; starts the receiving child and returns its results.
pub fn sender(exe: &FsPath, poll: bool) -> AnyResult<Results> {
    let id = format!("{}{}", std::process::id(), if poll { "p" } else { "b" });
    std::env::set_var("DORA_BENCH_RAW_ID", &id);
    let node = node()?;
    let latency = data_service(&node, "latency", 4, false)?;
    let throughput = data_service(&node, "throughput", 1024, true)?;
    let publisher = |service: &iceoryx2::service::port_factory::publish_subscribe::PortFactory<
        ipc::Service,
        [u8],
        Header,
    >| {
        service
            .publisher_builder()
            .initial_max_slice_len(4096)
            .allocation_strategy(AllocationStrategy::BestFit)
            .create()
    };
    let (latency_pub, throughput_pub) = (publisher(&latency)?, publisher(&throughput)?);
    let wakeup = events(&node, "wakeup")?.notifier_builder().create()?;
    let ready = events(&node, "ready")?.listener_builder().create()?;

    let child = Command::new(exe)
        .arg("raw-receiver")
        .arg(if poll { "poll" } else { "block" })
        .env("DORA_BENCH_RAW_ID", &id)
        .stdout(Stdio::piped())
        .spawn()?;
    ready.timed_wait(|_| {}, Duration::from_secs(30))?;
    while latency.dynamic_config().number_of_subscribers() < 1
        || throughput.dynamic_config().number_of_subscribers() < 1
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    latency_pub.update_connections()?;
    throughput_pub.update_connections()?;

    let send = |publisher: &Publisher, size: usize| -> AnyResult<()> {
        let sample = publisher.loan_slice_uninit(size)?;
        let mut sample = sample.write_from_fn(|_| 1u8);
        sample.user_header_mut().timestamp_ns = now_ns();
        sample.send()?;
        if !poll {
            wakeup.notify()?;
        }
        Ok(())
    };
    for size in SIZES {
        for _ in 0..samples(size) {
            send(&latency_pub, size)?;
            std::thread::sleep(GAP);
        }
    }
    for &(size, count) in crate::throughput_runs() {
        for _ in 0..count {
            send(&throughput_pub, size)?;
        }
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        return Err(format!("the raw receiver failed ({})", output.status).into());
    }
    let results = Results::parse(&String::from_utf8_lossy(&output.stdout))?;
    drop((
        latency_pub,
        throughput_pub,
        wakeup,
        ready,
        latency,
        throughput,
        node,
    ));
    let _ = std::fs::remove_dir_all(format!("/tmp/bench-{id}"));
    for entry in std::fs::read_dir("/dev/shm")?.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("bench_{id}_"))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(results)
}

/// The receiving child: blocks on its listener, or busy-polls with `poll`.
pub fn receiver(poll: bool) -> AnyResult<()> {
    let node = node()?;
    let latency: Subscriber = data_service(&node, "latency", 4, false)?
        .subscriber_builder()
        .buffer_size(4)
        .create()?;
    let throughput: Subscriber = data_service(&node, "throughput", 1024, true)?
        .subscriber_builder()
        .buffer_size(1024)
        .create()?;
    let wakeup = events(&node, "wakeup")?.listener_builder().create()?;
    let ready = events(&node, "ready")?.notifier_builder().create()?;
    // Connect to publishers that existed before this subscriber.
    latency.update_connections()?;
    throughput.update_connections()?;
    ready.notify()?;

    let wait = || -> AnyResult<()> {
        if !poll {
            wakeup.blocking_wait(|_| {})?;
        }
        Ok(())
    };
    let mut results = Results::default();
    let expected: usize = SIZES.iter().map(|s| samples(*s)).sum();
    let mut received = 0;
    while received < expected {
        while let Some(sample) = latency.receive()? {
            let delay = now_ns().saturating_sub(sample.user_header().timestamp_ns);
            results
                .latency
                .entry(sample.payload().len())
                .or_insert_with(Latency::default)
                .samples
                .push(delay);
            received += 1;
        }
        if received < expected {
            wait()?;
        }
    }
    for &(size, count) in crate::throughput_runs() {
        let mut got = 0;
        let mut start = None;
        while got < count {
            while let Some(_sample) = throughput.receive()? {
                start.get_or_insert_with(Instant::now);
                got += 1;
            }
            if got < count {
                wait()?;
            }
        }
        let seconds = start.map_or(0.0, |s: Instant| s.elapsed().as_secs_f64());
        results.throughput.push((size, got as f64 / seconds));
    }
    print!("{}", results.to_text());
    Ok(())
}

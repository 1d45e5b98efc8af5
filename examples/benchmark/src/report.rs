//! Collecting latencies and printing the table.

use std::collections::BTreeMap;

/// The latencies of one payload size, in nanoseconds.
#[derive(Debug, Default)]
pub struct Latency {
    pub samples: Vec<u64>,
}

impl Latency {
    /// (p50, p99, max) in microseconds.
    pub fn summary(&self) -> (f64, f64, f64) {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let at = |q: f64| {
            let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
            sorted.get(index).copied().unwrap_or(0) as f64 / 1_000.0
        };
        (at(0.5), at(0.99), at(1.0))
    }
}

/// What one harness measured.
#[derive(Debug, Default)]
pub struct Results {
    pub latency: BTreeMap<usize, Latency>,
    /// (size, messages per second).
    pub throughput: Vec<(usize, f64)>,
}

impl Results {
    /// Records that a message of `size` bytes took `latency_ns`.
    pub fn record_latency(&mut self, size: usize, latency_ns: u64) {
        self.latency
            .entry(size)
            .or_default()
            .samples
            .push(latency_ns);
    }

    /// One line per measurement: `latency SIZE NS NS ...` or
    /// `throughput SIZE RATE`.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for (size, latency) in &self.latency {
            let samples: Vec<String> = latency.samples.iter().map(u64::to_string).collect();
            text.push_str(&format!("latency {size} {}\n", samples.join(" ")));
        }
        for (size, rate) in &self.throughput {
            text.push_str(&format!("throughput {size} {rate}\n"));
        }
        text
    }

    pub fn parse(text: &str) -> Result<Results, Box<dyn std::error::Error>> {
        let mut results = Results::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("latency"), Some(size)) => {
                    let samples = words.map(str::parse).collect::<Result<_, _>>()?;
                    results.latency.insert(size.parse()?, Latency { samples });
                }
                (Some("throughput"), Some(size)) => {
                    let rate = words
                        .next()
                        .ok_or("a throughput line without its rate")?
                        .parse()?;
                    results.throughput.push((size.parse()?, rate));
                }
                _ => return Err(format!("cannot read the result line `{line}`").into()),
            }
        }
        Ok(results)
    }
}

fn size_name(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

/// Prints the latency and throughput tables, dora beside raw iceoryx2.
pub fn print(raw_block: &Results, raw_poll: &Results, dora: &Results, dora_spin: &Results) {
    println!("one-way latency, microseconds (p50 / p99 / max)");
    println!(
        "{:>8} | {:>24} | {:>24} | {:>7} | {:>24} | {:>24} | {:>7}",
        "size",
        "iceoryx2 blocking",
        "dora",
        "p50 x",
        "iceoryx2 busy-poll",
        "dora spin 2ms",
        "p50 x"
    );
    let cell = |r: &Results, size: usize| {
        r.latency.get(&size).map(Latency::summary).map_or_else(
            || "-".to_owned(),
            |(p50, p99, max)| format!("{p50:.1} / {p99:.1} / {max:.1}"),
        )
    };
    let ratio = |a: &Results, b: &Results, size: usize| match (
        a.latency.get(&size),
        b.latency.get(&size),
    ) {
        (Some(a), Some(b)) if a.summary().0 > 0.0 => {
            format!("{:.2}", b.summary().0 / a.summary().0)
        }
        _ => "-".to_owned(),
    };
    for size in crate::SIZES {
        println!(
            "{:>8} | {:>24} | {:>24} | {:>7} | {:>24} | {:>24} | {:>7}",
            size_name(size),
            cell(raw_block, size),
            cell(dora, size),
            ratio(raw_block, dora, size),
            cell(raw_poll, size),
            cell(dora_spin, size),
            ratio(raw_poll, dora_spin, size),
        );
    }
    println!("\nthroughput, messages per second, one way");
    println!(
        "{:>8} | {:>18} | {:>18} | {:>7}",
        "size", "iceoryx2", "dora", "dora/x"
    );
    for (size, _) in crate::THROUGHPUT {
        let rate = |r: &Results| {
            r.throughput
                .iter()
                .find(|(s, _)| *s == size)
                .map(|(_, rate)| *rate)
        };
        let (raw, ours) = (rate(raw_block), rate(dora));
        println!(
            "{:>8} | {:>18} | {:>18} | {:>7}",
            size_name(size),
            raw.map_or("-".to_owned(), |r| format!("{r:.0}")),
            ours.map_or("-".to_owned(), |r| format!("{r:.0}")),
            match (raw, ours) {
                (Some(raw), Some(ours)) => format!("{:.2}", ours / raw),
                _ => "-".to_owned(),
            }
        );
    }
}

/// Prints the latency of nodes written in `language` beside Rust's.
pub fn print_beside(rust: &Results, other: &Results, language: &str) {
    println!("\none-way latency through the {language} API, microseconds (p50 / p99 / max)");
    println!(
        "{:>8} | {:>24} | {:>24} | {:>7}",
        "size",
        "dora, Rust nodes",
        format!("dora, {language} nodes"),
        "p50 x"
    );
    for size in crate::SIZES {
        let summary = |r: &Results| r.latency.get(&size).map(Latency::summary);
        let cell = |s: Option<(f64, f64, f64)>| {
            s.map_or("-".to_owned(), |(p50, p99, max)| {
                format!("{p50:.1} / {p99:.1} / {max:.1}")
            })
        };
        let (ours, theirs) = (summary(rust), summary(other));
        let ratio = match (ours, theirs) {
            (Some(r), Some(c)) if r.0 > 0.0 => format!("{:.2}", c.0 / r.0),
            _ => "-".to_owned(),
        };
        println!(
            "{:>8} | {:>24} | {:>24} | {:>7}",
            size_name(size),
            cell(ours),
            cell(theirs),
            ratio
        );
    }
}

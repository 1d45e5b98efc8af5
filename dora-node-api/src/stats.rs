//! The counts a node leaves for `dora run`'s summary: messages sent per
//! output, received and dropped per input.
//!
//! When [`DoraNode`](crate::DoraNode) and [`EventStream`](crate::EventStream)
//! are dropped, each appends its lines to the file named by [`ENV_VAR`],
//! which the launcher reads once the process has ended. A node that is
//! killed leaves no counts, and the summary says so.

use std::io::Write;
use std::path::Path;

/// The environment variable that names the node's counts file.
pub const ENV_VAR: &str = "DORA_NODE_STATS";

/// The counts of one node, summed over its outputs and inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStats {
    pub sent: u64,
    pub received: u64,
    pub dropped: u64,
    /// The inputs that dropped messages, with how many.
    pub drops: Vec<(String, u64)>,
    /// The outputs that could not deliver some messages to a receiver
    /// (one that had ended), with how many deliveries failed.
    pub undelivered: Vec<(String, u64)>,
    /// Messages sent, by output.
    pub sent_by_output: std::collections::BTreeMap<String, u64>,
    /// Messages received and dropped, by input.
    pub read_by_input: std::collections::BTreeMap<String, (u64, u64)>,
}

pub(crate) fn record_sent(counts: impl Iterator<Item = (String, u64, u64)>) {
    append(
        counts
            .map(|(output, n, undelivered)| format!("sent {output} {n} {undelivered}\n"))
            .collect(),
    );
}

pub(crate) fn record_received(counts: impl Iterator<Item = (String, u64, u64)>) {
    append(
        counts
            .map(|(input, n, dropped)| format!("received {input} {n} {dropped}\n"))
            .collect(),
    );
}

fn append(text: String) {
    let Some(path) = std::env::var_os(ENV_VAR) else {
        return;
    };
    // The counts are a report, not the work: failing to write them must
    // not fail the node, and the summary shows them as unknown.
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path);
    if let Ok(mut file) = file {
        let _ = file.write_all(text.as_bytes());
    }
}

/// Reads a counts file; `None` when the node left none.
pub fn read(path: &Path) -> Option<NodeStats> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut stats = NodeStats::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["sent", output, n, undelivered] => {
                let n: u64 = n.parse().ok()?;
                stats.sent += n;
                *stats
                    .sent_by_output
                    .entry((*output).to_owned())
                    .or_default() += n;
                let undelivered: u64 = undelivered.parse().ok()?;
                if undelivered > 0 {
                    stats.undelivered.push(((*output).to_owned(), undelivered));
                }
            }
            ["received", input, n, dropped] => {
                let n: u64 = n.parse().ok()?;
                stats.received += n;
                let dropped: u64 = dropped.parse().ok()?;
                let read = stats.read_by_input.entry((*input).to_owned()).or_default();
                *read = (read.0 + n, read.1 + dropped);
                stats.dropped += dropped;
                if dropped > 0 {
                    stats.drops.push(((*input).to_owned(), dropped));
                }
            }
            _ => return None,
        }
    }
    Some(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_summed_and_losses_named() {
        let dir = std::env::temp_dir().join(format!("dora-stats-{}", std::process::id()));
        std::fs::write(
            &dir,
            "sent out 10 2\nsent sum 10 0\nreceived in 7 3\nreceived other 1 0\n",
        )
        .unwrap();
        let stats = read(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!((stats.sent, stats.received, stats.dropped), (20, 8, 3));
        assert_eq!(stats.drops, [("in".to_owned(), 3)]);
        assert_eq!(stats.undelivered, [("out".to_owned(), 2)]);
        assert_eq!(stats.sent_by_output["out"], 10);
        assert_eq!(stats.read_by_input["in"], (7, 3));
    }

    #[test]
    fn a_damaged_file_reads_as_unknown() {
        let dir = std::env::temp_dir().join(format!("dora-stats-bad-{}", std::process::id()));
        std::fs::write(&dir, "sent out ten 0\n").unwrap();
        assert_eq!(read(&dir), None);
        std::fs::remove_file(&dir).unwrap();
    }
}

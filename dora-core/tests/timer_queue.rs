//! A node's timer ticks inside the node and has no queue: queue keys on it
//! get a warning (dora-rs dataflows give timers `queue_size: 1`), never an
//! error, and an operator's timer keeps them.

use dora_core::check::check_source;

#[test]
fn queue_keys_on_a_nodes_timer_are_a_warning_at_their_place() {
    let source = "nodes:
  - id: a
    path: a
    inputs:
      tick: { source: dora/timer/millis/10, queue_size: 1, queue_policy: drop_oldest }
";
    let (_, diagnostics) = check_source(source, None);
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    let timer: Vec<(String, Option<(usize, usize)>)> = diagnostics
        .iter()
        .filter(|d| d.message.contains("is a timer"))
        .map(|d| (d.message.clone(), d.position.map(|p| (p.line, p.column))))
        .collect();
    let message = |key: &str| {
        format!("`{key}` has no effect: input `tick` of node `a` is a timer, which ticks inside the node; a node that falls behind gets one tick, never a burst")
    };
    assert_eq!(
        timer,
        [
            (message("queue_size"), Some((5, 45))),
            (message("queue_policy"), Some((5, 60))),
        ]
    );
}

//! Inputs: where a node's or operator's data comes from, and how it queues.
//!
//! Short form, the source alone:
//!
//! ```yaml
//! inputs:
//!   image: camera/image              # node/output
//!   boxes: detector/yolo/boxes       # node/operator/output
//!   tick: dora/timer/millis/100      # a timer made inside the receiving node
//!   slow: dora/timer/hz/0.5          # a rate in ticks per second, maybe fractional
//!   logs: dora/logs/warn             # other nodes' logs, as JSON: `dora/logs[/LEVEL[/NODE]]`
//! ```
//!
//! Long form, with the queue and, for operators, a deadline:
//!
//! ```yaml
//! inputs:
//!   image:
//!     source: camera/image
//!     queue_size: 2                  # default 10
//!     queue_policy: backpressure     # default drop_oldest
//!     deadline: 5ms                  # operators only
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::id::{DataId, NodeId, OperatorId};
use crate::log::LogLevel;
use crate::Duration;

/// The default number of messages an input holds before its policy applies.
pub const DEFAULT_QUEUE_SIZE: usize = 10;

/// One input of a node or an operator, with every default filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Input {
    pub source: InputSource,
    pub queue_size: usize,
    pub queue_policy: QueuePolicy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Duration>,
    /// Once a message has come, an input that gets none for this long is
    /// closed for the node (`InputClosed`), and opens again
    /// (`InputRecovered`) when messages come back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_timeout: Option<Duration>,
}

fn default_queue_size() -> usize {
    DEFAULT_QUEUE_SIZE
}

impl Input {
    /// An input in short form: the source and every default.
    pub fn from_source(source: InputSource) -> Self {
        Input {
            source,
            queue_size: DEFAULT_QUEUE_SIZE,
            queue_policy: QueuePolicy::default(),
            deadline: None,
            input_timeout: None,
        }
    }
}

/// An input in long form.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "InputLongForm")]
struct LongInput {
    /// `node/output`, `node/operator/output`, or a timer:
    /// `dora/timer/millis/N`, `dora/timer/secs/N`, `dora/timer/hz/N` (N may
    /// be fractional for `hz`).
    source: InputSource,
    /// How many messages wait at most (default 10, at least 1).
    #[serde(default = "default_queue_size")]
    #[schemars(range(min = 1))]
    queue_size: usize,
    /// What happens when the queue is full (default `drop_oldest`).
    #[serde(default)]
    queue_policy: QueuePolicy,
    /// Operator inputs only: an event that waited longer than this is
    /// flagged to the operator as late, and counted.
    #[serde(default)]
    deadline: Option<Duration>,
    /// Nodes' inputs only: once a message has come, an input that gets
    /// none for this long is closed for the node (`InputClosed`), and
    /// opens again (`InputRecovered`) when messages come back; each time
    /// is counted in the summary.
    #[serde(default)]
    input_timeout: Option<Duration>,
}

impl JsonSchema for Input {
    fn schema_name() -> Cow<'static, str> {
        "Input".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let short = generator.subschema_for::<InputSource>();
        let long = generator.subschema_for::<LongInput>();
        json_schema!({
            "description": "The source alone (`node/output`), or a mapping with `source` and queue settings.",
            "anyOf": [short, long]
        })
    }
}

impl<'de> Deserialize<'de> for Input {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InputVisitor;

        impl<'de> Visitor<'de> for InputVisitor {
            type Value = Input;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a source such as `camera/image`, or a mapping with `source:`")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Input, E> {
                text.parse().map(Input::from_source).map_err(E::custom)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Input, A::Error> {
                let long = LongInput::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Input {
                    source: long.source,
                    queue_size: long.queue_size,
                    queue_policy: long.queue_policy,
                    deadline: long.deadline,
                    input_timeout: long.input_timeout,
                })
            }
        }

        deserializer.deserialize_any(InputVisitor)
    }
}

/// What happens to a message that arrives at a full input queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueuePolicy {
    /// The oldest queued message is dropped to make room, and the drop is
    /// counted.
    #[default]
    DropOldest,
    /// The sender waits until there is room: nothing is lost.
    Backpressure,
}

/// Where an input's messages come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InputSource {
    /// An output of another node or of an operator of a runtime node.
    Output(OutputRef),
    /// A timer that ticks inside the receiving node.
    Timer(TimerInterval),
    /// The logs of the dataflow's other nodes, as JSON
    /// ([`LogMessage`](crate::log::LogMessage)): `dora/logs`,
    /// `dora/logs/LEVEL` or `dora/logs/LEVEL/NODE`.
    Logs(LogsSource),
}

/// Which logs a `dora/logs` source carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogsSource {
    /// Messages at this level or more severe (`stdout`, all, by default).
    pub level: LogLevel,
    /// Only this node's messages.
    pub node: Option<NodeId>,
}

impl LogsSource {
    /// Whether a message of `level` from `node` goes to this source.
    pub fn wants(&self, level: LogLevel, node: &str) -> bool {
        level.passes(self.level) && self.node.as_ref().is_none_or(|n| n.as_str() == node)
    }
}

impl fmt::Display for LogsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.node, self.level) {
            (None, LogLevel::Stdout) => f.write_str("dora/logs"),
            (None, level) => write!(f, "dora/logs/{level}"),
            (Some(node), level) => write!(f, "dora/logs/{level}/{node}"),
        }
    }
}

/// An output of a node (`node/output`) or of an operator in a runtime node
/// (`node/operator/output`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutputRef {
    pub node: NodeId,
    pub operator: Option<OperatorId>,
    pub output: DataId,
}

impl fmt::Display for OutputRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.operator {
            Some(operator) => write!(f, "{}/{operator}/{}", self.node, self.output),
            None => write!(f, "{}/{}", self.node, self.output),
        }
    }
}

/// How often a timer ticks, as written in its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerInterval {
    Millis(u64),
    Secs(u64),
    /// Ticks per second; may be fractional (`dora/timer/hz/0.5` ticks every
    /// two seconds).
    Hz(Hertz),
}

impl TimerInterval {
    /// The time between two ticks; `None` for a zero interval or frequency.
    pub fn period(self) -> Option<std::time::Duration> {
        match self {
            TimerInterval::Millis(0) | TimerInterval::Secs(0) => None,
            TimerInterval::Millis(n) => Some(std::time::Duration::from_millis(n)),
            TimerInterval::Secs(n) => Some(std::time::Duration::from_secs(n)),
            TimerInterval::Hz(rate) => rate.period(),
        }
    }
}

/// The highest timer rate: one tick per microsecond. A node that must act
/// faster than this is better served by a loop than by a timer.
pub const MAX_TIMER_HZ: f64 = 1_000_000.0;

/// A timer rate in ticks per second: a finite number from 0 (a timer that
/// never ticks, which the checks refuse) to [`MAX_TIMER_HZ`], slow enough
/// rates included as long as their period can be represented.
///
/// ```
/// use dora_core::descriptor::Hertz;
///
/// let rate = Hertz::new(0.5).unwrap();
/// assert_eq!(rate.period(), Some(std::time::Duration::from_secs(2)));
/// assert!(Hertz::new(f64::NAN).is_none());
/// assert!(Hertz::new(-1.0).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hertz(f64);

impl Hertz {
    /// The rate, or `None` when it is negative, not a finite number, above
    /// [`MAX_TIMER_HZ`], or so low that its period cannot be represented.
    pub fn new(rate: f64) -> Option<Hertz> {
        let valid = (0.0..=MAX_TIMER_HZ).contains(&rate)
            && (rate == 0.0 || std::time::Duration::try_from_secs_f64(1.0 / rate).is_ok());
        // `-0.0` would print as `-0`; it is the same rate as `0`.
        valid.then_some(Hertz(rate.abs()))
    }

    pub fn get(self) -> f64 {
        self.0
    }

    /// The time between two ticks; `None` for a rate of 0.
    pub fn period(self) -> Option<std::time::Duration> {
        if self.0 == 0.0 {
            return None;
        }
        std::time::Duration::try_from_secs_f64(1.0 / self.0)
            .ok()
            .filter(|period| !period.is_zero())
    }
}

// A `Hertz` is never NaN, so comparing and hashing its bits is an equivalence.
impl Eq for Hertz {}

impl std::hash::Hash for Hertz {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

/// The shortest text that reads back as the same rate: `30`, `0.5`.
impl fmt::Display for Hertz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for TimerInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimerInterval::Millis(n) => write!(f, "dora/timer/millis/{n}"),
            TimerInterval::Secs(n) => write!(f, "dora/timer/secs/{n}"),
            TimerInterval::Hz(n) => write!(f, "dora/timer/hz/{n}"),
        }
    }
}

impl fmt::Display for InputSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputSource::Output(output) => output.fmt(f),
            InputSource::Timer(timer) => timer.fmt(f),
            InputSource::Logs(logs) => logs.fmt(f),
        }
    }
}

/// A source that is not written `node/output`, `node/operator/output` or
/// `dora/timer/<unit>/<N>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InputSourceError {
    message: String,
}

impl FromStr for InputSource {
    type Err = InputSourceError;

    /// ```
    /// use dora_core::descriptor::InputSource;
    ///
    /// let timer: InputSource = "dora/timer/hz/0.5".parse().unwrap();
    /// let InputSource::Timer(timer) = timer else { unreachable!() };
    /// assert_eq!(timer.period(), Some(std::time::Duration::from_secs(2)));
    /// assert!("camera".parse::<InputSource>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |message: String| InputSourceError { message };
        let parts: Vec<&str> = text.split('/').collect();
        if parts.get(..2) == Some(&["dora", "logs"]) {
            return parse_logs(text, &parts[2..])
                .map(InputSource::Logs)
                .map_err(error);
        }
        if parts.first() == Some(&"dora") {
            return parse_timer(text, &parts[1..])
                .map(InputSource::Timer)
                .map_err(error);
        }
        if let Some(empty) = parts.iter().position(|p| p.trim().is_empty()) {
            let what = ["node id", "output id", "output id"][empty.min(2)];
            return Err(error(format!(
                "the source `{text}` has an empty {what}; write `node/output` or `node/operator/output`"
            )));
        }
        match parts.as_slice() {
            [node, output] => Ok(InputSource::Output(OutputRef {
                node: (*node).into(),
                operator: None,
                output: (*output).into(),
            })),
            [node, operator, output] => Ok(InputSource::Output(OutputRef {
                node: (*node).into(),
                operator: Some((*operator).into()),
                output: (*output).into(),
            })),
            [_] => Err(error(format!(
                "the source `{text}` names no output; write `node/output` (or `node/operator/output` for an operator)"
            ))),
            _ => Err(error(format!(
                "the source `{text}` has {} parts; write `node/output` or `node/operator/output`",
                parts.len()
            ))),
        }
    }
}

fn parse_logs(text: &str, parts: &[&str]) -> Result<LogsSource, String> {
    let usage = "logs are read as `dora/logs`, `dora/logs/LEVEL` or `dora/logs/LEVEL/NODE`";
    let level = |word: &str| {
        word.parse::<LogLevel>()
            .map_err(|e| format!("in `{text}`: {e}; {usage}"))
    };
    match parts {
        [] => Ok(LogsSource {
            level: LogLevel::Stdout,
            node: None,
        }),
        [word] => Ok(LogsSource {
            level: level(word)?,
            node: None,
        }),
        [word, node] if !node.trim().is_empty() => Ok(LogsSource {
            level: level(word)?,
            node: Some((*node).into()),
        }),
        _ => Err(format!("`{text}` is not a logs source; {usage}")),
    }
}

fn parse_timer(text: &str, parts: &[&str]) -> Result<TimerInterval, String> {
    let usage =
        "timers are written `dora/timer/millis/N`, `dora/timer/secs/N` or `dora/timer/hz/N`";
    let [kind, unit, value] = parts else {
        return Err(format!("`{text}` is not a timer; {usage}"));
    };
    if *kind != "timer" {
        return Err(format!(
            "`{text}`: `dora` is reserved for dora's own sources, `dora/timer/...` and `dora/logs/...`, and `{kind}` is not one of them; {usage}"
        ));
    }
    let whole = || {
        value
            .parse::<u64>()
            .map_err(|_| format!("`{value}` in `{text}` is not a whole number; {usage}"))
    };
    match *unit {
        "millis" => Ok(TimerInterval::Millis(whole()?)),
        "secs" => Ok(TimerInterval::Secs(whole()?)),
        "hz" => parse_rate(text, value).map(TimerInterval::Hz),
        other => Err(format!(
            "`{other}` in `{text}` is not a timer unit; {usage}"
        )),
    }
}

/// The `N` of `dora/timer/hz/N`: ticks per second, written as a decimal
/// number (`30`, `0.5`).
fn parse_rate(text: &str, value: &str) -> Result<Hertz, String> {
    let example = "like `dora/timer/hz/30`, or `dora/timer/hz/0.5` for one tick every two seconds";
    let decimal = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        && value.chars().any(|c| c.is_ascii_digit());
    let rate = value
        .parse::<f64>()
        .ok()
        .filter(|rate| decimal && rate.is_finite())
        .ok_or_else(|| {
            format!("`{value}` in `{text}` is not a number; write the ticks per second as a decimal number, {example}")
        })?;
    if rate < 0.0 || value.starts_with('-') {
        return Err(format!(
            "`{text}` has a negative rate; write a positive number of ticks per second, {example}"
        ));
    }
    if rate > MAX_TIMER_HZ {
        return Err(format!(
            "`{text}` ticks faster than a timer can (at most {MAX_TIMER_HZ} times per second); use a lower rate, or send from a loop in the node"
        ));
    }
    Hertz::new(rate).ok_or_else(|| {
        format!("`{text}` ticks so rarely that its period cannot be represented; use `dora/timer/secs/N` for long periods")
    })
}

impl<'de> Deserialize<'de> for InputSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

impl Serialize for InputSource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JsonSchema for InputSource {
    fn schema_name() -> Cow<'static, str> {
        "InputSource".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "`node/output`, `node/operator/output`, a timer: `dora/timer/millis/N`, `dora/timer/secs/N`, `dora/timer/hz/N` (N may be fractional for `hz`), or logs: `dora/logs`, `dora/logs/LEVEL`, `dora/logs/LEVEL/NODE`.",
            "pattern": r"^[^/\s]+/[^/\s]+(/[^/\s]+){0,2}$",
            "examples": ["camera/image", "runtime/detector/boxes", "dora/timer/millis/100", "dora/logs/warn"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_source_form() {
        let source: InputSource = "camera/image".parse().unwrap();
        assert_eq!(source.to_string(), "camera/image");
        let source: InputSource = "rt/op/out".parse().unwrap();
        let InputSource::Output(output) = source else {
            panic!("not an output")
        };
        assert_eq!(output.operator, Some("op".into()));
        assert_eq!(
            "dora/timer/secs/2".parse(),
            Ok(InputSource::Timer(TimerInterval::Secs(2)))
        );
        for text in ["dora/logs", "dora/logs/warn", "dora/logs/debug/camera"] {
            let source: InputSource = text.parse().unwrap();
            assert!(matches!(source, InputSource::Logs(_)), "{text}");
            assert_eq!(source.to_string(), text);
        }
    }

    #[test]
    fn a_logs_source_takes_its_level_and_node() {
        let source = |text: &str| match text.parse::<InputSource>() {
            Ok(InputSource::Logs(logs)) => logs,
            other => panic!("{text}: {other:?}"),
        };
        let all = source("dora/logs");
        assert!(all.wants(LogLevel::Stdout, "a") && all.wants(LogLevel::Error, "b"));
        let warn = source("dora/logs/warn");
        assert!(warn.wants(LogLevel::Error, "a") && !warn.wants(LogLevel::Info, "a"));
        assert!(!warn.wants(LogLevel::Stdout, "a"));
        let one = source("dora/logs/info/camera");
        assert!(one.wants(LogLevel::Info, "camera") && !one.wants(LogLevel::Info, "lidar"));
    }

    #[test]
    fn explains_bad_sources() {
        let message = |text: &str| text.parse::<InputSource>().unwrap_err().to_string();
        assert!(message("camera").contains("names no output"));
        assert!(message("a/b/c/d").contains("4 parts"));
        assert!(message("camera/").contains("empty output id"));
        assert!(message("dora/timer/minutes/1").contains("not a timer unit"));
        assert!(message("dora/timer/millis/ten").contains("not a whole number"));
        assert!(message("dora/clock/millis/1").contains("reserved"));
        assert!(message("dora/logs/loud").contains("`loud` is not a log level"));
        assert!(message("dora/logs/info/a/b").contains("not a logs source"));
        assert!(message("dora/logs/info/").contains("not a logs source"));
    }

    #[test]
    fn timer_periods() {
        assert_eq!(
            TimerInterval::Hz(Hertz::new(4.0).unwrap()).period(),
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(TimerInterval::Millis(0).period(), None);
        assert_eq!(TimerInterval::Hz(Hertz::new(0.0).unwrap()).period(), None);
    }

    #[test]
    fn fractional_rates_tick_and_read_back() {
        for (text, period) in [
            ("dora/timer/hz/0.5", std::time::Duration::from_secs(2)),
            ("dora/timer/hz/2.5", std::time::Duration::from_millis(400)),
            ("dora/timer/hz/30", std::time::Duration::from_secs(1) / 30),
            ("dora/timer/hz/1000000", std::time::Duration::from_micros(1)),
        ] {
            let source: InputSource = text.parse().unwrap();
            assert_eq!(source.to_string(), text);
            let InputSource::Timer(timer) = source else {
                panic!("{text} is not a timer")
            };
            assert_eq!(timer.period(), Some(period), "{text}");
        }
    }

    #[test]
    fn rates_that_cannot_tick_are_refused_with_a_reason() {
        let message = |text: &str| text.parse::<InputSource>().unwrap_err().to_string();
        for text in [
            "dora/timer/hz/NaN",
            "dora/timer/hz/inf",
            "dora/timer/hz/1e3",
            "dora/timer/hz/",
            "dora/timer/hz/.",
        ] {
            assert!(
                message(text).contains("is not a number"),
                "{text}: {}",
                message(text)
            );
        }
        assert!(message("dora/timer/hz/-2").contains("negative rate"));
        assert!(message("dora/timer/hz/-0.5").contains("negative rate"));
        assert!(message("dora/timer/hz/1000001").contains("faster than a timer can"));
        assert!(message("dora/timer/hz/0.0000000000000000000000000001")
            .contains("cannot be represented"));
        // Zero reads, and the dataflow check refuses it at its place ("never
        // ticks"), as it does `dora/timer/millis/0`.
        assert!("dora/timer/hz/0".parse::<InputSource>().is_ok());
    }
}

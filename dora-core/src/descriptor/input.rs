//! Inputs: where a node's or operator's data comes from, and how it queues.
//!
//! Short form, the source alone:
//!
//! ```yaml
//! inputs:
//!   image: camera/image              # node/output
//!   boxes: detector/yolo/boxes       # node/operator/output
//!   tick: dora/timer/millis/100      # a timer made inside the receiving node
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
        }
    }
}

/// An input in long form.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "InputLongForm")]
struct LongInput {
    /// `node/output`, `node/operator/output`, or a timer:
    /// `dora/timer/millis/N`, `dora/timer/secs/N`, `dora/timer/hz/N`.
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
    Hz(u64),
}

impl TimerInterval {
    /// The time between two ticks; `None` for a zero interval or frequency.
    pub fn period(self) -> Option<std::time::Duration> {
        match self {
            TimerInterval::Millis(0) | TimerInterval::Secs(0) | TimerInterval::Hz(0) => None,
            TimerInterval::Millis(n) => Some(std::time::Duration::from_millis(n)),
            TimerInterval::Secs(n) => Some(std::time::Duration::from_secs(n)),
            TimerInterval::Hz(n) => {
                Some(std::time::Duration::from_secs(1) / u32::try_from(n).ok()?)
            }
        }
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
    /// use dora_core::descriptor::{InputSource, TimerInterval};
    ///
    /// let timer: InputSource = "dora/timer/hz/30".parse().unwrap();
    /// assert_eq!(timer, InputSource::Timer(TimerInterval::Hz(30)));
    /// assert!("camera".parse::<InputSource>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |message: String| InputSourceError { message };
        let parts: Vec<&str> = text.split('/').collect();
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

fn parse_timer(text: &str, parts: &[&str]) -> Result<TimerInterval, String> {
    let usage =
        "timers are written `dora/timer/millis/N`, `dora/timer/secs/N` or `dora/timer/hz/N`";
    let [kind, unit, value] = parts else {
        return Err(format!("`{text}` is not a timer; {usage}"));
    };
    if *kind != "timer" {
        return Err(format!(
            "`{text}`: `dora` is reserved for dora's own sources, and `{kind}` is not one of them; {usage}"
        ));
    }
    let value: u64 = value
        .parse()
        .map_err(|_| format!("`{value}` in `{text}` is not a whole number; {usage}"))?;
    match *unit {
        "millis" => Ok(TimerInterval::Millis(value)),
        "secs" => Ok(TimerInterval::Secs(value)),
        "hz" => Ok(TimerInterval::Hz(value)),
        other => Err(format!(
            "`{other}` in `{text}` is not a timer unit; {usage}"
        )),
    }
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
            "description": "`node/output`, `node/operator/output`, or a timer: `dora/timer/millis/N`, `dora/timer/secs/N`, `dora/timer/hz/N`.",
            "pattern": r"^[^/\s]+/[^/\s]+(/[^/\s]+)?$",
            "examples": ["camera/image", "runtime/detector/boxes", "dora/timer/millis/100"]
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
    }

    #[test]
    fn timer_periods() {
        assert_eq!(
            TimerInterval::Hz(4).period(),
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(TimerInterval::Millis(0).period(), None);
    }
}

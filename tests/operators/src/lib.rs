//! One operator library for the end-to-end tests. What an operator does
//! follows the start of its id:
//!
//! - `gate…`: forwards every message on `out`, and puts its first byte in
//!   the runtime's shared store under `gate`;
//! - `peek…`: prints `<id> sees <shared gate byte> for <first byte>`;
//! - `hop…`: reads a little-endian `u64` (nothing reads as 0), sends it
//!   plus one on `out`;
//! - `last…`: prints `<id> hops <n>` for every message;
//! - `rec…`: prints `<id> got <first byte>`;
//! - `slow…`: sleeps 20 ms per message;
//! - `late…`: prints `<id> got <first byte> late <true|false>`;
//! - `panic…`: counts messages in its runtime-kept state, prints
//!   `<id> count <n>`, and panics once, at the third; after the restart
//!   it prints `<id> restored <n>`;
//! - `crash…`: panics at every message whose first byte is odd;
//! - `abort…`: aborts its whole process at the message whose first byte
//!   is 2;
//! - `tag…`: forwards every message on `out` with its parameters, plus
//!   `hops` (one more than it came with, or 1) and `by` (its id);
//! - `show…`: prints `<id> params <key>=<value>…` for every message;
//! - `misuse…`: sends during init and, on its first message, on an output
//!   it does not declare, and prints `<id> <when>: <error>` for each.

use dora_operator_api::{
    register_operator, Context, Event, Operator, ParameterList, ParameterValue, Status,
};

struct TestOperator {
    id: String,
}

impl Operator for TestOperator {
    fn init(context: &mut Context<'_>) -> Result<Self, String> {
        let id = context.operator_id().to_owned();
        if let Some(count) = context.state("count") {
            println!(
                "{id} restored {}",
                u64::from_le_bytes(count.try_into().unwrap_or_default())
            );
        }
        if id.starts_with("misuse") {
            if let Err(error) = context.send_output("out", b"early") {
                println!("{id} init: {error}");
            }
        }
        Ok(TestOperator { id })
    }

    fn on_event(&mut self, event: &Event<'_>, context: &mut Context<'_>) -> Result<Status, String> {
        let Event::Input {
            data,
            late,
            parameters,
            ..
        } = event
        else {
            return Ok(Status::Continue);
        };
        let id = self.id.as_str();
        let first = data.first().copied().unwrap_or(0);
        let send = |context: &mut Context<'_>, data: &[u8]| {
            context.send_output("out", data).map_err(|e| e.to_string())
        };
        if id.starts_with("gate") {
            context.set_shared("gate", &[first]);
            send(context, data)?;
        } else if id.starts_with("peek") {
            let seen = context.shared("gate").and_then(|v| v.first().copied());
            println!("{id} sees {seen:?} for {first}");
        } else if id.starts_with("hop") {
            // An empty message starts the count.
            let hops = match *data {
                [] => 0,
                bytes => u64::from_le_bytes(bytes.try_into().map_err(|_| "not a u64")?),
            };
            context
                .send_output_with("out", 8, |buffer| {
                    buffer.copy_from_slice(&(hops + 1).to_le_bytes())
                })
                .map_err(|e| e.to_string())?;
        } else if id.starts_with("last") {
            let hops = u64::from_le_bytes((*data).try_into().map_err(|_| "not a u64")?);
            println!("{id} hops {hops}");
        } else if id.starts_with("rec") {
            println!("{id} got {first}");
        } else if id.starts_with("slow") {
            std::thread::sleep(std::time::Duration::from_millis(20));
        } else if id.starts_with("crash") {
            if first % 2 == 1 {
                panic!("failing on purpose at {first}");
            }
        } else if id.starts_with("abort") {
            if first == 2 {
                std::process::abort();
            }
        } else if id.starts_with("late") {
            println!("{id} got {first} late {late}");
        } else if id.starts_with("tag") {
            let mut forwarded = ParameterList::from(*parameters);
            let hops = parameters.get_int("hops").unwrap_or(0) + 1;
            forwarded
                .set("hops", ParameterValue::Integer(hops))
                .set("by", ParameterValue::String(id));
            context
                .send_output_params("out", forwarded.parameters(), data)
                .map_err(|e| e.to_string())?;
        } else if id.starts_with("show") {
            let shown: Vec<String> = parameters
                .iter()
                .map(|(key, value)| format!("{key}={value:?}"))
                .collect();
            println!("{id} params {}", shown.join(" "));
        } else if id.starts_with("misuse") {
            if context.state("misused").is_none() {
                context.set_state("misused", b"yes");
                if let Err(error) = context.send_output("nowhere", data) {
                    println!("{id} on_event: {error}");
                }
            }
        } else if id.starts_with("panic") {
            let count = context
                .state("count")
                .and_then(|c| c.try_into().ok())
                .map_or(0, u64::from_le_bytes)
                + 1;
            context.set_state("count", &count.to_le_bytes());
            println!("{id} count {count}");
            if count == 3 && context.state("panicked").is_none() {
                context.set_state("panicked", b"yes");
                panic!("failing on purpose at message {count}");
            }
        }
        Ok(Status::Continue)
    }
}

register_operator!(TestOperator);

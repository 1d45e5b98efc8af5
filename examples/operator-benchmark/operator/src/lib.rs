//! Passes a hop count (a little-endian `u64`) on, plus one, until it
//! reaches `HOPS`.

use dora_operator_api::{register_operator, Context, Event, Operator, Status};

/// How many hops the benchmark's message makes.
pub const HOPS: u64 = 1_000_000;

struct Hop;

impl Operator for Hop {
    fn init(_context: &mut Context<'_>) -> Result<Self, String> {
        Ok(Hop)
    }

    fn on_event(&mut self, event: &Event<'_>, context: &mut Context<'_>) -> Result<Status, String> {
        if let Event::Input { data, .. } = event {
            let hops = u64::from_le_bytes((*data).try_into().map_err(|_| "not a u64")?);
            if hops < HOPS {
                context
                    .send_output_with("out", 8, |buffer| {
                        buffer.copy_from_slice(&(hops + 1).to_le_bytes())
                    })
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(Status::Continue)
    }
}

register_operator!(Hop);

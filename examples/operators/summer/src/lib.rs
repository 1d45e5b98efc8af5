//! An operator that keeps a running total of the numbers it gets and
//! sends it on. The total lives in the state that the runtime keeps, so it
//! survives a restart of the operator.

use dora_operator_api::{register_operator, Context, Event, Operator, Status};

struct Summer;

fn total(context: &Context<'_>) -> u64 {
    context
        .state("total")
        .and_then(|bytes| bytes.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

impl Operator for Summer {
    fn init(_context: &mut Context<'_>) -> Result<Self, String> {
        Ok(Summer)
    }

    fn on_event(&mut self, event: &Event<'_>, context: &mut Context<'_>) -> Result<Status, String> {
        if let Event::Input { data, .. } = event {
            let number = u64::from_le_bytes(
                (*data)
                    .try_into()
                    .map_err(|_| format!("expected 8 bytes, got {}", data.len()))?,
            );
            let total = total(context) + number;
            context.set_state("total", &total.to_le_bytes());
            context
                .send_output("total", &total.to_le_bytes())
                .map_err(|e| e.to_string())?;
        }
        Ok(Status::Continue)
    }
}

register_operator!(Summer);

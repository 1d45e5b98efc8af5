//! An operator that doubles every number (a little-endian `u64`) it gets.

use dora_operator_api::{register_operator, Context, Event, Operator, Status};

struct Doubler;

impl Operator for Doubler {
    fn init(_context: &mut Context<'_>) -> Result<Self, String> {
        Ok(Doubler)
    }

    fn on_event(&mut self, event: &Event<'_>, context: &mut Context<'_>) -> Result<Status, String> {
        if let Event::Input { data, .. } = event {
            let number = u64::from_le_bytes(
                (*data)
                    .try_into()
                    .map_err(|_| format!("expected 8 bytes, got {}", data.len()))?,
            );
            // Written straight into a buffer that `summer` reads as is.
            context
                .send_output_with("doubled", 8, |buffer| {
                    buffer.copy_from_slice(&(number * 2).to_le_bytes())
                })
                .map_err(|e| e.to_string())?;
        }
        Ok(Status::Continue)
    }
}

register_operator!(Doubler);

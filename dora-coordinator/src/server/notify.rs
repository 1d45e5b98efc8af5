//! Email to the owners of workloads (`notify.byEmail`), through the SMTP
//! server the coordinator is given (`--smtp smtp://HOST:PORT`). The
//! connection is plain SMTP to a relay the operator runs (on the same
//! machine or network), which carries the mail on.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{Message, SmtpTransport, Transport};

/// How long a mail may take to hand over.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where mail is handed over, and who it is from.
#[derive(Debug, Clone)]
pub struct Smtp {
    host: String,
    port: u16,
    from: Mailbox,
}

impl Smtp {
    /// Reads `smtp://HOST[:PORT]` (port 25 by default) and the sender.
    pub fn parse(url: &str, from: &str) -> Result<Smtp, String> {
        let Some(rest) = url.strip_prefix("smtp://") else {
            return Err(format!(
                "`{url}` is not an SMTP address; write `smtp://HOST:PORT`, like `smtp://localhost:25`"
            ));
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("`{port}` in `{url}` is not a port"))?,
            ),
            None => (rest, 25),
        };
        if host.is_empty() {
            return Err(format!("`{url}` names no host; write `smtp://HOST:PORT`"));
        }
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| format!("`{from}` is not an email address ({e}); give --smtp-from"))?;
        Ok(Smtp {
            host: host.to_owned(),
            port,
            from,
        })
    }

    /// Sends one mail; blocks until the server took it or refused.
    pub fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        let to = to
            .parse::<Mailbox>()
            .map_err(|e| format!("`{to}` is not an email address ({e})"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body.to_owned())
            .map_err(|e| e.to_string())?;
        SmtpTransport::builder_dangerous(&self.host)
            .port(self.port)
            .timeout(Some(TIMEOUT))
            .build()
            .send(&message)
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "the SMTP server at {}:{} did not take the mail: {e}",
                    self.host, self.port
                )
            })
    }
}

#[test]
fn smtp_addresses_are_read_or_refused_with_the_reason() {
    let smtp = Smtp::parse("smtp://mail.lab:2525", "dora@lab").unwrap();
    assert_eq!((smtp.host.as_str(), smtp.port), ("mail.lab", 2525));
    assert_eq!(
        Smtp::parse("smtp://localhost", "dora@lab").unwrap().port,
        25
    );
    assert!(Smtp::parse("http://x", "dora@lab")
        .unwrap_err()
        .contains("smtp://"));
    assert!(Smtp::parse("smtp://x:port", "dora@lab")
        .unwrap_err()
        .contains("not a port"));
    assert!(Smtp::parse("smtp://x", "nobody")
        .unwrap_err()
        .contains("--smtp-from"));
}

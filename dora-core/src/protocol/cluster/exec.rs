//! `dora exec`: a command run in a replica's container, its input sent
//! to it and its output sent back as frames. Between the CLI and the
//! coordinator a frame is its kind (one byte), its length (four bytes,
//! big-endian) and its bytes; on the control plane, one frame is one
//! message, its kind then its bytes.

/// The key the daemon publishes a command's output frames on.
pub fn exec_output_key(stream: &str) -> String {
    format!("dora/v1/exec/{stream}/out")
}

/// The key the daemon reads a command's input frames from.
pub fn exec_input_key(stream: &str) -> String {
    format!("dora/v1/exec/{stream}/in")
}

/// One frame of a command's input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecFrame {
    /// Bytes for its standard input.
    Stdin(Vec<u8>),
    /// Its standard input ends.
    StdinEnd,
    /// The terminal's size changed: columns, rows.
    Resize(u16, u16),
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// It ended with this exit code.
    Exit(i64),
    /// It could not run, or its output broke off: why.
    Error(String),
}

impl ExecFrame {
    /// The kind byte and the bytes of the frame.
    pub fn encode(&self) -> (u8, Vec<u8>) {
        match self {
            ExecFrame::Stdin(bytes) => (0, bytes.clone()),
            ExecFrame::StdinEnd => (1, Vec::new()),
            ExecFrame::Resize(columns, rows) => {
                let mut bytes = columns.to_be_bytes().to_vec();
                bytes.extend_from_slice(&rows.to_be_bytes());
                (2, bytes)
            }
            ExecFrame::Stdout(bytes) => (16, bytes.clone()),
            ExecFrame::Stderr(bytes) => (17, bytes.clone()),
            ExecFrame::Exit(code) => (18, code.to_be_bytes().to_vec()),
            ExecFrame::Error(text) => (19, text.as_bytes().to_vec()),
        }
    }

    /// The frame of a kind byte and bytes; `None` for what no frame is.
    pub fn decode(kind: u8, bytes: &[u8]) -> Option<ExecFrame> {
        Some(match kind {
            0 => ExecFrame::Stdin(bytes.to_vec()),
            1 => ExecFrame::StdinEnd,
            2 => {
                let [c0, c1, r0, r1] = <[u8; 4]>::try_from(bytes).ok()?;
                ExecFrame::Resize(u16::from_be_bytes([c0, c1]), u16::from_be_bytes([r0, r1]))
            }
            16 => ExecFrame::Stdout(bytes.to_vec()),
            17 => ExecFrame::Stderr(bytes.to_vec()),
            18 => ExecFrame::Exit(i64::from_be_bytes(<[u8; 8]>::try_from(bytes).ok()?)),
            19 => ExecFrame::Error(String::from_utf8_lossy(bytes).into_owned()),
            _ => return None,
        })
    }

    /// As one message of the control plane.
    pub fn to_message(&self) -> Vec<u8> {
        let (kind, mut bytes) = self.encode();
        bytes.insert(0, kind);
        bytes
    }

    /// From one message of the control plane.
    pub fn from_message(message: &[u8]) -> Option<ExecFrame> {
        let (kind, bytes) = message.split_first()?;
        ExecFrame::decode(*kind, bytes)
    }

    /// As a frame of the CLI's connection: kind, length, bytes.
    pub fn to_wire(&self) -> Vec<u8> {
        let (kind, bytes) = self.encode();
        let mut wire = Vec::with_capacity(5 + bytes.len());
        wire.push(kind);
        wire.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        wire.extend_from_slice(&bytes);
        wire
    }
}

#[test]
fn frames_read_back() {
    for frame in [
        ExecFrame::Stdin(b"ls\n".to_vec()),
        ExecFrame::StdinEnd,
        ExecFrame::Resize(120, 40),
        ExecFrame::Stdout(vec![0, 255]),
        ExecFrame::Stderr(Vec::new()),
        ExecFrame::Exit(-1),
        ExecFrame::Error("gone".to_owned()),
    ] {
        assert_eq!(
            ExecFrame::from_message(&frame.to_message()),
            Some(frame.clone())
        );
        let wire = frame.to_wire();
        let length = u32::from_be_bytes(wire[1..5].try_into().unwrap()) as usize;
        assert_eq!(
            ExecFrame::decode(wire[0], &wire[5..5 + length]),
            Some(frame)
        );
    }
    assert_eq!(ExecFrame::decode(2, b"abc"), None);
    assert_eq!(ExecFrame::decode(99, b""), None);
}

//! Diagnostics: what is wrong in a file, where, and what to do about it.
//!
//! Every check of dora produces [`Diagnostic`]s; [`render`] prints them the
//! way a compiler does, with the file, line and column, the line itself, a
//! caret under the place, and a hint.
//!
//! ```
//! use dora_core::diagnostic::{render, Diagnostic};
//! use dora_core::yaml::Position;
//!
//! let source = "nodes:\n  - id: camera\n    pth: cam\n";
//! let error = Diagnostic::error(Position { line: 3, column: 5 }, "unknown key `pth`")
//!     .with_hint("did you mean `path`?");
//! let text = render("dataflow.yml", source, &[error], false);
//! assert!(text.contains("dataflow.yml:3:5"));
//! assert!(text.contains("help: did you mean `path`?"));
//! ```

use std::fmt::Write;

use crate::yaml::{DeError, Position, SyntaxError};

/// How serious a diagnostic is. Errors make a file invalid; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Where in the file; `None` for the file as a whole.
    pub position: Option<Position>,
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(position: impl Into<Option<Position>>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            position: position.into(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn warning(position: impl Into<Option<Position>>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(position, message)
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl From<DeError> for Diagnostic {
    fn from(error: DeError) -> Self {
        Diagnostic {
            severity: Severity::Error,
            position: error.position,
            message: error.message,
            hint: error.hint,
        }
    }
}

impl From<SyntaxError> for Diagnostic {
    fn from(error: SyntaxError) -> Self {
        Diagnostic::error(error.position, error.message).with_hint(error.hint)
    }
}

/// Sorts diagnostics by position, errors before warnings at one place.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| (d.position, d.severity));
}

/// Writes diagnostics for people: `error: ...`, then `--> file:line:col`,
/// the line of the file with a caret under the column, and `help: ...`.
/// With `color`, uses ANSI colours as compilers do.
pub fn render(path: &str, source: &str, diagnostics: &[Diagnostic], color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let lines: Vec<&str> = source.lines().collect();
    let mut out = String::new();
    for diagnostic in diagnostics {
        let (label, code) = match diagnostic.severity {
            Severity::Error => ("error", "1;31"),
            Severity::Warning => ("warning", "1;33"),
        };
        let _ = writeln!(
            out,
            "{}{}",
            paint(code, label),
            paint("1", &format!(": {}", diagnostic.message))
        );
        let Some(position) = diagnostic.position else {
            let _ = writeln!(out, "  {} {path}", paint("1;34", "-->"));
            write_hint(&mut out, diagnostic, &paint, "");
            continue;
        };
        let number = position.line.to_string();
        let gutter = " ".repeat(number.len());
        let _ = writeln!(out, "{gutter}{} {path}:{position}", paint("1;34", "-->"));
        if let Some(line) = lines.get(position.line.wrapping_sub(1)) {
            let bar = paint("1;34", "|");
            let _ = writeln!(out, "{gutter} {bar}");
            let _ = writeln!(out, "{} {bar} {line}", paint("1;34", &number));
            // Keep tabs so that the caret lines up with the text above it.
            let pad: String = line
                .chars()
                .take(position.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(out, "{gutter} {bar} {pad}{}", paint(code, "^"));
        }
        write_hint(&mut out, diagnostic, &paint, &gutter);
    }
    out
}

fn write_hint(
    out: &mut String,
    diagnostic: &Diagnostic,
    paint: &dyn Fn(&str, &str) -> String,
    gutter: &str,
) {
    if let Some(hint) = &diagnostic.hint {
        let _ = writeln!(
            out,
            "{gutter} {} {}: {hint}",
            paint("1;34", "="),
            paint("1", "help")
        );
    }
}

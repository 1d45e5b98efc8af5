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
use std::path::PathBuf;
use std::sync::Arc;

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
    /// Other places the finding is about, each with what is there: the
    /// output an input disagrees with, say.
    pub notes: Vec<Note>,
    /// The file the position is in, when it is not the file being checked:
    /// a module that a dataflow uses, say.
    pub file: Option<Arc<SourceFile>>,
}

/// A second place that a [`Diagnostic`] is about, shown under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub position: Position,
    pub message: String,
    /// The file the position is in, when it is not the file being checked.
    pub file: Option<Arc<SourceFile>>,
}

/// A file that diagnostics point into besides the one being checked, with
/// its text, so that its lines can be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl Diagnostic {
    pub fn error(position: impl Into<Option<Position>>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            position: position.into(),
            message: message.into(),
            hint: None,
            notes: Vec::new(),
            file: None,
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

    /// Adds a second place the finding is about, with what is there.
    pub fn with_note(mut self, position: Position, message: impl Into<String>) -> Self {
        self.notes.push(Note {
            position,
            message: message.into(),
            file: None,
        });
        self
    }

    /// Adds a second place, in another file.
    pub fn with_note_in(
        mut self,
        file: &Arc<SourceFile>,
        position: Position,
        message: impl Into<String>,
    ) -> Self {
        self.notes.push(Note {
            position,
            message: message.into(),
            file: Some(file.clone()),
        });
        self
    }

    /// The diagnostic of a file that another file includes, as that other
    /// file sees it: the places that were in the file being checked are
    /// now in `file`.
    pub fn moved_into(mut self, file: &Arc<SourceFile>) -> Self {
        self.file.get_or_insert_with(|| file.clone());
        for note in &mut self.notes {
            note.file.get_or_insert_with(|| file.clone());
        }
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
            notes: Vec::new(),
            file: None,
        }
    }
}

impl From<SyntaxError> for Diagnostic {
    fn from(error: SyntaxError) -> Self {
        Diagnostic::error(error.position, error.message).with_hint(error.hint)
    }
}

/// Sorts diagnostics by position, errors before warnings at one place.
/// Those in other files come after, by their place in the file checked
/// (their last note, when it is there), then by file and position.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
}

fn sort_key(
    d: &Diagnostic,
) -> (
    Option<Position>,
    Option<&PathBuf>,
    Option<Position>,
    Severity,
) {
    let in_checked = match &d.file {
        None => d.position,
        Some(_) => d
            .notes
            .iter()
            .rev()
            .find(|note| note.file.is_none())
            .map(|note| note.position),
    };
    (
        in_checked,
        d.file.as_ref().map(|f| &f.path),
        d.position,
        d.severity,
    )
}

/// Writes diagnostics for people: `error: ...`, then `--> file:line:col`,
/// the line of the file with a caret under the column, and `help: ...`.
/// With `color`, uses ANSI colours as compilers do. `path` and `source` are
/// the file being checked; a diagnostic or note in another file shows that
/// file's path and line.
pub fn render(path: &str, source: &str, diagnostics: &[Diagnostic], color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let checked = Place {
        path: path.to_owned(),
        lines: source.lines().collect(),
    };
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
        let other = diagnostic.file.as_deref().map(Place::of);
        let place = other.as_ref().unwrap_or(&checked);
        let Some(position) = diagnostic.position else {
            let _ = writeln!(out, "  {} {}", paint("1;34", "-->"), place.path);
            write_hint(&mut out, diagnostic, &paint, "");
            continue;
        };
        // One gutter for every place shown, so that the bars line up.
        let widest = diagnostic
            .notes
            .iter()
            .map(|note| note.position.line)
            .fold(position.line, usize::max);
        let gutter = " ".repeat(widest.to_string().len());
        write_place(&mut out, place, position, code, &gutter, &paint);
        for note in &diagnostic.notes {
            let _ = writeln!(
                out,
                "{}{}",
                paint("1;36", "note"),
                paint("1", &format!(": {}", note.message))
            );
            let other = note.file.as_deref().map(Place::of);
            let place = other.as_ref().unwrap_or(&checked);
            write_place(&mut out, place, note.position, "1;36", &gutter, &paint);
        }
        write_hint(&mut out, diagnostic, &paint, &gutter);
    }
    out
}

/// A file as [`render`] shows it: its path and its lines.
struct Place<'a> {
    path: String,
    lines: Vec<&'a str>,
}

impl Place<'_> {
    fn of(file: &SourceFile) -> Place<'_> {
        Place {
            path: file.path.display().to_string(),
            lines: file.text.lines().collect(),
        }
    }
}

/// Writes `--> file:line:col`, the line and a caret under the column;
/// `gutter` is at least as wide as the line number.
fn write_place(
    out: &mut String,
    place: &Place<'_>,
    position: Position,
    code: &str,
    gutter: &str,
    paint: &dyn Fn(&str, &str) -> String,
) {
    let number = format!("{:>width$}", position.line, width = gutter.len());
    let _ = writeln!(
        out,
        "{gutter}{} {}:{position}",
        paint("1;34", "-->"),
        place.path
    );
    if let Some(line) = place.lines.get(position.line.wrapping_sub(1)) {
        let bar = paint("1;34", "|");
        let (shown, column) = window(line, position.column);
        let _ = writeln!(out, "{gutter} {bar}");
        let _ = writeln!(out, "{} {bar} {shown}", paint("1;34", &number));
        // Keep tabs so that the caret lines up with the text above it.
        let pad: String = shown
            .chars()
            .take(column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let _ = writeln!(out, "{gutter} {bar} {pad}{}", paint(code, "^"));
    }
}

/// The widest line shown whole; a longer one is cut around the column.
const MAX_SHOWN: usize = 100;

/// The part of `line` to show and the column within it: long lines (a
/// minified file, say) are cut to the characters around `column`.
fn window(line: &str, column: usize) -> (String, usize) {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= MAX_SHOWN {
        return (line.to_owned(), column);
    }
    let start = column
        .saturating_sub(MAX_SHOWN / 2)
        .min(chars.len().saturating_sub(MAX_SHOWN));
    let end = (start + MAX_SHOWN).min(chars.len());
    let mut shown: String = chars[start..end].iter().collect();
    let mut column = column - start;
    if start > 0 {
        shown.insert(0, '…');
        column += 1;
    }
    if end < chars.len() {
        shown.push('…');
    }
    (shown, column)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_shows_its_own_place_under_the_first() {
        let source = format!("a: 1\n{}b: 2\n", "\n".repeat(8));
        let error = Diagnostic::error(
            Position {
                line: 10,
                column: 4,
            },
            "b disagrees",
        )
        .with_note(Position { line: 1, column: 4 }, "with a, here")
        .with_hint("make them agree");
        let text = render("f.yml", &source, &[error], false);
        assert_eq!(
            text,
            "error: b disagrees
  --> f.yml:10:4
   |
10 | b: 2
   |    ^
note: with a, here
  --> f.yml:1:4
   |
 1 | a: 1
   |    ^
   = help: make them agree
"
        );
    }

    #[test]
    fn a_diagnostic_in_another_file_shows_that_file_and_a_note_here() {
        let module = Arc::new(SourceFile {
            path: "parts/m.yml".into(),
            text: "nodes:\n  - id: x\n".to_owned(),
        });
        let error = Diagnostic::error(Position { line: 2, column: 9 }, "x is wrong")
            .moved_into(&module)
            .with_note(Position { line: 1, column: 1 }, "used here");
        let text = render("d.yml", "nodes: []\n", &[error], false);
        assert_eq!(
            text,
            "error: x is wrong
 --> parts/m.yml:2:9
  |
2 |   - id: x
  |         ^
note: used here
 --> d.yml:1:1
  |
1 | nodes: []
  | ^
"
        );
    }

    #[test]
    fn long_lines_are_cut_around_the_column() {
        let line = format!("{}X{}", "a".repeat(500), "b".repeat(500));
        let error = Diagnostic::error(
            Position {
                line: 1,
                column: 501,
            },
            "here",
        );
        let text = render("f.yml", &line, &[error], false);
        let shown: Vec<&str> = text.lines().filter(|l| l.contains('|')).collect();
        assert!(
            shown[1].contains("…") && shown[1].chars().count() < 120,
            "{text}"
        );
        let x = shown[1].chars().position(|c| c == 'X').unwrap();
        let caret = shown[2].chars().position(|c| c == '^').unwrap();
        assert_eq!(x, caret, "{text}");
    }
}

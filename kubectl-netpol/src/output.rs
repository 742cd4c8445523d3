//! Terminal output: aligned tables, colour only on a terminal without NO_COLOR, JSON and YAML.

use std::io::{ErrorKind, IsTerminal, Write};

use anyhow::Result;
use serde::Serialize;

use crate::cli::OutputFormat;

/// Writes to stdout. A reader that went away (`kubectl netpol ... | head`) ends the program
/// quietly, as it would a C tool, instead of the panic `print!` gives.
pub fn write_out(args: std::fmt::Arguments) {
    if let Err(err) = std::io::stdout().lock().write_fmt(args) {
        if err.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing the output: {err}");
        std::process::exit(i32::from(crate::EXIT_BAD_INPUT));
    }
}

/// `print!` through [`write_out`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!($($arg)*))
    };
}

/// `println!` through [`write_out`].
macro_rules! outln {
    () => {
        $crate::output::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {{
        $crate::output::write_out(format_args!($($arg)*));
        $crate::output::write_out(format_args!("\n"));
    }};
}

pub(crate) use {out, outln};

/// Colours words when stdout is a terminal and NO_COLOR is unset.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    color: bool,
}

impl Style {
    pub fn detect() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            color: !no_color && std::io::stdout().is_terminal(),
        }
    }

    /// No colour: for reports written to files.
    pub fn plain() -> Self {
        Self { color: false }
    }

    pub fn good(&self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn bad(&self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn warn(&self, text: &str) -> String {
        self.paint("33", text)
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// Columns padded to the widest cell; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| visible_len(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(visible_len(cell));
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        let mut out = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - visible_len(cell) + 2));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Characters a terminal shows: colour escape sequences take no room.
fn visible_len(text: &str) -> usize {
    let mut count = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => count += 1,
        }
    }
    count
}

/// Prints a value as JSON or YAML; false for the human formats.
pub fn structured<T: Serialize>(format: OutputFormat, value: &T) -> Result<bool> {
    match format {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(value)?),
        OutputFormat::Yaml => out!("{}", serde_yaml_ng::to_string(value)?),
        OutputFormat::Table | OutputFormat::Wide => return Ok(false),
    }
    Ok(true)
}

/// Shortens a cell for the narrow table; `wide` keeps everything.
pub fn fit(text: &str, max: usize, wide: bool) -> String {
    if wide || text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

//! All output: data to stdout, status, warnings and hints to stderr; tables, JSON and YAML;
//! spinners on long work; the few questions a wizard asks. Colour only on a terminal and never
//! with `NO_COLOR`. Nothing else in the crate prints.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::IsTerminal;
use std::io::Write;
use std::time::Duration;

use comfy_table::{ContentArrangement, Table as ComfyTable, presets};
use serde::Serialize;

/// How data is rendered where a command returns data (`-o/--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
    Yaml,
}

/// How much the user wants to hear on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Verbosity {
    Quiet,
    #[default]
    Normal,
    Verbose,
}

/// A list longer than this (about a screen) is summarised with counts unless the user asked for
/// everything (`-v`, `-o json`).
pub const LONG_LIST: usize = 20;

/// Returns true when long lists are shown whole: with `-v`, or when the output is for a
/// machine (`-o json|yaml`).
pub fn full_lists(ui: &Ui) -> bool {
    ui.verbosity == Verbosity::Verbose || ui.format != OutputFormat::Table
}

/// Returns `names` joined with ", ", or, past [`LONG_LIST`] names and unless `full`, the first
/// five and "and N more" (the caller says how to see the rest).
pub fn name_list(names: &[String], full: bool) -> String {
    if full || names.len() <= LONG_LIST {
        return names.join(", ");
    }
    format!("{}, … and {} more", names[..5].join(", "), names.len() - 5)
}

/// Rows and columns a command returns; rendered as a table, or as a list of objects in JSON
/// and YAML.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) -> &mut Self {
        self.rows.push(cells);
        self
    }
}

/// One piece of a command's output, rendered by the front end through [`Ui::render`], or sent
/// as is by a front end that forwards reports (serialized as `{"kind": "status", "text": ...}`,
/// and `{"kind": "data", "value": ...}` for data: the table is the human view of that value).
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A progress or result sentence (stderr; hidden by `-q`).
    Status(String),
    /// Something the user should look at (stderr).
    Warning(String),
    /// The next step (stderr).
    Hint(String),
    /// Prose for a human, such as help text (stdout in table mode; omitted in JSON/YAML).
    Text(String),
    /// Data: `value` for JSON/YAML, `table` for humans.
    Data {
        value: serde_json::Value,
        table: Table,
    },
}

impl Serialize for Item {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        match self {
            Item::Status(text) => {
                map.serialize_entry("kind", "status")?;
                map.serialize_entry("text", text)?;
            }
            Item::Warning(text) => {
                map.serialize_entry("kind", "warning")?;
                map.serialize_entry("text", text)?;
            }
            Item::Hint(text) => {
                map.serialize_entry("kind", "hint")?;
                map.serialize_entry("text", text)?;
            }
            Item::Text(text) => {
                map.serialize_entry("kind", "text")?;
                map.serialize_entry("text", text)?;
            }
            // The table is the human view of `value`; a forwarded report carries the value.
            Item::Data { value, .. } => {
                map.serialize_entry("kind", "data")?;
                map.serialize_entry("value", value)?;
            }
        }
        map.end()
    }
}

/// The one place output goes through.
#[derive(Debug, Clone)]
pub struct Ui {
    pub format: OutputFormat,
    pub verbosity: Verbosity,
    pub color: bool,
}

impl Default for Ui {
    fn default() -> Self {
        Self::new(OutputFormat::Table, Verbosity::Normal)
    }
}

impl Ui {
    /// Returns a Ui that colours only when stderr is a terminal and `NO_COLOR` is unset.
    pub fn new(format: OutputFormat, verbosity: Verbosity) -> Self {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self {
            format,
            verbosity,
            color,
        }
    }

    /// Returns a copy rendering data in `format`.
    pub fn with_format(&self, format: OutputFormat) -> Self {
        Self {
            format,
            ..self.clone()
        }
    }

    /// Writes a line of data to stdout.
    pub fn data(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
    }

    /// Writes a status line to stderr (suppressed by `-q`).
    pub fn status(&self, text: &str) {
        if self.verbosity > Verbosity::Quiet {
            eprintln!("{text}");
        }
    }

    /// Writes a warning to stderr.
    pub fn warning(&self, text: &str) {
        if self.color {
            eprintln!("\x1b[33mWarning:\x1b[0m {text}");
        } else {
            eprintln!("Warning: {text}");
        }
    }

    /// Writes a hint to stderr.
    pub fn hint(&self, text: &str) {
        if self.color {
            eprintln!("\x1b[36mHint:\x1b[0m {text}");
        } else {
            eprintln!("Hint: {text}");
        }
    }

    /// Writes an error and its hints to stderr.
    pub fn error(&self, text: &str, hints: &[String]) {
        if self.color {
            eprintln!("\x1b[31mError:\x1b[0m {text}");
        } else {
            eprintln!("Error: {text}");
        }
        for hint in hints {
            self.hint(hint);
        }
    }

    /// Renders one output item.
    pub fn render(&self, item: &Item) {
        match item {
            Item::Status(text) => self.status(text),
            Item::Warning(text) => self.warning(text),
            Item::Hint(text) => {
                if self.verbosity > Verbosity::Quiet {
                    self.hint(text)
                }
            }
            Item::Text(text) => {
                if self.format == OutputFormat::Table {
                    self.data(text.trim_end_matches('\n'))
                }
            }
            // A table with neither headers nor rows means "machine report only" (`/test`).
            Item::Data { table, .. }
                if self.format == OutputFormat::Table
                    && table.headers.is_empty()
                    && table.rows.is_empty() => {}
            Item::Data { value, table } => self.data(&self.render_data(value, table)),
        }
    }

    /// Returns data as text in the chosen format.
    pub fn render_data(&self, value: &serde_json::Value, table: &Table) -> String {
        match self.format {
            OutputFormat::Json => serde_json::to_string_pretty(value)
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")),
            OutputFormat::Yaml => yaml_serde::to_string(value)
                .unwrap_or_else(|e| format!("error: {e}"))
                .trim_end()
                .to_string(),
            OutputFormat::Table => self.table_string(table),
        }
    }

    /// Returns a table sized to the terminal (or unbounded when not on one).
    pub fn table_string(&self, table: &Table) -> String {
        let mut out = ComfyTable::new();
        if std::io::stdout().is_terminal() {
            // Sized to the terminal; box drawing only where colour is welcome too.
            out.set_content_arrangement(ContentArrangement::Dynamic);
            out.load_preset(if self.color {
                presets::UTF8_FULL_CONDENSED
            } else {
                presets::ASCII_FULL_CONDENSED
            });
        } else {
            out.load_preset(presets::ASCII_FULL_CONDENSED);
            out.force_no_tty();
        }
        if !table.headers.is_empty() {
            out.set_header(table.headers.clone());
        }
        for row in &table.rows {
            out.add_row(row.clone());
        }
        out.to_string()
    }

    /// Starts a spinner with elapsed time and "Ctrl-C to interrupt" on a terminal; a no-op
    /// otherwise. The spinner is cleared when the returned guard drops.
    pub fn spinner(&self, message: &str) -> Spinner {
        if !self.color || self.verbosity == Verbosity::Quiet {
            return Spinner(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} {msg} ({elapsed}) \x1b[2mCtrl-C to interrupt\x1b[0m",
        ) {
            bar.set_style(style);
        }
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Spinner(Some(bar))
    }

    /// Asks a question on the terminal and returns the answer (or `default` on an empty
    /// line). Returns `None` when the user pressed Ctrl-C or Ctrl-D.
    pub fn ask(&self, question: &str, default: Option<&str>) -> Option<String> {
        let prompt = match default {
            Some(d) if !d.is_empty() => format!("{question} [{d}]: "),
            _ => format!("{question}: "),
        };
        let mut editor = rustyline::DefaultEditor::new().ok()?;
        match editor.readline(&prompt) {
            Ok(line) => {
                let line = line.trim().to_string();
                if line.is_empty() {
                    Some(default.unwrap_or_default().to_string())
                } else {
                    Some(line)
                }
            }
            Err(_) => None,
        }
    }

    /// Asks for a secret (a token secret, a password) without echoing it. Returns `None` at
    /// end of input.
    pub fn secret(&self, question: &str) -> Option<String> {
        read_secret_line(Some(&format!("{question}: ")))
    }
}

/// Reads one line from standard input without echo when it is a terminal (a pasted secret, a
/// password). Byte by byte from the file descriptor, so nothing past the line is buffered away
/// from the console's line editor. Returns `None` at end of input.
pub fn read_secret_line(prompt: Option<&str>) -> Option<String> {
    use std::io::Write;
    // SAFETY: isatty/tcgetattr/tcsetattr/read on fd 0 with a valid termios buffer.
    let tty = unsafe { libc::isatty(0) } == 1;
    let mut saved: Option<libc::termios> = None;
    if tty {
        let mut term = unsafe { std::mem::zeroed::<libc::termios>() };
        if unsafe { libc::tcgetattr(0, &mut term) } == 0 {
            saved = Some(term);
            term.c_lflag &= !libc::ECHO;
            term.c_lflag |= libc::ICANON;
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &term) };
        }
    }
    if let Some(p) = prompt {
        eprint!("{p}");
        let _ = std::io::stderr().flush();
    }
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    let complete = loop {
        let n = unsafe { libc::read(0, byte.as_mut_ptr().cast(), 1) };
        if n <= 0 {
            break !bytes.is_empty();
        }
        if byte[0] == b'\n' {
            break true;
        }
        bytes.push(byte[0]);
    };
    if let Some(term) = saved {
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &term) };
        // The Enter was not echoed either.
        eprintln!();
    }
    complete.then(|| String::from_utf8_lossy(&bytes).trim().to_string())
}

/// A running spinner; cleared on drop.
pub struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    /// Replaces the message (progress of long work, such as `/sync`'s guests read / total).
    pub fn set_message(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_string());
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}

/// The process's resident memory now and at its peak (`VmRSS`, `VmHWM` from
/// `/proc/self/status`), in MiB, for the `-v` log's phase events: where a large sync or plan
/// holds its memory. Zeros where /proc is not there.
pub fn resident_mib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

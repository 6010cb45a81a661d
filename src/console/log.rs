//! The `-v` log: tracing events go to `.proxmox/proxmox-mpc.log` in the workspace. The file is
//! attached as soon as a workspace exists (right after `/init` too). Events carry command names
//! and outcomes, never lines typed or secrets.

use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use crate::commands::Ctx;

/// The log file the subscriber writes to: set (empty) once when `-v` installs the logger, filled
/// once a workspace exists. A static on purpose, and the only one of ours: tracing's subscriber
/// is itself process-wide (installed once with `try_init`, it needs a `'static` writer factory),
/// and the file it writes to must outlive every front end that attaches it (a CLI command, the
/// console loop, the demo), so its one home is beside the subscriber. It holds only where the
/// log goes, never data of a command or session.
static SINK: OnceLock<Mutex<Option<File>>> = OnceLock::new();

/// A writer into the log file (dropping lines until a workspace exists).
struct SinkWriter;

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(lock) = SINK.get()
            && let Ok(mut guard) = lock.lock()
            && let Some(file) = guard.as_mut()
        {
            return file.write(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the file logger when `verbose`; a no-op otherwise (tracing then costs nothing).
pub fn init(verbose: bool) {
    if !verbose || SINK.set(Mutex::new(None)).is_err() {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(|| SinkWriter)
        .try_init();
}

/// Opens the workspace's log file once the logger is on and a workspace exists.
pub fn attach_if_possible(ctx: &Ctx) {
    let (Some(lock), Some(workspace)) = (SINK.get(), ctx.workspace_opt()) else {
        return;
    };
    let Ok(mut guard) = lock.lock() else { return };
    if guard.is_some() {
        return;
    }
    let path = workspace.log_path();
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    if let Ok(file) = options.open(&path) {
        *guard = Some(file);
        drop(guard);
        tracing::info!(version = env!("CARGO_PKG_VERSION"), "log attached");
    }
}

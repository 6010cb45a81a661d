//! The console on a real terminal (tmux): `/help`, the `/init` wizard against the simulator
//! over HTTPS with fingerprint pinning, `/status`, an unknown command, Ctrl-C, `/exit`, and
//! history that survives a restart without the secret. Needs `tmux` on PATH (scripts/test
//! and CI install it).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{TOKEN_VAR, TestSim, bin};

/// A tmux server of its own, with one session running the console.
pub(crate) struct Tmux {
    socket: String,
}

impl Tmux {
    pub(crate) fn start(dir: &Path, env: &[(&str, String)]) -> Self {
        Self::start_args(dir, env, &[])
    }

    /// As [`Self::start`], running `proxmox-mpc ARGS` (`demo FOLDER`).
    pub(crate) fn start_args(dir: &Path, env: &[(&str, String)], args: &[&str]) -> Self {
        let socket = format!("pmpc-test-{}-{}", std::process::id(), rand_suffix());
        let mut command = format!("cd '{}' && exec env -u NO_COLOR", dir.display());
        for (k, v) in env {
            command.push_str(&format!(" {k}='{v}'"));
        }
        command.push_str(&format!(" '{}'", bin().display()));
        for arg in args {
            command.push_str(&format!(" '{arg}'"));
        }
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                "150",
                "-y",
                "50",
            ])
            .arg(command)
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux is installed (apt-get install -y tmux)");
        assert!(status.success());
        Self { socket }
    }

    pub(crate) fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    pub(crate) fn screen(&self) -> String {
        String::from_utf8_lossy(
            &self
                .tmux(&["capture-pane", "-p", "-J", "-S", "-200", "-t", "t"])
                .stdout,
        )
        .into_owned()
    }

    pub(crate) fn type_line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", text]);
        self.tmux(&["send-keys", "-t", "t", "Enter"]);
    }

    pub(crate) fn keys(&self, keys: &str) {
        self.tmux(&["send-keys", "-t", "t", keys]);
    }

    /// Waits until the screen contains `text` (at least `count` times).
    pub(crate) fn wait_for_n(&self, text: &str, count: usize) -> String {
        self.wait_within(text, count, Duration::from_secs(20))
            .unwrap_or_else(|screen| panic!("waited for `{text}` (x{count}); screen:\n{screen}"))
    }

    /// As [`Self::wait_for_n`], giving back the screen instead of failing when `limit` passes.
    pub(crate) fn wait_within(
        &self,
        text: &str,
        count: usize,
        limit: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen();
            if screen.matches(text).count() >= count {
                return Ok(screen);
            }
            if Instant::now() >= deadline {
                return Err(screen);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn wait_for(&self, text: &str) -> String {
        self.wait_for_n(text, 1)
    }

    pub(crate) fn wait_gone(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.tmux(&["has-session", "-t", "t"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "the console did not exit; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

#[test]
fn a_person_at_a_terminal_inits_checks_status_and_leaves() {
    let sim = TestSim::homelab();
    let dir = tempfile::tempdir().unwrap();
    let env = [(TOKEN_VAR, sim.full_token())];
    let tmux = Tmux::start(dir.path(), &env);

    tmux.wait_for("proxmox-mpc> ");
    // `/` and Tab list the commands with their one-line descriptions.
    tmux.keys("/");
    tmux.keys("Tab");
    tmux.keys("Tab");
    tmux.wait_for("Show the workspace, the cluster and what changed");
    tmux.keys("C-u");
    tmux.type_line("/help");
    tmux.wait_for("Commands:");

    tmux.type_line("/init");
    tmux.wait_for("Proxmox VE endpoint");
    tmux.type_line(&sim.url());
    tmux.wait_for("API token id");
    tmux.type_line(&sim.token_id());
    tmux.wait_for("Where is the token secret read from?");
    tmux.type_line(&format!("env:{TOKEN_VAR}"));
    let screen = tmux.wait_for("Pin this fingerprint");
    assert!(
        screen.contains(&sim.fingerprint()),
        "the fingerprint is shown:\n{screen}"
    );
    tmux.type_line("yes");
    tmux.wait_for("Workspace ready");
    tmux.wait_for("proxmox-mpc[default]> ");
    assert!(dir.path().join(".proxmox/config.yml").is_file());

    tmux.type_line("/status");
    tmux.wait_for("last sync");

    tmux.type_line("/snyc");
    tmux.wait_for("did you mean /sync?");

    // Ctrl-C cancels the half-typed line; the console stays.
    tmux.keys("/stat");
    tmux.keys("C-c");
    tmux.type_line("/help config");
    tmux.wait_for("/config — Show the effective configuration");

    // Ctrl-C cancels a running operation; the console answers at once afterwards.
    tmux.type_line("!sleep 29.123");
    // Wait until the command really runs, so Ctrl-C reaches the operation, not the line editor.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !Command::new("pgrep")
        .args(["-f", "sleep 29.123"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        assert!(
            Instant::now() < deadline,
            "!sleep did not start:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    tmux.keys("C-c");
    // On a loaded machine tmux can deliver the key before the console listens for it; a
    // person would press Ctrl-C again, and so does the test (once, within the same bound).
    if tmux
        .wait_within("Error: interrupted", 1, Duration::from_secs(4))
        .is_err()
    {
        tmux.keys("C-c");
    }
    tmux.wait_for("Error: interrupted");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the operation was not cancelled"
    );
    tmux.type_line("/help exit");
    tmux.wait_for("/exit — Leave the console");

    // A line carrying a full token must not reach the history file.
    tmux.type_line(&format!("!true {}", sim.full_token()));
    tmux.wait_for_n("proxmox-mpc[default]> ", 8);

    tmux.type_line("/exit");
    tmux.wait_gone();

    let history =
        std::fs::read_to_string(dir.path().join(".proxmox/history")).expect("history written");
    assert!(
        history.contains("/status") && history.contains("/snyc"),
        "{history}"
    );
    assert!(
        !history.contains(&sim.secret()),
        "the secret reached the history:\n{history}"
    );
    assert!(
        !history.contains("/stat\n"),
        "the cancelled line is not history:\n{history}"
    );

    // History survives a restart: Up recalls the last line.
    let tmux = Tmux::start(dir.path(), &env);
    tmux.wait_for("proxmox-mpc[default]> ");
    tmux.keys("Up");
    tmux.wait_for("proxmox-mpc[default]> /exit");
    tmux.keys("Enter");
    tmux.wait_gone();
}

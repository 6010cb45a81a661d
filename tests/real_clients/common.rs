//! What every real-client test needs: the Python venv (from `support`), a running simulator
//! with its certificate in a file, and a way to run a tool with a clean, loopback-only
//! environment.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use proxmox_mpc::sim::{Sim, SimConfig, SimControl};
use tokio::process::Command;

use crate::support::repo_root;
pub use crate::support::venv::Venv;

/// How long one tool run may take before the test fails (a hung client is a failure too).
const TOOL_TIMEOUT: Duration = Duration::from_secs(300);

/// A homelab simulator over HTTPS, with its certificate written to a file clients can trust.
pub struct SimUnderTest {
    pub sim: Sim,
    pub ca_file: PathBuf,
    /// Scratch space for this test (certificate, Ansible home and temp dirs).
    pub dir: tempfile::TempDir,
}

impl SimUnderTest {
    pub async fn homelab() -> SimUnderTest {
        Self::start(SimConfig::homelab()).await
    }

    pub async fn start(config: SimConfig) -> SimUnderTest {
        let sim = Sim::start(config)
            .await
            .expect("the homelab simulator starts on 127.0.0.1:0");
        assert!(
            sim.url().starts_with("https://127.0.0.1:"),
            "simulator URL {} is not HTTPS on loopback",
            sim.url()
        );
        let dir = tempfile::Builder::new()
            .prefix("real-clients-")
            .tempdir_in(scratch_root())
            .expect("a scratch directory under target/");
        let ca_file = dir.path().join("sim-cert.pem");
        let pem = sim
            .cert_pem()
            .expect("an HTTPS simulator has a certificate");
        std::fs::write(&ca_file, pem).expect("the certificate file is written");
        SimUnderTest { sim, ca_file, dir }
    }

    pub fn control(&self) -> SimControl {
        self.sim.control()
    }

    /// The HOME the tools see (inside this test's scratch dir).
    pub fn home(&self) -> PathBuf {
        let home = self.dir.path().join("home");
        std::fs::create_dir_all(&home).expect("the scratch HOME can be created");
        home
    }

    /// Ansible kept all of its state under the directories the test gave it.
    pub fn assert_ansible_left_home_alone(&self) {
        let dot_ansible = self.home().join(".ansible");
        assert!(
            !dot_ansible.exists(),
            "Ansible wrote to {} despite ANSIBLE_HOME and the temp settings",
            dot_ansible.display()
        );
    }

    /// Returns (host, port) of the simulator's URL.
    pub fn host_port(&self) -> (String, u16) {
        let url = url::Url::parse(&self.sim.url()).expect("the simulator URL parses");
        (
            url.host_str().expect("URL has a host").to_string(),
            url.port().expect("URL has a port"),
        )
    }

    /// A command for a venv tool with an environment that only reaches this simulator: no proxy,
    /// no credentials from the caller's environment, our certificate as the CA bundle, and the
    /// token passed only by environment (never on the command line).
    pub fn tool(&self, venv: &Venv, program: &str) -> Command {
        let mut cmd = Command::new(venv.bin(program));
        for var in [
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "CURL_CA_BUNDLE",
            "SSL_CERT_FILE",
            "PYTHONPATH",
            "PYTHONHOME",
        ] {
            cmd.env_remove(var);
        }
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.starts_with("PROXMOX_")
                || key.starts_with("ANSIBLE_")
                || key.starts_with("PMPC_SIM")
            {
                cmd.env_remove(&key);
            }
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![venv.bin_dir()];
        paths.extend(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(paths).expect("PATH joins"))
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .env("REQUESTS_CA_BUNDLE", &self.ca_file)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            // a HOME of its own: nothing a tool writes lands in the real home directory, and
            // the Ansible tests can prove that nothing was written to ~/.ansible at all
            .env("HOME", self.home())
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Adds the Ansible settings: config from the repo, every Ansible directory under this test's
    /// scratch dir (nothing under ~/.ansible), the connection and token through the variables the
    /// collection reads.
    pub fn ansible(&self, venv: &Venv, program: &str) -> Command {
        let mut cmd = self.tool(venv, program);
        let home = self.dir.path().join("ansible-home");
        let tmp = self.dir.path().join("ansible-tmp");
        let (host, port) = self.host_port();
        let token_id = self.sim.token_id();
        let (user, token_name) = token_id
            .split_once('!')
            .expect("the token id has the form user@realm!name");
        cmd.env(
            "ANSIBLE_CONFIG",
            repo_root().join("tests/python/ansible/ansible.cfg"),
        )
        .env("ANSIBLE_HOME", &home)
        .env("ANSIBLE_LOCAL_TEMP", &tmp)
        .env("ANSIBLE_REMOTE_TEMP", &tmp)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORCE_COLOR", "0")
        .env("ANSIBLE_PYTHON_INTERPRETER", venv.bin("python"))
        // the inventory plugin reads these
        .env("PROXMOX_URL", self.sim.url())
        .env("PROXMOX_USER", user)
        .env("PROXMOX_TOKEN_ID", token_name)
        .env("PROXMOX_TOKEN_SECRET", self.sim.token_secret())
        // the modules (proxmox_kvm, proxmox_vm_info) read these
        .env("PROXMOX_HOST", host)
        .env("PROXMOX_PORT", port.to_string())
        .env("PROXMOX_VALIDATE_CERTS", "true");
        cmd
    }

    /// Runs a tool to its end and returns its output; fails the test if it fails, hangs, or
    /// prints the token secret or the password.
    pub async fn run(&self, mut cmd: Command, what: &str) -> (Output, Duration) {
        let started = Instant::now();
        let output = match tokio::time::timeout(TOOL_TIMEOUT, cmd.output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(err)) => panic!("{what}: cannot run {cmd:?}: {err}"),
            Err(_) => panic!("{what}: did not finish within {TOOL_TIMEOUT:?}"),
        };
        let took = started.elapsed();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        for (secret, kind) in [
            (self.sim.token_secret(), "token secret"),
            (self.sim.password().1, "password"),
        ] {
            assert!(
                !stdout.contains(&secret) && !stderr.contains(&secret),
                "{what}: the {kind} appears in the tool's output"
            );
        }
        assert!(
            output.status.success(),
            "{what} failed ({}) after {took:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            output.status
        );
        (output, took)
    }

    /// Every request the tool made used the expected token, and none was refused for auth.
    pub fn assert_all_requests_authenticated(&self, what: &str) {
        let log = self.control().request_log();
        assert!(!log.is_empty(), "{what}: the simulator saw no request");
        for entry in &log {
            assert_ne!(entry.status, 401, "{what}: request refused: {entry:?}");
            assert_eq!(
                entry.token_id.as_deref(),
                Some(self.sim.token_id().as_str()),
                "{what}: request not made with the test's token: {entry:?}"
            );
        }
    }

    pub async fn stop(self) {
        self.sim.shutdown().await;
    }
}

/// Scratch directories go under target/ so a run leaves nothing in $HOME or the source tree.
fn scratch_root() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
        .join("real-clients");
    std::fs::create_dir_all(&dir).expect("target/real-clients can be created");
    dir
}

/// Reads a JSON file from tests/python/.
pub fn python_fixture(relative: &str) -> serde_json::Value {
    let path = repo_root().join("tests/python").join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display()))
}

pub fn python_script(name: &str) -> PathBuf {
    let path = repo_root().join("tests/python").join(name);
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

pub fn ansible_file(name: &str) -> PathBuf {
    let path: &Path = &repo_root().join("tests/python/ansible").join(name);
    assert!(path.is_file(), "{} is missing", path.display());
    path.to_path_buf()
}

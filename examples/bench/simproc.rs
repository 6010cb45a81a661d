//! The simulator as a separate process, so its CPU time and memory are not counted as ours.
//!
//! The bench binary starts itself as `bench serve-sim ...`; that child runs the library's
//! simulator on 127.0.0.1:0 and speaks a line protocol on stdin/stdout: it first prints one
//! JSON line (url, fingerprint, token id, secret, certificate PEM; the pipe is the only place
//! the secret goes), then answers `count` (requests served so far), `drift N` (changes the
//! memory of N guests out of band, as if someone used the PVE GUI) and `quit`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use proxmox_mpc::sim::{Faults, Sim, SimConfig};
use proxmox_mpc::ui::Ui;

/// The cluster and network model one simulator process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimSpec {
    /// 0 = the homelab seed (3 nodes, ~30 guests).
    pub guests: usize,
    pub nodes: usize,
    pub latency_ms: u64,
    pub capacity: usize,
    pub task_ms: u64,
}

impl SimSpec {
    pub fn homelab(latency_ms: u64, capacity: usize) -> Self {
        Self {
            guests: 0,
            nodes: 3,
            latency_ms,
            capacity,
            task_ms: 0,
        }
    }

    pub fn generated(guests: usize, nodes: usize, latency_ms: u64, capacity: usize) -> Self {
        Self {
            guests,
            nodes,
            latency_ms,
            capacity,
            task_ms: 0,
        }
    }

    fn to_args(self) -> Vec<String> {
        vec![
            "serve-sim".into(),
            self.guests.to_string(),
            self.nodes.to_string(),
            self.latency_ms.to_string(),
            self.capacity.to_string(),
            self.task_ms.to_string(),
        ]
    }

    fn from_args(args: &[String]) -> Result<Self, String> {
        let n = |i: usize| -> Result<u64, String> {
            args.get(i)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("serve-sim: argument {i} missing or not a number"))
        };
        Ok(Self {
            guests: n(0)? as usize,
            nodes: n(1)? as usize,
            latency_ms: n(2)?,
            capacity: n(3)? as usize,
            task_ms: n(4)?,
        })
    }
}

/// Runs in the child: serves the simulator until `quit` or the end of stdin.
pub fn serve(args: &[String], ui: &Ui) -> Result<(), String> {
    let spec = SimSpec::from_args(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let config = if spec.guests == 0 {
            SimConfig::homelab()
        } else {
            SimConfig::generated(spec.nodes, spec.guests, 1)
        };
        let faults = Faults {
            latency: Duration::from_millis(spec.latency_ms),
            capacity: spec.capacity,
            task_duration: Duration::from_millis(spec.task_ms),
            ..Faults::none()
        };
        let sim = Sim::start(config.with_faults(faults))
            .await
            .map_err(|e| format!("simulator does not start: {e}"))?;
        let hello = serde_json::json!({
            "url": sim.url(),
            "fingerprint": sim.fingerprint(),
            "token_id": sim.token_id(),
            "secret": sim.token_secret(),
            "cert_pem": sim.cert_pem(),
            "guests": sim.control().guest_count(),
        });
        ui.data(&hello.to_string());
        let control = sim.control();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = rx.recv().await {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("count") => ui.data(&control.request_count().to_string()),
                Some("drift") => {
                    let n: usize = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                    let ids = control.guest_ids();
                    let step = (ids.len() / n.max(1)).max(1);
                    let mut changed = 0;
                    for vmid in ids.iter().step_by(step).take(n) {
                        let memory = control
                            .guest_config(*vmid)
                            .and_then(|c| c.get("memory").and_then(|m| m.parse::<u64>().ok()))
                            .unwrap_or(512);
                        if control
                            .set_guest_config(*vmid, "memory", &(memory + 256).to_string())
                            .is_ok()
                        {
                            changed += 1;
                        }
                    }
                    ui.data(&changed.to_string());
                }
                Some("quit") | None => break,
                Some(other) => ui.data(&format!("error: unknown command {other}")),
            }
        }
        sim.shutdown().await;
        Ok(())
    })
}

/// The parent's handle on a simulator process.
pub struct SimProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub spec: SimSpec,
    pub url: String,
    pub fingerprint: String,
    pub token_id: String,
    /// Kept in memory only; handed to our binary and the peers through their environment.
    pub secret: String,
    pub cert_pem: String,
    pub guests: usize,
}

impl SimProc {
    pub fn start(spec: SimSpec) -> Result<Self, String> {
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find the bench binary: {e}"))?;
        let mut child = Command::new(exe)
            .args(spec.to_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the simulator process: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin pipe to the simulator")?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout pipe")?);
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .map_err(|e| format!("simulator process: {e}"))?;
        let hello: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| format!("simulator process did not start ({e}): {line}"))?;
        let s = |k: &str| hello[k].as_str().unwrap_or_default().to_string();
        Ok(Self {
            spec,
            url: s("url"),
            fingerprint: s("fingerprint"),
            token_id: s("token_id"),
            secret: s("secret"),
            cert_pem: s("cert_pem"),
            guests: hello["guests"].as_u64().unwrap_or(0) as usize,
            child,
            stdin,
            stdout,
        })
    }

    fn ask(&mut self, command: &str) -> Result<String, String> {
        writeln!(self.stdin, "{command}").map_err(|e| format!("simulator process: {e}"))?;
        self.stdin
            .flush()
            .map_err(|e| format!("simulator process: {e}"))?;
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| format!("simulator process: {e}"))?;
        Ok(line.trim().to_string())
    }

    /// Requests the simulator has served so far.
    pub fn count(&mut self) -> Result<u64, String> {
        let answer = self.ask("count")?;
        answer
            .parse()
            .map_err(|_| format!("simulator answered '{answer}' to count"))
    }

    /// Changes the memory of `n` guests on the server; returns how many changed.
    pub fn drift(&mut self, n: usize) -> Result<usize, String> {
        let answer = self.ask(&format!("drift {n}"))?;
        answer
            .parse()
            .map_err(|_| format!("simulator answered '{answer}' to drift"))
    }

    pub fn label(&self) -> String {
        if self.spec.guests == 0 {
            format!("homelab {} guests", self.guests)
        } else {
            format!("{} guests / {} nodes", self.guests, self.spec.nodes)
        }
    }
}

impl Drop for SimProc {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

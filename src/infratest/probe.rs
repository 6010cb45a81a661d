//! Checks that need more than the discovered snapshot:
//!
//! - `tcp`: a TCP connect from the console's host. When the API endpoint is itself a loopback
//!   address (the simulator, or a local tunnel) only loopback targets (127.0.0.0/8, ::1) are
//!   probed and any other target is refused with the reason, so a test run against the
//!   simulator never sends a packet off this machine.
//! - `reaches`: a connection from inside a guest, run through the QEMU guest agent's exec API
//!   (`POST .../agent/exec`, then `GET .../agent/exec-status`): `nc -z` to the port, and, when
//!   the guest has no `nc` (exit 127), `ping` to the address with a note that the port itself
//!   was not probed. Guests without an agent (containers, `agent: 0`) are skipped with the
//!   reason.
//! - utilisation: `GET /nodes/{node}/{qemu|lxc}/{vmid}/rrddata?timeframe=…&cf=AVERAGE`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use super::spec::{ReachesCheck, TcpCheck, UtilisationCheck, UtilisationKind};
use super::{Check, CheckResult};
use crate::iac::ansible::static_address;
use crate::iac::desired::WorkspaceRead;
use crate::model::{ClusterSnapshot, Guest, GuestConfig, GuestKind, GuestStatus};
use crate::pve::{Client, params};

/// What the I/O checks share: the client, the workspace and its code.
pub struct ProbeContext<'a> {
    pub client: &'a Client,
    pub root: &'a Path,
    pub code: &'a WorkspaceRead,
    pub known_secrets: &'a [String],
    /// True when only loopback addresses may be probed from this host.
    pub loopback_only: bool,
    /// What state.db says the console last wrote (relative path -> SHA-256), or why that is
    /// not known.
    pub written: Result<BTreeMap<String, String>, String>,
}

impl<'a> ProbeContext<'a> {
    pub fn new(
        client: &'a Client,
        root: &'a Path,
        code: &'a WorkspaceRead,
        known_secrets: &'a [String],
    ) -> Self {
        Self {
            client,
            root,
            code,
            known_secrets,
            loopback_only: endpoint_is_loopback(client.endpoint()),
            written: Err("the hashes of the written files were not loaded".into()),
        }
    }

    fn code_guest(&self, vmid: u32) -> Option<&'a Guest> {
        self.code
            .state
            .files
            .iter()
            .map(|f| &f.guest)
            .find(|g| g.vmid == vmid)
    }

    /// The static address of a guest: from the code first (the desired state), then live.
    fn address_of(&self, vmid: u32, snapshot: &ClusterSnapshot) -> Option<String> {
        self.code_guest(vmid)
            .and_then(static_address)
            .or_else(|| snapshot.guest(vmid).and_then(static_address))
    }
}

/// Returns true when the endpoint's host is a loopback address or `localhost`.
pub fn endpoint_is_loopback(endpoint: &str) -> bool {
    // An endpoint we cannot read is treated as local: refusing to probe is the safe side.
    url::Url::parse(endpoint)
        .ok()
        .and_then(|u| match u.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip).is_loopback()),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip).is_loopback()),
            Some(url::Host::Domain(d)) => Some(d.eq_ignore_ascii_case("localhost")),
            None => None,
        })
        .unwrap_or(true)
}

fn millis(d: Duration) -> u128 {
    d.as_millis()
}

/// `tcp:` from this host.
pub async fn tcp(
    check: &Check,
    tcp: &TcpCheck,
    snapshot: &ClusterSnapshot,
    ctx: &ProbeContext<'_>,
) -> CheckResult {
    let vmid = check.subject.vmid().unwrap_or_default();
    let Some(host) = tcp.host.clone().or_else(|| ctx.address_of(vmid, snapshot)) else {
        return CheckResult::skipped(
            check,
            format!(
                "guest {vmid} has no static address in the code (cloud-init ipconfig0 or a container's net0); give one with tcp: {{host: ADDRESS, port: {}}}",
                tcp.port
            ),
        );
    };
    let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), tcp.port)).await {
        Ok(a) => a.collect(),
        Err(e) => {
            return CheckResult::mismatch(
                check,
                format!("{host}:{} open", tcp.port),
                format!("cannot resolve {host}: {e}"),
            );
        }
    };
    if ctx.loopback_only
        && let Some(outside) = addrs.iter().find(|a| !a.ip().is_loopback())
    {
        return CheckResult::failed(
            check,
            format!(
                "refused to probe {host} ({}): the API endpoint is a loopback address (the simulator or a local tunnel), so only 127.0.0.0/8 and ::1 are probed from this host",
                outside.ip()
            ),
        );
    }
    let Some(addr) = addrs.first().copied() else {
        return CheckResult::mismatch(
            check,
            format!("{host}:{} open", tcp.port),
            format!("{host} has no address"),
        );
    };
    let expected = format!("{host}:{} open", tcp.port);
    let started = Instant::now();
    match tokio::time::timeout(tcp.timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_stream)) => CheckResult::passed(check).with_message(format!(
            "connected to {addr} in {} ms",
            millis(started.elapsed())
        )),
        Ok(Err(e)) => CheckResult::mismatch(check, expected, format!("{addr}: {e}")),
        Err(_) => CheckResult::mismatch(
            check,
            expected,
            format!("{addr}: no answer within {} ms", millis(tcp.timeout)),
        ),
    }
}

/// What a command run through the guest agent returned.
struct ExecOutput {
    exitcode: i64,
    out: String,
    err: String,
}

/// Runs `argv` in VM `vmid` on `node` through the guest agent and waits for it to end.
async fn agent_exec(
    client: &Client,
    node: &str,
    vmid: u32,
    argv: &[String],
    timeout: Duration,
) -> Result<ExecOutput, String> {
    let base = format!("/nodes/{node}/qemu/{vmid}/agent");
    let agent_timeout = client.config().agent_timeout;
    // `command` is an array parameter. PVE's HTTP server folds repeated form keys into one
    // NUL-separated value and splits array parameters on NUL, so one NUL-joined value is what
    // it sees either way (and what the simulator's form parser, which keeps one value, reads).
    let body = params([("command", argv.join("\0"))]);
    let started = client
        .call_with_policy(
            Method::POST,
            &format!("{base}/exec"),
            body,
            agent_timeout,
            0,
        )
        .await
        .map_err(|e| e.to_string())?;
    let pid = started
        .get("pid")
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("the agent's exec answer has no pid: {started}"))?;
    let deadline = Instant::now() + timeout + agent_timeout;
    loop {
        let status = client
            .call_with_policy(
                Method::GET,
                &format!("{base}/exec-status"),
                params([("pid", pid.to_string())]),
                agent_timeout,
                0,
            )
            .await
            .map_err(|e| e.to_string())?;
        let exited = match status.get("exited") {
            Some(Value::Bool(b)) => *b,
            Some(v) => v.as_i64() == Some(1),
            None => false,
        };
        if exited {
            let text = |k: &str| {
                status
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            return Ok(ExecOutput {
                exitcode: status.get("exitcode").and_then(Value::as_i64).unwrap_or(-1),
                out: text("out-data"),
                err: text("err-data"),
            });
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "`{}` did not finish within {} ms",
                argv.join(" "),
                millis(timeout + agent_timeout)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// `reaches:` from inside the subject guest.
pub async fn reaches(
    check: &Check,
    r: &ReachesCheck,
    snapshot: &ClusterSnapshot,
    ctx: &ProbeContext<'_>,
) -> CheckResult {
    let vmid = check.subject.vmid().unwrap_or_default();
    let Some(source) = snapshot.guest(vmid) else {
        return CheckResult::failed(check, format!("guest {vmid} is not on the cluster"));
    };
    let agent = match &source.config {
        GuestConfig::Vm(vm) => vm.agent.as_ref().is_some_and(|a| a.enabled),
        GuestConfig::Container(_) => {
            return CheckResult::skipped(
                check,
                format!(
                    "{} is a container: containers have no QEMU guest agent to run the probe in",
                    source.name
                ),
            );
        }
    };
    if !agent {
        return CheckResult::skipped(
            check,
            format!(
                "{} has no QEMU guest agent (agent is off in its config), so nothing can run inside it",
                source.name
            ),
        );
    }
    let Some(host) = r
        .host
        .clone()
        .or_else(|| ctx.address_of(r.target_vmid, snapshot))
    else {
        return CheckResult::skipped(
            check,
            format!(
                "{} has no static address in the code; give one with reaches: {{guest: {}, port: {}, host: ADDRESS}}",
                r.target_name, r.target_name, r.port
            ),
        );
    };
    let expected = format!("{host}:{} reachable from {}", r.port, source.name);
    if source.status != GuestStatus::Running {
        return CheckResult::mismatch(check, expected, format!("{} is not running", source.name));
    }
    let secs = r.timeout.as_secs().max(1).to_string();
    let nc: Vec<String> = ["nc", "-z", "-w", &secs, &host, &r.port.to_string()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = match agent_exec(ctx.client, &source.node, vmid, &nc, r.timeout).await {
        Ok(o) => o,
        Err(e) => {
            return CheckResult::mismatch(
                check,
                expected,
                format!("the guest agent of {} failed: {e}", source.name),
            );
        }
    };
    match out.exitcode {
        0 => CheckResult::passed(check).with_message(format!("nc -z {host} {} succeeded", r.port)),
        127 => {
            let ping: Vec<String> = ["ping", "-c", "1", "-W", &secs, &host]
                .iter()
                .map(|s| s.to_string())
                .collect();
            match agent_exec(ctx.client, &source.node, vmid, &ping, r.timeout).await {
                Ok(p) if p.exitcode == 0 => CheckResult::passed(check).with_message(format!(
                    "{host} answered ping from {}; nc is not in the guest, so port {} itself was not probed",
                    source.name, r.port
                )),
                Ok(p) => CheckResult::mismatch(
                    check,
                    expected,
                    format!(
                        "no answer from {host} (ping exit {}: {})",
                        p.exitcode,
                        first_line(if p.err.is_empty() { &p.out } else { &p.err })
                    ),
                ),
                Err(e) => CheckResult::mismatch(
                    check,
                    expected,
                    format!("the guest agent of {} failed: {e}", source.name),
                ),
            }
        }
        code => CheckResult::mismatch(
            check,
            expected,
            format!(
                "nc exit {code}: {}",
                first_line(if out.err.is_empty() {
                    &out.out
                } else {
                    &out.err
                })
            ),
        ),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn window_secs(window: &str) -> u64 {
    match window {
        "day" => 86_400,
        "week" => 7 * 86_400,
        "month" => 30 * 86_400,
        "year" => 365 * 86_400,
        _ => 3_600,
    }
}

/// `cpu_below:` / `memory_headroom:` from RRD data.
pub async fn utilisation(
    check: &Check,
    u: &UtilisationCheck,
    snapshot: &ClusterSnapshot,
    ctx: &ProbeContext<'_>,
) -> CheckResult {
    let vmid = check.subject.vmid().unwrap_or_default();
    let Some(g) = snapshot.guest(vmid) else {
        return CheckResult::failed(check, format!("guest {vmid} is not on the cluster"));
    };
    let kind = match g.kind {
        GuestKind::Qemu => "qemu",
        GuestKind::Lxc => "lxc",
    };
    let path = format!("/nodes/{}/{kind}/{vmid}/rrddata", g.node);
    let rows: Vec<Value> = match ctx
        .client
        .get(
            &path,
            params([("timeframe", u.window.as_str()), ("cf", "AVERAGE")]),
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return CheckResult::failed(check, format!("cannot read RRD data: {e}")),
    };
    let latest = rows
        .iter()
        .filter_map(|r| r.get("time").and_then(number))
        .fold(0.0_f64, f64::max);
    let since = latest - window_secs(&u.window) as f64;
    let in_window = rows
        .iter()
        .filter(|r| r.get("time").and_then(number).is_some_and(|t| t > since));
    match u.kind {
        UtilisationKind::CpuBelow => {
            let values: Vec<f64> = in_window
                .filter_map(|r| r.get("cpu").and_then(number))
                .collect();
            if values.is_empty() {
                return CheckResult::skipped(
                    check,
                    format!("no CPU data for the last {} in the RRD", u.window),
                );
            }
            let average = values.iter().sum::<f64>() / values.len() as f64 * 100.0;
            let actual = format!("{average:.1}% average over the last {}", u.window);
            if average < u.percent {
                CheckResult::passed(check).with_message(actual)
            } else {
                CheckResult::mismatch(check, format!("below {}%", u.percent), actual)
            }
        }
        UtilisationKind::MemoryHeadroom => {
            let headrooms: Vec<f64> = in_window
                .filter_map(|r| {
                    let mem = r.get("mem").and_then(number)?;
                    let max = r.get("maxmem").and_then(number).filter(|m| *m > 0.0)?;
                    Some((max - mem) / max * 100.0)
                })
                .collect();
            if headrooms.is_empty() {
                return CheckResult::skipped(
                    check,
                    format!("no memory data for the last {} in the RRD", u.window),
                );
            }
            let least = headrooms.iter().copied().fold(f64::INFINITY, f64::min);
            let actual = format!(
                "{least:.1}% free at the busiest point of the last {}",
                u.window
            );
            if least >= u.percent {
                CheckResult::passed(check).with_message(actual)
            } else {
                CheckResult::mismatch(check, format!("at least {}% free", u.percent), actual)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_endpoints_restrict_probes() {
        assert!(endpoint_is_loopback("https://127.0.0.1:8006"));
        assert!(endpoint_is_loopback("https://127.9.3.1:8006/"));
        assert!(endpoint_is_loopback("http://localhost:1234"));
        assert!(endpoint_is_loopback("https://[::1]:8006"));
        assert!(!endpoint_is_loopback("https://pve.example.com:8006"));
        assert!(!endpoint_is_loopback("https://192.168.1.10:8006"));
        assert!(endpoint_is_loopback("not a url"));
    }
}

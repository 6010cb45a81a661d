//! The simulator binary's helpers: start a simulator over HTTP or HTTPS, talk to it with
//! reqwest as one token, wait for tasks.

use std::time::Duration;

use proxmox_mpc::sim::{Sim, SimConfig, TokenKind};
use serde_json::Value;

use crate::support::sim::start;

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Starts the homelab simulator (plain HTTP unless `tls`).
pub async fn homelab(tls: bool) -> Sim {
    install_crypto();
    let config = if tls {
        SimConfig::homelab()
    } else {
        SimConfig::homelab().http()
    };
    start(config).await
}

/// A reqwest client that trusts any certificate (the HTTPS tests pin it themselves).
pub fn http() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

/// A reply: status, reason phrase (HTTP/1.1), and the parsed body (Null when empty).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub raw: String,
}

impl Answer {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn message(&self) -> String {
        self.body["message"].as_str().unwrap_or("").to_string()
    }
}

/// Talks to one simulator as one token.
pub struct Api {
    pub base: String,
    pub auth: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(sim: &Sim, kind: TokenKind) -> Self {
        let (id, secret) = sim.token(kind);
        Self {
            base: format!("{}/api2/json", sim.url()),
            auth: format!("PVEAPIToken={id}={secret}"),
            client: http(),
        }
    }

    pub async fn call(&self, method: &str, path: &str, params: &[(&str, &str)]) -> Answer {
        let url = format!("{}{}", self.base, path);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method.clone(), &url);
        if !self.auth.is_empty() {
            req = req.header("Authorization", &self.auth);
        }
        if method == reqwest::Method::GET || method == reqwest::Method::DELETE {
            req = req.query(params);
        } else if !params.is_empty() {
            req = req.form(params);
        }
        let resp = req.send().await.expect("request reaches the simulator");
        let status = resp.status().as_u16();
        let raw = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Answer { status, body, raw }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, &[]).await
    }

    /// Waits until a task stops; returns its status object.
    pub async fn wait_task(&self, upid: &str) -> Value {
        let node = upid.split(':').nth(1).expect("UPID has a node");
        for _ in 0..500 {
            let a = self
                .get(&format!("/nodes/{node}/tasks/{}/status", urlencode(upid)))
                .await;
            assert_eq!(a.status, 200, "task status: {}", a.raw);
            if a.data()["status"] == "stopped" {
                return a.data().clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("task {upid} did not stop");
    }

    /// Runs a call that returns a UPID and waits for it; returns the exit status.
    pub async fn run_task(&self, method: &str, path: &str, params: &[(&str, &str)]) -> String {
        let a = self.call(method, path, params).await;
        assert_eq!(a.status, 200, "{method} {path}: {}", a.raw);
        let upid = a.data().as_str().expect("a UPID string").to_string();
        self.wait_task(&upid).await["exitstatus"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

pub fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

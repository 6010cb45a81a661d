//! No secret appears in any Debug output or log line: the tracing output of a whole session
//! (token and ticket auth, success and failure paths) is captured and searched.

use std::io::Write;
use std::sync::{Arc, Mutex};

use proxmox_mpc::model::GuestKind;
use proxmox_mpc::pve::{Auth, Client, PveError, Secret, TlsMode};
use proxmox_mpc::sim::{Faults, TokenKind};

use crate::support::sim::{homelab, ticket_client, token_config};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn secrets_never_reach_logs_or_debug_output() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    // Global, not scoped: a scoped subscriber misses events whose callsites other test threads
    // registered first. Other tests' logs land here too, which only widens the search.
    tracing::subscriber::set_global_default(subscriber).expect("only this test sets it");

    let sim = homelab().await;
    let (token_id, token_secret) = sim.token(TokenKind::Full);
    let (_, password) = sim.password();
    let mut debug_output = Vec::new();

    let config = token_config(&sim, TokenKind::Full);
    debug_output.push(format!("{config:?}"));
    let client = Client::new(config).unwrap();
    debug_output.push(format!("{client:?}"));
    let snapshot = client.discover(|_, _| {}).await.unwrap();
    debug_output.push(format!("{snapshot:?}"));
    let upid = client.start("pve3", GuestKind::Qemu, 104).await.unwrap();
    debug_output.push(format!("{:?}", client.wait(&upid).await));

    let ticket = ticket_client(&sim);
    debug_output.push(format!("{ticket:?}"));
    let upid = ticket.stop("pve3", GuestKind::Qemu, 104).await.unwrap();
    debug_output.push(format!("{:?}", ticket.wait(&upid).await));

    // Failure paths: wrong secret, a retried read, insecure mode's warning.
    let mut wrong = token_config(&sim, TokenKind::Full);
    wrong.auth = Auth::Token {
        id: token_id.clone(),
        secret: Secret::new(format!("{token_secret}-wrong")),
    };
    let err = Client::new(wrong).unwrap().version().await.unwrap_err();
    assert!(matches!(err, PveError::Auth { .. }));
    debug_output.push(format!("{err:?} {err}"));
    let mut faults = Faults::none();
    faults.error_rate_5xx = 0.5;
    faults.seed = 1;
    sim.control().set_faults(faults);
    let mut insecure = token_config(&sim, TokenKind::Full);
    insecure.tls = TlsMode::Insecure;
    let insecure = Client::new(insecure).unwrap();
    for _ in 0..5 {
        debug_output.push(format!("{:?}", insecure.nodes().await));
    }

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("PVE call"), "client logs were not captured");
    assert!(logs.contains("NOT verified"), "insecure mode did not warn");
    for (what, text) in [("logs", logs.as_str()), ("debug", &debug_output.join("\n"))] {
        assert!(!text.contains(&token_secret), "token secret in {what}");
        assert!(!text.contains(&password), "password in {what}");
        assert!(!text.contains("PVE:root@pam:"), "ticket in {what}");
    }
}

//! Done-when 2: a WebSocket client (tokio-tungstenite) subscribed during an apply of three
//! creates receives, for each step, a started and then a finished event naming its guest, and
//! then the job's end; a client that subscribes to the job afterwards (`?job=ID`, and the SSE
//! stream) gets the same events from the job's backlog. Cancelling a finished job is a 409.

use std::collections::BTreeMap;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::common::{Http, PATIENCE, Server, create_three, plan, synced, token};
use crate::support::sim::TestSim;

/// Reads JSON frames until `job`'s `job_finished`; returns that job's events in order.
async fn frames_until_end<S>(ws: &mut S, job: u64) -> Vec<Value>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut events = Vec::new();
    loop {
        let frame = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("an event before the patience runs out")
            .expect("the socket stays open")
            .expect("a frame");
        let Message::Text(text) = frame else { continue };
        let event: Value = serde_json::from_str(text.as_str()).expect("a JSON text frame");
        if event["job"].as_u64() != Some(job) {
            continue;
        }
        let end = event["type"] == "job_finished";
        events.push(event);
        if end {
            return events;
        }
    }
}

/// Checks the step events: for each step a started then a finished event, both naming the
/// guest; every named guest one of `names`; the job's end last.
fn check_steps(events: &[Value], names: &[String]) {
    assert_eq!(
        events.last().unwrap()["type"],
        "job_finished",
        "{events:#?}"
    );
    assert_eq!(events.last().unwrap()["status"], "succeeded", "{events:#?}");
    let mut started: BTreeMap<u64, usize> = BTreeMap::new();
    let mut finished: BTreeMap<u64, usize> = BTreeMap::new();
    let mut guests = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let step = e["step"].as_u64();
        match e["type"].as_str() {
            Some("step_started") => {
                started.insert(step.unwrap(), i);
                guests.push(e["guest"].as_str().unwrap().to_string());
            }
            Some("step_finished") => {
                finished.insert(step.unwrap(), i);
                assert!(e["guest"].is_string(), "{e}");
                assert!(e["outcome"].is_object(), "{e}");
            }
            _ => {}
        }
    }
    assert_eq!(started.len(), 3, "{events:#?}");
    assert_eq!(
        started.keys().collect::<Vec<_>>(),
        finished.keys().collect::<Vec<_>>()
    );
    for (step, at) in &started {
        assert!(
            at < &finished[step],
            "step {step} finished before it started: {events:#?}"
        );
    }
    guests.sort();
    assert_eq!(guests, names, "{events:#?}");
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[test]
fn a_websocket_client_sees_each_step_start_and_finish_then_the_jobs_end() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let operator = token(&sim, dir.path(), "ci-bot", "operator", &[]);
    let viewer = token(&sim, dir.path(), "dash", "viewer", &[]);
    let server = Server::start(&sim, dir.path(), &[]);
    let http = Http::new(&sim);
    let names = create_three(&http, &server, &operator, "ws");
    let (id, hash) = plan(&http, &server, &operator);

    // A viewer subscribes to everything before the apply starts.
    let mut request = server
        .ws_url("/api/v1/events")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {viewer}").parse().unwrap());
    let (mut ws, _) = sim
        .block_on(tokio_tungstenite::connect_async(request))
        .expect("the WebSocket opens");

    let accepted = http.post(
        &server.url("/api/v1/apply"),
        Some(&operator),
        &json!({ "yes": true, "plan_id": id, "plan_hash": hash }),
    );
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let job = accepted.json()["job"]["id"].as_u64().unwrap();
    assert_eq!(
        accepted.headers["location"].to_str().unwrap(),
        format!("/api/v1/jobs/{job}")
    );
    let events = sim.block_on(frames_until_end(&mut ws, job));
    assert_eq!(events[0]["type"], "job_started", "{events:#?}");
    check_steps(&events, &names);
    sim.block_on(ws.close(None)).ok();

    // Late subscribers to the job get its backlog: WebSocket with ?job= ...
    let mut request = server
        .ws_url(&format!("/api/v1/events?job={job}"))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {viewer}").parse().unwrap());
    let (mut late, _) = sim
        .block_on(tokio_tungstenite::connect_async(request))
        .unwrap();
    let replayed = sim.block_on(frames_until_end(&mut late, job));
    assert_eq!(replayed, events);

    // ... and Server-Sent Events.
    let sse = sim.block_on(async {
        let mut answer = reqwest::Client::new()
            .get(server.url(&format!("/api/v1/events/sse?job={job}")))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        let mut text = String::new();
        while !text.contains("event: job_finished") {
            let chunk = tokio::time::timeout(PATIENCE, answer.chunk())
                .await
                .unwrap()
                .unwrap()
                .expect("more of the stream");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    });
    let sse_events: Vec<Value> = sse
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(sse_events, events);

    let job_doc = http
        .get(&server.url(&format!("/api/v1/jobs/{job}")), Some(&viewer))
        .ok();
    assert_eq!(job_doc["job"]["status"], "succeeded");
    // A finished job cannot be cancelled; a viewer may not cancel an apply at all.
    http.send(
        "DELETE",
        &server.url(&format!("/api/v1/jobs/{job}")),
        Some(&viewer),
        &[],
        None,
    )
    .problem(403);
    http.send(
        "DELETE",
        &server.url(&format!("/api/v1/jobs/{job}")),
        Some(&operator),
        &[],
        None,
    )
    .problem(409);
    http.get(&server.url("/api/v1/jobs/999"), Some(&viewer))
        .problem(404);
}

#[test]
fn a_running_apply_is_cancelled_with_delete_and_its_end_says_so() {
    let sim = TestSim::homelab();
    let dir = synced(&sim);
    let operator = token(&sim, dir.path(), "ci-bot", "operator", &[]);
    let server = Server::start(&sim, dir.path(), &[]);
    let http = Http::new(&sim);
    create_three(&http, &server, &operator, "slow");
    let (id, hash) = plan(&http, &server, &operator);
    // Every PVE task now takes ten minutes: the apply stays running until it is cancelled.
    let mut faults = proxmox_mpc::sim::Faults::none();
    faults.task_duration = std::time::Duration::from_secs(600);
    sim.set_faults(faults);
    let accepted = http.post(
        &server.url("/api/v1/apply"),
        Some(&operator),
        &json!({ "yes": true, "plan_id": id, "plan_hash": hash }),
    );
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let job = accepted.json()["job"]["id"].as_u64().unwrap();
    let cancel = http.send(
        "DELETE",
        &server.url(&format!("/api/v1/jobs/{job}")),
        Some(&operator),
        &[],
        None,
    );
    assert_eq!(cancel.status, 200, "{}", cancel.text);
    let ended = http.wait_job(&server, &operator, job);
    assert_eq!(ended["status"], "cancelled", "{ended}");
    assert_eq!(ended["problem"]["status"], 409, "{ended}");
    let jobs = http.get(&server.url("/api/v1/jobs"), Some(&operator)).ok();
    assert_eq!(jobs["jobs"][0]["status"], "cancelled", "{jobs}");
}

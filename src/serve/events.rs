//! Live events: `GET /api/v1/events` as a WebSocket of JSON text frames, and
//! `GET /api/v1/events/sse` as Server-Sent Events for clients without WebSocket. Without
//! `?job=ID` a client receives every event; with it, that job's events so far and then its live
//! ones. A WebSocket client can also send `{"subscribe": ID}` (or `{"subscribe": null}` for
//! everything) at any time.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::Shared;
use super::problem::Problem;

/// `?job=ID`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    pub job: Option<u64>,
}

/// Which events a client wants, and the last one it got (so backlog and live never repeat).
struct Filter {
    job: Option<u64>,
    last_seq: u64,
}

impl Filter {
    fn wants(&self, event: &Value) -> bool {
        let seq = event["seq"].as_u64().unwrap_or(0);
        seq > self.last_seq && self.job.is_none_or(|j| event["job"].as_u64() == Some(j))
    }
}

fn unknown_job(id: u64) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, format!("there is no job {id}"))
        .hint("GET /api/v1/jobs lists the jobs")
}

/// `GET /api/v1/events` (WebSocket).
pub async fn websocket(
    State(app): State<Shared>,
    Query(query): Query<EventQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Some(id) = query.job
        && app.jobs.backlog(id).is_none()
    {
        return unknown_job(id).into_response();
    }
    // Subscribed before the 101 goes out: a client that sees its socket open then misses no
    // event published after that (the upgrade itself completes later, on its own task).
    let rx = app.jobs.subscribe();
    upgrade.on_upgrade(move |socket| follow(app, socket, rx, query.job))
}

async fn follow(
    app: Shared,
    mut socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<Arc<Value>>,
    job: Option<u64>,
) {
    let mut filter = Filter { job, last_seq: 0 };
    if send_backlog(&app, &mut socket, &mut filter).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Ok(event) => {
                    if filter.wants(&event) {
                        filter.last_seq = event["seq"].as_u64().unwrap_or(filter.last_seq);
                        if send(&mut socket, &event).await.is_err() {
                            return;
                        }
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    let note = json!({ "type": "lagged", "missed": missed });
                    if send(&mut socket, &note).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    let asked: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                    let Some(choice) = asked.get("subscribe") else {
                        let note = json!({ "type": "error", "detail": "send {\"subscribe\": JOB_ID} or {\"subscribe\": null}" });
                        if send(&mut socket, &note).await.is_err() { return; }
                        continue;
                    };
                    filter.job = choice.as_u64();
                    if send_backlog(&app, &mut socket, &mut filter).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Sends the subscribed job's events so far.
async fn send_backlog(app: &Shared, socket: &mut WebSocket, filter: &mut Filter) -> Result<(), ()> {
    let Some(id) = filter.job else {
        return Ok(());
    };
    let Some(backlog) = app.jobs.backlog(id) else {
        let problem = unknown_job(id).body();
        return send(socket, &json!({ "type": "error", "problem": problem })).await;
    };
    for event in backlog {
        if filter.wants(&event) {
            filter.last_seq = event["seq"].as_u64().unwrap_or(filter.last_seq);
            send(socket, &event).await?;
        }
    }
    Ok(())
}

async fn send(socket: &mut WebSocket, event: &Value) -> Result<(), ()> {
    socket
        .send(Message::Text(event.to_string().into()))
        .await
        .map_err(|_| ())
}

/// `GET /api/v1/events/sse`.
pub async fn sse(State(app): State<Shared>, Query(query): Query<EventQuery>) -> Response {
    let backlog = match query.job {
        Some(id) => match app.jobs.backlog(id) {
            Some(b) => b,
            None => return unknown_job(id).into_response(),
        },
        None => Vec::new(),
    };
    let rx = app.jobs.subscribe();
    let filter = Filter {
        job: query.job,
        last_seq: 0,
    };
    let state = (backlog.into_iter(), rx, filter);
    let stream = futures::stream::unfold(state, |(mut backlog, mut rx, mut filter)| async move {
        loop {
            let event: Arc<Value> = match backlog.next() {
                Some(e) => e,
                None => match rx.recv().await {
                    Ok(e) => e,
                    Err(RecvError::Lagged(missed)) => {
                        let note = json!({ "type": "lagged", "missed": missed });
                        let sse = SseEvent::default().event("lagged").data(note.to_string());
                        return Some((Ok::<_, Infallible>(sse), (backlog, rx, filter)));
                    }
                    Err(RecvError::Closed) => return None,
                },
            };
            if !filter.wants(&event) {
                continue;
            }
            filter.last_seq = event["seq"].as_u64().unwrap_or(filter.last_seq);
            let kind = event["type"].as_str().unwrap_or("event").to_string();
            let sse = SseEvent::default()
                .event(kind)
                .id(filter.last_seq.to_string())
                .data(event.to_string());
            return Some((Ok(sse), (backlog, rx, filter)));
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

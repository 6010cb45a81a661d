//! The rate limit: each client address may make so many requests per minute (a fixed window;
//! `serve --rate-limit N`, 1200 by default). Past it, 429 with `Retry-After` and a problem
//! document. It bounds what one client can cost, guessing tokens included (a failed attempt
//! also waits; see [`super::auth`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::problem::Problem;

/// Requests per minute per client address unless `--rate-limit` says otherwise.
pub const DEFAULT_PER_MINUTE: u32 = 1200;
const WINDOW: Duration = Duration::from_secs(60);
/// Past this many addresses, windows that ended are forgotten.
const TRACKED: usize = 10_000;

/// The address a connection comes from, put in each of its requests' extensions.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub IpAddr);

/// Counts per client address.
pub struct RateLimit {
    per_minute: u32,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimit {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `ip`; returns how long it must wait when it is over the limit.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > TRACKED {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = windows.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= self.per_minute {
            return Err(WINDOW.saturating_sub(now.duration_since(entry.0)));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// Middleware: answers 429 to a client over its limit.
pub async fn limit(State(app): State<Shared>, request: Request, next: Next) -> Response {
    let Some(Peer(ip)) = request.extensions().get::<Peer>().copied() else {
        return next.run(request).await;
    };
    match app.limit.check(ip, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let seconds = wait.as_secs().max(1);
            let mut response = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "{ip} made more than {} requests this minute",
                    app.limit.per_minute
                ),
            )
            .hint(format!(
                "wait {seconds} s; the limit is set with serve --rate-limit N"
            ))
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_quota_per_window_and_others_theirs() {
        let limit = RateLimit::new(2);
        let (a, b) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        let t = Instant::now();
        assert!(limit.check(a, t).is_ok() && limit.check(a, t).is_ok());
        assert!(limit.check(a, t).is_err());
        assert!(limit.check(b, t).is_ok());
        assert!(limit.check(a, t + WINDOW).is_ok(), "a new window");
    }
}

//! The web dashboard's files: the build of `web/` (React + TypeScript, `scripts/web-build`)
//! embedded in the binary, so `serve` and `demo` need no Node.js and no file beside them.
//! `/` answers the page, `/assets/...` its script, styles and icons. Their policy lets the page
//! run its own script and talk to this server only: nothing from another origin, no inline
//! script, no framing.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::problem::Problem;

/// `web/dist` as built from `web/src` (checked in CI by `scripts/web-build --check`).
#[derive(rust_embed::RustEmbed)]
#[folder = "web/dist"]
#[allow_missing = true]
struct Assets;

/// The dashboard's Content-Security-Policy: its own script and styles, API calls and the
/// events stream to this origin, images inline or its own.
pub const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// True when this build carries the dashboard.
pub fn available() -> bool {
    Assets::get("index.html").is_some()
}

fn file(path: &str) -> Response {
    let Some(found) = Assets::get(path) else {
        return Problem::new(
            StatusCode::NOT_FOUND,
            format!("the dashboard has no file `{path}`"),
        )
        .hint("open / for the dashboard")
        .into_response();
    };
    let mut response = found.data.into_owned().into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    response
}

/// `GET /`: the dashboard's page.
pub async fn index() -> Response {
    if !available() {
        return Problem::new(
            StatusCode::NOT_FOUND,
            "this build of proxmox-mpc carries no dashboard (web/dist was empty when it was built)",
        )
        .hint("run scripts/web-build, then cargo build again; the API at /api/v1 works without it")
        .into_response();
    }
    file("index.html")
}

/// `GET /assets/{path}`: the page's script, styles and icons.
pub async fn asset(Path(path): Path<String>) -> Response {
    file(&format!("assets/{path}"))
}

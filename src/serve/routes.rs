//! The routes of `proxmox-mpc serve`. No logic of its own: each handler checks the caller's
//! role against the operation's access (before it reads the body), builds a typed
//! [`Request`] from the JSON (or the query), and runs it through `commands::execute`
//! ([`super::jobs::Runner`]); the report's data is the answer, an error a problem document.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::Shared;
use super::auth::{self, Principal};
use super::jobs::{JobStatus, answer};
use super::openapi::{self, LONG_OPERATIONS, not_over_http};
use super::problem::Problem;
use super::{events, webhooks};
use crate::commands::Request;
use crate::commands::access::{Role, operation_access};
use crate::error::{CommandError, ErrorKind};

/// The largest body a request may send.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The whole application.
pub fn router(app: Shared) -> Router {
    let api = Router::new()
        .route("/guests", get(guests))
        .route("/guests/{name}", get(guest))
        .route("/guests/{name}/snapshots", get(guest_snapshots))
        .route("/nodes", get(|s, q| listing(s, q, "nodes")))
        .route("/storages", get(|s, q| listing(s, q, "storages")))
        .route("/networks", get(|s, q| listing(s, q, "networks")))
        .route("/pools", get(|s, q| listing(s, q, "pools")))
        .route("/plans", get(plans))
        .route("/whoami", get(whoami))
        .route("/environments", get(environments))
        .route("/jobs", get(jobs))
        .route("/jobs/{id}", get(job).delete(cancel_job))
        .route("/events", get(events::websocket))
        .route("/events/sse", get(events::sse))
        .route(
            "/{operation}",
            post(operation)
                .get(read_operation)
                .fallback(method_not_allowed),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), auth::require));
    let public = Router::new()
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api/v1/session", post(auth::login).delete(auth::logout))
        .route("/api/v1/hooks/{name}", post(webhooks::inbound))
        .route("/api/docs", get(docs))
        .route("/", get(super::dashboard::index))
        .route("/assets/{*path}", get(super::dashboard::asset));
    // The MCP server over streamable HTTP (src/mcp), behind the same bearer tokens; each
    // token's role limits its calls.
    let mcp = crate::mcp::http_router(app.runner.root.clone(), crate::mcp::Profile::Operate)
        .layer(middleware::from_fn_with_state(app.clone(), auth::require));
    Router::new()
        .nest("/api/v1", api)
        .nest_service("/mcp", mcp)
        .merge(public)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            super::limit::limit,
        ))
        .layer(middleware::map_response(security_headers))
        .with_state(app)
}

/// Headers every answer carries: no sniffing, no framing, no referrer, no caching of API data.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    // The dashboard's files carry their own policy (they run a script); the API's is stricter.
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    // The rest of a refused body is not read: say the connection ends, so a client does not
    // send its next request on it.
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn not_found() -> Response {
    Problem::new(StatusCode::NOT_FOUND, "there is no such route")
        .hint("GET /api/v1/openapi.json (or the page /api/docs) lists the routes")
        .into_response()
}

async fn method_not_allowed(method: Method, Path(name): Path<String>) -> Response {
    let mut response = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not how /api/v1/{name} is called"),
    )
    .hint("run an operation with POST (reads also with GET)")
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    response
}

async fn openapi_json() -> Response {
    axum::Json(openapi::document()).into_response()
}

async fn docs() -> Response {
    let mut response = Html(openapi::docs_page(&openapi::document())).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `?wait=true` on a long operation.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitQuery {
    #[serde(default)]
    wait: bool,
}

/// Checks that `name` is an operation run over HTTP and that `principal` may run it; answers
/// its access.
fn admit(app: &Shared, name: &str, principal: &Principal) -> Result<(), Problem> {
    if let Some(why) = not_over_http(name) {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("`{name}` is not run over HTTP: {why}"),
        )
        .with("operation", name));
    }
    if !app.operations.contains(name) {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("there is no operation `{name}`"),
        )
        .hint("`proxmox-mpc schema` (or GET /api/v1/openapi.json) lists the operations"));
    }
    let access = operation_access(name).unwrap_or(crate::commands::access::Access::Admin);
    if !principal.role.allows(access) {
        return Err(forbidden(
            principal,
            name,
            access.as_str(),
            Role::least_for(access),
        ));
    }
    Ok(())
}

fn forbidden(principal: &Principal, name: &str, access: &str, needs: Role) -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        format!(
            "the role {} (token `{}`) may not run {name} (it changes {access}); it needs the role {}",
            principal.role.as_str(),
            principal.name,
            needs.as_str()
        ),
    )
    .hint("use a token with that role, or ask an admin for one (/token create NAME --role ...)")
    .with("role", principal.role.as_str())
    .with("operation", name)
}

/// The JSON body of a request (`{}` for none).
fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, Problem> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("the body is larger than {} KiB", BODY_LIMIT / 1024)
        } else {
            format!("the body cannot be read: {rejection}")
        };
        Problem::new(status, detail).hint("send the operation's input as a JSON object")
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
        )
        .hint("send the operation's input as a JSON object, e.g. {} for none")
    })
}

/// Builds the typed request and checks the role against it (a flag can raise what a request
/// changes: `plan` with `out` writes a file).
fn build(name: &str, input: Value, principal: &Principal) -> Result<Request, Problem> {
    if !input.is_object() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the input of `{name}` must be a JSON object"),
        )
        .hint("`proxmox-mpc schema` prints every operation's input schema"));
    }
    let request = Request::from_json(name, input).map_err(|e| {
        let mut p = Problem::from_error(&e);
        p.status = StatusCode::UNPROCESSABLE_ENTITY;
        p
    })?;
    principal.role.check(&request).map_err(|e| {
        Problem::from_error(&e)
            .with("role", principal.role.as_str())
            .with("operation", name)
    })?;
    Ok(request)
}

/// The answer of a finished operation, or its problem.
fn finished(
    name: &str,
    result: Result<crate::commands::Report, CommandError>,
) -> Result<Value, Problem> {
    match result {
        Ok(report) => Ok(answer(name, &report)),
        // `detailed_exitcode` with changes is not a failure over HTTP.
        Err(e) if e.kind == ErrorKind::ChangesPresent => Ok(answer(name, &e.output)),
        // The console's hint says --yes; over HTTP it is a field of the input.
        Err(e) if e.message.starts_with("not confirmed") => Err(Problem::from_error(&e)
            .hint("over HTTP, send \"yes\": true in the input to confirm")
            .with("operation", name)),
        Err(e) => {
            let mut problem = Problem::from_error(&e).with("operation", name);
            // What the operation reported before it failed (`/test`'s results) goes along,
            // and a refused edit's field errors (`/definition`) also at the top, where a form
            // finds the message for each field.
            let data = answer(name, &e.output)["data"].take();
            if let Some(errors) = data.get("errors").cloned() {
                problem = problem.with("errors", errors);
            }
            if !data.is_null() {
                problem = problem.with("data", data);
            }
            Err(problem)
        }
    }
}

/// `GET /api/v1/environments`: `/env list` for any role (listing reads; the `env` operation
/// as a whole is an admin's, so its name alone would refuse a viewer).
async fn environments(
    State(app): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Response {
    match build("env", json!({ "action": "list" }), &principal) {
        Ok(request) => run_now(&app, &principal, request).await,
        Err(p) => p.into_response(),
    }
}

/// `GET /api/v1/whoami`: the caller's token name, role and environment, and what the role
/// may do (the dashboard hides what it may not; the server refuses it anyway).
async fn whoami(State(app): State<Shared>, Extension(principal): Extension<Principal>) -> Response {
    use crate::commands::access::Access;
    let may = |access: Access| principal.role.allows(access);
    // The environment requests run in: the token's or the header's, else serve's.
    let environment = principal
        .environment
        .clone()
        .or_else(|| app.runner.default_env.clone())
        .unwrap_or_else(|| app.environment.clone());
    axum::Json(json!({
        "actor": principal.name,
        "role": principal.role.as_str(),
        "environment": environment,
        "may": {
            "read": may(Access::Read),
            "edit_files": may(Access::Files),
            "change_cluster": may(Access::Cluster),
            "administer": may(Access::Admin),
        },
    }))
    .into_response()
}

/// Runs `request` now and answers its report.
async fn run_now(app: &Shared, principal: &Principal, request: Request) -> Response {
    let name = request.name();
    let (_keep, cancel) = tokio::sync::oneshot::channel();
    let result = app
        .runner
        .run_operation(
            &principal.name,
            principal.environment.as_deref(),
            request,
            None,
            cancel,
        )
        .await;
    match finished(&name, result) {
        Ok(value) => axum::Json(value).into_response(),
        Err(p) => p.into_response(),
    }
}

/// Starts `request` as a job; returns the job as JSON.
pub fn start_job(app: &Shared, actor: &str, environment: Option<&str>, request: Request) -> Value {
    let name = request.name();
    let (id, cancel) = app.jobs.create(&name, actor);
    app.jobs.publish(
        Some(id),
        json!({ "type": "job_started", "operation": name, "actor": actor }),
    );
    let (task_app, actor, environment) = (
        app.clone(),
        actor.to_string(),
        environment.map(str::to_string),
    );
    tokio::spawn(async move {
        let result = task_app
            .runner
            .run_operation(&actor, environment.as_deref(), request, Some(id), cancel)
            .await;
        let cancelled = matches!(&result, Err(e) if e.kind == ErrorKind::Interrupted);
        match finished(&name, result) {
            Ok(value) => task_app
                .jobs
                .finish(id, JobStatus::Succeeded, Some(value), None),
            Err(p) => {
                let status = if cancelled {
                    JobStatus::Cancelled
                } else {
                    JobStatus::Failed
                };
                task_app.jobs.finish(id, status, None, Some(p.body()));
            }
        }
        if name == "apply"
            && let Some(job) = task_app.jobs.get(id)
        {
            let event = if job["status"] == "succeeded" {
                "apply_finished"
            } else {
                "apply_failed"
            };
            task_app.notifier.notify(&task_app, event, job);
        }
    });
    app.jobs.get(id).unwrap_or_default()
}

fn accepted(job: Value) -> Response {
    let href = job["href"].as_str().unwrap_or_default().to_string();
    let mut response = (StatusCode::ACCEPTED, axum::Json(json!({ "job": job }))).into_response();
    if let Ok(v) = HeaderValue::from_str(&href) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// `POST /api/v1/{operation}`.
async fn operation(
    State(app): State<Shared>,
    Path(name): Path<String>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // The role first: a viewer is refused before its body is read.
    if let Err(p) = admit(&app, &name, &principal) {
        return p.into_response();
    }
    let Ok(Query(query)) = query else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "the only query parameter is wait=true|false",
        )
        .into_response();
    };
    let input = match json_body(body) {
        Ok(v) => v,
        Err(p) => return p.into_response(),
    };
    if name == "schema" {
        let data = crate::commands::registry::schema_document();
        return axum::Json(json!({ "operation": name, "data": data, "messages": [] }))
            .into_response();
    }
    let request = match build(&name, input, &principal) {
        Ok(r) => r,
        Err(p) => return p.into_response(),
    };
    if LONG_OPERATIONS.contains(&name.as_str()) && !query.wait {
        return accepted(start_job(
            &app,
            &principal.name,
            principal.environment.as_deref(),
            request,
        ));
    }
    run_now(&app, &principal, request).await
}

/// A query string as an operation's input: `true`/`false` are booleans, whole numbers numbers,
/// the rest strings.
fn query_input(query: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for (k, v) in query {
        let value = match v.as_str() {
            Some("true") => Value::Bool(true),
            Some("false") => Value::Bool(false),
            Some(s) if !s.is_empty() && s.len() < 16 && s.bytes().all(|b| b.is_ascii_digit()) => s
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(s)),
            _ => v.clone(),
        };
        out.insert(k.clone(), value);
    }
    Value::Object(out)
}

/// `GET /api/v1/{operation}`: a read operation with its input in the query.
async fn read_operation(
    State(app): State<Shared>,
    Path(name): Path<String>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<Map<String, Value>>,
) -> Response {
    if let Err(p) = admit(&app, &name, &principal) {
        return p.into_response();
    }
    if operation_access(&name).is_some_and(|a| a.mutates()) {
        return Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("`{name}` changes something: call it with POST"),
        )
        .hint(format!("POST /api/v1/{name} with its input as JSON"))
        .into_response();
    }
    if name == "schema" {
        let data = crate::commands::registry::schema_document();
        return axum::Json(json!({ "operation": name, "data": data, "messages": [] }))
            .into_response();
    }
    let request = match build(&name, query_input(&query), &principal) {
        Ok(r) => r,
        Err(p) => return p.into_response(),
    };
    run_now(&app, &principal, request).await
}

/// Runs a read as `principal` and returns its data value.
async fn read_data(
    app: &Shared,
    principal: &Principal,
    name: &str,
    input: Value,
) -> Result<Value, Problem> {
    admit(app, name, principal)?;
    let request = build(name, input, principal)?;
    let (_keep, cancel) = tokio::sync::oneshot::channel();
    let result = app
        .runner
        .run_operation(
            &principal.name,
            principal.environment.as_deref(),
            request,
            None,
            cancel,
        )
        .await;
    finished(name, result).map(|v| v["data"].clone())
}

fn list_flags(query: &Map<String, Value>) -> Value {
    let flags: Map<String, Value> = query
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "node" | "tag" | "status" | "pool"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(flags)
}

fn as_list(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// Every guest: `{"guests": [...]}` (VMs, then containers), each with its kind.
async fn all_guests(
    app: &Shared,
    principal: &Principal,
    query: &Map<String, Value>,
) -> Result<Vec<Value>, Problem> {
    let mut guests = Vec::new();
    for (kind, word) in [("vms", "vm"), ("containers", "container")] {
        let data = read_data(
            app,
            principal,
            "list",
            json!({ "kind": kind, "flags": list_flags(query) }),
        )
        .await?;
        for mut g in as_list(data) {
            g["kind"] = json!(word);
            guests.push(g);
        }
    }
    Ok(guests)
}

async fn guests(
    State(app): State<Shared>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<Map<String, Value>>,
) -> Response {
    match all_guests(&app, &principal, &query).await {
        Ok(guests) => axum::Json(json!({ "guests": guests })).into_response(),
        Err(p) => p.into_response(),
    }
}

/// Finds a guest by name or vmid; 404 when there is none.
async fn find_guest(app: &Shared, principal: &Principal, name: &str) -> Result<Value, Problem> {
    let guests = all_guests(app, principal, &Map::new()).await?;
    guests
        .into_iter()
        .find(|g| {
            g["name"].as_str() == Some(name)
                || (name.parse::<u64>().ok().is_some()
                    && g["vmid"].as_u64() == name.parse::<u64>().ok())
        })
        .ok_or_else(|| {
            Problem::new(StatusCode::NOT_FOUND, format!("there is no guest `{name}`"))
                .hint("GET /api/v1/guests lists the guests (run sync first to see the cluster's)")
        })
}

async fn guest(
    State(app): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    about_guest(&app, &principal, &name, "show", "guest").await
}

async fn guest_snapshots(
    State(app): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    about_guest(&app, &principal, &name, "snapshots", "snapshots").await
}

/// Runs the read `operation` on the guest called `name` and answers its data under `key`.
async fn about_guest(
    app: &Shared,
    principal: &Principal,
    name: &str,
    operation: &str,
    key: &str,
) -> Response {
    let result = async {
        let found = find_guest(app, principal, name).await?;
        let input = json!({ "kind": found["kind"], "name": found["name"] });
        read_data(app, principal, operation, input).await
    }
    .await;
    match result {
        Ok(data) => axum::Json(json!({ key: data })).into_response(),
        Err(p) => p.into_response(),
    }
}

async fn listing(
    State(app): State<Shared>,
    Extension(principal): Extension<Principal>,
    what: &'static str,
) -> Response {
    match read_data(&app, &principal, "list", json!({ "kind": what })).await {
        Ok(data) => {
            let mut out = Map::new();
            out.insert(what.to_string(), Value::Array(as_list(data)));
            axum::Json(Value::Object(out)).into_response()
        }
        Err(p) => p.into_response(),
    }
}

async fn plans(State(app): State<Shared>, Extension(principal): Extension<Principal>) -> Response {
    match read_data(&app, &principal, "history", json!({ "json": true })).await {
        Ok(data) => {
            let plans: Vec<Value> = data["entries"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["id"].as_str().is_some_and(|id| id.starts_with("plan-")))
                .cloned()
                .collect();
            axum::Json(json!({ "plans": plans })).into_response()
        }
        Err(p) => p.into_response(),
    }
}

async fn jobs(State(app): State<Shared>) -> Response {
    axum::Json(json!({ "jobs": app.jobs.list() })).into_response()
}

fn unknown_job(id: u64) -> Response {
    Problem::new(StatusCode::NOT_FOUND, format!("there is no job {id}"))
        .hint("GET /api/v1/jobs lists the jobs of this server (they are not kept across restarts)")
        .into_response()
}

async fn job(State(app): State<Shared>, Path(id): Path<u64>) -> Response {
    match app.jobs.get(id) {
        Some(job) => axum::Json(json!({ "job": job })).into_response(),
        None => unknown_job(id),
    }
}

async fn cancel_job(
    State(app): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<u64>,
) -> Response {
    let Some(operation) = app.jobs.operation(id) else {
        return unknown_job(id);
    };
    let access = operation_access(&operation).unwrap_or(crate::commands::access::Access::Admin);
    if !principal.role.allows(access) {
        return forbidden(
            &principal,
            &operation,
            access.as_str(),
            Role::least_for(access),
        )
        .into_response();
    }
    match app.jobs.cancel(id) {
        Some(true) => {
            super::audit(
                &app,
                &principal.name,
                "job-cancel",
                &format!("job {id}"),
                &operation,
            )
            .await;
            axum::Json(json!({ "job": app.jobs.get(id) })).into_response()
        }
        Some(false) => Problem::new(StatusCode::CONFLICT, format!("job {id} is not running"))
            .hint(format!("GET /api/v1/jobs/{id} shows how it ended"))
            .into_response(),
        None => unknown_job(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_become_typed_input() {
        let mut q = Map::new();
        q.insert("live".into(), json!("true"));
        q.insert("count".into(), json!("3"));
        q.insert("since".into(), json!("2h"));
        assert_eq!(
            query_input(&q),
            json!({ "live": true, "count": 3, "since": "2h" })
        );
    }
}

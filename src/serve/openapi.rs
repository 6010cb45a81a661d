//! The OpenAPI 3.1 document of the REST API, generated from the operation registry
//! ([`crate::commands::registry::schema_document`]): one `POST /api/v1/{operation}` per
//! operation with its input schema, the read routes, jobs, events, sessions and hooks; and the
//! docs page `/api/docs`, a self-contained HTML page listing them (no script, no CDN).

use serde_json::{Map, Value, json};

use crate::commands::access::operation_access;
use crate::commands::registry::schema_document;

/// Operations that are not run over HTTP, and why (their route answers 404 saying so).
pub const NOT_OVER_HTTP: &[(&str, &str)] = &[
    (
        "exit",
        "it leaves the console; there is no console over HTTP",
    ),
    (
        "clear",
        "it clears the console's screen; there is no screen over HTTP",
    ),
    ("tour", "it is the console's interactive walk-through"),
    (
        "demo",
        "it starts a simulator and a console of its own: run `proxmox-mpc demo`",
    ),
    ("sim", "it starts a simulator: run `proxmox-mpc sim`"),
    (
        "completions",
        "it prints shell completions: run `proxmox-mpc completions SHELL`",
    ),
    ("serve", "this server is it"),
    ("mcp", "it is the MCP server: run `proxmox-mpc mcp`"),
    (
        "watch",
        "it runs until interrupted: follow /api/v1/events, or run `proxmox-mpc watch`",
    ),
];

/// Why `name` is not run over HTTP, if it is not.
pub fn not_over_http(name: &str) -> Option<&'static str> {
    NOT_OVER_HTTP
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, why)| *why)
}

/// Operations that answer 202 with a job (unless `?wait=true`).
pub const LONG_OPERATIONS: &[&str] = &[
    "sync", "apply", "test", "backup", "restore", "migrate", "rollback",
];

/// Moves a schema's `$defs` into `components` (prefixed refs resolve against the document in
/// OpenAPI 3.1) and drops its `$schema`.
fn hoist(mut schema: Value, components: &mut Map<String, Value>) -> Value {
    if let Some(map) = schema.as_object_mut() {
        map.remove("$schema");
        if let Some(Value::Object(defs)) = map.remove("$defs") {
            for (name, def) in defs {
                let def = hoist(def, components);
                components.entry(name).or_insert(def);
            }
        }
    }
    rewrite_refs(&mut schema);
    schema
}

fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/$defs/")
            {
                *r = format!("#/components/schemas/{name}");
            }
            map.values_mut().for_each(rewrite_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
    })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

/// The common 4xx answers of an authenticated route.
fn errors() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "400".into(),
        problem_response("Malformed request (not JSON)"),
    );
    m.insert(
        "401".into(),
        problem_response("No token, or an unknown, revoked or expired one"),
    );
    m.insert(
        "403".into(),
        problem_response("The token's role may not run this operation"),
    );
    m.insert(
        "404".into(),
        problem_response("Not found, or not run over HTTP"),
    );
    m.insert(
        "409".into(),
        problem_response("Conflict: a stale or replayed plan, a locked workspace"),
    );
    m.insert(
        "413".into(),
        problem_response("The body is larger than the limit"),
    );
    m.insert(
        "422".into(),
        problem_response("The input does not fit the operation's schema, or cannot be done"),
    );
    m
}

fn operation_path(op: &Value, components: &mut Map<String, Value>) -> (String, Value) {
    let name = op["name"].as_str().unwrap_or_default().to_string();
    let access = operation_access(&name).map_or("admin", |a| a.as_str());
    let summary = op["summary"].as_str().unwrap_or_default();
    let path = format!("/api/v1/{name}");
    let mut responses = errors();
    if let Some(why) = not_over_http(&name) {
        let description = format!("Not run over HTTP: {why}.");
        let mut only = Map::new();
        only.insert("404".into(), problem_response(&description));
        let item = json!({ "post": {
            "operationId": name, "summary": summary, "description": description,
            "tags": ["not over HTTP"], "responses": only,
            "x-proxmox-mpc-access": access,
        }});
        return (path, item);
    }
    let input_name = format!("{}Input", pascal(&name));
    let input = hoist(op["input_schema"].clone(), components);
    components.insert(input_name.clone(), input);
    responses.insert(
        "200".into(),
        json_response(
            "The operation's report",
            json!({ "$ref": "#/components/schemas/Answer" }),
        ),
    );
    let long = LONG_OPERATIONS.contains(&name.as_str());
    if long {
        responses.insert(
            "202".into(),
            json_response(
                "Started as a job (follow it on /api/v1/events?job=ID)",
                json!({ "$ref": "#/components/schemas/JobAccepted" }),
            ),
        );
    }
    let mut post = json!({
        "operationId": name,
        "summary": summary,
        "description": format!(
            "Runs `{name}` (access: {access}; roles: {}). {}",
            roles_for(access),
            if long { "Answers 202 with a job unless `?wait=true`." } else { "" }
        ),
        "tags": [access],
        "requestBody": {
            "required": false,
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{input_name}") } } }
        },
        "responses": responses,
        "x-proxmox-mpc-access": access,
    });
    if long {
        post["parameters"] = json!([{ "name": "wait", "in": "query", "required": false,
            "description": "true: run to the end and answer the report instead of a job",
            "schema": { "type": "boolean" } }]);
    }
    (path, json!({ "post": post }))
}

fn roles_for(access: &str) -> &'static str {
    match access {
        "read" => "viewer, operator, admin",
        "files" | "cluster" => "operator, admin",
        _ => "admin",
    }
}

fn pascal(name: &str) -> String {
    name.split(['-', '_'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn read_route(summary: &str, key: &str, params: &[&str]) -> Value {
    let mut responses = errors();
    responses.remove("413");
    responses.insert(
        "200".into(),
        json_response(
            summary,
            json!({ "type": "object", "required": [key],
            "properties": { key: {} } }),
        ),
    );
    let parameters: Vec<Value> = params
        .iter()
        .map(|p| json!({ "name": p, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    json!({ "get": { "operationId": format!("get-{}", key), "summary": summary,
        "tags": ["read"], "parameters": parameters, "responses": responses } })
}

/// The OpenAPI 3.1 document.
pub fn document() -> Value {
    let registry = schema_document();
    let mut components = Map::new();
    let mut paths = Map::new();
    for op in registry["operations"].as_array().into_iter().flatten() {
        let (path, item) = operation_path(op, &mut components);
        paths.insert(path, item);
    }
    paths.insert(
        "/api/v1/guests".into(),
        read_route(
            "Every guest (VMs and containers) of the last sync, with its files",
            "guests",
            &[],
        ),
    );
    paths.insert(
        "/api/v1/guests/{name}".into(),
        read_route(
            "One guest: its file, the server and the difference",
            "guest",
            &["name"],
        ),
    );
    paths.insert(
        "/api/v1/guests/{name}/snapshots".into(),
        read_route("A guest's snapshots", "snapshots", &["name"]),
    );
    for (key, what) in [
        ("nodes", "The cluster's nodes"),
        ("storages", "The storages"),
        ("networks", "The node networks"),
        ("pools", "The pools"),
        ("plans", "The saved plans, newest first"),
        ("jobs", "The jobs of this server, newest first"),
    ] {
        paths.insert(format!("/api/v1/{key}"), read_route(what, key, &[]));
    }
    let mut whoami = read_route("The caller", "actor", &[]);
    whoami["get"]["responses"]["200"] = json_response(
        "The caller: token name, role, environment and what the role may do",
        json!({ "type": "object", "required": ["actor", "role", "may"], "properties": {
            "actor": { "type": "string" }, "role": { "enum": ["viewer", "operator", "admin"] },
            "environment": { "type": ["string", "null"] }, "may": { "type": "object" } } }),
    );
    paths.insert("/api/v1/whoami".into(), whoami);
    let mut environments = read_route("The environments (`env list`), for any role", "data", &[]);
    environments["get"]["operationId"] = json!("get-environments");
    paths.insert("/api/v1/environments".into(), environments);
    let mut job = read_route("One job: status, result or problem", "job", &["id"]);
    let mut cancel = errors();
    cancel.insert(
        "200".into(),
        json_response(
            "The job, cancelling",
            json!({ "$ref": "#/components/schemas/JobAccepted" }),
        ),
    );
    job["delete"] = json!({ "operationId": "cancel-job", "summary": "Cancel a running job", "tags": ["jobs"],
        "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }],
        "responses": cancel });
    job["get"]["parameters"] =
        json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }]);
    paths.insert("/api/v1/jobs/{id}".into(), job);
    let job_query = json!([{ "name": "job", "in": "query", "required": false, "schema": { "type": "integer" },
        "description": "only this job's events (its events so far, then live)" }]);
    let mut ws = errors();
    ws.insert("101".into(), json!({ "description": "WebSocket of JSON text frames: job_started, step_started, step_progress, step_finished, job_finished" }));
    paths.insert("/api/v1/events".into(), json!({ "get": { "operationId": "events", "summary": "Live events (WebSocket)", "tags": ["events"], "parameters": job_query, "responses": ws } }));
    let mut sse = errors();
    sse.insert("200".into(), json!({ "description": "Server-Sent Events, one JSON event each", "content": { "text/event-stream": { "schema": { "type": "string" } } } }));
    paths.insert("/api/v1/events/sse".into(), json!({ "get": { "operationId": "events-sse", "summary": "Live events (Server-Sent Events)", "tags": ["events"], "parameters": job_query, "responses": sse } }));
    let mut login = errors();
    login.insert("200".into(), json_response("Session started: an HttpOnly cookie is set; send csrf_token as X-CSRF-Token on writes", json!({ "type": "object", "properties": { "csrf_token": { "type": "string" }, "role": { "type": "string" } } })));
    let mut logout = errors();
    logout.insert("204".into(), json!({ "description": "Session ended" }));
    paths.insert("/api/v1/session".into(), json!({
        "post": { "operationId": "login", "summary": "Start a browser session with a token", "tags": ["session"], "security": [],
            "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["token"], "properties": { "token": { "type": "string" } }, "additionalProperties": false } } } },
            "responses": login },
        "delete": { "operationId": "logout", "summary": "End the browser session", "tags": ["session"], "responses": logout }
    }));
    let mut hook = errors();
    hook.insert(
        "202".into(),
        json_response(
            "The configured job started",
            json!({ "$ref": "#/components/schemas/JobAccepted" }),
        ),
    );
    paths.insert("/api/v1/hooks/{name}".into(), json!({ "post": { "operationId": "hook", "summary": "Inbound webhook (GitHub-style X-Hub-Signature-256)", "tags": ["hooks"], "security": [],
        "parameters": [{ "name": "name", "in": "path", "required": true, "schema": { "type": "string" } },
                       { "name": "X-Hub-Signature-256", "in": "header", "required": true, "schema": { "type": "string" } }],
        "requestBody": { "required": false, "content": { "application/json": { "schema": {} } } },
        "responses": hook } }));
    paths.insert("/api/v1/openapi.json".into(), json!({ "get": { "operationId": "openapi", "summary": "This document", "tags": ["docs"], "security": [],
        "responses": { "200": json_response("OpenAPI 3.1", json!({ "type": "object" })) } } }));
    components.insert("Problem".into(), json!({
        "type": "object", "description": "RFC 9457 problem document",
        "required": ["title", "status", "detail"],
        "properties": { "type": { "type": "string" }, "title": { "type": "string" }, "status": { "type": "integer" },
            "detail": { "type": "string" }, "hint": { "type": ["string", "null"] }, "hints": { "type": "array", "items": { "type": "string" } } }
    }));
    components.insert("Answer".into(), json!({
        "type": "object", "required": ["operation", "data", "messages"],
        "properties": { "operation": { "type": "string" }, "data": { "description": "the operation's typed result" },
            "messages": { "type": "array", "items": { "type": "object", "properties": { "kind": { "type": "string" }, "text": { "type": "string" } } } } }
    }));
    components.insert("JobAccepted".into(), json!({
        "type": "object", "required": ["job"],
        "properties": { "job": { "type": "object", "properties": { "id": { "type": "integer" }, "operation": { "type": "string" },
            "status": { "enum": ["running", "succeeded", "failed", "cancelled"] }, "href": { "type": "string" } } } }
    }));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "proxmox-mpc REST API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every operation of the proxmox-mpc registry over HTTP (generated from `proxmox-mpc schema`). Send `Authorization: Bearer TOKEN` (/token create)."
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }
        }
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The docs page: every route of the document, grouped as it tags them.
pub fn docs_page(doc: &Value) -> String {
    let mut rows = String::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let tags = op["tags"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            rows.push_str(&format!(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>\n",
                escape(&method.to_uppercase()),
                escape(path),
                escape(op["summary"].as_str().unwrap_or_default()),
                escape(&tags)
            ));
        }
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>proxmox-mpc REST API</title>\n\
         <style>body{{font-family:system-ui,sans-serif;margin:2rem;}}table{{border-collapse:collapse;}}\
         td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top;}}</style></head>\n\
         <body><h1>proxmox-mpc REST API {}</h1>\n\
         <p>Send <code>Authorization: Bearer TOKEN</code> (made with <code>proxmox-mpc token create NAME --role viewer|operator|admin</code>). \
         Errors are RFC 9457 problem documents. The machine-readable document: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>\n\
         <table><thead><tr><th>Method</th><th>Path</th><th>What it does</th><th>Access</th></tr></thead><tbody>\n{rows}</tbody></table></body></html>\n",
        escape(doc["info"]["version"].as_str().unwrap_or_default())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registry_operation_has_a_path_and_no_ref_points_outside_components() {
        let doc = document();
        for op in schema_document()["operations"].as_array().unwrap() {
            let name = op["name"].as_str().unwrap();
            assert!(
                doc["paths"][format!("/api/v1/{name}")]["post"].is_object(),
                "{name}"
            );
        }
        let text = doc.to_string();
        assert!(!text.contains("#/$defs/"), "a $defs reference was left");
        assert!(docs_page(&doc).contains("/api/v1/apply"));
    }
}

//! The Proxmox VE API client: connection, auth, TLS pinning, the `{"data": ...}` envelope, typed
//! errors, Perl-loose wire types, tasks and whole-cluster discovery. Property strings and the
//! mapping of guest configs to the model live in `crate::model` (they are pure data).
//!
//! API reference: the PVE 9.1 schema and `pve-api/NOTES.md`; base path `/api2/json`.

// `PveError` carries the request, object and PVE's own messages so every failure is actionable;
// it is built only on the failure path, where its size is noise next to a network round trip.
#![allow(clippy::result_large_err)]

pub mod client;
pub mod discover;
pub mod endpoints;
pub mod error;
pub mod secret;
pub mod tasks;
pub mod tls;
pub mod types;
pub mod upid;

pub use client::{Auth, Client, ClientConfig, Params, params};
pub use discover::Discovery;
pub use error::{PveError, RequestInfo, Target};
pub use secret::Secret;
pub use tasks::{TaskOutcome, TaskProgress};
pub use tls::{TlsMode, cert_fingerprint, fetch_fingerprint, normalize_fingerprint};
pub use types::VersionInfo;
pub use upid::Upid;

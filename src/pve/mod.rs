//! The Proxmox VE API client: connection, auth, TLS pinning, the `{"data": ...}` envelope, typed
//! errors, Perl-loose wire types, property strings, tasks and whole-cluster discovery.

//! Rebuilds the crate when the dashboard's build (`web/dist`, embedded by `serve::dashboard`)
//! changes: files added there are not otherwise seen by cargo.

fn main() {
    println!("cargo:rerun-if-changed=web/dist");
    println!("cargo:rerun-if-changed=build.rs");
}

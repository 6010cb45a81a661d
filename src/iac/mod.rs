//! Infrastructure as code: renders and parses the workspace's Terraform, Ansible, test specs and
//! docs (Tera templates with escaping filters; hcl-rs to read HCL back), and the `/sync` engine
//! that decides which files to write.
//!
//! Owns: the Tera environment ([`Templates`]: templates embedded from `templates/`, overridable
//! per workspace from `.proxmox/templates/`), the escaping filters ([`filters`]), identifiers
//! ([`names`]), the Terraform view of a guest ([`view`]), rendering ([`terraform`],
//! [`ansible`], [`spec`], [`docs`]) in `terraform fmt`'s layout ([`hclfmt`]), the one reader
//! of the workspace's `.tf` files ([`desired`]), the sync engine ([`sync`]) with its three-way
//! comparison of file, server and last sync ([`drift`]), and the model of
//! the bpg provider's import ([`bpg`]) with what it says of the workspace's files
//! ([`fidelity`]). Nothing here prints or talks to the network.

pub mod ansible;
pub mod backup_jobs;
pub mod bpg;
pub mod desired;
pub mod desired_cache;
pub mod docs;
pub mod drift;
pub mod fidelity;
pub mod filters;
pub mod hclfmt;
pub mod names;
pub mod spec;
pub mod sync;
pub mod terraform;
pub mod view;

use std::path::{Path, PathBuf};

/// A failure to render or read the workspace files.
#[derive(Debug, thiserror::Error)]
pub enum IacError {
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("{path} is not valid HCL: {message}")]
    Parse { path: PathBuf, message: String },
}

/// Every template, by the name a user overrides it with in `.proxmox/templates/`.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "terraform/provider.tf.tera",
        include_str!("../../templates/terraform/provider.tf.tera"),
    ),
    (
        "terraform/variables.tf.tera",
        include_str!("../../templates/terraform/variables.tf.tera"),
    ),
    (
        "terraform/vm.tf.tera",
        include_str!("../../templates/terraform/vm.tf.tera"),
    ),
    (
        "terraform/container.tf.tera",
        include_str!("../../templates/terraform/container.tf.tera"),
    ),
    (
        "terraform/pools.tf.tera",
        include_str!("../../templates/terraform/pools.tf.tera"),
    ),
    (
        "terraform/networks.tf.tera",
        include_str!("../../templates/terraform/networks.tf.tera"),
    ),
    (
        "terraform/storages.tf.tera",
        include_str!("../../templates/terraform/storages.tf.tera"),
    ),
    (
        "ansible/inventory.yml.tera",
        include_str!("../../templates/ansible/inventory.yml.tera"),
    ),
    (
        "ansible/provision.yml.tera",
        include_str!("../../templates/ansible/provision.yml.tera"),
    ),
    (
        "ansible/provision_task.yml.tera",
        include_str!("../../templates/ansible/provision_task.yml.tera"),
    ),
    (
        "ansible/site.yml.tera",
        include_str!("../../templates/ansible/site.yml.tera"),
    ),
    (
        "ansible/role_tasks.yml.tera",
        include_str!("../../templates/ansible/role_tasks.yml.tera"),
    ),
    (
        "tests/guest.yml.tera",
        include_str!("../../templates/tests/guest.yml.tera"),
    ),
    (
        "docs/inventory.md.tera",
        include_str!("../../templates/docs/inventory.md.tera"),
    ),
    (
        "ci/github.yml.tera",
        include_str!("../../templates/ci/github.yml.tera"),
    ),
    (
        "ci/github-drift.yml.tera",
        include_str!("../../templates/ci/github-drift.yml.tera"),
    ),
    (
        "ci/gitlab-ci.yml.tera",
        include_str!("../../templates/ci/gitlab-ci.yml.tera"),
    ),
];

/// The Tera environment: embedded templates, a workspace's overrides on top, our filters, and
/// no HTML autoescaping (each syntax has its own filter).
pub struct Templates {
    tera: tera::Tera,
    /// Names of templates taken from the workspace instead of the built-in ones.
    pub overridden: Vec<String>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("overridden", &self.overridden)
            .finish_non_exhaustive()
    }
}

impl Templates {
    /// Returns the built-in templates.
    pub fn builtin() -> Result<Self, IacError> {
        Self::with_overrides(None)
    }

    /// Returns the built-in templates, replaced by any file of the same name under
    /// `override_dir` (a workspace's `.proxmox/templates/`).
    pub fn with_overrides(override_dir: Option<&Path>) -> Result<Self, IacError> {
        let mut tera = tera::Tera::new();
        tera.autoescape_on(Vec::<&str>::new());
        filters::register(&mut tera);
        let mut overridden = Vec::new();
        for (name, builtin) in TEMPLATES {
            let custom = override_dir
                .map(|dir| dir.join(name))
                .filter(|p| p.is_file());
            let text = match &custom {
                Some(path) => {
                    overridden.push((*name).to_string());
                    std::fs::read_to_string(path).map_err(|e| IacError::Read {
                        path: path.clone(),
                        message: e.to_string(),
                    })?
                }
                None => (*builtin).to_string(),
            };
            tera.add_raw_template(name, &text)
                .map_err(|e| IacError::Template {
                    name: custom
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| (*name).to_string()),
                    message: error_chain(&e),
                })?;
        }
        Ok(Self { tera, overridden })
    }

    /// Renders template `name` with `context` (any serializable value whose top level is a map).
    /// Terraform comes out in `terraform fmt`'s canonical layout ([`hclfmt`]), whatever the
    /// template's own spacing (a workspace's override included).
    pub fn render(&self, name: &str, context: &impl serde::Serialize) -> Result<String, IacError> {
        let ctx = tera::Context::from_serialize(context).map_err(|e| IacError::Template {
            name: name.to_string(),
            message: error_chain(&e),
        })?;
        let text = self
            .tera
            .render(name, &ctx)
            .map_err(|e| IacError::Template {
                name: name.to_string(),
                message: error_chain(&e),
            })?;
        Ok(if name.ends_with(".tf.tera") {
            hclfmt::canonical(&text)
        } else {
            text
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

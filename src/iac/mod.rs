//! Infrastructure as code: renders and parses the workspace's Terraform, Ansible, test specs and
//! docs (Tera templates with escaping filters; hcl-rs to read HCL back).

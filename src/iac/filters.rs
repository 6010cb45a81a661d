//! Escaping for every generated syntax, as plain functions and as the Tera filters the templates
//! use (`hcl_string`, `yaml_string`, `ansible_string`, `md_cell`). Templates never escape by
//! hand: every user-controlled string passes through one of these.

/// Returns `text` as a quoted HCL string literal: quotes, backslashes and control characters are
/// escaped, and the template sequences `${` / `%{` are doubled so Terraform reads them literally.
pub fn hcl_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() || is_invisible_break(c) => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Line and paragraph separators and the BOM: legal in strings, but they confuse editors and
/// some parsers, so they are written as escapes.
fn is_invisible_break(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{85}')
}

/// Returns `text` as a double-quoted YAML scalar. Always quoted, so `yes`, `no`, `on`, `: `,
/// `#`, a leading `-` and numbers stay strings.
pub fn yaml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_invisible_break(c) || !yaml_printable(c) => {
                let n = c as u32;
                if n <= 0xFFFF {
                    out.push_str(&format!("\\u{n:04X}"));
                } else {
                    out.push_str(&format!("\\U{n:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// YAML 1.2's printable set (§5.1).
fn yaml_printable(c: char) -> bool {
    let n = c as u32;
    matches!(n, 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Returns true when Ansible would evaluate `text` as a Jinja template.
pub fn has_jinja(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// Returns `text` as a YAML scalar for Ansible: quoted, and tagged `!unsafe` when it holds Jinja
/// delimiters, so Ansible never templates a guest's name or description.
pub fn ansible_string(text: &str) -> String {
    if has_jinja(text) {
        format!("!unsafe {}", yaml_string(text))
    } else {
        yaml_string(text)
    }
}

/// Returns `text` safe inside a Markdown table cell: pipes, backslashes, HTML and newlines
/// escaped.
pub fn md_cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\\' => out.push_str("\\\\"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' => out.push_str("\\`"),
            '*' | '_' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Returns `text` safe as a Mermaid node label (inside `["..."]`).
pub fn mermaid_label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Returns `text` safe inside a `#` comment: line breaks and control characters become spaces.
pub fn comment(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || is_invisible_break(c) {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// Registers the escaping filters on a Tera environment.
pub fn register(tera: &mut tera::Tera) {
    use tera::{Kwargs, State};
    tera.register_filter("hcl_string", |v: &str, _: Kwargs, _: &State| hcl_string(v));
    tera.register_filter("yaml_string", |v: &str, _: Kwargs, _: &State| {
        yaml_string(v)
    });
    tera.register_filter("ansible_string", |v: &str, _: Kwargs, _: &State| {
        ansible_string(v)
    });
    tera.register_filter("jinja_safe", |v: &str, _: Kwargs, _: &State| {
        ansible_string(v)
    });
    tera.register_filter("comment", |v: &str, _: Kwargs, _: &State| comment(v));
    tera.register_filter("md_cell", |v: &str, _: Kwargs, _: &State| md_cell(v));
    tera.register_filter("mermaid_label", |v: &str, _: Kwargs, _: &State| {
        mermaid_label(v)
    });
    tera.register_filter("hcl_list", |v: Vec<String>, _: Kwargs, _: &State| {
        let items: Vec<String> = v.iter().map(|s| hcl_string(s)).collect();
        format!("[{}]", items.join(", "))
    });
    tera.register_filter("yaml_list", |v: Vec<String>, _: Kwargs, _: &State| {
        let items: Vec<String> = v.iter().map(|s| ansible_string(s)).collect();
        format!("[{}]", items.join(", "))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcl_escapes_templates_quotes_and_controls() {
        assert_eq!(hcl_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(hcl_string("${x} %{if} $ %"), r#""$${x} %%{if} $ %""#);
        assert_eq!(hcl_string("l1\nl2\u{1}"), r#""l1\nl2\u0001""#);
    }

    #[test]
    fn yaml_always_quotes() {
        assert_eq!(yaml_string("yes"), "\"yes\"");
        assert_eq!(yaml_string("- a: b # c"), "\"- a: b # c\"");
        assert_eq!(ansible_string("{{ x }}"), "!unsafe \"{{ x }}\"");
    }
}

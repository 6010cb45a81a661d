//! Canonical layout of generated HCL, as `terraform fmt` makes it: two spaces of indent per open
//! bracket, and the `=` of consecutive one-line attributes aligned one space after the longest
//! name.
//!
//! Owns only layout: it never changes a token. The rules follow HashiCorp's `hclwrite` formatter
//! (what `terraform fmt` runs): a line takes part in an alignment run when its first `=` comes
//! after at least one token and the rest of the line closes every bracket it opens; any other
//! line (blank, comment, block header, closing brace, the first line of a multi-line value) ends
//! the run. Templates stay readable (no hand-aligned columns that break when an optional
//! attribute is left out), and the tests hold every generated file to `terraform fmt -check`.

/// One source line split for layout.
struct Line<'a> {
    /// Text without leading and trailing blanks.
    text: &'a str,
    /// Bracket depth before the line, after leading closers are applied.
    depth: usize,
    /// Byte offset of the aligned `=` in `text` and the width of the name before it.
    assign: Option<(usize, usize)>,
}

/// Returns `text` laid out as `terraform fmt` would.
pub fn canonical(text: &str) -> String {
    let mut depth: usize = 0;
    let mut lines: Vec<Line<'_>> = Vec::new();
    for raw in text.lines() {
        let trimmed = raw.trim();
        let scan = scan_line(trimmed);
        let line_depth = depth.saturating_sub(scan.leading_closers);
        depth = (depth as isize + scan.net).max(0) as usize;
        lines.push(Line {
            text: trimmed,
            depth: line_depth,
            assign: scan.assign,
        });
    }
    // Width of the name column for each run of assignment lines.
    let mut widths = vec![0usize; lines.len()];
    let mut start = 0;
    while start < lines.len() {
        if lines[start].assign.is_none() {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < lines.len() && lines[end].assign.is_some() {
            end += 1;
        }
        let width = lines[start..end]
            .iter()
            .filter_map(|l| l.assign.map(|(_, w)| w))
            .max()
            .unwrap_or(0);
        for w in &mut widths[start..end] {
            *w = width;
        }
        start = end;
    }
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for (line, width) in lines.iter().zip(widths) {
        if line.text.is_empty() {
            out.push('\n');
            continue;
        }
        for _ in 0..line.depth {
            out.push_str("  ");
        }
        match line.assign {
            Some((eq, name_width)) => {
                out.push_str(line.text[..eq].trim_end());
                for _ in name_width..width {
                    out.push(' ');
                }
                out.push_str(" = ");
                out.push_str(line.text[eq + 1..].trim_start());
            }
            None => out.push_str(line.text),
        }
        out.push('\n');
    }
    out
}

struct Scan {
    /// Closing brackets before the first other token (they dedent the line itself).
    leading_closers: usize,
    /// Opened minus closed brackets on the line.
    net: isize,
    assign: Option<(usize, usize)>,
}

/// Scans one trimmed line: brackets outside strings and comments, and the first plain `=`.
fn scan_line(line: &str) -> Scan {
    let bytes = line.as_bytes();
    let mut scan = Scan {
        leading_closers: 0,
        net: 0,
        assign: None,
    };
    let mut first_eq: Option<usize> = None;
    let mut net_at_eq = 0isize;
    let mut seen_token = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'"' => {
                seen_token = true;
                i = skip_string(bytes, i);
                continue;
            }
            b'#' => break,
            b'/' if bytes.get(i + 1) == Some(&b'/') => break,
            b'{' | b'[' | b'(' => {
                seen_token = true;
                scan.net += 1;
            }
            b'}' | b']' | b')' => {
                if !seen_token {
                    scan.leading_closers += 1;
                }
                scan.net -= 1;
            }
            b'=' => {
                let prev = i.checked_sub(1).map(|p| bytes[p]);
                let next = bytes.get(i + 1).copied();
                let compound = matches!(prev, Some(b'=' | b'!' | b'<' | b'>'))
                    || matches!(next, Some(b'=' | b'>'));
                if !compound && first_eq.is_none() && seen_token {
                    first_eq = Some(i);
                    net_at_eq = scan.net;
                }
                seen_token = true;
            }
            b' ' | b'\t' => {}
            _ => seen_token = true,
        }
        i += 1;
    }
    if let Some(eq) = first_eq
        && scan.net == net_at_eq
        && net_at_eq == 0
    {
        let name = line[..eq].trim_end();
        scan.assign = Some((eq, name.chars().count()));
    }
    scan
}

/// Returns the index just past the string that starts at `start` (a `"`).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn aligns_runs_and_indents_blocks() {
        let input = "resource \"a\" \"b\" {\nnode_name = \"pve\"\n    vm_id = 100\n\ncpu {\ncores = 2\n}\ntags = [\"a\", \"b=c\"]\non_boot = true\n}\n";
        let want = "resource \"a\" \"b\" {\n  node_name = \"pve\"\n  vm_id     = 100\n\n  cpu {\n    cores = 2\n  }\n  tags    = [\"a\", \"b=c\"]\n  on_boot = true\n}\n";
        assert_eq!(canonical(input), want);
    }

    #[test]
    fn multi_line_values_and_comments_end_a_run() {
        let input = "a = 1\nlonger = {\nx = 1\n}\n# c\nbb = 2\nc = \"}\"\n";
        let want = "a = 1\nlonger = {\n  x = 1\n}\n# c\nbb = 2\nc  = \"}\"\n";
        assert_eq!(canonical(input), want);
    }

    #[test]
    fn is_idempotent() {
        let once = canonical("x {\n  y = [\n    \"a\",\n  ]\n  zz = \"q\\\"=\"\n}\n");
        assert_eq!(canonical(&once), once);
    }
}

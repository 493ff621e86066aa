//! A small YAML emitter for the manifests: block maps and sequences, head
//! comments, and scalars that are either double-quoted (every string that
//! came from the user) or plain only when no YAML 1.1 or 1.2 reader could
//! take them for anything but a string.
//!
//! Keys are chosen by sealinit and written plain. No serde in the binary.

use std::fmt::Write as _;

/// A YAML value to emit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// An already rendered scalar (quoted string, number, boolean).
    Scalar(String),
    Map(Vec<MapItem>),
    Seq(Vec<SeqItem>),
}

/// One line of a block map: an entry or a comment line (or lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapItem {
    Entry(String, Node),
    Comment(String),
}

/// One item of a block sequence, or a comment between items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeqItem {
    Item(Node),
    Comment(String),
}

impl Node {
    /// A string, always double-quoted: use for anything the user provided.
    pub fn str(s: &str) -> Node {
        Node::Scalar(quote(s))
    }

    /// A string chosen by sealinit (`apps/v1`, `Memory`): plain when that is
    /// unambiguous, quoted otherwise.
    pub fn plain(s: &str) -> Node {
        if is_plain_safe(s) {
            Node::Scalar(s.to_string())
        } else {
            Node::Scalar(quote(s))
        }
    }

    pub fn int(n: u64) -> Node {
        Node::Scalar(n.to_string())
    }

    pub fn bool(b: bool) -> Node {
        Node::Scalar(if b { "true" } else { "false" }.to_string())
    }

    /// A sequence of values without comments.
    pub fn seq(items: Vec<Node>) -> Node {
        Node::Seq(items.into_iter().map(SeqItem::Item).collect())
    }
}

/// Builder for a block map, in insertion order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Map(pub Vec<MapItem>);

impl Map {
    pub fn new() -> Map {
        Map(Vec::new())
    }

    pub fn kv(mut self, key: &str, value: Node) -> Map {
        self.0.push(MapItem::Entry(key.to_string(), value));
        self
    }

    pub fn push(&mut self, key: &str, value: Node) {
        self.0.push(MapItem::Entry(key.to_string(), value));
    }

    pub fn comment(mut self, text: &str) -> Map {
        self.0.push(MapItem::Comment(text.to_string()));
        self
    }

    pub fn push_comment(&mut self, text: &str) {
        self.0.push(MapItem::Comment(text.to_string()));
    }

    pub fn node(self) -> Node {
        Node::Map(self.0)
    }
}

/// A double-quoted YAML scalar. Escapes `\`, `"`, every C0/C1 control
/// character, DEL and the Unicode line and paragraph separators, so the
/// result is one line and reads back as exactly `s`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// Whether `s` may be written plain: letters, digits and `._/-` only,
/// starting with a letter or `/`, and not one of the words YAML 1.1 reads
/// as a boolean or null.
pub fn is_plain_safe(s: &str) -> bool {
    const RESERVED: [&str; 11] = [
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~", "",
    ];
    let first_ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '/');
    first_ok
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
}

/// Escapes control characters for use inside a `#` comment line.
pub fn comment_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if needs_escape(c) {
            let _ = write!(out, "\\u{:04X}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Renders a document whose top level is a map.
pub fn emit(doc: &Map) -> String {
    let mut lines = Vec::new();
    emit_map(&doc.0, 0, &mut lines);
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn push_comment(text: &str, indent: usize, out: &mut Vec<String>) {
    for line in text.split('\n') {
        let line = comment_text(line);
        if line.is_empty() {
            out.push(format!("{:indent$}#", ""));
        } else {
            out.push(format!("{:indent$}# {line}", ""));
        }
    }
}

fn has_values<T>(items: &[T], is_value: impl Fn(&T) -> bool) -> bool {
    items.iter().any(is_value)
}

fn map_has_entries(items: &[MapItem]) -> bool {
    has_values(items, |i| matches!(i, MapItem::Entry(..)))
}

fn seq_has_items(items: &[SeqItem]) -> bool {
    has_values(items, |i| matches!(i, SeqItem::Item(_)))
}

fn emit_map(items: &[MapItem], indent: usize, out: &mut Vec<String>) {
    for item in items {
        match item {
            MapItem::Comment(c) => push_comment(c, indent, out),
            MapItem::Entry(k, Node::Scalar(s)) => out.push(format!("{:indent$}{k}: {s}", "")),
            MapItem::Entry(k, Node::Map(m)) if !map_has_entries(m) => {
                emit_map(m, indent, out);
                out.push(format!("{:indent$}{k}: {{}}", ""));
            }
            MapItem::Entry(k, Node::Map(m)) => {
                out.push(format!("{:indent$}{k}:", ""));
                emit_map(m, indent + 2, out);
            }
            MapItem::Entry(k, Node::Seq(s)) if !seq_has_items(s) => {
                emit_seq(s, indent, out);
                out.push(format!("{:indent$}{k}: []", ""));
            }
            MapItem::Entry(k, Node::Seq(s)) => {
                out.push(format!("{:indent$}{k}:", ""));
                emit_seq(s, indent + 2, out);
            }
        }
    }
}

fn emit_seq(items: &[SeqItem], indent: usize, out: &mut Vec<String>) {
    for item in items {
        match item {
            SeqItem::Comment(c) => push_comment(c, indent, out),
            SeqItem::Item(Node::Scalar(s)) => out.push(format!("{:indent$}- {s}", "")),
            SeqItem::Item(Node::Map(m)) if !map_has_entries(m) => {
                emit_map(m, indent, out);
                out.push(format!("{:indent$}- {{}}", ""));
            }
            SeqItem::Item(Node::Map(m)) => {
                // Render the map one level in, then put the dash on its first
                // entry line (comments before it stay above the dash).
                let start = out.len();
                emit_map(m, indent + 2, out);
                let inner = indent + 2;
                for line in out[start..].iter_mut() {
                    let is_comment = line.trim_start().starts_with('#');
                    let rest = line[inner..].to_string();
                    if is_comment {
                        *line = format!("{:indent$}{rest}", "");
                    } else {
                        *line = format!("{:indent$}- {rest}", "");
                        break;
                    }
                }
            }
            SeqItem::Item(Node::Seq(s)) if !seq_has_items(s) => {
                emit_seq(s, indent, out);
                out.push(format!("{:indent$}- []", ""));
            }
            SeqItem::Item(Node::Seq(s)) => {
                out.push(format!("{:indent$}-", ""));
                emit_seq(s, indent + 2, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes() {
        let cases = [
            ("plain", "\"plain\""),
            ("yes", "\"yes\""),
            ("a\"b\\c", "\"a\\\"b\\\\c\""),
            ("line\nbreak", "\"line\\nbreak\""),
            ("nul\0", "\"nul\\u0000\""),
            ("sep\u{2028}", "\"sep\\u2028\""),
            ("*: #&", "\"*: #&\""),
        ];
        for (input, want) in cases {
            assert_eq!(quote(input), want, "case {input:?}");
        }
    }

    #[test]
    fn plain_safety() {
        let cases = [
            ("apps/v1", true),
            ("Memory", true),
            ("ReadWriteOnce", true),
            ("limits.ephemeral-storage", true),
            ("yes", false),
            ("No", false),
            ("null", false),
            ("1Gi", false),
            ("", false),
            ("a:b", false),
            ("*", false),
            ("-x", false),
        ];
        for (input, want) in cases {
            assert_eq!(is_plain_safe(input), want, "case {input:?}");
        }
    }

    #[test]
    fn nested_layout_with_dashes_and_comments() {
        let doc = Map::new()
            .comment("head")
            .kv(
                "list",
                Node::Seq(vec![
                    SeqItem::Comment("first".into()),
                    SeqItem::Item(
                        Map::new()
                            .comment("inside")
                            .kv("a", Node::int(1))
                            .kv("b", Node::seq(vec![Node::plain("x")]))
                            .node(),
                    ),
                ]),
            )
            .kv("empty", Map::new().node())
            .kv("none", Node::seq(vec![]));
        let want = "# head\nlist:\n  # first\n  # inside\n  - a: 1\n    b:\n      - x\nempty: {}\nnone: []\n";
        assert_eq!(emit(&doc), want);
    }
}

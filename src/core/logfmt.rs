//! Formatting of diagnostic events as the two stderr formats of the contract:
//! text lines with a fixed `sealinit:` prefix, or one JSON object per line
//! with top-level `level`, `event`, `msg` and the event's fields.

use std::fmt::Write as _;

/// A field value, kept typed so JSON gets numbers and booleans.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

/// One event, ready to format.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// `trace` | `debug` | `info` | `warn` | `error`.
    pub level: &'static str,
    pub event: String,
    pub msg: String,
    /// Every other field, in the order given.
    pub fields: Vec<(&'static str, Value)>,
}

/// Text: `sealinit: [LEVEL: ]msg`, then a `fix` field (possibly multi-line)
/// as indented continuation lines, each with the prefix so a log collector
/// that splits on newlines keeps them attributed. Other fields are for JSON
/// only; the message is the human sentence. Newlines inside the message are
/// continued the same way, so one event never yields an unprefixed line.
pub fn text(rec: &Record) -> String {
    let mut out = String::with_capacity(rec.msg.len() + 16);
    let tag = match rec.level {
        "error" => "error: ",
        "warn" => "warning: ",
        "debug" => "debug: ",
        "trace" => "trace: ",
        _ => "",
    };
    for (i, line) in rec.msg.split('\n').enumerate() {
        if i == 0 {
            let _ = writeln!(out, "sealinit: {tag}{line}");
        } else {
            let _ = writeln!(out, "sealinit:   {line}");
        }
    }
    if let Some((_, Value::Str(fix))) = rec.fields.iter().find(|(k, _)| *k == "fix") {
        if !fix.is_empty() {
            let _ = writeln!(out, "sealinit:   fix:");
            for line in fix.trim_end_matches('\n').split('\n') {
                let _ = writeln!(out, "sealinit:     {line}");
            }
        }
    }
    out
}

/// JSON: one object on one line.
pub fn json(rec: &Record) -> String {
    let mut out = String::with_capacity(rec.msg.len() + 64);
    out.push_str("{\"level\":");
    push_json_str(&mut out, rec.level);
    out.push_str(",\"event\":");
    push_json_str(&mut out, &rec.event);
    out.push_str(",\"msg\":");
    push_json_str(&mut out, &rec.msg);
    for (k, v) in &rec.fields {
        if matches!(*k, "level" | "event" | "msg" | "message") {
            continue;
        }
        out.push(',');
        push_json_str(&mut out, k);
        out.push(':');
        match v {
            Value::Str(s) => push_json_str(&mut out, s),
            Value::I64(n) => {
                let _ = write!(out, "{n}");
            }
            Value::U64(n) => {
                let _ = write!(out, "{n}");
            }
            Value::F64(f) if f.is_finite() => {
                let _ = write!(out, "{f}");
            }
            Value::F64(_) => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        }
    }
    out.push_str("}\n");
    out
}

/// Appends `s` as a JSON string literal (RFC 8259): `"` and `\`, and every
/// control character as `\n`, `\t`, ... or `\u00XX`.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(level: &'static str, msg: &str, fields: Vec<(&'static str, Value)>) -> Record {
        Record {
            level,
            event: "check".into(),
            msg: msg.into(),
            fields,
        }
    }

    #[test]
    fn text_prefixes_every_line_and_tags_levels() {
        let cases = [
            ("info", "spawned /bin/true", "sealinit: spawned /bin/true\n"),
            ("warn", "hot", "sealinit: warning: hot\n"),
            ("error", "a\nb", "sealinit: error: a\nsealinit:   b\n"),
        ];
        for (level, msg, want) in cases {
            assert_eq!(text(&rec(level, msg, vec![])), want, "{level} {msg:?}");
        }
    }

    #[test]
    fn text_prints_fix_as_continuation_and_hides_other_fields() {
        let r = rec(
            "error",
            "fail /tmp",
            vec![
                ("path", Value::Str("/tmp".into())),
                ("fix", Value::Str("volumes:\n- name: tmp".into())),
            ],
        );
        assert_eq!(
            text(&r),
            "sealinit: error: fail /tmp\nsealinit:   fix:\nsealinit:     volumes:\nsealinit:     - name: tmp\n"
        );
    }

    #[test]
    fn json_has_top_level_keys_typed_values_and_escapes() {
        let r = rec(
            "info",
            "say \"hi\"\n",
            vec![
                ("pid", Value::I64(-3)),
                ("bytes", Value::U64(7)),
                ("ok", Value::Bool(true)),
                ("path", Value::Str("a\\b\u{1}".into())),
            ],
        );
        assert_eq!(
            json(&r),
            "{\"level\":\"info\",\"event\":\"check\",\"msg\":\"say \\\"hi\\\"\\n\",\"pid\":-3,\"bytes\":7,\"ok\":true,\"path\":\"a\\\\b\\u0001\"}\n"
        );
    }

    #[test]
    fn push_json_str_cases() {
        let cases = [
            ("plain", "/var/cache", "/var/cache"),
            ("quote and backslash", "a\"b\\c", "a\\\"b\\\\c"),
            ("newline and tab", "a\nb\tc\r", "a\\nb\\tc\\r"),
            (
                "other control",
                "\u{1}\u{1f}\u{7f}",
                "\\u0001\\u001f\\u007f",
            ),
            ("unicode kept", "café ✓", "café ✓"),
            ("backspace formfeed", "\u{8}\u{c}", "\\b\\f"),
        ];
        for (name, input, want) in cases {
            let mut got = String::new();
            push_json_str(&mut got, input);
            assert_eq!(got, format!("\"{want}\""), "case {name}");
        }
    }
}

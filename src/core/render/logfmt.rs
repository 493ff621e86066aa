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
    /// RFC 3339 time of the event (`--log-timestamps`), or None.
    pub ts: Option<String>,
}

/// Width a text line is wrapped to (a `kubectl logs` in 120 columns).
pub const TEXT_WIDTH: usize = 120;

/// Text: `sealinit: [TS ][LEVEL: ]msg`, then the `why` and `fix` fields as
/// indented continuation lines, each with the prefix so a log collector
/// that splits on newlines keeps them attributed. Other fields are for JSON
/// only; the message is the human sentence. Control characters are escaped
/// ([`escape_text`]): names the workload chooses (a dropped file's) cannot
/// move the cursor or fake a line. Lines are wrapped at [`TEXT_WIDTH`] at
/// spaces; `fix` keeps its own line breaks (it may be YAML).
pub fn text(rec: &Record) -> String {
    let mut out = String::with_capacity(rec.msg.len() + 16);
    let tag = match rec.level {
        "error" => "error: ",
        "warn" => "warning: ",
        "debug" => "debug: ",
        "trace" => "trace: ",
        _ => "",
    };
    let ts = rec
        .ts
        .as_deref()
        .map(|t| format!("{t} "))
        .unwrap_or_default();
    let first = format!("sealinit: {ts}{tag}");
    push_wrapped(&mut out, &first, "sealinit:     ", &escape_text(&rec.msg));
    if let Some((_, Value::Str(why))) = rec.fields.iter().find(|(k, _)| *k == "why") {
        if !why.is_empty() {
            push_wrapped(
                &mut out,
                "sealinit:   why: ",
                "sealinit:     ",
                &escape_text(why),
            );
        }
    }
    if let Some((_, Value::Str(fix))) = rec.fields.iter().find(|(k, _)| *k == "fix") {
        if !fix.is_empty() {
            out.push_str("sealinit:   fix:\n");
            for line in fix.trim_end_matches('\n').split('\n') {
                if is_yaml_line(line) {
                    // Wrapping would change what a copy of it means.
                    out.push_str("sealinit:     ");
                    out.push_str(escape_text(line).trim_end());
                    out.push('\n');
                    continue;
                }
                push_wrapped(
                    &mut out,
                    "sealinit:     ",
                    "sealinit:       ",
                    &escape_text(line),
                );
            }
        }
    }
    out
}

/// Whether a line of a `fix` is YAML (indented, a list item, a comment, or
/// `key:` at its start) rather than prose.
fn is_yaml_line(line: &str) -> bool {
    if line.starts_with([' ', '-', '#']) {
        return true;
    }
    let key_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        .unwrap_or(line.len());
    key_end > 0 && line[key_end..].starts_with(':') && {
        let rest = &line[key_end + 1..];
        rest.is_empty() || rest.starts_with(' ')
    }
}

/// Appends `text` after `first`, wrapped at spaces to [`TEXT_WIDTH`]
/// columns, continuation lines starting with `more`. A word longer than a
/// line stays whole.
fn push_wrapped(out: &mut String, first: &str, more: &str, text: &str) {
    // Written straight into `out`, one line at a time from `line`.
    let mut line = out.len();
    out.push_str(first);
    let mut room = first.chars().count();
    let mut fresh = true;
    for word in text.split(' ') {
        if word.is_empty() && fresh && out.len() - line > first.len() {
            continue;
        }
        let w = if word.is_ascii() {
            word.len()
        } else {
            word.chars().count()
        };
        if !fresh && room + 1 + w > TEXT_WIDTH {
            end_line(out, line);
            line = out.len();
            out.push_str(more);
            room = more.chars().count();
            fresh = true;
        }
        if !fresh {
            out.push(' ');
            room += 1;
        }
        out.push_str(word);
        room += w;
        fresh = false;
    }
    end_line(out, line);
}

/// Ends the line of `out` that starts at byte `start`: its trailing
/// whitespace dropped, a newline.
fn end_line(out: &mut String, start: usize) {
    let kept = out[start..].trim_end().len();
    out.truncate(start + kept);
    out.push('\n');
}

/// `s` with every control character written out (`\n`, `\t`, `\x1b`,
/// `\u{9b}`), and the Unicode line separators and bidirectional overrides
/// too, so text from the workload prints as one inert line.
pub fn escape_text(s: &str) -> String {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        // Printable ASCII, the common case: nothing to escape.
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 && c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// RFC 3339 UTC with milliseconds, `2026-12-01T05:06:56.123Z`, for a time
/// given as milliseconds since the Unix epoch (negative: before 1970).
pub fn rfc3339_millis(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let ms = unix_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// (year, month, day) of a day count since 1970-01-01 in the proleptic
/// Gregorian calendar (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// JSON: one object on one line.
pub fn json(rec: &Record) -> String {
    let mut out = String::with_capacity(rec.msg.len() + 64);
    out.push('{');
    if let Some(ts) = &rec.ts {
        out.push_str("\"ts\":");
        push_json_str(&mut out, ts);
        out.push(',');
    }
    out.push_str("\"level\":");
    push_json_str(&mut out, rec.level);
    out.push_str(",\"event\":");
    push_json_str(&mut out, &rec.event);
    out.push_str(",\"msg\":");
    push_json_str(&mut out, &rec.msg);
    for (k, v) in &rec.fields {
        if matches!(*k, "ts" | "level" | "event" | "msg" | "message") {
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
            ts: None,
        }
    }

    #[test]
    fn text_prefixes_every_line_and_tags_levels() {
        let cases = [
            ("info", "spawned /bin/true", "sealinit: spawned /bin/true\n"),
            ("warn", "hot", "sealinit: warning: hot\n"),
            ("error", "a\nb", "sealinit: error: a\\nb\n"),
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

    #[test]
    fn yaml_lines_of_a_fix_are_told_from_prose() {
        let cases = [
            ("volumes:", true),
            ("securityContext:", true),
            ("  - name: x", true),
            ("- name: x", true),
            ("# pod spec", true),
            ("sizeLimit: 5Gi", true),
            (
                "mount an emptyDir volume at exactly /x (podman/docker: -v a:/x):",
                false,
            ),
            (
                "run as a user that may write there; with fsGroup ...:",
                false,
            ),
            ("and keep `readOnly: true` off the volumeMount", false),
            ("find what fills it: `kubectl exec`", false),
        ];
        for (line, want) in cases {
            assert_eq!(is_yaml_line(line), want, "{line:?}");
        }
    }

    #[test]
    fn rfc3339_from_fixed_times() {
        let cases = [
            ("epoch", 0, "1970-01-01T00:00:00.000Z"),
            ("millis kept", 1_764_565_616_123, "2025-12-01T05:06:56.123Z"),
            ("leap day", 951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (
                "end of a leap year",
                1_609_459_199_999,
                "2020-12-31T23:59:59.999Z",
            ),
            ("before 1970", -1, "1969-12-31T23:59:59.999Z"),
            (
                "year 2100 is not leap",
                4_107_542_400_000,
                "2100-03-01T00:00:00.000Z",
            ),
        ];
        for (name, ms, want) in cases {
            assert_eq!(rfc3339_millis(ms), want, "case {name}");
        }
    }

    #[test]
    fn ts_is_the_first_json_key_and_prefixes_text() {
        let mut r = rec("info", "hi", vec![("ts", Value::Str("x".into()))]);
        r.ts = Some("2025-12-01T05:06:56.123Z".into());
        assert_eq!(
            json(&r),
            "{\"ts\":\"2025-12-01T05:06:56.123Z\",\"level\":\"info\",\"event\":\"check\",\"msg\":\"hi\"}\n"
        );
        assert_eq!(text(&r), "sealinit: 2025-12-01T05:06:56.123Z hi\n");
    }

    #[test]
    fn text_escapes_control_characters_from_the_workload() {
        let r = rec(
            "warn",
            "dropped /tmp/a\u{1b}[2Jb\nsealinit: fake\u{9b}\u{202e}x",
            vec![("why", Value::Str("w\u{7}".into()))],
        );
        let t = text(&r);
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
        assert_eq!(
            t,
            "sealinit: warning: dropped /tmp/a\\x1b[2Jb\\nsealinit: fake\\u{9b}\\u{202e}x\nsealinit:   why: w\\x07\n"
        );
    }

    #[test]
    fn long_text_wraps_at_120_columns_on_indented_lines() {
        let long = "word ".repeat(60);
        let r = rec(
            "error",
            &long,
            vec![
                ("why", Value::Str(long.clone())),
                ("fix", Value::Str(format!("{long}\nvolumes:\n  - {long}"))),
            ],
        );
        let t = text(&r);
        // YAML lines of a fix are never wrapped (a copy must mean the same).
        let yaml = format!("sealinit:       - {}", long.trim_end());
        for line in t.lines() {
            assert!(line.starts_with("sealinit: "), "{line:?}");
            if line != yaml {
                assert!(line.chars().count() <= TEXT_WIDTH, "{line:?}");
            }
        }
        assert!(t.lines().any(|l| l == yaml), "{t}");
        assert!(t.lines().count() > 10, "{t}");
        assert!(t.contains("\nsealinit:   why: word"), "{t}");
        assert!(t.contains("\nsealinit:   fix:\nsealinit:     word"), "{t}");
        assert!(
            t.contains("\nsealinit:       word"),
            "prose fix continues: {t}"
        );
        assert!(t.contains("\nsealinit:     volumes:\n"), "{t}");
        // Every word is still there, in order.
        let words: usize = t.matches("word").count();
        assert_eq!(words, 240);
    }
}

//! The `tracing` subscriber: turns each event into a [`Record`] and writes it
//! to stderr in one `write(2)` (so lines from sealinit and the workload
//! interleave cleanly). Spans are not used by sealinit and are ignored.
//!
//! Writing never fails loudly: a closed or broken stderr (EPIPE, EBADF) or a
//! stuck non-blocking pipe just drops the line. SIGPIPE cannot kill sealinit
//! because every signal is blocked and read from the signalfd.

use std::fmt;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::core::cli::options::LogFormat;
use crate::core::render::logfmt::{self, Record, Value};

/// The stderr subscriber.
pub struct StderrLog {
    format: LogFormat,
    max: Level,
    timestamps: bool,
    next_span: AtomicU64,
}

/// What [`init`] set, for records written without `tracing`.
#[derive(Debug, Clone, Copy)]
struct Settings {
    format: LogFormat,
    max: Level,
    timestamps: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Serialises writes to stderr between the subscriber and [`emit`].
static STDERR: Mutex<()> = Mutex::new(());

/// Installs the global subscriber. Only the first call has an effect.
/// `timestamps` adds an RFC 3339 `ts` to every line (`--log-timestamps`).
pub fn init(format: LogFormat, max: Level, timestamps: bool) {
    let _ = SETTINGS.set(Settings {
        format,
        max,
        timestamps,
    });
    let sub = StderrLog {
        format,
        max,
        timestamps,
        next_span: AtomicU64::new(1),
    };
    let _ = tracing::subscriber::set_global_default(sub);
}

/// The current time as RFC 3339 UTC with milliseconds.
fn now_rfc3339() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    logfmt::rfc3339_millis(ms)
}

fn level_of(name: &str) -> Level {
    match name {
        "error" => Level::ERROR,
        "warn" => Level::WARN,
        "info" => Level::INFO,
        "debug" => Level::DEBUG,
        _ => Level::TRACE,
    }
}

/// Whether [`init`]'s level lets a record of `level` (`"error"`, ...)
/// through (info when `init` was not called).
pub fn enabled(level: &str) -> bool {
    let max = SETTINGS.get().map_or(Level::INFO, |s| s.max);
    level_of(level) <= max
}

/// The records [`init`]'s level lets through, formatted as it says (text
/// when `init` was not called), timestamped when it says so.
pub fn format_records(records: &[Record]) -> String {
    let s = SETTINGS.get().copied().unwrap_or(Settings {
        format: LogFormat::Text,
        max: Level::INFO,
        timestamps: false,
    });
    let mut out = String::new();
    for rec in records.iter().filter(|r| level_of(r.level) <= s.max) {
        // A copy only to stamp it: the start-up report is on the spawn's path.
        let stamped;
        let rec = if s.timestamps {
            let mut r = rec.clone();
            r.ts = Some(now_rfc3339());
            stamped = r;
            &stamped
        } else {
            rec
        };
        out.push_str(&match s.format {
            LogFormat::Text => logfmt::text(rec),
            LogFormat::Json => logfmt::json(rec),
        });
    }
    out
}

/// Writes already built records (a check report) to stderr, as the
/// subscriber writes events.
pub fn emit(records: &[Record]) {
    let text = format_records(records);
    let _guard = STDERR.lock();
    write_stderr(text.as_bytes());
}

/// Writes already built records to stdout (`sealinit check`'s report).
pub fn print(records: &[Record]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(format_records(records).as_bytes())?;
    stdout.flush()
}

struct Collect<'a>(&'a mut Record);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::Str(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::Str(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::U64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }
}

impl Collect<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        match (field.name(), value) {
            ("message", Value::Str(s)) => self.0.msg = s,
            ("event", Value::Str(s)) => self.0.event = s,
            (name, v) => self.0.fields.push((name, v)),
        }
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        _ => "trace",
    }
}

impl Subscriber for StderrLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= &self.max
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::from_level(self.max))
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed).max(1))
    }

    fn record(&self, _span: &Id, _values: &SpanRecord<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut rec = Record {
            level: level_name(event.metadata().level()),
            ..Record::default()
        };
        event.record(&mut Collect(&mut rec));
        if rec.event.is_empty() {
            rec.event = "log".to_string();
        }
        if self.timestamps {
            rec.ts = Some(now_rfc3339());
        }
        let line = match self.format {
            LogFormat::Text => logfmt::text(&rec),
            LogFormat::Json => logfmt::json(&rec),
        };
        let _guard = STDERR.lock();
        write_stderr(line.as_bytes());
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

/// Writes all of `buf` to fd 2 with `write(2)`, retrying EINTR and waiting
/// briefly (`poll(2)`, 100 ms at most, a few times) on EAGAIN; gives up on
/// any other error.
fn write_stderr(mut buf: &[u8]) {
    let mut stalls = 0;
    while !buf.is_empty() {
        // SAFETY: writing from a live slice of the stated length.
        let n = unsafe { libc::write(libc::STDERR_FILENO, buf.as_ptr().cast(), buf.len()) };
        if n > 0 {
            buf = &buf[n as usize..];
            continue;
        }
        let err = std::io::Error::last_os_error().raw_os_error();
        match err {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) if stalls < 5 => {
                stalls += 1;
                let mut pfd = libc::pollfd {
                    fd: libc::STDERR_FILENO,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut pfd, 1, 100) };
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only test that calls `init` (it sets process-wide state).
    #[test]
    fn records_get_the_level_filter_and_a_timestamp_when_asked() {
        init(LogFormat::Json, Level::INFO, true);
        let rec = |level: &'static str, msg: &str| Record {
            level,
            event: "check".into(),
            msg: msg.into(),
            ..Record::default()
        };
        let out = format_records(&[rec("debug", "hidden"), rec("info", "shown")]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "{out}");
        let line = lines[0];
        // {"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ","level":"info",...
        let ts = line
            .strip_prefix("{\"ts\":\"")
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("no leading ts: {line}"));
        assert_eq!(ts.len(), 24, "{ts}");
        let shape: String = ts
            .chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect();
        assert_eq!(shape, "9999-99-99T99:99:99.999Z");
        assert!(ts.as_bytes()[0] == b'2', "{ts}");
        assert!(line.contains("\"msg\":\"shown\""), "{line}");
    }
}

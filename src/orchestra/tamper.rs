//! Tamper detection while the workload runs: the mount-table thread, the
//! exec-drop detector the usage watcher feeds, and `--on-tamper`.
//!
//! - [`spawn_tamper_watch`]: a thread blocked in `poll(2)` on
//!   `/proc/self/mountinfo` for `POLLPRI`, with no timeout (a timer exists
//!   only while a rate-limit summary is pending): no wake-up while nothing
//!   changes. Each change re-reads the table, diffs it against the start-up
//!   snapshot ([`crate::core::watch::tamper::diff_mounts`]) and logs each new
//!   finding once (and, at info level, when it no longer holds).
//! - [`ExecDetector`]: checks the files the usage watcher's inotify batches
//!   name (see [`crate::orchestra::tracker::MountTracker::drain_exec`]),
//!   reading at most 4 bytes of each; enabled by
//!   [`crate::orchestra::watcher::spawn_watcher_with`].
//! - [`TamperSink`]: with `--on-tamper stop`, the first error-level finding
//!   sends `Request::Stop { code: 77 }` to the supervisor (once) and writes
//!   a byte to its wake pipe. Warning-level findings (`mount-added`, a drop
//!   on a `noexec` mount) never stop the workload.
//!
//! Nothing here panics or exits: errors are logged once and the detection
//! they concern is turned off.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::core::cli::options::TamperPolicy;
use crate::core::contract::spec::MountSpec;
use crate::core::exitcode;
use crate::core::fasthash::{FastMap, FastSet};
use crate::core::mounts::mountinfo::{MountTable, ParseError};
use crate::core::watch::tamper::{
    diff_mounts, exec_severity, judge, mode_string, Judgement, Latch, MountFinding, RateLimiter,
    Recognised, Severity, Stamp, Summary, TamperKind, Triggers,
};
use crate::edge::tamper::{look_at, MountWatch};
use crate::orchestra::supervisor::Request;
use crate::orchestra::tracker::ExecCandidate;

/// Events of a kind logged one by one before counting starts.
pub const FIRST_EVENTS: u32 = 20;
/// Period of the summary lines while events are counted.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(1);
/// Inodes remembered as reported (so an unpacker's `utimes` after the
/// write is not a second event); cleared when full.
const KNOWN_MAX: usize = 65_536;

/// Where tamper findings go besides the log: `--on-tamper` and the
/// supervisor's request channel.
#[derive(Debug)]
pub struct TamperSink {
    policy: TamperPolicy,
    tx: Sender<Request>,
    wake: OwnedFd,
    stop_sent: bool,
    /// `sealinit_tamper_events_total`: bumped once per finding reported.
    counter: Option<Arc<AtomicU64>>,
}

impl TamperSink {
    /// `wake` is the write end of the supervisor's wake pipe (a dup of the
    /// one the usage watcher holds is fine).
    pub fn new(policy: TamperPolicy, tx: Sender<Request>, wake: OwnedFd) -> TamperSink {
        TamperSink {
            policy,
            tx,
            wake,
            stop_sent: false,
            counter: None,
        }
    }

    /// Counts every finding into `counter` (the metrics' tamper counter).
    pub fn counting(mut self, counter: Arc<AtomicU64>) -> TamperSink {
        self.counter = Some(counter);
        self
    }

    /// One finding was made (whether or not the rate limiter logs it).
    fn found(&self) {
        if let Some(c) = &self.counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether a finding of `severity` makes this sink ask for a stop:
    /// under `stop`, once, for an error-level finding.
    fn will_stop(&self, severity: Severity) -> bool {
        self.policy == TamperPolicy::Stop && severity == Severity::Error && !self.stop_sent
    }

    /// Asks the supervisor to stop the workload with
    /// [`exitcode::TAMPER_STOP`]. Called after the finding is logged, so the
    /// `tamper` line is on stderr before sealinit can exit.
    fn send_stop(&mut self, reason: &str) {
        let req = Request::Stop {
            code: exitcode::TAMPER_STOP,
            reason: format!("--on-tamper stop: {reason}"),
        };
        if self.tx.send(req).is_ok() {
            self.stop_sent = true;
            let _ = nix::unistd::write(self.wake.as_fd(), &[1u8]);
        }
    }
}

/// Suffix of a message whose finding triggered the stop.
fn stop_note(stopped: bool) -> &'static str {
    if stopped {
        "; --on-tamper stop: stopping the workload"
    } else {
        ""
    }
}

/// Settings of the mount-table watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountWatchConfig {
    /// The table to poll (`/proc/self/mountinfo`).
    pub mountinfo: PathBuf,
    /// Findings logged one by one before counting starts.
    pub first: u32,
    /// Summary period while counting.
    pub interval: Duration,
}

impl Default for MountWatchConfig {
    fn default() -> Self {
        MountWatchConfig {
            mountinfo: PathBuf::from("/proc/self/mountinfo"),
            first: FIRST_EVENTS,
            interval: SUMMARY_INTERVAL,
        }
    }
}

/// Starts the mount-table watch. `baseline` is the table the start-up
/// checks judged; `declared` the spec's mounts. When the table cannot be
/// opened or polled, says so once (warning) and returns `None`: the
/// workload runs on without mount-table detection.
pub fn spawn_tamper_watch(
    baseline: MountTable,
    declared: Vec<MountSpec>,
    sink: TamperSink,
) -> Option<JoinHandle<()>> {
    spawn_tamper_watch_with(baseline, declared, sink, MountWatchConfig::default())
}

/// [`spawn_tamper_watch`] with explicit settings (tests, benches).
pub fn spawn_tamper_watch_with(
    baseline: MountTable,
    declared: Vec<MountSpec>,
    sink: TamperSink,
    cfg: MountWatchConfig,
) -> Option<JoinHandle<()>> {
    let opened = MountWatch::open(&cfg.mountinfo);
    // One non-blocking poll proves the file can be polled at all.
    let watch = match opened.and_then(|w| w.wait(Some(Duration::ZERO)).map(|_| w)) {
        Ok(w) => w,
        Err(e) => {
            warn_mount_watch_off(&e.to_string());
            return None;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("sealinit-tamper".into())
        .spawn(move || {
            let mut t = MountThread {
                watch,
                baseline,
                declared,
                sink,
                latch: Latch::default(),
                limiter: RateLimiter::new(cfg.first, cfg.interval),
                logged: HashSet::new(),
                parse_warned: false,
            };
            t.run()
        });
    match spawned {
        Ok(h) => Some(h),
        Err(e) => {
            warn_mount_watch_off(&format!("cannot start its thread: {e}"));
            None
        }
    }
}

fn warn_mount_watch_off(error: &str) {
    tracing::warn!(event = "tamper", finding = "mount-watch", error = %error, detection = "off",
        "cannot watch the mount table ({error}): a remount of / read-write, a changed \
         declared mount or a new writable mount will not be detected while the workload runs");
}

struct MountThread {
    watch: MountWatch,
    baseline: MountTable,
    declared: Vec<MountSpec>,
    sink: TamperSink,
    latch: Latch,
    limiter: RateLimiter,
    /// Keys of the active findings that were logged one by one: only
    /// those get a "cleared" line (so a storm stays bounded both ways).
    logged: HashSet<String>,
    parse_warned: bool,
}

impl MountThread {
    /// Read, diff, report, then wait for the next change. The first read
    /// happens after the file was opened, so a change between the start-up
    /// snapshot and now is seen by it, and any later one raises POLLPRI.
    fn run(&mut self) {
        loop {
            match self.watch.read() {
                Ok(text) => self.check(&text),
                Err(e) => tracing::warn!(event = "tamper", finding = "mount-watch", error = %e,
                    "cannot re-read the mount table ({e}); trying again at the next change"),
            }
            let timeout = self
                .limiter
                .due()
                .map(|d| d.saturating_duration_since(Instant::now()));
            if let Err(e) = self.watch.wait(timeout) {
                warn_mount_watch_off(&e.to_string());
                return;
            }
            if let Some(s) = self.limiter.flush(Instant::now()) {
                log_summary(&s, &self.limiter);
            }
        }
    }

    fn check(&mut self, text: &[u8]) {
        let (now, errors) = MountTable::parse_lenient(text);
        self.warn_parse(&errors);
        let (appeared, cleared) =
            self.latch
                .update(diff_mounts(&self.baseline, &self.declared, &now));
        for f in appeared {
            let at = Instant::now();
            if let Some(s) = self.limiter.flush(at) {
                log_summary(&s, &self.limiter);
            }
            let msg = f.message();
            self.sink.found();
            let stopping = self.sink.will_stop(f.severity);
            if self.limiter.admit(f.kind, f.severity, at) {
                log_mount_finding(&f, &msg, stopping);
                self.logged.insert(f.key());
            }
            if stopping {
                self.sink.send_stop(&msg);
            }
        }
        for f in cleared {
            if !self.logged.remove(&f.key()) {
                continue;
            }
            let p = f.path.display();
            tracing::info!(event = "tamper", finding = f.kind.as_str(), change = f.change.as_str(),
                path = %p, state = "cleared",
                "{p}: the earlier {} finding ({}) no longer holds; the mount table matches the \
                 start-up snapshot there again", f.kind.as_str(), f.change.as_str());
        }
    }

    fn warn_parse(&mut self, errors: &[ParseError]) {
        if let Some(e) = errors.first() {
            if !self.parse_warned {
                self.parse_warned = true;
                tracing::warn!(event = "tamper", finding = "mount-watch", error = %e,
                    "the mount table has {} line(s) sealinit cannot parse (first: {e}); those \
                     mounts are left out of tamper detection", errors.len());
            }
        }
    }
}

fn log_mount_finding(f: &MountFinding, msg: &str, stopped: bool) {
    let p = f.path.display();
    let note = stop_note(stopped);
    macro_rules! emit {
        ($lvl:ident) => {
            tracing::$lvl!(event = "tamper", finding = f.kind.as_str(), path = %p,
                change = f.change.as_str(), declared = f.declared.map_or("", |k| k.as_str()),
                expected = %f.expected, observed = %f.observed, mount_id = u64::from(f.mount_id),
                severity = f.severity.as_str(), state = "detected", "{msg}{note}")
        };
    }
    match f.severity {
        Severity::Error => emit!(error),
        Severity::Warn => emit!(warn),
    }
}

fn log_summary(s: &Summary, limiter: &RateLimiter) {
    let secs = format!("{:.1}s", s.window.as_secs_f64());
    let window_ms = u64::try_from(s.window.as_millis()).unwrap_or(u64::MAX);
    for c in &s.counts {
        let kind = c.kind.as_str();
        let total = limiter.total(c.kind);
        let (count, sev) = (c.count, c.severity.as_str());
        let where_ = match (c.kind, c.severity) {
            (TamperKind::ExecDrop, Severity::Error) => " on mounts without noexec",
            (TamperKind::ExecDrop, Severity::Warn) => " on noexec mounts",
            _ => "",
        };
        macro_rules! emit {
            ($lvl:ident) => {
                tracing::$lvl!(
                    event = "tamper",
                    finding = kind,
                    summary = true,
                    count,
                    window_ms,
                    total,
                    severity = sev,
                    "{count} more {kind} events{where_} in the last {secs} (not logged one by \
                     one to keep the log readable; {total} {kind} events since start)"
                )
            };
        }
        match c.severity {
            Severity::Error => emit!(error),
            Severity::Warn => emit!(warn),
        }
    }
}

/// Exec-drop settings for the usage watcher.
#[derive(Debug)]
pub struct ExecDropConfig {
    pub sink: TamperSink,
    /// Events logged one by one before counting starts.
    pub first: u32,
    /// Summary period while counting.
    pub interval: Duration,
}

impl ExecDropConfig {
    /// Defaults: the first [`FIRST_EVENTS`], then one summary per
    /// [`SUMMARY_INTERVAL`].
    pub fn new(sink: TamperSink) -> ExecDropConfig {
        ExecDropConfig {
            sink,
            first: FIRST_EVENTS,
            interval: SUMMARY_INTERVAL,
        }
    }
}

/// Judges exec-drop candidates, logs, rate-limits and applies the policy.
/// Lives on the usage watcher's thread.
#[derive(Debug)]
pub struct ExecDetector {
    sink: TamperSink,
    limiter: RateLimiter,
    /// Inodes reported, with the content state they were reported in.
    known: FastMap<(u64, u64), Stamp>,
    overflow_warned: bool,
    /// When the watch started (wall clock, as ctime is): files found
    /// unchanged since before then are not drops.
    since: (i64, i64),
    /// Inodes created and not yet closed after writing.
    writing: FastSet<(u64, u64)>,
}

impl ExecDetector {
    pub fn new(cfg: ExecDropConfig) -> ExecDetector {
        // Less one second: file timestamps come from the kernel's coarse
        // clock, which lags the precise one by up to a tick, so a file made
        // just after this moment may carry a ctime just before it.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(Duration::from_secs(1));
        ExecDetector {
            sink: cfg.sink,
            limiter: RateLimiter::new(cfg.first, cfg.interval),
            known: FastMap::default(),
            overflow_warned: false,
            since: (now.as_secs() as i64, i64::from(now.subsec_nanos())),
            writing: FastSet::default(),
        }
    }

    /// Looks at one candidate file and reports it if it is a drop.
    pub fn check(&mut self, c: ExecCandidate<'_>) {
        let looked = match look_at(c.root, c.rel, c.seen.as_ref()) {
            Ok(Some(l)) => l,
            Ok(None) | Err(_) => return,
        };
        let key = (looked.dev, looked.ino);
        if c.triggers.contains(Triggers::WRITTEN) {
            self.writing.remove(&key);
        } else if c.triggers.contains(Triggers::CREATED) {
            if self.writing.len() >= KNOWN_MAX {
                self.writing.clear();
            }
            self.writing.insert(key);
        }
        let known = self.known.get(&key).copied();
        let writing = self.writing.contains(&key);
        let recognised = match judge(c.triggers, &looked.facts, known, self.since, writing) {
            Judgement::Report(r) => r,
            Judgement::Absorb => {
                self.known
                    .insert(key, Stamp::after(c.triggers, &looked.facts));
                return;
            }
            Judgement::NotExec => {
                self.known.remove(&key);
                return;
            }
            Judgement::Wait => return,
        };
        if self.known.len() >= KNOWN_MAX {
            self.known.clear();
        }
        self.known
            .insert(key, Stamp::after(c.triggers, &looked.facts));
        let now = Instant::now();
        self.flush(now);
        let path = c.mount.join(OsStr::from_bytes(c.rel));
        let severity = exec_severity(looked.noexec);
        let drop = DropSeen {
            path: &path,
            mount: c.mount,
            mode: looked.facts.mode,
            size: looked.facts.size,
            recognised,
            noexec: looked.noexec,
            trigger: c.triggers.as_str(),
        };
        self.sink.found();
        let stopping = self.sink.will_stop(severity);
        if self.limiter.admit(TamperKind::ExecDrop, severity, now) {
            drop.log(severity, stopping);
        }
        if stopping {
            self.sink.send_stop(&drop.message());
        }
    }

    /// The inotify queue of `mount` overflowed: the tracker's full rescan
    /// hands every file over as "found", judged by ctime. Said once.
    pub fn overflowed(&mut self, mount: &Path) {
        if !self.overflow_warned {
            self.overflow_warned = true;
            let p = mount.display();
            tracing::warn!(event = "tamper", finding = "exec-drop", path = %p, error = "inotify queue overflow",
                fix = "raise fs.inotify.max_queued_events on the node",
                "the inotify event queue for {p} overflowed during a burst of file changes: \
                 sealinit rescanned the mount and judged every file changed since start-up instead \
                 (a drop rewritten in place during the burst may be reported late; said once)");
        }
    }

    /// Event-driven exec-drop detection was lost on `mount` (its inotify
    /// watches ran out): it falls back to the periodic scan, judged by
    /// ctime, so a drop is seen late, not never. That a workload can cause
    /// this (e.g. by making 200,000 empty directories) makes it a finding
    /// in itself: error level, and under `--on-tamper stop` a stop (77).
    pub fn detection_lost(&mut self, mount: &Path, why: &str) {
        let p = mount.display();
        let msg = format!(
            "exec-drop detection on {p} lost its inotify watches ({why}): it falls back to a \
             periodic scan, so a dropped executable is seen late, not at once"
        );
        let stopping = self.sink.will_stop(Severity::Error);
        tracing::error!(event = "tamper", finding = "exec-drop", path = %p, error = %why,
            detection = "periodic", severity = "error", state = "detected",
            fix = "raise the node's inotify limits (sysctl fs.inotify.max_user_watches)",
            "{msg}{}", stop_note(stopping));
        if stopping {
            self.sink.send_stop(&msg);
        }
    }

    /// When [`ExecDetector::flush`] must run, if a summary is pending.
    pub fn due(&self) -> Option<Instant> {
        self.limiter.due()
    }

    /// Logs the pending summary once it is due.
    pub fn flush(&mut self, now: Instant) {
        if let Some(s) = self.limiter.flush(now) {
            log_summary(&s, &self.limiter);
        }
    }
}

/// One exec drop, for its message and event.
struct DropSeen<'a> {
    path: &'a Path,
    mount: &'a Path,
    mode: u32,
    size: u64,
    recognised: Recognised,
    noexec: bool,
    trigger: &'static str,
}

impl DropSeen<'_> {
    fn message(&self) -> String {
        let what = match self.recognised {
            Recognised::Elf => "an ELF binary",
            Recognised::Script => "a script (#!)",
            Recognised::ExecBit => "a file with an exec bit",
        };
        let (p, m) = (self.path.display(), self.mount.display());
        let mode = mode_string(self.mode);
        let why = if self.noexec {
            "a noexec mount: it cannot be executed from there directly, but code that is not \
             part of the image was written into the container"
        } else {
            "a writable mount without noexec: code that is not part of the image can be run \
             from there"
        };
        format!(
            "{what} appeared at {p} (mode {mode}, {} bytes) on {m}, {why}",
            self.size
        )
    }

    fn log(&self, severity: Severity, stopped: bool) {
        let msg = self.message();
        let note = stop_note(stopped);
        let p: PathBuf = self.path.to_path_buf();
        let mode = mode_string(self.mode);
        macro_rules! emit {
            ($lvl:ident) => {
                tracing::$lvl!(event = "tamper", finding = "exec-drop", path = %p.display(),
                    mount = %self.mount.display(), mode = %mode, size = self.size,
                    recognised = self.recognised.as_str(), noexec = self.noexec,
                    trigger = self.trigger, severity = severity.as_str(), "{msg}{note}")
            };
        }
        match severity {
            Severity::Error => emit!(error),
            Severity::Warn => emit!(warn),
        }
    }
}

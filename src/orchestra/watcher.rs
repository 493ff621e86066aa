//! The usage watcher thread: keeps every writable mount's figures current
//! ([`MountTracker`]), runs the threshold state machine per mount and for
//! the ephemeral-storage total, logs `usage` (debug) and `usage.threshold`
//! events, sends transitions to the supervisor and publishes a snapshot for
//! the metrics server.
//!
//! Every mount's watches live in one inotify instance ([`Hub`]: one close,
//! one SRCU grace period at exit, whatever the number of mounts); each read
//! of its queue is routed to the trackers by watch descriptor.
//!
//! It blocks in `poll(2)` on that one fd with no timeout other than the
//! next safety rescan (or a tmpfs settle re-measure, see
//! [`crate::orchestra::tracker::SETTLE`]): no wake-up while nothing changes. It never panics and
//! never exits on an error: errors are logged and the loop carries on.
//!
//! With [`spawn_watcher_with`] it also feeds the exec-drop detector
//! ([`crate::orchestra::tamper::ExecDetector`]) from the same inotify
//! batches; its rate-limit summary is the only other timer, and only while
//! a summary is pending.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::core::cli::config;
use crate::core::contract::quantity;
use crate::core::contract::spec::MountKind;
use crate::core::watch::threshold::{Level, ThresholdState, Thresholds, Transition};
use crate::orchestra::hub::{Batch, Hub};
use crate::orchestra::tamper::{ExecDetector, ExecDropConfig};
use crate::orchestra::tracker::MountTracker;

/// Shortest interval between two reads of the inotify queue.
pub const BATCH: Duration = Duration::from_millis(25);

/// Name of the pseudo-mount for the ephemeral-storage total.
pub const EPHEMERAL: &str = "ephemeral-storage";

/// A mount to watch (writable kinds only; others are ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedMount {
    pub path: PathBuf,
    pub kind: MountKind,
    /// Declared sizeLimit. A tmpfs without one uses its `size=`; a disk
    /// mount without one is reported, never acted on.
    pub limit: Option<u64>,
}

/// Watcher settings (`--warn-at`, `--act-at`, rescan period,
/// `SEALINIT_EPHEMERAL_LIMIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchConfig {
    pub warn_at: u8,
    pub act_at: u8,
    /// Period of the full safety rescan ([`config::DEFAULT_RESCAN`]).
    pub rescan: Duration,
    /// `limits.ephemeral-storage`, checked against the sum of disk-backed
    /// emptyDirs.
    pub ephemeral_limit: Option<u64>,
    /// Watches refused past this many with `ENOSPC` (tests of the
    /// fallback; `None` in production: the kernel's limit).
    pub watch_limit: Option<usize>,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            warn_at: config::DEFAULT_WARN_AT,
            act_at: config::DEFAULT_ACT_AT,
            rescan: config::DEFAULT_RESCAN,
            ephemeral_limit: None,
            watch_limit: None,
        }
    }
}

/// What a figure is about: a mount, or the ephemeral-storage total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageKind {
    Mount(MountKind),
    EphemeralTotal,
}

impl UsageKind {
    /// `tmpfs`, `emptydir`, `pvc`, or `ephemeral-storage`.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageKind::Mount(k) => k.as_str(),
            UsageKind::EphemeralTotal => EPHEMERAL,
        }
    }
}

/// A threshold transition, sent to the supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    /// The mount path, or [`EPHEMERAL`] for the total.
    pub path: PathBuf,
    pub kind: UsageKind,
    pub used: u64,
    pub limit: Option<u64>,
    pub inodes: u64,
    pub transition: Transition,
}

/// One line of the shared snapshot (for the metrics server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountUsage {
    pub path: PathBuf,
    pub kind: UsageKind,
    pub used: u64,
    /// The effective limit (declared, or a tmpfs's `size=`).
    pub limit: Option<u64>,
    pub inodes: u64,
    pub level: Level,
    /// Times `--warn-at` / `--act-at` was crossed upwards.
    pub warn_crossings: u64,
    pub act_crossings: u64,
    /// `events`, `periodic`, `missing`, or `sum` for the total.
    pub method: &'static str,
}

/// Shared, current figures of every watched mount.
pub type Snapshot = Arc<Mutex<Vec<MountUsage>>>;

/// The running watcher.
#[derive(Debug)]
pub struct WatcherHandle {
    pub thread: JoinHandle<()>,
    pub snapshot: Snapshot,
    /// Gets one message once every mount's watches are in place.
    ready: Receiver<()>,
}

impl WatcherHandle {
    /// Blocks until every mount's inotify watches are in place (or the
    /// timeout passes; `false` then). Files written before that are counted
    /// in usage but not checked for exec drops, so start-up can wait here
    /// before spawning the workload.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        self.ready.recv_timeout(timeout).is_ok()
    }
}

/// Starts the watcher thread. The first measurement happens on the thread.
/// After each `tx.send` one byte is written to `wake` (the write end of a
/// pipe the supervisor polls); a full pipe or a gone receiver is ignored.
pub fn spawn_watcher(
    mounts: Vec<WatchedMount>,
    cfg: WatchConfig,
    tx: Sender<WatchEvent>,
    wake: OwnedFd,
) -> std::io::Result<WatcherHandle> {
    spawn_watcher_with(mounts, cfg, tx, wake, None)
}

/// [`spawn_watcher`], plus exec-drop detection on every watched mount when
/// `exec_drop` is given (`tamper` events, `--on-tamper`).
pub fn spawn_watcher_with(
    mounts: Vec<WatchedMount>,
    cfg: WatchConfig,
    tx: Sender<WatchEvent>,
    wake: OwnedFd,
    exec_drop: Option<ExecDropConfig>,
) -> std::io::Result<WatcherHandle> {
    let snapshot: Snapshot = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::clone(&snapshot);
    let (ready_tx, ready) = std::sync::mpsc::sync_channel(1);
    // Made here, before the workload can be spawned: its clock is the
    // start of exec-drop detection.
    let exec = exec_drop.map(ExecDetector::new);
    let thread = std::thread::Builder::new()
        .name("sealinit-usage".into())
        .spawn(move || {
            let mut w = Watcher::new(mounts, cfg, tx, wake, shared, exec);
            w.start();
            let _ = ready_tx.try_send(());
            w.run()
        })?;
    Ok(WatcherHandle {
        thread,
        snapshot,
        ready,
    })
}

/// A figure under threshold watch.
struct Watched {
    path: PathBuf,
    kind: UsageKind,
    declared: Option<u64>,
    /// `None` for the ephemeral total.
    tracker: Option<MountTracker>,
    state: ThresholdState,
    used: u64,
    inodes: u64,
    limit: Option<u64>,
    logged: Option<(u64, u64, Option<u64>)>,
    warn_crossings: u64,
    act_crossings: u64,
}

impl Watched {
    /// A watched figure before its first measurement.
    fn new(
        path: PathBuf,
        kind: UsageKind,
        declared: Option<u64>,
        tracker: Option<MountTracker>,
    ) -> Watched {
        Watched {
            path,
            kind,
            declared,
            tracker,
            state: ThresholdState::default(),
            used: 0,
            inodes: 0,
            limit: None,
            logged: None,
            warn_crossings: 0,
            act_crossings: 0,
        }
    }
}

struct Watcher {
    items: Vec<Watched>,
    /// The inotify instance of every tracker (tracker id = index in `items`).
    hub: Hub,
    batch: Batch,
    cfg: WatchConfig,
    tx: Sender<WatchEvent>,
    wake: OwnedFd,
    snapshot: Snapshot,
    exec: Option<ExecDetector>,
}

impl Watcher {
    fn new(
        mounts: Vec<WatchedMount>,
        cfg: WatchConfig,
        tx: Sender<WatchEvent>,
        wake: OwnedFd,
        snapshot: Snapshot,
        exec: Option<ExecDetector>,
    ) -> Watcher {
        let exec_on = exec.is_some();
        let mut hub = Hub::with_limit(cfg.watch_limit);
        let mut items: Vec<Watched> = mounts
            .into_iter()
            .filter(|m| m.kind.is_writable())
            .enumerate()
            .map(|(id, m)| {
                let tracker = MountTracker::pending(
                    m.path.clone(),
                    m.kind.is_disk_backed(),
                    exec_on,
                    &mut hub,
                    id,
                );
                Watched::new(m.path, UsageKind::Mount(m.kind), m.limit, Some(tracker))
            })
            .collect();
        if cfg.ephemeral_limit.is_some() {
            items.push(Watched::new(
                PathBuf::from(EPHEMERAL),
                UsageKind::EphemeralTotal,
                cfg.ephemeral_limit,
                None,
            ));
        }
        Watcher {
            items,
            hub,
            batch: Batch::default(),
            cfg,
            tx,
            wake,
            snapshot,
            exec,
        }
    }

    /// The first measurement, after the workload was spawned: statfs
    /// figures at once (judged at once), then the walks and watches (walked
    /// mounts, and the ephemeral total, are judged once measured), then
    /// `usage.ready`.
    fn start(&mut self) {
        let started = Instant::now();
        for t in self.items.iter_mut().filter_map(|w| w.tracker.as_mut()) {
            t.measure_now();
        }
        self.evaluate();
        for t in self.items.iter_mut().filter_map(|w| w.tracker.as_mut()) {
            t.rescan_in(&mut self.hub);
        }
        self.drain_exec();
        let (mut dirs, mut entries) = (0u64, 0u64);
        for t in self.items.iter().filter_map(|w| w.tracker.as_ref()) {
            dirs += t.watched_dirs() as u64;
            entries += t.figures().inodes;
        }
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::debug!(
            event = "usage.ready",
            duration_ms = ms,
            entries,
            watched_dirs = dirs,
            "usage measured in {ms} ms ({entries} entries, {dirs} directories watched); \
             thresholds now apply to every mount"
        );
        self.evaluate();
    }

    fn run(&mut self) {
        let period = self.cfg.rescan.max(Duration::from_millis(100));
        let mut deadline = Instant::now() + period;
        let mut last_read = Instant::now();
        loop {
            let mut changed = false;
            if self.wait(deadline) {
                // Coalesce bursts: at most one read per BATCH, so a churning
                // workload costs one wake-up per batch, not per event.
                let since = last_read.elapsed();
                if since < BATCH {
                    std::thread::sleep(BATCH - since);
                }
                last_read = Instant::now();
                changed |= self.on_readable();
            }
            let now = Instant::now();
            if let Some(d) = self.exec.as_mut() {
                d.flush(now);
            }
            for t in self.items.iter_mut().filter_map(|w| w.tracker.as_mut()) {
                if t.settle_due().is_some_and(|d| d <= now) {
                    changed |= t.tick(&mut self.hub, now);
                }
            }
            if Instant::now() >= deadline {
                self.hub.forget_mount_table();
                for t in self.items.iter_mut().filter_map(|w| w.tracker.as_mut()) {
                    t.rescan_in(&mut self.hub);
                }
                deadline = Instant::now() + period;
                changed = true;
            }
            self.drain_exec();
            if changed {
                self.evaluate();
            }
        }
    }

    /// Hands every tracker's exec-drop candidates (and lost detection) to
    /// the detector.
    fn drain_exec(&mut self) {
        for w in self.items.iter_mut() {
            let Some(t) = w.tracker.as_mut() else {
                continue;
            };
            let Some(d) = self.exec.as_mut() else {
                continue;
            };
            if let Some(why) = t.take_lost() {
                d.detection_lost(&w.path, &why);
            }
            if t.drain_exec(|c| d.check(c)) {
                d.overflowed(&w.path);
            }
        }
    }

    /// Reads the shared queue once and hands each tracker its events (all
    /// of them rebuild after an overflow), then the exec-drop candidates to
    /// the detector. Returns whether any figure may have changed.
    fn on_readable(&mut self) -> bool {
        let read = self.hub.read(&mut self.batch);
        let mut changed = false;
        for w in self.items.iter_mut() {
            let Some(t) = w.tracker.as_mut() else {
                continue;
            };
            match &read {
                Ok(()) => {
                    changed |= t.apply_events(&mut self.hub, self.batch.events(t.id()));
                    if self.batch.overflow {
                        t.overflowed(&mut self.hub);
                        changed = true;
                    }
                }
                Err(e) => {
                    t.read_failed(&mut self.hub, e);
                    changed = true;
                }
            }
        }
        self.drain_exec();
        changed
    }

    /// Blocks until the inotify fd is readable or the deadline passes;
    /// returns whether it is readable.
    fn wait(&self, deadline: Instant) -> bool {
        let mut fds: Vec<PollFd> = self
            .hub
            .fd()
            .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
            .into_iter()
            .collect();
        let next = self
            .items
            .iter()
            .filter_map(|w| w.tracker.as_ref().and_then(|t| t.settle_due()))
            .chain(self.exec.as_ref().and_then(|d| d.due()))
            .fold(deadline, |a, b| a.min(b));
        let left = next.saturating_duration_since(Instant::now());
        // Round up so that we do not wake a millisecond early and spin.
        let ms = left.as_millis().saturating_add(1).min(i32::MAX as u128);
        let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(Errno::EINTR) => return false,
            Err(e) => {
                tracing::warn!(event = "usage", error = %e.desc(),
                    "poll on the usage watches failed: {}; retrying", e.desc());
                // Avoid a hot loop on a persistent error.
                std::thread::sleep(Duration::from_millis(100));
                return false;
            }
        }
        fds.iter()
            .any(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
    }

    /// Refreshes figures, runs the state machines, logs, sends, publishes.
    fn evaluate(&mut self) {
        let t = Thresholds {
            warn_at: self.cfg.warn_at,
            act_at: self.cfg.act_at,
        };
        let mut eph = 0u64;
        let mut eph_inodes = 0u64;
        let mut events = Vec::new();
        let mut eph_ready = true;
        for w in self.items.iter_mut() {
            // Until a walked mount's first walk is done it is not judged
            // (nor is the ephemeral total it is part of): a figure that is
            // only a lower bound would clear nothing and could arm nothing.
            match &w.tracker {
                Some(tr) if !tr.ready() => {
                    if w.kind == UsageKind::Mount(MountKind::EmptyDir) {
                        eph_ready = false;
                    }
                    continue;
                }
                None if !eph_ready => continue,
                Some(tr) => {
                    let f = tr.figures();
                    w.used = f.used;
                    w.inodes = f.inodes;
                    w.limit = w.declared.or(f.size);
                    if w.kind == UsageKind::Mount(MountKind::EmptyDir) {
                        eph = eph.saturating_add(f.used);
                        eph_inodes = eph_inodes.saturating_add(f.inodes);
                    }
                }
                None => {
                    w.used = eph;
                    w.inodes = eph_inodes;
                    w.limit = w.declared;
                }
            }
            let figures = (w.used, w.inodes, w.limit);
            if w.logged != Some(figures) {
                w.logged = Some(figures);
                log_usage(w);
            }
            for tr in w.state.observe(t, w.used, w.limit) {
                match tr {
                    Transition::CrossedWarn => w.warn_crossings += 1,
                    Transition::CrossedAct => w.act_crossings += 1,
                    _ => {}
                }
                log_threshold(w, tr, t);
                events.push(WatchEvent {
                    path: w.path.clone(),
                    kind: w.kind,
                    used: w.used,
                    limit: w.limit,
                    inodes: w.inodes,
                    transition: tr,
                });
            }
        }
        self.publish();
        for ev in events {
            if self.tx.send(ev).is_ok() {
                let _ = nix::unistd::write(self.wake.as_fd(), &[1u8]);
            }
        }
    }

    fn publish(&self) {
        let rows: Vec<MountUsage> = self
            .items
            .iter()
            .map(|w| MountUsage {
                path: w.path.clone(),
                kind: w.kind,
                used: w.used,
                limit: w.limit,
                inodes: w.inodes,
                level: w.state.level(),
                warn_crossings: w.warn_crossings,
                act_crossings: w.act_crossings,
                method: w.tracker.as_ref().map_or("sum", |t| t.method().as_str()),
            })
            .collect();
        // A poisoned lock only means a reader panicked; the data is ours.
        let mut guard = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        *guard = rows;
    }
}

fn percent(used: u64, limit: u64) -> u64 {
    if limit == 0 {
        return 0;
    }
    u64::try_from(u128::from(used) * 100 / u128::from(limit)).unwrap_or(u64::MAX)
}

fn log_usage(w: &Watched) {
    let path = w.path.display();
    let limit = w.limit.map_or("no limit".to_string(), quantity::format);
    tracing::debug!(event = "usage", path = %path, kind = w.kind.as_str(),
        used_bytes = w.used, limit_bytes = w.limit.unwrap_or(0), used_inodes = w.inodes,
        "{path}: {} used of {limit}, {} inodes", quantity::format(w.used), w.inodes);
}

fn log_threshold(w: &Watched, tr: Transition, t: Thresholds) {
    let path = w.path.display();
    let limit = w.limit.unwrap_or(0);
    let pct = percent(w.used, limit);
    let (used_q, limit_q) = (quantity::format(w.used), quantity::format(limit));
    let fix = match w.kind {
        UsageKind::Mount(MountKind::Tmpfs) => format!(
            "{path} is a memory-backed emptyDir: at 100% writes fail with ENOSPC, and its \
             usage counts against the container's memory limit. Delete what the workload no \
             longer needs there, or raise the volume's sizeLimit (and the memory limit)."
        ),
        UsageKind::EphemeralTotal => "the disk-backed emptyDirs together approach \
             limits.ephemeral-storage; the kubelet evicts the pod above it. Clean up, or raise \
             resources.limits.ephemeral-storage."
            .to_string(),
        UsageKind::Mount(_) => format!(
            "the kubelet evicts the pod once {path} exceeds its sizeLimit. Delete what the \
             workload no longer needs there, or raise the volume's sizeLimit."
        ),
    };
    match tr {
        Transition::CrossedWarn | Transition::CrossedAct => {
            let (line, name) = match tr {
                Transition::CrossedWarn => (t.warn_at, "--warn-at"),
                _ => (t.act_at, "--act-at"),
            };
            tracing::warn!(event = "usage.threshold", path = %path, kind = w.kind.as_str(),
                transition = tr.as_str(), used_bytes = w.used, limit_bytes = limit,
                used_inodes = w.inodes, percent = pct, threshold = u64::from(line), fix = %fix,
                "{path} is {pct}% full ({used_q} of {limit_q}), past {name} {line}%");
        }
        Transition::ClearedAct | Transition::ClearedWarn => {
            tracing::info!(event = "usage.threshold", path = %path, kind = w.kind.as_str(),
                transition = tr.as_str(), used_bytes = w.used, limit_bytes = limit,
                used_inodes = w.inodes, percent = pct,
                "{path} is back to {pct}% full ({used_q} of {limit_q}); the {} line is re-armed",
                if tr == Transition::ClearedAct { "--act-at" } else { "--warn-at" });
        }
    }
}

//! `sealinit learn -- COMMAND`: runs COMMAND as the same init (the run
//! path's spawn and supervisor), scans the root filesystem against a
//! baseline taken before the spawn, and reports the learned contract every
//! `--report-every` and when the workload has exited.
//!
//! Steps: note the start time, spawn, a reporter thread that walks the
//! baseline beside the starting workload (entries with a `ctime` after the
//! start are the workload's, so the spawn is not delayed by a walk) and then
//! scans and reports periodically, the supervisor loop, then a final scan
//! and report. Errors after the spawn are logged;
//! the exit code is the workload's, as the init's.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::core::cli::options::LogFormat;
use crate::core::contract::spec::MountSpec;
use crate::core::learn::{render, Baseline, Learner, Written};
use crate::core::{cli::options::LimitAction, exitcode};
use crate::edge::probe;
use crate::edge::process;
use crate::edge::scan::{self, Facts};
use crate::edge::signals::{self, Inherited};
use crate::orchestra::{app, metrics, spawn, supervisor};

/// The live mount table.
const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Everything `learn` needs, resolved by the caller.
#[derive(Debug, Clone)]
pub struct LearnParams {
    /// The workload command.
    pub argv: Vec<OsString>,
    /// `--out FILE`: the learned spec, written atomically.
    pub out: Option<PathBuf>,
    /// `--report-every`.
    pub report_every: Duration,
    /// Mounts the contract options already declare: kept, not scanned.
    pub declared: Vec<MountSpec>,
    pub grace: Duration,
    pub pgroup: bool,
    /// `--rewrite FROM:TO` pairs (signal numbers; TO 0 drops FROM).
    pub rewrite: Vec<(i32, i32)>,
    /// `--remap-exit FROM:TO` pairs.
    pub remap_exit: Vec<(u8, u8)>,
    /// `--pdeathsig SIG`.
    pub pdeathsig: Option<i32>,
    pub log_format: LogFormat,
}

/// What a scan walks and skips.
struct Scanner {
    declared: Vec<MountSpec>,
    /// The out file and its temporary file: sealinit's own writes.
    own: Vec<Vec<u8>>,
    /// The out file's directory and its `ctime` right after sealinit's last
    /// write there: that change is sealinit's, not the workload's.
    own_dir: Option<(Vec<u8>, i128)>,
}

impl Scanner {
    /// Mount points (other than the walk root) and declared paths.
    fn skip_set(&self, root: &Path) -> HashSet<Vec<u8>> {
        let mut skip: HashSet<Vec<u8>> = HashSet::new();
        if let Ok((table, _)) = probe::read_mount_table(Path::new(MOUNTINFO)) {
            for m in &table.entries {
                if m.mount_point != root {
                    skip.insert(m.mount_point.as_os_str().as_bytes().to_vec());
                }
            }
        }
        for d in &self.declared {
            skip.insert(d.path.as_os_str().as_bytes().to_vec());
        }
        // Another walk root below this one is walked once, on its own.
        for r in self.roots() {
            if r != root {
                skip.insert(r.as_os_str().as_bytes().to_vec());
            }
        }
        skip.extend(self.own.iter().cloned());
        skip
    }

    /// Remembers the `ctime` of `out`'s directory after sealinit wrote there.
    fn note_own_write(&mut self, out: &Path) {
        let abs = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
        let Some(dir) = abs.parent() else { return };
        if let Ok(st) = nix::sys::stat::lstat(dir) {
            let ctime = i128::from(st.st_ctime) * 1_000_000_000 + i128::from(st.st_ctime_nsec);
            self.own_dir = Some((dir.as_os_str().as_bytes().to_vec(), ctime));
        }
    }

    /// The trees to walk: `/`, and `/dev/shm` (its own mount in containers).
    fn roots(&self) -> Vec<PathBuf> {
        let mut v = vec![PathBuf::from("/")];
        let shm = Path::new("/dev/shm");
        let declared = self.declared.iter().any(|d| shm.starts_with(&d.path));
        if shm.is_dir() && !declared {
            v.push(shm.to_path_buf());
        }
        v
    }

    /// Walks every root; `visit` sees each entry.
    fn walk(&self, visit: &mut dyn FnMut(&[u8], &Facts)) -> (u64, Vec<String>) {
        let mut entries = 0;
        let mut errors = Vec::new();
        for root in self.roots() {
            let skip = self.skip_set(&root);
            let st = scan::walk(&root, &skip, visit);
            entries += st.entries;
            if st.error_count > 0 {
                errors.push(format!(
                    "{} unreadable entries under {} (first: {})",
                    st.error_count,
                    root.display(),
                    st.errors.join("; ")
                ));
            }
        }
        (entries, errors)
    }

    fn baseline(&self, since_ns: i128) -> (Baseline, u64) {
        let mut b = Baseline::new(Some(since_ns));
        let (n, errors) = self.walk(&mut |path, f| b.record(path, f.ctime_ns, f.mtime_ns));
        for e in errors {
            tracing::warn!(
                event = "learn",
                "baseline scan: {e}; what is below is not learned"
            );
        }
        (b, n)
    }

    /// One scan into `learner`: the entries that differ from the
    /// baseline, a hard link's bytes counted once. Returns the entries walked.
    fn scan(&self, base: &Baseline, learner: &mut Learner) -> u64 {
        let mut seen: HashSet<(u64, u64)> = HashSet::new();
        learner.begin_scan();
        let (n, errors) = self.walk(&mut |path, f| {
            if self
                .own_dir
                .as_ref()
                .is_some_and(|(p, c)| p.as_slice() == path && *c == f.ctime_ns)
            {
                return;
            }
            let Some(change) = base.change(path, f.ctime_ns) else {
                return;
            };
            let linked = f.nlink > 1 && f.etype != crate::core::learn::EntryType::Dir;
            let bytes = if linked && !seen.insert((f.dev, f.ino)) {
                0
            } else {
                f.bytes
            };
            let w = Written {
                path: PathBuf::from(std::ffi::OsStr::from_bytes(path)),
                etype: f.etype,
                bytes,
                uid: f.uid,
                gid: f.gid,
                change,
            };
            learner.add(&w, base);
        });
        learner.end_scan(base);
        for e in errors {
            tracing::debug!(event = "learn", "scan: {e}");
        }
        n
    }
}

/// The reporter's state: the accumulated scans and what was last printed.
struct Reporter {
    params: LearnParams,
    scanner: Scanner,
    baseline: Baseline,
    learner: Learner,
    last_toml: Option<String>,
    passwd: String,
}

impl Reporter {
    /// Scans, then reports; `why` is `periodic`, `stop-signal` or `final`.
    fn scan_and_report(&mut self, why: &str) {
        let t = Instant::now();
        let entries = self.scanner.scan(&self.baseline, &mut self.learner);
        let scan_ms = t.elapsed().as_millis() as u64;
        self.report(why, entries, scan_ms);
    }

    fn report(&mut self, why: &str, entries: u64, scan_ms: u64) {
        let passwd = &self.passwd;
        let learned = self.learner.learned(&self.params.declared, &|uid| {
            crate::core::learn::rules::passwd_name(passwd, uid)
        });
        for m in &learned.mounts {
            tracing::info!(event = "learn", path = %m.spec.path.display(), kind = m.spec.kind.as_str(),
                size_limit = %m.spec.size_limit.map(crate::core::contract::quantity::format).unwrap_or_default(),
                high_water = m.high_water, role = m.role,
                "learned {} as {} ({}): {}", m.spec.path.display(), m.spec.kind.as_str(), m.role, m.reason);
            for n in &m.notes {
                tracing::info!(event = "learn", path = %m.spec.path.display(), "{n}");
            }
        }
        for d in &learned.drift {
            tracing::warn!(event = "learn", finding = "drift", path = %d.path.display(), what = d.what,
                "drift: {} {}: {}", d.path.display(), d.what, d.fix);
        }
        for s in &learned.strays {
            tracing::warn!(event = "learn", finding = "stray", path = %s.dir.display(), "{}", s.advice());
        }
        let toml = render::spec_toml(&learned);
        let changed = self.last_toml.as_deref() != Some(toml.as_str());
        tracing::info!(event = "learn", report = why, scans = learned.scans, entries, scan_ms,
            mounts = learned.mounts.len() as u64, drift = learned.drift.len() as u64,
            changed,
            "learn report ({why}): {} mount(s), {} drift finding(s) after {} scan(s); scan of {entries} entries took {scan_ms} ms",
            learned.mounts.len(), learned.drift.len(), learned.scans);
        if changed || why == "final" {
            if learned.mounts.is_empty() && learned.drift.is_empty() {
                for l in render::summary_lines(&learned) {
                    tracing::info!(event = "learn", "{l}");
                }
            }
            self.print_blocks(&learned, &toml);
        }
        if let Some(out) = &self.params.out {
            if changed || why == "final" {
                match scan::write_atomic(out, toml.as_bytes()) {
                    Ok(()) => {
                        self.scanner.note_own_write(out);
                        tracing::info!(event = "learn", out = %out.display(), "wrote the learned spec to {}", out.display())
                    }
                    Err(e) => {
                        tracing::error!(event = "learn", out = %out.display(), error = %e, "cannot write the learned spec: {e}")
                    }
                }
            }
        }
        self.last_toml = Some(toml);
    }

    /// The spec TOML, the podman flags and the Kubernetes YAML on stderr:
    /// raw blocks in text mode, one `learn` event with them as fields in
    /// JSON mode.
    fn print_blocks(&self, learned: &crate::core::learn::Learned, toml: &str) {
        let podman = render::podman_flags(learned).unwrap_or_else(|e| format!("(none: {e})\n"));
        let docker = render::docker_line(learned).unwrap_or_else(|e| format!("(none: {e})"));
        let kube = render::kubernetes(learned).unwrap_or_else(|e| format!("(none: {e})\n"));
        match self.params.log_format {
            LogFormat::Json => {
                tracing::info!(event = "learn", spec = %toml, podman = %podman, docker = %docker, kubernetes = %kube,
                    "the learned contract as a spec file, podman flags and Kubernetes YAML");
            }
            LogFormat::Text => {
                let text = format!(
                    "sealinit: --- learned spec (sealinit --spec FILE) ---\n{toml}\
                     sealinit: --- podman ---\n{podman}\
                     sealinit: --- docker ---\n{docker}\n\
                     sealinit: --- Kubernetes ---\n{kube}sealinit: --- end of learned contract ---\n"
                );
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
            }
        }
    }
}

/// Runs COMMAND under learn and returns the exit code.
pub fn run(params: LearnParams, inherited: Inherited) -> i32 {
    if params.argv.is_empty() {
        let code = exitcode::USAGE;
        tracing::error!(
            event = "exit",
            code,
            "no command to run: sealinit learn [--out FILE] [OPTIONS] -- COMMAND [ARG...]"
        );
        return code;
    }
    if params.report_every.is_zero() {
        let code = exitcode::USAGE;
        tracing::error!(
            event = "exit",
            code,
            "--report-every must be more than 0 (a full scan per report)"
        );
        return code;
    }
    let mut own = Vec::new();
    if let Some(out) = &params.out {
        let abs = std::path::absolute(out).unwrap_or_else(|_| out.clone());
        own.push(abs.as_os_str().as_bytes().to_vec());
        if let (Some(dir), Some(name)) = (abs.parent(), abs.file_name()) {
            let mut tmp = OsString::from(".");
            tmp.push(name);
            tmp.push(format!(".tmp{}", std::process::id()));
            own.push(dir.join(tmp).as_os_str().as_bytes().to_vec());
        }
    }
    // sealinit's own binary (copied into the image just before, in tests).
    if let Ok(exe) = std::fs::read_link("/proc/self/exe") {
        own.push(exe.as_os_str().as_bytes().to_vec());
    }
    let scanner = Scanner {
        declared: params.declared.clone(),
        own,
        own_dir: None,
    };
    let since_ns = start_ctime_ns();
    spawn::become_reaper();
    let sigfd = match signals::signalfd_all() {
        Ok(fd) => fd,
        Err(err) => {
            let code = exitcode::OS_ERROR;
            tracing::error!(event = "exit", code, "cannot create a signalfd: {err}");
            return code;
        }
    };
    let early = match spawn::signals_before_spawn(&sigfd) {
        Ok(early) => early,
        Err(code) => return code,
    };
    let spawn_opts = process::SpawnOptions {
        pdeathsig: params.pdeathsig,
        close_in_child: Vec::new(),
    };
    let child = match spawn::spawn_workload(&params.argv, inherited, spawn_opts) {
        Ok(pid) => pid,
        Err(code) => return code,
    };
    // From here on nothing returns early.
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    // The supervisor tells each forwarded SIGTERM/SIGINT; when it returns
    // and `wake_tx` is dropped, the channel disconnects: the final report.
    let (wake_tx, wake_rx) = mpsc::channel::<i32>();
    let every = params.report_every;
    let p = params.clone();
    let periodic = std::thread::Builder::new()
        .name("learn".into())
        .spawn(move || {
            let t = Instant::now();
            let (baseline, entries) = scanner.baseline(since_ns);
            tracing::info!(event = "learn", entries, scan_ms = t.elapsed().as_millis() as u64,
                "learn: baseline of {entries} entries in {} ms (beside the workload); writes outside the declared mounts are learned",
                t.elapsed().as_millis());
            let mut r = Reporter {
                scanner,
                baseline,
                learner: Learner::default(),
                last_toml: None,
                passwd,
                params: p,
            };
            let mut stop_scanned = false;
            loop {
                match wake_rx.recv_timeout(every) {
                    Err(mpsc::RecvTimeoutError::Timeout) => r.scan_and_report("periodic"),
                    // Stopped: a result now, in case the workload outlives
                    // the pod's grace period and the final one never comes.
                    // Once: a storm of TERMs must not queue scans.
                    Ok(_) => {
                        while wake_rx.try_recv().is_ok() {}
                        if !stop_scanned {
                            stop_scanned = true;
                            r.scan_and_report("stop-signal");
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            r
        });
    let outcome = supervisor::run(
        child,
        &sigfd,
        supervisor::Settings {
            pgroup: params.pgroup,
            grace: params.grace,
            limit_action: LimitAction::Warn,
            counters: metrics::SharedCounters::default(),
            rewrite: params.rewrite.clone(),
            remap_exit: params.remap_exit.clone(),
            on_stop_signal: Some(wake_tx),
        },
        None,
        early,
    );
    match periodic.map(|h| h.join()) {
        Ok(Ok(mut r)) => r.scan_and_report("final"),
        Ok(Err(_)) | Err(_) => {
            tracing::error!(
                event = "learn",
                "the learn reporter thread failed; no final report"
            )
        }
    }
    app::finish(outcome)
}

/// The start as a `ctime`: now (`CLOCK_REALTIME`) minus 20 ms, because
/// `ctime` comes from the coarse clock, which lags by up to a tick; an image
/// file changed in those 20 ms before the start is taken for the workload's.
fn start_ctime_ns() -> i128 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    now - 20_000_000
}

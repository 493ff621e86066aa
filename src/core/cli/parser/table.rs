//! The option table: every option sealinit accepts, as a typed id ([`Opt`])
//! and one row of [`OPTIONS`] (name, short form, value name, subcommands,
//! help line). Lookups go through [`Opt`], so the compiler checks option
//! names; the table is what the parser, the env mirrors and the help read.

/// The subcommands; `Run` is the default (check, then supervise COMMAND).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    Run,
    Check,
    Mounts,
    Manifest,
    Plan,
    Learn,
}

impl Sub {
    /// Every subcommand, `Run` first.
    pub const ALL: [Sub; 6] = [
        Sub::Run,
        Sub::Check,
        Sub::Mounts,
        Sub::Manifest,
        Sub::Plan,
        Sub::Learn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Sub::Run => "run",
            Sub::Check => "check",
            Sub::Mounts => "mounts",
            Sub::Manifest => "manifest",
            Sub::Plan => "plan",
            Sub::Learn => "learn",
        }
    }

    /// The subcommand a first positional argument names (`run` is not one:
    /// it is the default, and a program may be called `run`).
    pub fn from_word(word: &[u8]) -> Option<Sub> {
        Sub::ALL
            .into_iter()
            .skip(1)
            .find(|s| s.name().as_bytes() == word)
    }

    pub(crate) fn bit(self) -> u8 {
        match self {
            Sub::Run => RUN,
            Sub::Check => CHECK,
            Sub::Mounts => MOUNTS,
            Sub::Manifest => MANIFEST,
            Sub::Plan => PLAN,
            Sub::Learn => LEARN,
        }
    }
}

const RUN: u8 = 1;
const CHECK: u8 = 2;
const MOUNTS: u8 = 4;
const MANIFEST: u8 = 8;
const PLAN: u8 = 16;
const LEARN: u8 = 32;
const CONTRACT: u8 = RUN | CHECK | MANIFEST | LEARN;
const INIT: u8 = RUN | LEARN;
const ALL: u8 = RUN | CHECK | MOUNTS | MANIFEST | PLAN | LEARN;

/// One option, by id. The discriminant is its row in [`OPTIONS`] (checked
/// at compile time below).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opt {
    Spec,
    Profile,
    Tmpfs,
    Emptydir,
    Pvc,
    Readonly,
    Secret,
    Mounts,
    AllowExec,
    Root,
    OnViolation,
    RequireNonRoot,
    PrintSpec,
    WarnAt,
    ActAt,
    LimitAction,
    Rescan,
    EphemeralLimit,
    Metrics,
    OnTamper,
    Grace,
    Pgroup,
    Rewrite,
    RemapExit,
    Pdeathsig,
    TerminationLog,
    Out,
    ReportEvery,
    Format,
    Workload,
    Name,
    Image,
    RunAsUser,
    RunAsGroup,
    FsGroup,
    EphemeralRequest,
    HostDir,
    Concurrency,
    Cache,
    WorkingMemory,
    Input,
    Intermediate,
    Factor,
    Output,
    SharedBuffers,
    SortHash,
    Data,
    Daily,
    RetentionDays,
    LogFormat,
    LogTimestamps,
    Verbose,
    Quiet,
    Log,
}

impl Opt {
    /// This option's row of the table.
    pub fn def(self) -> &'static OptDef {
        &OPTIONS[self as usize]
    }
    /// The long name without dashes.
    pub fn name(self) -> &'static str {
        self.def().name
    }
    /// `--name` as written on the command line.
    pub fn flag(self) -> String {
        format!("--{}", self.name())
    }
    /// The environment mirror, `SEALINIT_NAME`.
    pub fn env(self) -> String {
        super::env_name(self.name())
    }
}

/// One option of the table.
#[derive(Debug)]
pub struct OptDef {
    pub id: Opt,
    /// Long name without dashes; the env mirror is derived from it.
    pub name: &'static str,
    pub short: Option<char>,
    /// Value placeholder for help; `None` for a switch.
    pub value: Option<&'static str>,
    /// May be given several times (values accumulate; env: a comma list).
    pub repeat: bool,
    /// Bitmask of the subcommands that accept it.
    pub subs: u8,
    /// Help section.
    pub group: &'static str,
    pub help: &'static str,
}

impl OptDef {
    /// Whether `sub` accepts this option.
    pub fn applies_to(&self, sub: Sub) -> bool {
        self.subs & sub.bit() != 0
    }
}

macro_rules! opt {
    ($id:ident, $name:literal, $short:expr, $value:expr, $repeat:expr, $subs:expr, $group:literal, $help:literal) => {
        OptDef {
            id: Opt::$id,
            name: $name,
            short: $short,
            value: $value,
            repeat: $repeat,
            subs: $subs,
            group: $group,
            help: $help,
        }
    };
}

/// Every option sealinit accepts, in [`Opt`] order.
#[rustfmt::skip]
pub const OPTIONS: &[OptDef] = &[
    opt!(Spec, "spec", None, Some("FILE"), false, CONTRACT, "contract", "storage contract file (TOML); default /etc/sealinit/spec.toml if present"),
    opt!(Profile, "profile", None, Some("NAME"), false, CONTRACT, "contract", "built-in contract: postgres, redis-cache, redis-db, kafka, nginx (rewrites TERM to QUIT), app"),
    opt!(Tmpfs, "tmpfs", None, Some("PATH[:SIZE]"), true, CONTRACT, "contract", "PATH must be a tmpfs (emptyDir medium: Memory); SIZE is its sizeLimit"),
    opt!(Emptydir, "emptydir", None, Some("PATH[:SIZE]"), true, CONTRACT, "contract", "PATH must be a writable disk-backed mount (emptyDir)"),
    opt!(Pvc, "pvc", None, Some("PATH[:SIZE]"), true, CONTRACT, "contract", "PATH must be a writable persistent mount (PersistentVolumeClaim)"),
    opt!(Readonly, "readonly", None, Some("PATH"), true, CONTRACT, "contract", "PATH must be a read-only mount (ConfigMap, certificates)"),
    opt!(Secret, "secret", None, Some("PATH"), true, CONTRACT, "contract", "PATH must be a read-only tmpfs (Secret)"),
    opt!(Mounts, "mounts", None, Some("LIST"), false, CONTRACT, "contract", "the five above as kind:path[:size],... (mostly set as SEALINIT_MOUNTS)"),
    opt!(AllowExec, "allow-exec", None, Some("PATH"), true, CONTRACT, "contract", "the declared mount PATH may allow exec (no noexec advice); spec: allow_exec = true"),
    opt!(Root, "root", None, Some("read-only|any"), false, RUN | CHECK, "checks", "what / must be (default read-only; any = no root check)"),
    opt!(OnViolation, "on-violation", None, Some("fail|warn"), false, RUN | CHECK, "checks", "fail: exit 78 before the workload starts (default); warn: log and start"),
    opt!(RequireNonRoot, "require-non-root", None, None, false, RUN | CHECK, "checks", "fail when running as uid 0"),
    opt!(PrintSpec, "print-spec", None, None, false, CHECK, "checks", "print the resolved contract (what will run) as TOML and exit"),
    opt!(WarnAt, "warn-at", None, Some("PCT"), false, RUN, "usage", "usage warning threshold, percent of sizeLimit (default 80)"),
    opt!(ActAt, "act-at", None, Some("PCT"), false, RUN, "usage", "usage threshold for --limit-action (default 95)"),
    opt!(LimitAction, "limit-action", None, Some("warn|signal:SIG|stop"), false, RUN, "usage", "what to do at --act-at (default warn); stop exits 75"),
    opt!(Rescan, "rescan", None, Some("DURATION"), false, RUN, "usage", "full usage rescan period, the safety net under inotify (default 60s, at least 1s)"),
    opt!(EphemeralLimit, "ephemeral-limit", None, Some("SIZE"), false, RUN | MANIFEST, "usage", "the pod's limits.ephemeral-storage (set from the downward API)"),
    opt!(Metrics, "metrics", None, Some("IP:PORT"), false, RUN | MANIFEST, "usage", "serve Prometheus text on http://IP:PORT/metrics ([V6]:PORT, :PORT = all; off by default); manifest: declare its port"),
    opt!(OnTamper, "on-tamper", None, Some("warn|stop"), false, RUN, "usage", "what a tamper event does (default warn); stop exits 77"),
    opt!(Grace, "grace", None, Some("DURATION"), false, INIT, "init", "TERM-to-KILL delay for processes left at shutdown (default 10s)"),
    opt!(Pgroup, "pgroup", Some('g'), None, false, INIT, "init", "forward signals to the child's whole process group"),
    opt!(Rewrite, "rewrite", None, Some("FROM:TO"), true, INIT, "init", "deliver signal TO when FROM arrives, e.g. TERM:QUIT; TO 0 drops FROM (repeatable; TERM:TERM undoes a profile's)"),
    opt!(RemapExit, "remap-exit", None, Some("FROM:TO"), true, INIT, "init", "report the workload's exit code FROM as TO, e.g. 143:0 for a JVM (repeatable)"),
    opt!(Pdeathsig, "pdeathsig", None, Some("SIG"), false, INIT, "init", "signal the workload gets if sealinit dies (default none)"),
    opt!(TerminationLog, "termination-log", None, Some("PATH"), false, RUN, "init", "where sealinit writes why it exited (default /dev/termination-log if writable; empty = off)"),
    opt!(Out, "out", None, Some("FILE"), false, LEARN, "learn", "write the learned spec TOML to FILE (atomically); default: stderr only"),
    opt!(ReportEvery, "report-every", None, Some("DURATION"), false, LEARN, "learn", "how often the learned contract is written (default 60s)"),
    opt!(Format, "format", None, Some("kubernetes|docker|podman|compose"), false, MANIFEST, "manifest", "output format (default kubernetes)"),
    opt!(Workload, "workload", None, Some("deployment|statefulset"), false, MANIFEST, "manifest", "wrap the fragment in a full object"),
    opt!(Name, "name", None, Some("NAME"), false, MANIFEST, "manifest", "workload and container name (default app)"),
    opt!(Image, "image", None, Some("IMAGE"), false, MANIFEST, "manifest", "container image (default IMAGE)"),
    opt!(RunAsUser, "run-as-user", None, Some("UID"), false, MANIFEST, "manifest", "runAsUser (default 65532)"),
    opt!(RunAsGroup, "run-as-group", None, Some("GID"), false, MANIFEST, "manifest", "runAsGroup (default 65532)"),
    opt!(FsGroup, "fs-group", None, Some("GID"), false, MANIFEST, "manifest", "fsGroup (default 65532)"),
    opt!(EphemeralRequest, "ephemeral-request", None, Some("SIZE"), false, MANIFEST, "manifest", "override requests.ephemeral-storage (default: disk sizeLimits + 20%)"),
    opt!(HostDir, "host-dir", None, Some("DIR"), false, MANIFEST, "manifest", "host directory for readonly/secret sources in docker/podman/compose output"),
    opt!(Concurrency, "concurrency", None, Some("N"), false, PLAN, "plan", "web: maximum concurrent requests (10MB each)"),
    opt!(Cache, "cache", None, Some("SIZE"), false, PLAN, "plan", "web: cache share"),
    opt!(WorkingMemory, "working-memory", None, Some("SIZE"), false, PLAN, "plan", "web: working memory (cache = 20% of it)"),
    opt!(Input, "input", None, Some("SIZE"), false, PLAN, "plan", "data: largest input batch"),
    opt!(Intermediate, "intermediate", None, Some("SIZE"), false, PLAN, "plan", "data: largest intermediate data set"),
    opt!(Factor, "factor", None, Some("2|3"), false, PLAN, "plan", "data: intermediate multiplier (default 3)"),
    opt!(Output, "output", None, Some("SIZE"), false, PLAN, "plan", "data: final result set"),
    opt!(SharedBuffers, "shared-buffers", None, Some("SIZE"), false, PLAN, "plan", "postgres: shared_buffers"),
    opt!(SortHash, "sort-hash", None, Some("SIZE"), false, PLAN, "plan", "postgres: largest sort/hash spill (overrides the rule)"),
    opt!(Data, "data", None, Some("SIZE"), false, PLAN, "plan", "postgres: database size (PVC = 2x)"),
    opt!(Daily, "daily", None, Some("SIZE"), false, PLAN, "plan", "kafka: daily message volume"),
    opt!(RetentionDays, "retention-days", None, Some("N"), false, PLAN, "plan", "kafka: retention in days"),
    opt!(LogFormat, "log-format", None, Some("text|json"), false, ALL, "output", "stderr format (default text); json covers usage errors too"),
    opt!(LogTimestamps, "log-timestamps", None, None, false, ALL, "output", "add an RFC 3339 ts to every line"),
    opt!(Verbose, "verbose", Some('v'), None, true, ALL, "output", "more detail (repeat for trace); SEALINIT_LOG=LEVEL sets it too"),
    opt!(Quiet, "quiet", Some('q'), None, true, ALL, "output", "errors only"),
    opt!(Log, "log", None, Some("LEVEL"), false, ALL, "output", "error, warn, info, debug or trace"),
];

// Every row sits at its id's discriminant, so `Opt::def` is a plain index.
const _: () = {
    let mut i = 0;
    while i < OPTIONS.len() {
        assert!(OPTIONS[i].id as usize == i, "OPTIONS is out of Opt order");
        i += 1;
    }
    assert!(OPTIONS.len() == Opt::Log as usize + 1, "an Opt has no row");
};

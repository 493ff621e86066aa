//! The `--metrics ADDR` server thread: one `std::net::TcpListener` and
//! every open connection multiplexed by one thread in `poll(2)`, all
//! sockets non-blocking. No client can stall another: a connection that
//! sends nothing is closed after [`Limits::first_byte`], one that trickles
//! (slowloris) or never reads its response after [`Limits::deadline`]
//! (accept to last byte written), and at most [`Limits::max_connections`]
//! are open: a new one closes the oldest connection that has not yet sent
//! a whole request (or, if none, the oldest). Requests are capped at
//! [`Limits::max_request`] bytes. With no connection open the thread sleeps
//! in `poll` without a timeout (no periodic wake-ups). Only the request
//! line is interpreted (`core::render::metrics::route`); the body is
//! `core::render::metrics::render` of the watcher's snapshot, the start-up check
//! counts and the supervisor's counters.
//!
//! It cannot panic by construction, and it has to: the release profile is
//! `panic = "abort"`, so a `catch_unwind` guard would be a false promise and
//! a panic here would kill PID 1. There is no `unwrap`/`expect`, no slice
//! or `Vec` indexing (`get` and iterators only), no `Instant + Duration`
//! (checked adds), no integer arithmetic that can overflow, and a poisoned
//! snapshot lock is read through. Every error is a logged `event =
//! "metrics"` and the loop carries on. Sockets are `SOCK_CLOEXEC` (std's
//! default).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::core::checks::Summary;
use crate::core::render::metrics::{
    head_complete, render, request_line, response, route, Counters, MountSample, Route,
    CONTENT_TYPE,
};
use crate::orchestra::watcher::{MountUsage, Snapshot};

/// Counters the supervisor bumps (`fetch_add(1, Relaxed)`) and the server
/// reads. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct SharedCounters {
    pub limit_actions: Arc<AtomicU64>,
    pub tamper_events: Arc<AtomicU64>,
}

impl SharedCounters {
    fn load(&self) -> Counters {
        Counters {
            limit_actions: self.limit_actions.load(Ordering::Relaxed),
            tamper_events: self.tamper_events.load(Ordering::Relaxed),
        }
    }
}

/// Where the figures come from.
#[derive(Debug, Clone)]
pub struct MetricsSource {
    /// The usage watcher's snapshot (an empty one when nothing is watched).
    pub snapshot: Snapshot,
    /// Start-up check verdict counts.
    pub checks: Summary,
    pub counters: SharedCounters,
}

/// Per-connection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time from accept to the first request byte (an idle connection).
    pub first_byte: Duration,
    /// Deadline for one connection, from accept to the last byte written.
    pub deadline: Duration,
    /// Largest request head accepted (bytes).
    pub max_request: usize,
    /// Connections open at once; one more closes the oldest idle one.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            first_byte: Duration::from_secs(1),
            deadline: Duration::from_secs(2),
            max_request: 8 * 1024,
            max_connections: 64,
        }
    }
}

/// The running server.
#[derive(Debug)]
pub struct MetricsServer {
    /// The bound address (the real port when ADDR asked for port 0).
    pub local_addr: SocketAddr,
    pub thread: JoinHandle<()>,
}

/// Binds `addr` (`HOST:PORT`, `[V6]:PORT`, or `:PORT` for all IPv4
/// interfaces) and starts the server thread with the default [`Limits`].
/// A bind error is returned before any thread starts and names the address.
pub fn spawn_metrics_server(addr: &str, source: MetricsSource) -> io::Result<MetricsServer> {
    spawn_metrics_server_with(addr, source, Limits::default())
}

/// [`spawn_metrics_server`] with explicit limits.
pub fn spawn_metrics_server_with(
    addr: &str,
    source: MetricsSource,
    limits: Limits,
) -> io::Result<MetricsServer> {
    let bind_addr = parse_addr(addr)?;
    let listener = TcpListener::bind(bind_addr).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} for --metrics (bind): {e}"),
        )
    })?;
    let local_addr = listener.local_addr().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot read the bound address of {addr} (getsockname): {e}"),
        )
    })?;
    listener.set_nonblocking(true).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot make the --metrics socket on {addr} non-blocking (ioctl): {e}"),
        )
    })?;
    let thread = std::thread::Builder::new()
        .name("sealinit-metrics".into())
        .spawn(move || Server::new(listener, source, limits).run())
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot start the metrics thread for {addr}: {e}"),
            )
        })?;
    tracing::info!(event = "metrics", addr = %local_addr,
        "serving Prometheus metrics on http://{local_addr}/metrics");
    Ok(MetricsServer { local_addr, thread })
}

/// `IP:PORT`, `[IPv6]:PORT`, or `:PORT` for every IPv4 interface, as in
/// most exporters. Host names are refused rather than resolved: resolving
/// would pull the C library's NSS/DNS machinery into a static PID 1.
fn parse_addr(addr: &str) -> io::Result<SocketAddr> {
    let full = match addr.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => addr.to_string(),
    };
    full.parse::<SocketAddr>().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot listen on {addr} for --metrics: expected IP:PORT, [IPv6]:PORT or :PORT (host names are not resolved)"),
        )
    })
}

/// `t + d`, or the latest of `t + 1 day` / `t` when that would overflow.
fn after(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(t)
}

/// How long `accept(2)` rests after an error such as `EMFILE` (which would
/// otherwise repeat at once: the listener stays readable).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(200);
/// Connections accepted per wake-up at most.
const ACCEPT_BATCH: usize = 64;
/// Reading what a refused client still sends, so that closing does not
/// reset the connection before it read the response (bounded).
const DRAIN_TIME: Duration = Duration::from_millis(100);
const DRAIN_BYTES: usize = 64 * 1024;

enum State {
    /// Collecting the request head.
    Reading(Vec<u8>),
    /// Sending `out` from `sent`; then close, or drain first.
    Writing {
        out: Vec<u8>,
        sent: usize,
        drain: bool,
    },
    /// Response sent and write side shut: discarding input until EOF.
    Draining { until: Instant, left: usize },
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    accepted: Instant,
    state: State,
    /// Closed at the next sweep.
    done: bool,
}

impl Conn {
    /// Idle: no whole request yet (first to go when the cap is reached).
    fn idle(&self) -> bool {
        matches!(self.state, State::Reading(_))
    }

    fn deadline(&self, limits: &Limits) -> Instant {
        let whole = after(self.accepted, limits.deadline);
        match &self.state {
            State::Reading(buf) if buf.is_empty() => {
                whole.min(after(self.accepted, limits.first_byte))
            }
            State::Draining { until, .. } => whole.min(*until),
            _ => whole,
        }
    }

    fn events(&self) -> PollFlags {
        match self.state {
            State::Writing { .. } => PollFlags::POLLOUT,
            _ => PollFlags::POLLIN,
        }
    }
}

struct Server {
    listener: TcpListener,
    source: MetricsSource,
    limits: Limits,
    conns: Vec<Conn>,
    /// Set after an accept error: the listener is left out of `poll` until
    /// then.
    accept_paused_until: Option<Instant>,
    /// Accept is failing (said once until it works again).
    accept_failing: bool,
}

impl Server {
    fn new(listener: TcpListener, source: MetricsSource, limits: Limits) -> Server {
        Server {
            listener,
            source,
            limits,
            conns: Vec::new(),
            accept_paused_until: None,
            accept_failing: false,
        }
    }

    fn run(&mut self) {
        loop {
            let now = Instant::now();
            if self.accept_paused_until.is_some_and(|t| t <= now) {
                self.accept_paused_until = None;
            }
            let listening = self.accept_paused_until.is_none();
            let wake = self
                .conns
                .iter()
                .map(|c| c.deadline(&self.limits))
                .chain(self.accept_paused_until)
                .min();
            let (listener_ready, ready) = match self.wait(listening, wake) {
                Ok(r) => r,
                Err(e) => {
                    // Cannot happen with valid fds; rest instead of spinning.
                    tracing::warn!(event = "metrics", error = %e,
                        "metrics server cannot wait for its sockets (poll): {e}; retrying");
                    std::thread::sleep(ACCEPT_BACKOFF);
                    continue;
                }
            };
            for (conn, revents) in self.conns.iter_mut().zip(ready) {
                if !revents.is_empty() {
                    step(conn, &self.source, &self.limits);
                }
            }
            if listener_ready {
                self.accept_all();
            }
            self.sweep(Instant::now());
        }
    }

    /// One `poll(2)`: the listener (when `listening`) and every connection,
    /// until `wake` (forever when `None`). Returns whether the listener is
    /// readable and each connection's `revents`, in order.
    fn wait(
        &self,
        listening: bool,
        wake: Option<Instant>,
    ) -> Result<(bool, Vec<PollFlags>), Errno> {
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(self.conns.len().saturating_add(1));
        if listening {
            fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
        }
        for c in &self.conns {
            fds.push(PollFd::new(c.stream.as_fd(), c.events()));
        }
        // Rounded up (a deadline is never polled early), -1 for none.
        let ms = crate::edge::poll::timeout_ms(wake, Instant::now());
        let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::NONE);
        let none = (false, vec![PollFlags::empty(); self.conns.len()]);
        match poll(&mut fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => Ok(none),
            Ok(_) => {
                let mut revents = fds
                    .iter()
                    .map(|f| f.revents().unwrap_or(PollFlags::empty()));
                let listener_ready = if listening {
                    revents.next().is_some_and(|r| !r.is_empty())
                } else {
                    false
                };
                Ok((listener_ready, revents.collect()))
            }
            Err(e) => Err(e),
        }
    }

    /// Accepts every pending connection; one over the cap closes the oldest
    /// idle connection first.
    fn accept_all(&mut self) {
        // Bounded, so that a connection flood cannot keep the thread from
        // serving the connections it holds: the listener is still readable
        // at the next poll.
        for _ in 0..ACCEPT_BATCH {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    self.accept_failing = false;
                    if stream.set_nonblocking(true).is_err() {
                        continue; // dropped: closed
                    }
                    if self.conns.iter().filter(|c| !c.done).count() >= self.limits.max_connections
                    {
                        self.evict_oldest();
                    }
                    self.conns.push(Conn {
                        stream,
                        peer,
                        accepted: Instant::now(),
                        state: State::Reading(Vec::new()),
                        done: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if e.kind() == io::ErrorKind::Interrupted
                        || e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    // EMFILE/ENFILE/ENOBUFS: close our oldest idle
                    // connection and try again at once; holding none, rest
                    // the listener briefly. Said once per run of failures.
                    if self.evict_oldest() {
                        continue;
                    }
                    if !self.accept_failing {
                        tracing::warn!(event = "metrics", error = %e,
                            "metrics server cannot accept a connection (accept): {e}; retrying");
                    }
                    self.accept_failing = true;
                    self.accept_paused_until = Some(after(Instant::now(), ACCEPT_BACKOFF));
                    return;
                }
            }
        }
    }

    /// Marks the oldest idle connection (or, failing that, the oldest) to
    /// be closed. False when there is none.
    fn evict_oldest(&mut self) -> bool {
        let open = self.conns.iter_mut().filter(|c| !c.done);
        let idle_first = open.min_by_key(|c| (!c.idle(), c.accepted));
        match idle_first {
            Some(c) => {
                tracing::debug!(event = "metrics", peer = %c.peer,
                    "closing the metrics connection from {} (too many open)", c.peer);
                c.done = true;
                self.conns.retain(|c| !c.done);
                true
            }
            None => false,
        }
    }

    /// Closes finished connections and those past their deadline.
    fn sweep(&mut self, now: Instant) {
        let limits = self.limits;
        self.conns.retain(|c| {
            if c.done {
                return false;
            }
            if c.deadline(&limits) <= now {
                if !matches!(c.state, State::Draining { .. }) {
                    tracing::debug!(event = "metrics", peer = %c.peer,
                        "metrics connection from {} closed: deadline passed", c.peer);
                }
                return false;
            }
            true
        });
    }
}

/// Advances one ready connection as far as it goes without blocking.
fn step(c: &mut Conn, source: &MetricsSource, limits: &Limits) {
    loop {
        let next = match &mut c.state {
            State::Reading(buf) => match read_some(&mut c.stream, buf, limits.max_request) {
                Ok(None) => return,
                Ok(Some(head)) => respond(head, source),
                Err(e) => return fail(c, &e),
            },
            State::Writing { out, sent, drain } => {
                let rest = out.get(*sent..).unwrap_or(&[]);
                if !rest.is_empty() {
                    match c.stream.write(rest) {
                        Ok(0) => return fail(c, &io::ErrorKind::WriteZero.into()),
                        Ok(n) => {
                            *sent = sent.saturating_add(n);
                            continue;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                        Err(e) => return fail(c, &e),
                    }
                }
                // Best effort: the client sees EOF after the response.
                let _ = c.stream.shutdown(Shutdown::Write);
                if !*drain {
                    c.done = true;
                    return;
                }
                State::Draining {
                    until: after(Instant::now(), DRAIN_TIME),
                    left: DRAIN_BYTES,
                }
            }
            State::Draining { left, .. } => {
                let mut chunk = [0u8; 4096];
                match c.stream.read(&mut chunk) {
                    Ok(0) => c.done = true,
                    Ok(n) => {
                        *left = left.saturating_sub(n);
                        c.done = *left == 0;
                        if !c.done {
                            continue;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => c.done = true,
                }
                return;
            }
        };
        c.state = next;
    }
}

fn fail(c: &mut Conn, e: &io::Error) {
    tracing::debug!(event = "metrics", peer = %c.peer, error = %e,
        "metrics request from {} failed: {e}", c.peer);
    c.done = true;
}

/// What the reading state ended with.
enum Head {
    Complete(Vec<u8>),
    /// The cap was reached before the empty line.
    Truncated(Vec<u8>),
}

/// Reads what is there without blocking. `Ok(None)`: the head is not
/// complete yet; `Ok(Some)`: complete (the empty line, or EOF: an HTTP/1.0
/// client may half-close), or cut at `max`.
fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>, max: usize) -> io::Result<Option<Head>> {
    let mut chunk = [0u8; 1024];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(Some(Head::Complete(std::mem::take(buf))));
        }
        let got = chunk.get(..n).unwrap_or(&[]);
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(got.get(..room).unwrap_or(got));
        if head_complete(buf) {
            return Ok(Some(Head::Complete(std::mem::take(buf))));
        }
        if n > room || buf.len() >= max {
            return Ok(Some(Head::Truncated(std::mem::take(buf))));
        }
    }
}

/// The response to a request head, as the next state.
fn respond(head: Head, source: &MetricsSource) -> State {
    let text = |status: &str, body: &str, head_only: bool| {
        response(status, "text/plain; charset=utf-8", body, head_only)
    };
    let (out, drain) = match head {
        Head::Complete(h) | Head::Truncated(h) if request_line(&h).is_none() => {
            (text("400 Bad Request", "bad request\n", false), false)
        }
        Head::Truncated(_) => (
            text(
                "431 Request Header Fields Too Large",
                "request too large\n",
                false,
            ),
            true,
        ),
        Head::Complete(h) => {
            let line = request_line(&h).unwrap_or_default();
            let out = match route(line) {
                Route::Metrics { head_only } => {
                    response("200 OK", CONTENT_TYPE, &body(source), head_only)
                }
                Route::NotFound { head_only } => text(
                    "404 Not Found",
                    "not found: metrics are on /metrics\n",
                    head_only,
                ),
                Route::MethodNotAllowed => {
                    text("405 Method Not Allowed", "method not allowed\n", false)
                }
                Route::BadRequest => text("400 Bad Request", "bad request\n", false),
            };
            (out, false)
        }
    };
    State::Writing {
        out,
        sent: 0,
        drain,
    }
}

/// Collects the figures: the snapshot lock is held only to copy it (a
/// poisoned lock still holds usable figures).
fn body(source: &MetricsSource) -> String {
    let mounts: Vec<MountSample> = {
        let guard = source
            .snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.iter().map(sample_of).collect()
    };
    render(&mounts, &source.checks, &source.counters.load())
}

fn sample_of(m: &MountUsage) -> MountSample {
    MountSample {
        path: m.path.to_string_lossy().into_owned(),
        kind: m.kind.as_str().to_string(),
        used: m.used,
        limit: m.limit,
        inodes: m.inodes,
        warn_crossings: m.warn_crossings,
        act_crossings: m.act_crossings,
    }
}

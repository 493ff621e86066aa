//! The `--metrics ADDR` server thread: one `std::net::TcpListener`, one
//! thread blocked in `accept(2)` (no periodic wake-ups), one connection at
//! a time. Each connection has a hard deadline (default 2 s for the whole
//! request and response) and a request-size cap (8 KiB), so a slow or
//! malicious client delays a scrape by at most the deadline and can never
//! block the thread for good. Only the request line is interpreted
//! (`core::metrics::route`); the body is `core::metrics::render` of the
//! watcher's snapshot, the start-up check counts and the supervisor's
//! counters.
//!
//! It never panics the process: each connection runs under
//! `catch_unwind`, every error is a logged `event = "metrics"` and the loop
//! carries on. Sockets are `SOCK_CLOEXEC` (std's default).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::core::checks::Summary;
use crate::core::metrics::{
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
    /// Deadline for one connection, from accept to the last byte written.
    pub deadline: Duration,
    /// Largest request head accepted (bytes).
    pub max_request: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_secs(2),
            max_request: 8 * 1024,
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
    let bind_addr = normalize_addr(addr);
    let listener = TcpListener::bind(&bind_addr).map_err(|e| {
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
    let thread = std::thread::Builder::new()
        .name("sealinit-metrics".into())
        .spawn(move || serve(&listener, &source, limits))
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

/// `:9090` means every IPv4 interface, as in most exporters.
fn normalize_addr(addr: &str) -> String {
    match addr.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => addr.to_string(),
    }
}

fn serve(listener: &TcpListener, source: &MetricsSource, limits: Limits) {
    let mut failing = false;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                failing = false;
                let outcome = catch_unwind(AssertUnwindSafe(|| handle(stream, source, limits)));
                match outcome {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::debug!(event = "metrics", peer = %peer, error = %e,
                        "metrics request from {peer} failed: {e}"),
                    Err(_) => tracing::error!(event = "metrics", peer = %peer,
                        "the metrics handler panicked on a request from {peer}; the server carries on"),
                }
            }
            Err(e) => {
                // EMFILE/ENFILE/ENOBUFS would repeat at once: log the first
                // of a run and back off briefly (only on this error path).
                if !failing {
                    tracing::warn!(event = "metrics", error = %e,
                        "metrics server cannot accept a connection (accept): {e}; retrying");
                }
                failing = true;
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// Reads the request head, routes it, writes one response and closes.
fn handle(mut stream: TcpStream, source: &MetricsSource, limits: Limits) -> io::Result<()> {
    let deadline = Instant::now() + limits.deadline;
    let head = match read_head(&mut stream, deadline, limits.max_request)? {
        Head::Complete(h) | Head::Truncated(h) if request_line(&h).is_none() => {
            return reply(
                &mut stream,
                deadline,
                "400 Bad Request",
                "bad request\n",
                false,
            );
        }
        Head::Truncated(_) => {
            reply(
                &mut stream,
                deadline,
                "431 Request Header Fields Too Large",
                "request too large\n",
                false,
            )?;
            drain(&mut stream, deadline);
            return Ok(());
        }
        Head::Complete(h) => h,
    };
    let line = request_line(&head).unwrap_or_default();
    match route(line) {
        Route::Metrics { head_only } => {
            let body = body(source);
            let bytes = response("200 OK", CONTENT_TYPE, &body, head_only);
            write_all(&mut stream, deadline, &bytes)
        }
        Route::NotFound { head_only } => reply(
            &mut stream,
            deadline,
            "404 Not Found",
            "not found: metrics are on /metrics\n",
            head_only,
        ),
        Route::MethodNotAllowed => reply(
            &mut stream,
            deadline,
            "405 Method Not Allowed",
            "method not allowed\n",
            false,
        ),
        Route::BadRequest => reply(
            &mut stream,
            deadline,
            "400 Bad Request",
            "bad request\n",
            false,
        ),
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

enum Head {
    Complete(Vec<u8>),
    /// The cap was reached before the empty line.
    Truncated(Vec<u8>),
}

/// Reads until the empty line that ends the head, EOF, the size cap or the
/// deadline (a timeout error).
fn read_head(stream: &mut TcpStream, deadline: Instant, max: usize) -> io::Result<Head> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            // EOF: judge what arrived (an HTTP/1.0 client may half-close).
            return Ok(Head::Complete(buf));
        }
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..n.min(room)]);
        if head_complete(&buf) {
            return Ok(Head::Complete(buf));
        }
        if n > room || buf.len() >= max {
            return Ok(Head::Truncated(buf));
        }
    }
}

fn reply(
    stream: &mut TcpStream,
    deadline: Instant,
    status: &str,
    body: &str,
    head_only: bool,
) -> io::Result<()> {
    let bytes = response(status, "text/plain; charset=utf-8", body, head_only);
    write_all(stream, deadline, &bytes)
}

fn write_all(stream: &mut TcpStream, deadline: Instant, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        stream.set_write_timeout(Some(remaining(deadline)?))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    // Best effort: the client sees EOF after the response.
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

/// Reads and discards what the client already sent (up to 64 KiB, 100 ms),
/// so that closing with unread input does not reset the connection and
/// destroy the response before the client has read it.
fn drain(stream: &mut TcpStream, deadline: Instant) {
    let mut chunk = [0u8; 4096];
    let mut left = 64 * 1024usize;
    while left > 0 {
        let Ok(t) = remaining(deadline) else { return };
        if stream
            .set_read_timeout(Some(t.min(Duration::from_millis(100))))
            .is_err()
        {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// Time left before `deadline`, or a timeout error once it has passed
/// (a zero timeout would mean "block forever" to `set_read_timeout`).
fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "connection deadline passed",
        ))
    } else {
        Ok(left)
    }
}

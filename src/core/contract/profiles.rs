//! Built-in contracts (`--profile NAME`): the seed document's Part 3
//! per-application layouts, with the sizes of its "Complete Manifest"
//! examples (emptyDir `sizeLimit`, PVC `resources.requests.storage`, and
//! the container's `ephemeral-storage` limit as `ephemeral_limit`).
//!
//! [`pod_layout`] carries the rest of those manifests for `sealinit
//! manifest`: replicas, port, CPU and memory, probes, the redis-db command.
//!
//! Only mounts and sizes are part of the contract. The manifests' `runAsNonRoot` is not
//! turned into `require_non_root`: that is the operator's choice of
//! securityContext, not part of the storage layout.

use std::path::PathBuf;

use super::spec::{MountKind, MountSpec, Settings, SpecFile};

/// The names `--profile` accepts.
pub const PROFILE_NAMES: &[&str] = &[
    "postgres",
    "redis-cache",
    "redis-db",
    "kafka",
    "nginx",
    "app",
];

const MI: u64 = 1 << 20;
const GI: u64 = 1 << 30;

use MountKind::{EmptyDir, Pvc, ReadOnly, Tmpfs};

/// (path, kind, size limit in bytes) per profile, and the pod's
/// ephemeral-storage limit.
type Layout = (
    &'static [(&'static str, MountKind, Option<u64>)],
    Option<u64>,
);

fn layout(name: &str) -> Option<Layout> {
    Some(match name {
        // Seed Part 3, "PostgreSQL": PVC postgres-data 50Gi (ReadWriteOnce),
        // socket emptyDir 10Mi, tmp emptyDir 5Gi, shm emptyDir
        // `medium: Memory` 1Gi; limits.ephemeral-storage 5Gi.
        "postgres" => (
            &[
                ("/var/lib/postgresql/data", Pvc, Some(50 * GI)),
                ("/var/run/postgresql", EmptyDir, Some(10 * MI)),
                ("/tmp", EmptyDir, Some(5 * GI)),
                ("/dev/shm", Tmpfs, Some(GI)),
            ],
            Some(5 * GI),
        ),
        // Seed Part 3, "Redis", cache mode: data emptyDir 10Gi, tmp emptyDir
        // 100Mi, socket emptyDir 50Mi; limits.ephemeral-storage 3Gi.
        "redis-cache" => (
            &[
                ("/data", EmptyDir, Some(10 * GI)),
                ("/tmp", EmptyDir, Some(100 * MI)),
                ("/var/run/redis", EmptyDir, Some(50 * MI)),
            ],
            Some(3 * GI),
        ),
        // Seed Part 3, "Redis", database mode: config ConfigMap at
        // /etc/redis readOnly, PVC redis-data 20Gi (AOF), tmp emptyDir
        // 500Mi; limits.ephemeral-storage 1Gi.
        "redis-db" => (
            &[
                ("/etc/redis", ReadOnly, None),
                ("/data", Pvc, Some(20 * GI)),
                ("/tmp", EmptyDir, Some(500 * MI)),
            ],
            Some(GI),
        ),
        // Seed Part 3, "Kafka", single broker, 7-day retention: PVC
        // kafka-logs 700Gi, tmp emptyDir 70Gi (10% of the logs);
        // limits.ephemeral-storage 5Gi.
        "kafka" => (
            &[
                ("/var/lib/kafka/data", Pvc, Some(700 * GI)),
                ("/tmp", EmptyDir, Some(70 * GI)),
            ],
            Some(5 * GI),
        ),
        // Seed Part 3, "Nginx": the config ConfigMap is mounted readOnly at
        // /etc/nginx/nginx.conf with `subPath: nginx.conf` (a single-file
        // mount, so the mount point is the file, not /etc/nginx); cache
        // emptyDir 5Gi, run emptyDir 10Mi, tmp emptyDir 100Mi;
        // limits.ephemeral-storage 2Gi.
        "nginx" => (
            &[
                ("/etc/nginx/nginx.conf", ReadOnly, None),
                ("/var/cache/nginx", EmptyDir, Some(5 * GI)),
                ("/var/run/nginx", EmptyDir, Some(10 * MI)),
                ("/tmp", EmptyDir, Some(100 * MI)),
            ],
            Some(2 * GI),
        ),
        // Seed Part 3, "Custom Applications" (Python + Gunicorn): tmp
        // emptyDir 1Gi, cache emptyDir 500Mi; limits.ephemeral-storage 2Gi.
        "app" => (
            &[
                ("/tmp", EmptyDir, Some(GI)),
                ("/app/cache", EmptyDir, Some(500 * MI)),
            ],
            Some(2 * GI),
        ),
        _ => return None,
    })
}

/// Signal rewrites a profile carries. nginx stops gracefully on QUIT and
/// fast on TERM, and Kubernetes only ever sends TERM: the nginx profile
/// delivers TERM as QUIT (`--rewrite TERM:TERM` undoes it).
fn rewrites(name: &str) -> Vec<(i32, i32)> {
    match name {
        "nginx" => vec![(libc::SIGTERM, libc::SIGQUIT)],
        _ => Vec::new(),
    }
}

/// The built-in contract `name` (one of [`PROFILE_NAMES`]), or `None`.
pub fn profile(name: &str) -> Option<SpecFile> {
    let (mounts, ephemeral_limit) = layout(name)?;
    Some(SpecFile {
        settings: Settings {
            ephemeral_limit,
            rewrite: rewrites(name),
            ..Settings::default()
        },
        mounts: mounts
            .iter()
            .map(|&(path, kind, size_limit)| MountSpec {
                path: PathBuf::from(path),
                kind,
                size_limit,
                allow_exec: false,
            })
            .collect(),
    })
}

/// How a probe asks the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeAction {
    /// `tcpSocket` on the container port.
    Tcp,
    /// `httpGet` of this path on the container port.
    Http(&'static str),
    /// `exec` of this command.
    Exec(&'static [&'static str]),
}

/// A liveness or readiness probe of the seed's manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub action: ProbeAction,
    pub initial_delay_seconds: u32,
    pub period_seconds: u32,
}

/// The rest of a profile's "Complete Manifest" in the seed's Part 3: what
/// `sealinit manifest --profile NAME` puts around the storage contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodLayout {
    pub replicas: u32,
    /// Container port and its name.
    pub port: (u16, &'static str),
    /// CPU request and limit, as Kubernetes quantities.
    pub cpu: (&'static str, &'static str),
    /// Memory request and limit in bytes, the workload's own: the tmpfs
    /// sizes are added on top (they count against the memory limit).
    pub memory: (u64, u64),
    pub liveness: Probe,
    pub readiness: Probe,
    /// The command after sealinit's `--` (Kubernetes `args`), if the seed
    /// gives one: redis-db keeps `--appendonly yes`.
    pub args: &'static [&'static str],
}

const fn probe(action: ProbeAction, initial_delay_seconds: u32, period_seconds: u32) -> Probe {
    Probe {
        action,
        initial_delay_seconds,
        period_seconds,
    }
}

/// The seed's pod figures for profile `name`, or `None`.
pub fn pod_layout(name: &str) -> Option<PodLayout> {
    use ProbeAction::{Exec, Http, Tcp};
    let redis = |replicas, memory, cpu, args| PodLayout {
        replicas,
        port: (6379, "redis"),
        cpu,
        memory,
        liveness: probe(Tcp, 10, 5),
        readiness: probe(Tcp, 5, 3),
        args,
    };
    Some(match name {
        "postgres" => PodLayout {
            replicas: 1,
            port: (5432, "postgres"),
            cpu: ("500m", "2"),
            memory: (GI, 4 * GI),
            liveness: probe(Tcp, 30, 10),
            readiness: probe(
                Exec(&["/usr/lib/postgresql/15/bin/pg_isready", "-h", "localhost"]),
                10,
                5,
            ),
            args: &[],
        },
        "redis-cache" => redis(3, (512 * MI, 2 * GI), ("250m", "1"), &[]),
        "redis-db" => redis(
            1,
            (GI, 4 * GI),
            ("500m", "2"),
            &[
                "redis-server",
                "/etc/redis/redis.conf",
                "--appendonly",
                "yes",
            ],
        ),
        "kafka" => PodLayout {
            replicas: 1,
            port: (9092, "kafka"),
            cpu: ("1", "2"),
            memory: (2 * GI, 4 * GI),
            liveness: probe(Tcp, 30, 10),
            readiness: probe(Tcp, 15, 5),
            args: &[],
        },
        "nginx" => PodLayout {
            replicas: 3,
            port: (8080, "http"),
            cpu: ("100m", "500m"),
            memory: (256 * MI, 512 * MI),
            liveness: probe(Http("/"), 5, 5),
            readiness: probe(Http("/"), 2, 3),
            args: &[],
        },
        "app" => PodLayout {
            replicas: 3,
            port: (8000, "http"),
            cpu: ("250m", "1"),
            memory: (256 * MI, 512 * MI),
            liveness: probe(Http("/health"), 10, 10),
            readiness: probe(Http("/ready"), 5, 3),
            args: &[],
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::contract::spec::{merge, parse_spec_toml, render_toml, Settings};
    use std::path::Path;

    /// (path, kind, size) as the seed writes them.
    fn assert_profile(name: &str, want: &[(&str, MountKind, Option<&str>)], eph: &str) {
        let p = profile(name).unwrap_or_else(|| panic!("profile {name} missing"));
        assert_eq!(p.mounts.len(), want.len(), "{name}: mount count");
        for (got, (path, kind, size)) in p.mounts.iter().zip(want) {
            assert_eq!(got.path, Path::new(path), "{name}: path");
            assert_eq!(got.kind, *kind, "{name} {path}: kind");
            let size = size.map(|s| crate::core::contract::quantity::parse(s).unwrap());
            assert_eq!(got.size_limit, size, "{name} {path}: size");
        }
        let eph = crate::core::contract::quantity::parse(eph).unwrap();
        assert_eq!(p.settings.ephemeral_limit, Some(eph), "{name}: ephemeral");
        let rest = Settings {
            ephemeral_limit: None,
            rewrite: Vec::new(),
            ..p.settings.clone()
        };
        let rewrite = if name == "nginx" {
            vec![(15, 3)]
        } else {
            Vec::new()
        };
        assert_eq!(p.settings.rewrite, rewrite, "{name}: rewrite");
        assert_eq!(rest, Settings::default(), "{name}: no other setting");
    }

    #[test]
    fn postgres() {
        let want = [
            ("/var/lib/postgresql/data", Pvc, Some("50Gi")),
            ("/var/run/postgresql", EmptyDir, Some("10Mi")),
            ("/tmp", EmptyDir, Some("5Gi")),
            ("/dev/shm", Tmpfs, Some("1Gi")),
        ];
        assert_profile("postgres", &want, "5Gi");
    }

    #[test]
    fn redis_cache() {
        let want = [
            ("/data", EmptyDir, Some("10Gi")),
            ("/tmp", EmptyDir, Some("100Mi")),
            ("/var/run/redis", EmptyDir, Some("50Mi")),
        ];
        assert_profile("redis-cache", &want, "3Gi");
    }

    #[test]
    fn redis_db() {
        let want = [
            ("/etc/redis", ReadOnly, None),
            ("/data", Pvc, Some("20Gi")),
            ("/tmp", EmptyDir, Some("500Mi")),
        ];
        assert_profile("redis-db", &want, "1Gi");
    }

    #[test]
    fn kafka() {
        let want = [
            ("/var/lib/kafka/data", Pvc, Some("700Gi")),
            ("/tmp", EmptyDir, Some("70Gi")),
        ];
        assert_profile("kafka", &want, "5Gi");
    }

    #[test]
    fn nginx() {
        let want = [
            ("/etc/nginx/nginx.conf", ReadOnly, None),
            ("/var/cache/nginx", EmptyDir, Some("5Gi")),
            ("/var/run/nginx", EmptyDir, Some("10Mi")),
            ("/tmp", EmptyDir, Some("100Mi")),
        ];
        assert_profile("nginx", &want, "2Gi");
    }

    #[test]
    fn app() {
        let want = [
            ("/tmp", EmptyDir, Some("1Gi")),
            ("/app/cache", EmptyDir, Some("500Mi")),
        ];
        assert_profile("app", &want, "2Gi");
    }

    #[test]
    fn every_name_resolves_and_nothing_else_does() {
        for name in PROFILE_NAMES {
            assert!(profile(name).is_some(), "{name}");
            assert!(pod_layout(name).is_some(), "{name}");
        }
        assert!(pod_layout("mysql").is_none());
        for name in ["", "Postgres", "redis", "mysql", "postgres "] {
            assert!(profile(name).is_none(), "{name:?}");
        }
    }

    #[test]
    fn every_profile_round_trips_through_render_and_parse() {
        for name in PROFILE_NAMES {
            let p = profile(name).unwrap();
            let resolved = merge([&p]);
            let text = render_toml(&resolved.spec, &resolved.settings);
            let back = parse_spec_toml(&text, Path::new("print-spec.toml"))
                .unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
            assert_eq!(back.mounts, p.mounts, "{name}: mounts\n{text}");
            let again = merge([&back]);
            assert_eq!(again.spec, resolved.spec, "{name}: spec\n{text}");
            assert_eq!(
                back.settings.ephemeral_limit, p.settings.ephemeral_limit,
                "{name}: ephemeral_limit"
            );
        }
    }

    #[test]
    fn every_profile_path_is_normalised_and_unique() {
        for name in PROFILE_NAMES {
            let p = profile(name).unwrap();
            for m in &p.mounts {
                let s = m.path.to_str().unwrap();
                assert_eq!(
                    crate::core::contract::spec::normalize_path(s).as_deref(),
                    Ok(m.path.as_path()),
                    "{name} {s}"
                );
            }
            assert_eq!(
                crate::core::contract::spec::duplicate_path(&p.mounts),
                None,
                "{name}"
            );
        }
    }
}

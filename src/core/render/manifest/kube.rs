//! Kubernetes rendering: the pod spec (securityContext, one container with
//! env, resources and volumeMounts, the volumes), optionally wrapped in an
//! apps/v1 Deployment or StatefulSet, and the PersistentVolumeClaims.

use super::yaml::{emit, Map, Node, SeqItem};
use super::{Contract, ManifestOptions, Volume, Workload};
use crate::core::contract::profiles::ProbeAction;
use crate::core::contract::quantity;
use crate::core::contract::spec::MountKind;

const LABEL: &str = "app.kubernetes.io/name";

pub(super) fn render(c: &Contract, opts: &ManifestOptions) -> Result<String, String> {
    let sts = opts.workload == Some(Workload::StatefulSet);
    let mut docs = Vec::new();
    match opts.workload {
        None => {
            let mut pod = Map::new().comment(
                "sealinit manifest: pod-spec fragment for the storage contract.\n\
                 Merge it into spec.template.spec of your workload: the pod securityContext,\n\
                 the container's fields (same container name), the volumes, and apply the\n\
                 PersistentVolumeClaims below.",
            );
            pod.0.extend(pod_spec(c, opts, false).0);
            docs.push(emit(&pod));
        }
        Some(w) => docs.push(emit(&workload(c, opts, w))),
    }
    if !sts {
        for v in c.volumes.iter().filter(|v| v.kind == MountKind::Pvc) {
            docs.push(emit(&pvc_object(v, opts)));
        }
    }
    Ok(docs.join("---\n"))
}

fn labels(opts: &ManifestOptions) -> Node {
    Map::new().kv(LABEL, Node::str(&opts.name)).node()
}

fn workload(c: &Contract, opts: &ManifestOptions, w: Workload) -> Map {
    let sts = w == Workload::StatefulSet;
    let template = Map::new()
        .kv("metadata", Map::new().kv("labels", labels(opts)).node())
        .kv("spec", pod_spec(c, opts, true).node());
    let mut spec = Map::new();
    if sts {
        spec = spec
            .comment("the headless Service that gives the pods their network identity")
            .kv("serviceName", Node::str(&opts.name));
    }
    let replicas = c.pod.map_or(1, |p| p.replicas);
    spec = spec.kv("replicas", Node::int(u64::from(replicas)));
    let has_claim = c.volumes.iter().any(|v| v.kind == MountKind::Pvc);
    if !sts && has_claim {
        spec = spec
            .comment(
                "a ReadWriteOnce claim is attached to one node: the old pod must stop\n\
                 before the new one can mount it (a rolling update would hang)",
            )
            .kv(
                "strategy",
                Map::new().kv("type", Node::plain("Recreate")).node(),
            );
    }
    spec = spec
        .kv(
            "selector",
            Map::new().kv("matchLabels", labels(opts)).node(),
        )
        .kv("template", template.node());
    let claims: Vec<&Volume> = c
        .volumes
        .iter()
        .filter(|v| v.kind == MountKind::Pvc)
        .collect();
    if sts && !claims.is_empty() {
        let mut items = vec![SeqItem::Comment(
            "one claim per replica, named <volume>-<statefulset>-<ordinal>".to_string(),
        )];
        for v in claims {
            items.push(SeqItem::Item(
                Map::new()
                    .kv(
                        "metadata",
                        Map::new().kv("name", Node::plain(&v.name)).node(),
                    )
                    .kv("spec", claim_spec(v).node())
                    .node(),
            ));
        }
        spec.push("volumeClaimTemplates", Node::Seq(items));
    }
    Map::new()
        .comment(&format!(
            "sealinit manifest: {} for the storage contract.",
            if sts { "StatefulSet" } else { "Deployment" }
        ))
        .kv("apiVersion", Node::plain("apps/v1"))
        .kv(
            "kind",
            Node::plain(if sts { "StatefulSet" } else { "Deployment" }),
        )
        .kv(
            "metadata",
            Map::new()
                .kv("name", Node::str(&opts.name))
                .kv("labels", labels(opts))
                .node(),
        )
        .kv("spec", spec.node())
}

fn claim_name(v: &Volume, opts: &ManifestOptions) -> String {
    format!("{}-{}", opts.name, v.name)
}

fn claim_spec(v: &Volume) -> Map {
    let mut requests = Map::new();
    match v.size {
        Some(s) => requests.push("storage", Node::str(&quantity::format(s))),
        None => {
            requests.push_comment(&format!(
                "no size in the contract for {}: replace SIZE with the claim size\n\
                 (seed Part 3: about 2x the largest expected data for a database)",
                v.path
            ));
            requests.push("storage", Node::str("SIZE"));
        }
    }
    Map::new()
        .kv("accessModes", Node::seq(vec![Node::plain("ReadWriteOnce")]))
        .kv(
            "resources",
            Map::new().kv("requests", requests.node()).node(),
        )
}

fn pvc_object(v: &Volume, opts: &ManifestOptions) -> Map {
    Map::new()
        .comment(&format!("persistent storage for {}", v.path))
        .kv("apiVersion", Node::plain("v1"))
        .kv("kind", Node::plain("PersistentVolumeClaim"))
        .kv(
            "metadata",
            Map::new()
                .kv("name", Node::str(&claim_name(v, opts)))
                .kv("labels", labels(opts))
                .node(),
        )
        .kv("spec", claim_spec(v).node())
}

/// The pod spec; `with_image` adds the container image (full workloads).
fn pod_spec(c: &Contract, opts: &ManifestOptions, with_image: bool) -> Map {
    let sts = opts.workload == Some(Workload::StatefulSet);
    let mut pod = Map::new()
        .kv(
            "securityContext",
            Map::new()
                .comment("fsGroup makes the volumes group-writable for the non-root user")
                .kv("fsGroup", Node::int(u64::from(opts.fs_group)))
                .node(),
        )
        .comment("sealinit and the workload do not talk to the API server")
        .kv("automountServiceAccountToken", Node::bool(false))
        .kv(
            "containers",
            Node::seq(vec![container(c, opts, with_image)]),
        );
    let mut vols = Vec::new();
    for v in &c.volumes {
        if sts && v.kind == MountKind::Pvc {
            continue;
        }
        vols.push(SeqItem::Item(volume(v, opts)));
    }
    if !vols.is_empty() {
        pod.push("volumes", Node::Seq(vols));
    }
    pod
}

fn container(c: &Contract, opts: &ManifestOptions, with_image: bool) -> Node {
    let mut ctr = Map::new().kv("name", Node::str(&opts.name));
    if with_image {
        ctr.push("image", Node::str(&opts.image));
    }
    if let Some(p) = c.pod.filter(|p| !p.args.is_empty()) {
        ctr.push_comment("after the image's ENTRYPOINT [\"/usr/bin/sealinit\", \"--\"]");
        ctr.push(
            "args",
            Node::seq(p.args.iter().map(|a| Node::str(a)).collect()),
        );
    }
    let mut ports = Vec::new();
    if let Some(p) = c.pod {
        ports.push(port(p.port.0, p.port.1));
    }
    if let Some(m) = opts.metrics_port {
        ports.push(port(m, "metrics"));
    }
    if !ports.is_empty() {
        ctr.push("ports", Node::seq(ports));
    }
    ctr.push_comment("the restricted Pod Security Standard");
    ctr.push(
        "securityContext",
        Map::new()
            .kv("readOnlyRootFilesystem", Node::bool(c.read_only_root))
            .kv("runAsNonRoot", Node::bool(true))
            .kv("runAsUser", Node::int(u64::from(opts.run_as_user)))
            .kv("runAsGroup", Node::int(u64::from(opts.run_as_group)))
            .kv("allowPrivilegeEscalation", Node::bool(false))
            .kv(
                "capabilities",
                Map::new()
                    .kv("drop", Node::seq(vec![Node::plain("ALL")]))
                    .node(),
            )
            .kv(
                "seccompProfile",
                Map::new().kv("type", Node::plain("RuntimeDefault")).node(),
            )
            .node(),
    );
    let mut env = Vec::new();
    if !c.mounts_env.is_empty() {
        env.push(SeqItem::Comment(
            "the contract sealinit checks at start-up: the same mounts as below".to_string(),
        ));
        env.push(SeqItem::Item(
            Map::new()
                .kv("name", Node::plain("SEALINIT_MOUNTS"))
                .kv("value", Node::str(&c.mounts_env))
                .node(),
        ));
    }
    if c.ephemeral.is_some() {
        let field = Map::new()
            .kv("containerName", Node::str(&opts.name))
            .kv("resource", Node::plain("limits.ephemeral-storage"));
        env.push(SeqItem::Item(
            Map::new()
                .kv("name", Node::plain("SEALINIT_EPHEMERAL_LIMIT"))
                .kv(
                    "valueFrom",
                    Map::new().kv("resourceFieldRef", field.node()).node(),
                )
                .node(),
        ));
    }
    if !env.is_empty() {
        ctr.push("env", Node::Seq(env));
    }
    if c.pod.is_none() && (c.tmpfs_sum > 0 || c.tmpfs_unsized) {
        let list: Vec<String> = c
            .volumes
            .iter()
            .filter(|v| v.kind == MountKind::Tmpfs)
            .map(|v| match v.size {
                Some(s) => format!("{} {}", v.path, quantity::format(s)),
                None => format!("{} (no sizeLimit: up to the memory limit)", v.path),
            })
            .collect();
        ctr.push_comment(&format!(
            "memory: the tmpfs volumes ({}) total {} and count against this container's\n\
             memory limit; set limits.memory to the working set plus {}.",
            list.join(", "),
            quantity::format(c.tmpfs_sum),
            quantity::format(c.tmpfs_sum)
        ));
    }
    let q = |n: u64| Node::str(&quantity::format(n));
    let mut requests = Map::new();
    let mut limits = Map::new();
    if let Some(p) = c.pod {
        let (req, lim) = p.memory;
        ctr.push_comment(&if c.tmpfs_sum > 0 {
            format!(
                "cpu and memory: the seed's figures for this application; memory adds the\n\
                 tmpfs volumes ({}, they count against it) to the workload's {} / {}",
                quantity::format(c.tmpfs_sum),
                quantity::format(req),
                quantity::format(lim)
            )
        } else {
            "cpu and memory: the seed's figures for this application".to_string()
        });
        requests.push("cpu", Node::str(p.cpu.0));
        requests.push("memory", q(req.saturating_add(c.tmpfs_sum)));
        limits.push("cpu", Node::str(p.cpu.1));
        limits.push("memory", q(lim.saturating_add(c.tmpfs_sum)));
    }
    if let Some(e) = &c.ephemeral {
        ctr.push_comment(&e.explain);
        requests.push("ephemeral-storage", q(e.request));
        limits.push("ephemeral-storage", q(e.limit));
    }
    if !requests.0.is_empty() {
        ctr.push(
            "resources",
            Map::new()
                .kv("requests", requests.node())
                .kv("limits", limits.node())
                .node(),
        );
    }
    probes(&mut ctr, c);
    let mounts: Vec<Node> = c.volumes.iter().map(volume_mount).collect();
    if !mounts.is_empty() {
        ctr.push("volumeMounts", Node::seq(mounts));
    }
    ctr.node()
}

fn port(n: u16, name: &str) -> Node {
    Map::new()
        .kv("name", Node::plain(name))
        .kv("containerPort", Node::int(u64::from(n)))
        .node()
}

/// `sealinit check` as an exec probe: exit 0 while the contract holds.
const CHECK_PROBE: [&str; 2] = ["/usr/bin/sealinit", "check"];

/// The profile's liveness and readiness probes; without a profile, the
/// readiness probe is `sealinit check` (liveness is the application's).
fn probes(ctr: &mut Map, c: &Contract) {
    let Some(p) = c.pod else {
        ctr.push_comment(
            "ready while the storage contract holds (add a livenessProbe for the application)",
        );
        ctr.push(
            "readinessProbe",
            probe_node(ProbeAction::Exec(&CHECK_PROBE), 0, 5, 30),
        );
        return;
    };
    let port = p.port.0;
    ctr.push(
        "livenessProbe",
        probe_node(
            p.liveness.action,
            port,
            p.liveness.initial_delay_seconds,
            p.liveness.period_seconds,
        ),
    );
    ctr.push(
        "readinessProbe",
        probe_node(
            p.readiness.action,
            port,
            p.readiness.initial_delay_seconds,
            p.readiness.period_seconds,
        ),
    );
    ctr.push_comment(
        "the storage contract as a probe too: exec: command: [\"/usr/bin/sealinit\", \"check\"]",
    );
}

fn probe_node(action: ProbeAction, port: u16, delay: u32, period: u32) -> Node {
    let mut m = Map::new();
    match action {
        ProbeAction::Tcp => m.push(
            "tcpSocket",
            Map::new().kv("port", Node::int(u64::from(port))).node(),
        ),
        ProbeAction::Http(path) => m.push(
            "httpGet",
            Map::new()
                .kv("path", Node::str(path))
                .kv("port", Node::int(u64::from(port)))
                .node(),
        ),
        ProbeAction::Exec(cmd) => m.push(
            "exec",
            Map::new()
                .kv(
                    "command",
                    Node::seq(cmd.iter().map(|a| Node::str(a)).collect()),
                )
                .node(),
        ),
    }
    if delay > 0 {
        m.push("initialDelaySeconds", Node::int(u64::from(delay)));
    }
    m.push("periodSeconds", Node::int(u64::from(period)));
    m.node()
}

fn volume_mount(v: &Volume) -> Node {
    let mut m = Map::new()
        .kv("name", Node::plain(&v.name))
        .kv("mountPath", Node::str(&v.path));
    if let Some(file) = v.file_name() {
        // One file of the ConfigMap/Secret, not a directory over its parent.
        m.push("subPath", Node::str(file));
    }
    if !v.kind.is_writable() {
        m.push("readOnly", Node::bool(true));
    }
    m.node()
}

/// One mount's `volumeMounts` entry.
pub(super) fn mount_snippet(v: &Volume) -> String {
    emit(&Map::new().kv("volumeMounts", Node::seq(vec![volume_mount(v)])))
}

/// One mount's `volumes` and `volumeMounts` entries (a check's fix), from
/// the same builders as the full manifest.
pub(super) fn snippet(v: &Volume, opts: &ManifestOptions) -> String {
    let mut doc = Map::new()
        .comment("pod spec")
        .kv("volumes", Node::seq(vec![volume(v, opts)]));
    if v.kind == MountKind::Pvc {
        doc.push_comment(&format!(
            "plus the PersistentVolumeClaim \"{}\" (sealinit manifest prints it)",
            claim_name(v, opts)
        ));
    }
    doc.push_comment("container spec");
    doc.push("volumeMounts", Node::seq(vec![volume_mount(v)]));
    emit(&doc)
}

fn volume(v: &Volume, opts: &ManifestOptions) -> Node {
    let mut m = Map::new()
        .comment(&format!("{} {}", v.kind.as_str(), v.path))
        .kv("name", Node::plain(&v.name));
    let size = |mut e: Map| {
        match v.size {
            Some(s) => e.push("sizeLimit", Node::str(&quantity::format(s))),
            None => e.push_comment("no sizeLimit in the contract: unbounded until eviction"),
        }
        e
    };
    match v.kind {
        MountKind::Tmpfs => m.push(
            "emptyDir",
            size(Map::new().kv("medium", Node::plain("Memory"))).node(),
        ),
        MountKind::EmptyDir => m.push("emptyDir", size(Map::new()).node()),
        MountKind::Pvc => m.push(
            "persistentVolumeClaim",
            Map::new()
                .kv("claimName", Node::str(&claim_name(v, opts)))
                .node(),
        ),
        MountKind::ReadOnly => m.push(
            "configMap",
            Map::new()
                .comment("the ConfigMap holding these files")
                .kv("name", Node::str(&claim_name(v, opts)))
                .node(),
        ),
        MountKind::Secret => m.push(
            "secret",
            Map::new()
                .comment("the Secret holding these files")
                .kv("secretName", Node::str(&claim_name(v, opts)))
                .node(),
        ),
    }
    m.node()
}

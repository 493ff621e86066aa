//! Unit tests for `classify`, on real lines from containerd, CRI-O, docker
//! and podman containers.

use super::*;
use crate::core::mounts::mountinfo::MountTable;

fn entry(line: &str) -> MountEntry {
    MountEntry::parse_line(line.as_bytes(), 1).expect(line)
}

fn k8s(plugin: &str, volume: &str) -> Origin {
    Origin::Kubernetes {
        plugin: plugin.to_string(),
        volume: volume.to_string(),
    }
}

#[test]
fn real_lines_classified() {
    let cases: &[(&str, &str, Origin, bool)] = &[
        // (name, line, origin, writable surface)
        (
            "containerd overlay root",
            "757 605 0:139 / / rw,relatime master:180 - overlay overlay rw,lowerdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/25/fs,upperdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/26/fs,workdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/26/work",
            Origin::Root,
            true,
        ),
        (
            "containerd disk emptyDir",
            "769 757 259:16 /var/lib/kubelet/pods/6f0e2b1c-3d4a-4e5f-8a9b-0c1d2e3f4a5b/volumes/kubernetes.io~empty-dir/html /html rw,nosuid,nodev,noatime - ext4 /dev/nvme1n1p1 rw,seclabel",
            k8s("empty-dir", "html"),
            true,
        ),
        (
            "cri-o configmap, kubelet dir on /var fs (root starts /lib)",
            "636 600 0:35 /lib/kubelet/pods/042efd86-1f3b-4f2f-8736-f31c58e95bbc/volumes/kubernetes.io~configmap/flannel-cfg /etc/kube-flannel ro,relatime - btrfs /dev/sda3 rw,space_cache,subvolid=5,subvol=/",
            k8s("configmap", "flannel-cfg"),
            false,
        ),
        (
            "csi volume with /mount suffix",
            "1240 1234 259:1 /var/lib/kubelet/pods/2f8a1c3e-6b71-4a0e-9f52-1d6c0a7b3e11/volumes/kubernetes.io~csi/boid-state/mount /home/boid rw,relatime - ext4 /dev/nvme0n1p1 rw",
            k8s("csi", "boid-state"),
            true,
        ),
        (
            "kubelet dir is its own fs (root starts /pods)",
            "900 857 8:16 /pods/0a1b/volumes/kubernetes.io~local-volume/pv-1 /data rw,relatime - xfs /dev/sdb rw",
            k8s("local-volume", "pv-1"),
            true,
        ),
        (
            "subPath inside a configmap",
            "901 857 253:0 /var/lib/kubelet/pods/fd69/volumes/kubernetes.io~configmap/cfg/..2024_01_01_00_00_00.123/nginx.conf /etc/nginx/nginx.conf ro,relatime - ext4 /dev/vda1 rw",
            k8s("configmap", "cfg"),
            false,
        ),
        (
            "minikube docker-volume kubelet root",
            "574 564 254:1 /docker/volumes/minikube/_data/lib/kubelet/pods/7d3c/volumes/kubernetes.io~empty-dir/cache /cache rw,relatime - ext4 /dev/vda1 rw",
            k8s("empty-dir", "cache"),
            true,
        ),
        (
            "etc-hosts is not a volume",
            "870 857 253:0 /var/lib/kubelet/pods/fd698699-eabf-4c23-92ef-cf0bbdb78261/etc-hosts /etc/hosts rw,relatime - ext4 /dev/mapper/ubuntu--vg-ubuntu--lv rw",
            Origin::Platform("hosts"),
            true,
        ),
        (
            "termination-log",
            "867 859 253:0 /var/lib/kubelet/pods/fd698699-eabf-4c23-92ef-cf0bbdb78261/containers/calico-typha/fc4135aa /dev/termination-log rw,relatime - ext4 /dev/mapper/ubuntu--vg-ubuntu--lv rw",
            Origin::Platform("termination-log"),
            true,
        ),
        (
            "containerd hostname",
            "774 757 259:16 /var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/bd9a3e80e86b8ffbe97ed67b484bd132dcc7b99106ce6ab58e1118287a5b1a60/hostname /etc/hostname rw,nosuid,nodev,noatime - ext4 /dev/nvme1n1p1 rw,seclabel",
            Origin::Platform("hostname"),
            true,
        ),
        (
            "cri-o resolv.conf",
            "608 600 0:24 /containers/storage/btrfs-containers/a384237317c8537d2876f46e6b2902658396f5a64ee057db25e077f0b807c89d/userdata/resolv.conf /etc/resolv.conf rw,nosuid,nodev,noexec master:13 - tmpfs tmpfs rw,size=745192k,nr_inodes=819200,mode=755,inode64",
            Origin::Platform("resolv.conf"),
            true,
        ),
        (
            "shm",
            "871 859 0:52 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k,inode64",
            Origin::Platform("shm"),
            true,
        ),
        (
            "dev tmpfs",
            "859 857 0:85 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755,inode64",
            Origin::Platform("dev"),
            true,
        ),
        (
            "devpts",
            "860 859 0:86 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666",
            Origin::Platform("devpts"),
            false,
        ),
        (
            "mqueue",
            "864 859 0:59 / /dev/mqueue rw,nosuid,nodev,noexec,relatime - mqueue mqueue rw",
            Origin::Platform("mqueue"),
            false,
        ),
        (
            "proc",
            "858 857 0:84 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw",
            Origin::Platform("proc"),
            false,
        ),
        (
            "masked /proc/keys is a writable tmpfs bind",
            "788 858 0:85 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755,inode64",
            Origin::Platform("proc"),
            false,
        ),
        (
            "sys",
            "862 857 0:21 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs rw",
            Origin::Platform("sys"),
            false,
        ),
        (
            "cgroup2",
            "863 862 0:28 /../../kubepods-besteffort-podfd698699_eabf_4c23_92ef_cf0bbdb78261.slice/docker-2cc6.scope /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate,memory_recursiveprot",
            Origin::Platform("cgroup"),
            false,
        ),
        (
            "rootless podman writable cgroup tmpfs",
            "984 962 0:70 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs cgroup rw,size=1024k,uid=2024,gid=2024,inode64",
            Origin::Platform("cgroup"),
            false,
        ),
        (
            "serviceaccount under /var/run",
            "872 857 0:45 / /var/run/secrets/kubernetes.io/serviceaccount ro,relatime - tmpfs tmpfs rw,size=8039532k,inode64",
            Origin::Platform("serviceaccount"),
            false,
        ),
        (
            "serviceaccount under /run",
            "639 600 0:60 / /run/secrets/kubernetes.io/serviceaccount ro,relatime - tmpfs tmpfs rw,size=51200k,inode64",
            Origin::Platform("serviceaccount"),
            false,
        ),
        (
            "podman /run/secrets",
            "1098 1088 0:104 /containers/overlay-containers/1a2d/userdata/run/secrets /run/secrets rw,nosuid,nodev,relatime - tmpfs tmpfs rw,size=813800k,mode=700,uid=1000,gid=1000",
            Origin::Platform("secrets-run"),
            true,
        ),
        (
            "podman .containerenv",
            "980 963 0:56 /containers/overlay-containers/35d6/userdata/.containerenv /run/.containerenv ro,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,size=783888k,mode=700",
            Origin::Platform("containerenv"),
            false,
        ),
        (
            "rootless podman binds device nodes from the host /dev",
            "990 975 0:5 /null /dev/null rw,nosuid,noexec - devtmpfs udev rw,size=4016816k,mode=755",
            Origin::Platform("dev"),
            true,
        ),
        (
            "podman --tmpfs with a space",
            "76 73 0:42 / /data\\040dir rw,nosuid,nodev,relatime - tmpfs tmpfs rw,size=1024k",
            Origin::RuntimeTmpfs,
            true,
        ),
        (
            "podman --read-only /var/tmp tmpfs",
            "84 73 0:48 / /var/tmp rw,nosuid,nodev,relatime - tmpfs tmpfs rw",
            Origin::RuntimeTmpfs,
            true,
        ),
        (
            "memory-backed volume looks like a runtime tmpfs",
            "866 857 0:44 / /typha-certs ro,relatime - tmpfs tmpfs rw,size=8039532k,inode64",
            Origin::RuntimeTmpfs,
            false,
        ),
        (
            "cri-o tmpfs sub-directory bind is not a tmpfs mount of its own",
            "619 600 0:24 /flannel /run/flannel rw,nosuid,nodev - tmpfs tmpfs rw,size=745192k,nr_inodes=819200,mode=755,inode64",
            Origin::Other,
            true,
        ),
        (
            "host bind (-v /etc/hostname:/run/cfg:ro)",
            "82 78 254:0 /etc/hostname /run/cfg ro,relatime - ext4 /dev/vda rw",
            Origin::Other,
            false,
        ),
        (
            "PVC by host path",
            "11096 11073 253:1 /data/slp/evm1 /var/lib/postgresql/data rw,noatime - ext4 /dev/vda1 rw",
            Origin::Other,
            true,
        ),
        (
            "not fooled: 'pods' without volumes",
            "902 857 253:0 /srv/pods/x/data/kubernetes.io~empty-dir/v /v rw - ext4 /dev/vda1 rw",
            Origin::Other,
            true,
        ),
        (
            "not fooled: plugin without name",
            "903 857 253:0 /pods/x/volumes/kubernetes.io~empty-dir /v rw - ext4 /dev/vda1 rw",
            Origin::Other,
            true,
        ),
    ];
    for (name, line, want, writable) in cases {
        let e = entry(line);
        assert_eq!(&classify(&e), want, "case {name:?}");
        assert_eq!(
            is_writable_surface(&e),
            *writable,
            "case {name:?}: writable"
        );
        assert_eq!(
            is_platform(&e),
            matches!(want, Origin::Platform(_)),
            "case {name:?}: is_platform"
        );
    }
}

/// Writable, non-platform surfaces per fixture: what `sealinit mounts` would
/// flag as places a workload can write.
#[test]
fn fixture_inventories() {
    let cases: &[(&str, &[u8], &[&str])] = &[
        (
            "podman --read-only with two --tmpfs",
            include_bytes!("../../../tests/fixtures/mountinfo/podman-runc.txt"),
            &["/data dir", "/run", "/tmp", "/var/tmp"],
        ),
        (
            "containerd pod with a disk emptyDir",
            include_bytes!("../../../tests/fixtures/mountinfo/containerd-k8s.txt"),
            &["/", "/html"],
        ),
        (
            "cri-o flannel pod",
            include_bytes!("../../../tests/fixtures/mountinfo/crio-k8s.txt"),
            &["/", "/run/flannel"],
        ),
        (
            "dockershim calico pod",
            include_bytes!("../../../tests/fixtures/mountinfo/docker-k8s.txt"),
            &["/"],
        ),
    ];
    for (name, text, want) in cases {
        let t = MountTable::parse(text).expect(name);
        let got: Vec<String> = t
            .entries
            .iter()
            .filter(|e| is_writable_surface(e) && !is_platform(e))
            .map(|e| e.mount_point.to_string_lossy().into_owned())
            .collect();
        let mut got = got;
        got.sort();
        assert_eq!(&got, want, "case {name:?}");
    }
}

#[test]
fn podman_root_is_read_only_by_mount_flag_only() {
    let t = MountTable::parse(include_bytes!(
        "../../../tests/fixtures/mountinfo/podman-runc.txt"
    ))
    .expect("fixture");
    let root = t.at(Path::new("/")).expect("root");
    assert_eq!(classify(root), Origin::Root);
    assert!(root.is_read_only(), "--read-only sets the per-mount flag");
    assert!(!root.is_super_read_only(), "the host ext4 stays rw");
}

#[test]
fn display_is_a_phrase() {
    let cases: &[(Origin, &str)] = &[
        (
            k8s("empty-dir", "cache"),
            "kubernetes empty-dir volume \"cache\"",
        ),
        (Origin::Platform("shm"), "platform mount"),
        (Origin::Root, "root filesystem"),
        (Origin::Other, "filesystem mount"),
        (
            Origin::RuntimeTmpfs,
            "tmpfs (runtime --tmpfs or emptyDir medium: Memory)",
        ),
    ];
    for (origin, want) in cases {
        assert_eq!(origin.to_string(), *want);
    }
}

#[test]
fn describe_tells_bind_mounts_apart() {
    let cases: &[(&str, &str, &str, bool)] = &[
        // (name, line, describe, is_bind)
        (
            "host directory bind",
            "45 1 8:1 /srv/data /data rw - ext4 /dev/sda1 rw",
            "bind mount",
            true,
        ),
        (
            "tmpfs sub-directory bind",
            "619 600 0:24 /flannel /run/flannel rw - tmpfs tmpfs rw",
            "bind mount",
            true,
        ),
        (
            "whole filesystem",
            "46 1 8:2 / /data rw - xfs /dev/sdb rw",
            "filesystem mount",
            false,
        ),
        (
            "runtime tmpfs",
            "76 73 0:42 / /scratch rw - tmpfs tmpfs rw,size=1024k",
            "tmpfs (runtime --tmpfs or emptyDir medium: Memory)",
            false,
        ),
        (
            "kubernetes volume is a bind but says its volume",
            "30 1 8:1 /var/lib/kubelet/pods/0f1e/volumes/kubernetes.io~empty-dir/cache /cache rw - ext4 /dev/sda1 rw",
            "kubernetes empty-dir volume \"cache\"",
            true,
        ),
        (
            "hosts file is a bind but platform",
            "43 1 8:1 /x/etc-hosts /etc/hosts rw - ext4 /dev/sda1 rw",
            "platform mount",
            true,
        ),
    ];
    for (name, line, want, bind) in cases {
        let e = entry(line);
        assert_eq!(describe(&e), *want, "case {name:?}");
        assert_eq!(is_bind(&e), *bind, "case {name:?}: is_bind");
    }
}

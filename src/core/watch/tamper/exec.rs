//! Exec-drop recognition: is a file an executable (an exec bit; ELF magic
//! or `#!` say which kind), from its mode and at most its first
//! [`HEAD_LEN`] bytes; and
//! is this batch of inotify triggers the moment to say so. Pure.

use super::Severity;

/// What made a file look like an executable (the `recognised` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recognised {
    /// Starts with `\x7fELF`.
    Elf,
    /// Starts with `#!`.
    Script,
    /// Has an exec bit, content not recognised.
    ExecBit,
}

impl Recognised {
    pub fn as_str(self) -> &'static str {
        match self {
            Recognised::Elf => "elf",
            Recognised::Script => "script",
            Recognised::ExecBit => "exec-bit",
        }
    }
}

/// ELF magic (elf(5)).
pub const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
/// Bytes of a file the recogniser looks at; nothing beyond is read.
pub const HEAD_LEN: usize = 4;

/// Whether a file with `st_mode` `mode` starting with `head` is an
/// executable: a regular file with an exec bit (only such a file can be
/// `execve`d), of kind ELF, `#!` or neither by its head. A file without an
/// exec bit never is, whatever its content: it is not even read (an
/// unpacking archive writes thousands of them), and its `chmod +x` is an
/// `IN_ATTRIB` that is judged then.
pub fn recognise(mode: u32, head: &[u8]) -> Option<Recognised> {
    if mode & libc::S_IFMT != libc::S_IFREG || mode & 0o111 == 0 {
        return None;
    }
    if head.starts_with(ELF_MAGIC) {
        Some(Recognised::Elf)
    } else if head.starts_with(b"#!") {
        Some(Recognised::Script)
    } else {
        Some(Recognised::ExecBit)
    }
}

/// Permission bits as the `mode` field: `"0755"`.
pub fn mode_string(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

/// Which inotify events named a file in one batch (a union).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Triggers(u8);

impl Triggers {
    /// `IN_CLOSE_WRITE`: closed after being open for writing.
    pub const WRITTEN: Triggers = Triggers(1);
    /// `IN_MOVED_TO`: renamed into a watched directory.
    pub const MOVED_IN: Triggers = Triggers(2);
    /// Listed in a directory that appeared after start-up (its own events
    /// came before the directory was watched).
    pub const FOUND: Triggers = Triggers(4);
    /// `IN_CREATE`.
    pub const CREATED: Triggers = Triggers(8);
    /// `IN_ATTRIB`: chmod, chown, utimes, link count.
    pub const ATTRIB: Triggers = Triggers(16);

    /// The triggers in an inotify event mask (directories excluded).
    pub fn from_mask(mask: u32) -> Triggers {
        if mask & libc::IN_ISDIR != 0 {
            return Triggers(0);
        }
        let pairs = [
            (libc::IN_CLOSE_WRITE, Triggers::WRITTEN),
            (libc::IN_MOVED_TO, Triggers::MOVED_IN),
            (libc::IN_CREATE, Triggers::CREATED),
            (libc::IN_ATTRIB, Triggers::ATTRIB),
        ];
        pairs
            .iter()
            .filter(|(bit, _)| mask & bit != 0)
            .fold(Triggers(0), |acc, (_, t)| acc | *t)
    }

    /// The most telling trigger, for the `trigger` field: `write`,
    /// `rename`, `new-directory`, `create`, `attrib` (empty for none).
    pub fn as_str(self) -> &'static str {
        let names = [
            (Triggers::WRITTEN, "write"),
            (Triggers::MOVED_IN, "rename"),
            (Triggers::FOUND, "new-directory"),
            (Triggers::CREATED, "create"),
            (Triggers::ATTRIB, "attrib"),
        ];
        names
            .iter()
            .find(|(t, _)| self.contains(*t))
            .map_or("", |(_, n)| n)
    }

    pub fn contains(self, other: Triggers) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for Triggers {
    type Output = Triggers;
    fn bitor(self, rhs: Triggers) -> Triggers {
        Triggers(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Triggers {
    fn bitor_assign(&mut self, rhs: Triggers) {
        self.0 |= rhs.0;
    }
}

/// What `fstat` and the first [`HEAD_LEN`] bytes say about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileFacts {
    pub mode: u32,
    pub size: u64,
    pub nlink: u64,
    /// `st_mtime` seconds and nanoseconds.
    pub mtime: (i64, i64),
    /// `st_ctime` seconds and nanoseconds: unlike mtime, no unpacker can
    /// set it back, so it tells a file changed after start-up.
    pub ctime: (i64, i64),
    pub head: [u8; HEAD_LEN],
    pub head_len: usize,
}

impl FileFacts {
    pub fn head(&self) -> &[u8] {
        &self.head[..self.head_len.min(HEAD_LEN)]
    }
}

/// What is remembered about a reported inode. The same inode seen again
/// in the same state (mtime, size) is the same drop; in another state it
/// was rewritten, or its number was reused by a new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    pub mtime: (i64, i64),
    pub size: u64,
    /// Reported when found in a new directory, possibly while its writer
    /// still had it open: the `IN_CLOSE_WRITE` of that write will follow
    /// and is no new drop.
    pub in_flight: bool,
}

impl Stamp {
    /// The stamp to remember after `t` was judged on `f`.
    pub fn after(t: Triggers, f: &FileFacts) -> Stamp {
        Stamp {
            mtime: f.mtime,
            size: f.size,
            in_flight: t.contains(Triggers::FOUND) && !t.contains(Triggers::WRITTEN),
        }
    }

    fn same_state(&self, f: &FileFacts) -> bool {
        self.mtime == f.mtime && self.size == f.size
    }
}

/// The verdict on one file for one batch of triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// An executable drop: report it, remember [`Stamp::after`].
    Report(Recognised),
    /// Already reported in this state, or the close of a write already
    /// reported when found: say nothing, remember [`Stamp::after`].
    Absorb,
    /// Not an executable: forget the inode, if it was remembered.
    NotExec,
    /// Nothing to say now (a fresh empty file still being written; an
    /// attribute change that adds nothing).
    Wait,
}

/// Decides whether this batch of triggers reports the file. `known` is
/// what was remembered about the inode, if it was reported.
///
/// - written (`IN_CLOSE_WRITE`), moved in, found non-empty in a new
///   directory, or created as a hard link (no close follows a `link(2)`):
///   the full check ([`recognise`]), unless this state was reported;
/// - created or found empty: wait for `IN_CLOSE_WRITE` (a file created by
///   `open(O_CREAT)` always gets one, so the created-with-content case is
///   left to it too);
/// - attributes only: report when an exec bit is there and the inode was
///   not already reported, so `chmod +x` is caught but an unpacker's
///   `utimes` after the write is not a second event.
///
/// A file only *found* (listed in a new directory, or by the full scan after
/// an inotify queue overflow) counts only if its ctime is not before `since`
/// (the watch's start): what was there before start-up is no drop.
///
/// `writing`: the file was created and its `IN_CLOSE_WRITE` has not come
/// yet. An attribute change then (a copier's `fchmod` before or while it
/// writes) waits for that close, so one copy is one drop, judged on the
/// finished file.
pub fn judge(
    t: Triggers,
    f: &FileFacts,
    known: Option<Stamp>,
    since: (i64, i64),
    writing: bool,
) -> Judgement {
    if f.mode & libc::S_IFMT != libc::S_IFREG {
        return Judgement::Wait;
    }
    if t == Triggers::FOUND && f.ctime < since {
        return Judgement::Wait;
    }
    let full = t.contains(Triggers::WRITTEN)
        || t.contains(Triggers::MOVED_IN)
        || (t.contains(Triggers::FOUND) && f.size > 0)
        || (t.contains(Triggers::CREATED) && f.nlink > 1);
    if full {
        let Some(r) = recognise(f.mode, f.head()) else {
            return Judgement::NotExec;
        };
        return match known {
            Some(k) if k.same_state(f) => Judgement::Absorb,
            Some(k) if k.in_flight && t.contains(Triggers::WRITTEN) => Judgement::Absorb,
            _ => Judgement::Report(r),
        };
    }
    if t.contains(Triggers::ATTRIB) {
        if f.mode & 0o111 == 0 {
            return Judgement::NotExec;
        }
        if writing {
            return Judgement::Wait;
        }
        if known.is_none() {
            return match recognise(f.mode, f.head()) {
                Some(r) => Judgement::Report(r),
                None => Judgement::NotExec,
            };
        }
    }
    Judgement::Wait
}

/// The severity of an exec drop: a mount without `noexec` lets it run.
pub fn exec_severity(noexec: bool) -> Severity {
    if noexec {
        Severity::Warn
    } else {
        Severity::Error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const REG: u32 = libc::S_IFREG;

    #[test]
    fn recogniser() {
        let cases: &[(&str, u32, &[u8], Option<Recognised>)] = &[
            ("elf, no exec bit", REG | 0o644, b"\x7fELF", None),
            (
                "elf with exec bit",
                REG | 0o755,
                b"\x7fELF",
                Some(Recognised::Elf),
            ),
            ("script, no exec bit", REG | 0o644, b"#!/b", None),
            ("script", REG | 0o744, b"#!/b", Some(Recognised::Script)),
            (
                "two-byte script",
                REG | 0o700,
                b"#!",
                Some(Recognised::Script),
            ),
            (
                "exec bit only",
                REG | 0o700,
                b"abcd",
                Some(Recognised::ExecBit),
            ),
            (
                "other exec bit",
                REG | 0o601,
                b"",
                Some(Recognised::ExecBit),
            ),
            ("plain data", REG | 0o644, b"abcd", None),
            ("empty file", REG | 0o644, b"", None),
            ("truncated magic", REG | 0o644, b"\x7fEL", None),
            ("lone hash", REG | 0o644, b"#", None),
            ("directory", libc::S_IFDIR | 0o755, b"", None),
            ("symlink", libc::S_IFLNK | 0o777, b"", None),
            ("fifo", libc::S_IFIFO | 0o755, b"", None),
        ];
        for (name, mode, head, want) in cases {
            assert_eq!(recognise(*mode, head), *want, "case {name}");
        }
        assert_eq!(mode_string(REG | 0o4755), "4755");
        assert_eq!(mode_string(REG | 0o7), "0007");
    }

    fn facts(mode: u32, size: u64, nlink: u64, head: &[u8]) -> FileFacts {
        let mut f = FileFacts {
            mode,
            size,
            nlink,
            mtime: (1000, 5),
            ..FileFacts::default()
        };
        f.head[..head.len()].copy_from_slice(head);
        f.head_len = head.len();
        f
    }

    #[test]
    fn triggers_from_masks() {
        let cases: &[(&str, u32, Triggers)] = &[
            ("close write", libc::IN_CLOSE_WRITE, Triggers::WRITTEN),
            ("moved to", libc::IN_MOVED_TO, Triggers::MOVED_IN),
            ("create", libc::IN_CREATE, Triggers::CREATED),
            ("attrib", libc::IN_ATTRIB, Triggers::ATTRIB),
            ("modify is ignored", libc::IN_MODIFY, Triggers(0)),
            ("delete is ignored", libc::IN_DELETE, Triggers(0)),
            (
                "directory is ignored",
                libc::IN_CREATE | libc::IN_ISDIR,
                Triggers(0),
            ),
            (
                "union",
                libc::IN_CREATE | libc::IN_CLOSE_WRITE,
                Triggers(Triggers::CREATED.0 | Triggers::WRITTEN.0),
            ),
        ];
        for (name, mask, want) in cases {
            assert_eq!(Triggers::from_mask(*mask), *want, "case {name}");
        }
    }

    #[test]
    fn judgement_per_trigger() {
        use Judgement::*;
        use Recognised::*;
        let t = |m: u32| Triggers::from_mask(m);
        let elf = facts(REG | 0o755, 1000, 1, b"\x7fELF");
        let script = facts(REG | 0o744, 30, 1, b"#!/b");
        let script_no_x = facts(REG | 0o644, 30, 1, b"#!/b");
        let elf_no_x = facts(REG | 0o644, 1000, 1, b"\x7fELF");
        let plain = facts(REG | 0o644, 30, 1, b"data");
        let plain_x = facts(REG | 0o755, 30, 1, b"data");
        let empty_x = facts(REG | 0o755, 0, 1, b"");
        let link_x = facts(REG | 0o755, 0, 2, b"");
        let dir = facts(libc::S_IFDIR | 0o755, 0, 2, b"");
        let same = Some(Stamp::after(Triggers::WRITTEN, &elf));
        let old_stamp = Stamp {
            mtime: (999, 0),
            size: 1000,
            in_flight: false,
        };
        let older = Some(old_stamp);
        let found_earlier = Some(Stamp {
            in_flight: true,
            ..old_stamp
        });
        let w = t(libc::IN_CLOSE_WRITE);
        let cases: &[(&str, Triggers, FileFacts, Option<Stamp>, Judgement)] = &[
            // (name, triggers, file, what was remembered, verdict)
            ("cp of a binary", w, elf, None, Report(Elf)),
            ("same state seen again", w, elf, same, Absorb),
            ("rewritten (or inode reused)", w, elf, older, Report(Elf)),
            (
                "close of a write reported when found",
                w,
                elf,
                found_earlier,
                Absorb,
            ),
            ("script written", w, script, None, Report(Script)),
            ("script without an exec bit", w, script_no_x, None, NotExec),
            ("ELF without an exec bit", w, elf_no_x, None, NotExec),
            ("plain data written", w, plain, None, NotExec),
            ("plain data over a reported file", w, plain, older, NotExec),
            (
                "moved in",
                t(libc::IN_MOVED_TO),
                plain_x,
                None,
                Report(ExecBit),
            ),
            (
                "found in a new dir",
                Triggers::FOUND,
                elf,
                None,
                Report(Elf),
            ),
            (
                "found empty: wait for close",
                Triggers::FOUND,
                empty_x,
                None,
                Wait,
            ),
            (
                "created empty: wait for close",
                t(libc::IN_CREATE),
                empty_x,
                None,
                Wait,
            ),
            (
                "created with content: wait for close",
                t(libc::IN_CREATE),
                elf,
                None,
                Wait,
            ),
            (
                "created as a hard link",
                t(libc::IN_CREATE),
                link_x,
                None,
                Report(ExecBit),
            ),
            (
                "create and close in one batch",
                t(libc::IN_CREATE | libc::IN_CLOSE_WRITE),
                elf,
                None,
                Report(Elf),
            ),
            (
                "chmod +x",
                t(libc::IN_ATTRIB),
                plain_x,
                None,
                Report(ExecBit),
            ),
            (
                "chmod +x of a binary",
                t(libc::IN_ATTRIB),
                elf,
                None,
                Report(Elf),
            ),
            (
                "utimes after a reported write",
                t(libc::IN_ATTRIB),
                plain_x,
                older,
                Wait,
            ),
            ("chmod -x", t(libc::IN_ATTRIB), plain, older, NotExec),
            (
                "touch of plain data",
                t(libc::IN_ATTRIB),
                plain,
                None,
                NotExec,
            ),
            ("directory", w, dir, None, Wait),
            ("no trigger", Triggers::default(), elf, None, Wait),
        ];
        for (name, trig, f, known, want) in cases {
            assert_eq!(judge(*trig, f, *known, (0, 0), false), *want, "case {name}");
        }
        assert!(Stamp::after(Triggers::FOUND, &elf).in_flight);
        // Found only (new directory, or the scan after an overflow): a file
        // unchanged since before the watch started is no drop.
        let old = FileFacts {
            ctime: (100, 0),
            ..elf
        };
        assert_eq!(
            judge(Triggers::FOUND, &old, None, (200, 0), false),
            Judgement::Wait
        );
        let new = FileFacts {
            ctime: (300, 0),
            ..elf
        };
        assert!(matches!(
            judge(Triggers::FOUND, &new, None, (200, 0), false),
            Judgement::Report(_)
        ));
        assert!(
            matches!(
                judge(Triggers::WRITTEN, &old, None, (200, 0), false),
                Judgement::Report(_)
            ),
            "a write is news whatever the ctime"
        );
        // A copier's chmod before its close: wait for the close, then judge
        // the finished file once (under load the two arrive in two batches).
        let x = FileFacts {
            mode: REG | 0o755,
            ..elf
        };
        assert_eq!(
            judge(Triggers::ATTRIB, &x, None, (0, 0), true),
            Judgement::Wait
        );
        assert!(matches!(
            judge(Triggers::ATTRIB, &x, None, (0, 0), false),
            Judgement::Report(_)
        ));
        assert!(!Stamp::after(Triggers::FOUND | Triggers::WRITTEN, &elf).in_flight);
        assert_eq!(exec_severity(true), Severity::Warn);
        assert_eq!(exec_severity(false), Severity::Error);
    }
}

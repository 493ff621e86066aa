/* startfloor: the kernel work of sealinit's start-up checks, in C, then the
 * workload: the floor of any init that checks what sealinit checks before
 * it starts the workload (bench/scale.sh, start path).
 *
 *   startfloor [-w DIR]... -- COMMAND [ARG]...
 *
 * Before the spawn, the system calls sealinit's checks make and nothing
 * else: the mount table read once (open, read into one 64 KiB buffer, the
 * EOF read, close: /proc/self/mountinfo), statfs of /, the identity
 * (geteuid, getegid, getgroups), and for each declared writable DIR: lstat,
 * realpath(3) (a readlink per component), the write probe (an O_TMPFILE
 * open and a one-byte write; closed after the spawn, as sealinit does) and
 * statfs. No parsing, no judging, no report. Then signals blocked as an
 * init blocks them, the workload spawned as sealinit spawns it (vfork; the
 * child closes its copies of the held probe files, restores the signal mask
 * and execvp's), and waitpid; exits with the workload's code. Time-to-exec
 * of this, paired with tini-static, is the ratio no checking init can go
 * below on the machine.
 *
 * Not posix_spawn(3): glibc's child sets the disposition of every signal
 * (64 pairs of rt_sigaction calls, about 80 us on a VM where a system call
 * costs a microsecond), which an init that installs no handler need not do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>


static char table[64 * 1024];
static int held[64];
static int nheld;

static void probe(const char *dir) {
    struct stat st;
    struct statfs sf;
    char real[PATH_MAX];
    if (lstat(dir, &st) != 0) return;
    if (!realpath(dir, real)) return;
    int fd = open(dir, O_WRONLY | O_TMPFILE | O_CLOEXEC, 0600);
    if (fd >= 0) {
        if (write(fd, "s", 1) != 1) perror("startfloor: write probe");
        if (nheld < 64) held[nheld++] = fd; else close(fd);
    }
    statfs(dir, &sf);
}

int main(int argc, char **argv) {
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);

    int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, table, sizeof table);
        if (n > 0) (void)read(fd, table + n, sizeof table - (size_t)n);
        close(fd);
    }
    struct statfs sf;
    statfs("/", &sf);
    (void)geteuid();
    (void)getegid();
    (void)getgroups(0, NULL);

    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "-w") == 0 && i + 1 < argc) probe(argv[++i]);
    }
    if (i + 1 >= argc) {
        fprintf(stderr, "usage: startfloor [-w DIR]... -- COMMAND [ARG]...\n");
        return 64;
    }
    pid_t pid = vfork();
    if (pid == 0) {
        for (int k = 0; k < nheld; k++) close(held[k]);
        sigprocmask(SIG_SETMASK, &old, NULL);
        execvp(argv[i + 1], argv + i + 1);
        _exit(127);
    }
    if (pid < 0) {
        perror("startfloor: vfork");
        return 71;
    }
    for (int k = 0; k < nheld; k++) close(held[k]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

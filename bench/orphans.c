/* orphans: a workload that leaves N orphans for its init to reap.
 *
 *   orphans N LOG LABEL
 *
 * Forks N children one after the other; each child forks a grandchild and
 * exits at once, and orphans() reaps the child itself, so each grandchild
 * is re-parented to the init (PID 1 of the namespace, or the nearest
 * subreaper). Every grandchild holds the write end of a pipe and exits at
 * once; when the pipe reads EOF every grandchild has exited, and the only
 * thing left is for the init to reap them. orphans then counts the zombies
 * still waiting in /proc (the init's backlog), appends
 * "LABEL zombies_left=Z create_ms=T" to LOG, and exits.
 *
 * Run it as the init's child in a PID namespace made with
 * `unshare --pid --fork --mount-proc`: the namespace ends (and unshare
 * returns) only when every process in it, zombies included, is gone, so
 * the wall time of the whole command is comparable between an init that
 * reaps everything before it exits and one that exits at once and leaves
 * the rest to the kernel.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Processes in state Z, other than ourselves, from /proc/<pid>/stat. */
static int count_zombies(void) {
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int z = 0;
    struct dirent *e;
    char path[300], buf[256];
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = 0;
        char *rp = strrchr(buf, ')');
        if (rp && rp[1] == ' ' && rp[2] == 'Z')
            z++;
    }
    closedir(d);
    return z;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: orphans N LOG LABEL\n");
        return 64;
    }
    int n = atoi(argv[1]);
    int p[2];
    if (pipe(p) != 0) {
        perror("pipe");
        return 1;
    }
    long long t0 = now_ns();
    for (int i = 0; i < n; i++) {
        pid_t c = fork();
        if (c < 0) {
            if (errno == EAGAIN) { /* the init is behind: let it catch up */
                usleep(1000);
                i--;
                continue;
            }
            perror("fork");
            return 1;
        }
        if (c == 0) {
            pid_t g = fork();
            if (g == 0) {
                close(p[0]);
                _exit(0); /* write end closes at exit */
            }
            _exit(g < 0 ? 1 : 0);
        }
        while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    close(p[1]);
    char c;
    while (read(p[0], &c, 1) != 0 && errno == EINTR)
        ;
    long long t1 = now_ns();
    int z = count_zombies();
    FILE *log = fopen(argv[2], "a");
    if (log) {
        fprintf(log, "%s zombies_left=%d create_ms=%.1f\n", argv[3], z,
                (double)(t1 - t0) / 1e6);
        fclose(log);
    }
    return 0;
}

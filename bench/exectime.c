/* exectime: time-to-exec and exit tail of an init, interleaved.
 *
 *   exectime ROUNDS WARMUP OUT CMDFILE
 *
 * CMDFILE: one "NAME|ARGV0 ARG..." per line (split on spaces); the command
 * must end with the `stamp` workload (stamp.c). Each round runs every
 * command once, in a rotated order, stdio on /dev/null, a pipe on fd 3:
 *   to_exec = stamp's first clock read - the clock read just before fork()
 *             (spawn of the init to the workload's first instruction)
 *   tail    = waitpid() return - stamp's last clock read before exit
 *             (workload exit to the init's exit, as its parent sees it)
 *   total   = waitpid() return - fork()
 * Appends "INDEX TO_EXEC_NS TAIL_NS TOTAL_NS" per run to OUT. A run that
 * exits non-zero or writes no stamp aborts with its name.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXC 16
#define MAXA 48

static char *names[MAXC];
static char *argvs[MAXC][MAXA + 1];

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void run(int i, long long out[3]) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        perror("pipe2");
        exit(1);
    }
    long long t0 = now_ns();
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        dup2(p[1], 3); /* dup2 clears O_CLOEXEC on fd 3 */
        execv(argvs[i][0], argvs[i]);
        _exit(127);
    }
    close(p[1]);
    int st;
    waitpid(pid, &st, 0);
    long long t1 = now_ns();
    struct timespec ts[2];
    ssize_t n = read(p[0], ts, sizeof ts);
    close(p[0]);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || n != (ssize_t)sizeof ts) {
        fprintf(stderr, "exectime: %s failed (status %#x, stamp %zd bytes)\n", names[i], st, n);
        exit(1);
    }
    long long first = (long long)ts[0].tv_sec * 1000000000LL + ts[0].tv_nsec;
    long long last = (long long)ts[1].tv_sec * 1000000000LL + ts[1].tv_nsec;
    out[0] = first - t0;
    out[1] = t1 - last;
    out[2] = t1 - t0;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: exectime ROUNDS WARMUP OUT CMDFILE\n");
        return 64;
    }
    int rounds = atoi(argv[1]), warm = atoi(argv[2]);
    FILE *cf = fopen(argv[4], "r");
    if (!cf) {
        perror(argv[4]);
        return 1;
    }
    int n = 0;
    char line[8192];
    while (n < MAXC && fgets(line, sizeof line, cf)) {
        line[strcspn(line, "\n")] = 0;
        char *bar = strchr(line, '|');
        if (!bar)
            continue;
        *bar = 0;
        names[n] = strdup(line);
        int a = 0;
        for (char *t = strtok(bar + 1, " "); t && a < MAXA; t = strtok(NULL, " "))
            argvs[n][a++] = strdup(t);
        argvs[n][a] = NULL;
        n++;
    }
    fclose(cf);
    FILE *out = fopen(argv[3], "a");
    if (!out) {
        perror(argv[3]);
        return 1;
    }
    long long r[3];
    for (int w = 0; w < warm; w++)
        for (int i = 0; i < n; i++)
            run(i, r);
    for (int k = 0; k < rounds; k++)
        for (int j = 0; j < n; j++) {
            int i = (j + k) % n;
            run(i, r);
            fprintf(out, "%d %lld %lld %lld\n", i, r[0], r[1], r[2]);
        }
    fclose(out);
    return 0;
}

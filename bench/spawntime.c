/* spawntime: interleaved wall-time of short commands (a cross-check for
 * hyperfine on a shared machine, where load drifts between hyperfine's
 * back-to-back blocks of runs).
 *
 *   spawntime ROUNDS WARMUP OUT CMDFILE
 *
 * CMDFILE has one command per line, "NAME|ARGV0 ARG..." (split on spaces).
 * Each round runs every command once, in a rotated order, with stdin,
 * stdout and stderr on /dev/null, timing fork → waitpid (CLOCK_MONOTONIC).
 * Appends "INDEX NS" per run to OUT (INDEX = line number from 0). A run
 * that exits non-zero aborts with its name.
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
#define MAXA 32

static char *names[MAXC];
static char *argvs[MAXC][MAXA + 1];

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long run(int i) {
    long long t0 = now_ns();
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argvs[i][0], argvs[i]);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    long long t1 = now_ns();
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "spawntime: %s failed (status %#x)\n", names[i], st);
        exit(1);
    }
    return t1 - t0;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: spawntime ROUNDS WARMUP OUT CMDFILE\n");
        return 64;
    }
    int rounds = atoi(argv[1]), warm = atoi(argv[2]);
    FILE *cf = fopen(argv[4], "r");
    if (!cf) {
        perror(argv[4]);
        return 1;
    }
    int n = 0;
    char line[4096];
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
    for (int r = 0; r < warm; r++)
        for (int i = 0; i < n; i++)
            run(i);
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < n; k++) {
            int i = (r + k) % n;
            fprintf(out, "%d %lld\n", i, run(i));
        }
    fclose(out);
    return 0;
}

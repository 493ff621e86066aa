/* cpuof: runs CMD, waits for it, writes "WALL_NS USER_US SYS_US" (its
 * wall time and the CPU of CMD and everything it reaped, RUSAGE_CHILDREN)
 * to OUT, and exits with CMD's code (bench/scale.sh: the workload's own
 * CPU under an init). With CPUOF_SETTLE_MS set, it then sleeps that long
 * before exiting, so that an init still catching up on what CMD did (a
 * watcher listing the last directories) does it within the run and its
 * CPU is counted.
 *   cpuof OUT -- CMD [ARG...]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: cpuof OUT -- CMD [ARG...]\n");
        return 64;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[3], argv + 3);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    FILE *o = fopen(argv[1], "w");
    if (o) {
        fprintf(o, "%lld %ld %ld\n", (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec),
                ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec,
                ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec);
        fclose(o);
    }
    const char *settle = getenv("CPUOF_SETTLE_MS");
    if (settle) {
        long ms = atol(settle);
        struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&d, NULL);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* churn: a small-file workload for bench/scale.sh. For SECONDS, in DIR:
 * create f<i> and write 1 KiB, append 1 KiB to f<i-16>, delete f<i-32>
 * (each open/close separate, as a log-rotating or caching server does).
 * Writes "OPS SECONDS USER_US SYS_US" (its own CPU, getrusage) to OUT.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: churn DIR SECONDS OUT\n");
        return 64;
    }
    const char *dir = argv[1];
    double secs = atof(argv[2]);
    char buf[1024], p[4096];
    memset(buf, 'x', sizeof buf);
    long i = 0;
    double t0 = now(), t;
    do {
        for (int k = 0; k < 64; k++, i++) {
            snprintf(p, sizeof p, "%s/f%ld", dir, i);
            int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0 || write(fd, buf, sizeof buf) != sizeof buf) {
                perror(p);
                return 1;
            }
            close(fd);
            if (i >= 16) {
                snprintf(p, sizeof p, "%s/f%ld", dir, i - 16);
                fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
                if (fd >= 0) {
                    if (write(fd, buf, sizeof buf) < 0)
                        perror(p);
                    close(fd);
                }
            }
            if (i >= 32) {
                snprintf(p, sizeof p, "%s/f%ld", dir, i - 32);
                unlink(p);
            }
        }
        t = now();
    } while (t - t0 < secs);
    for (long j = i - 32 < 0 ? 0 : i - 32; j < i; j++) {
        snprintf(p, sizeof p, "%s/f%ld", dir, j);
        unlink(p);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    FILE *o = fopen(argv[3], "w");
    if (!o) {
        perror(argv[3]);
        return 1;
    }
    fprintf(o, "%ld %.6f %ld %ld\n", i, t - t0, ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec,
            ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec);
    fclose(o);
    return 0;
}

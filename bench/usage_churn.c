/* usage_churn: create a file, append 1 KiB, close, delete, for SECONDS; prints
 * the number of files and its own CPU time (us). The small-file churn of issue 11 (usage_scale.sh).
 *   churn DIR SECONDS
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    char buf[1024] = {0}, path[4096];
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double secs = atof(argv[2]);
    long n = 0;
    for (;;) {
        if ((n & 63) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 >= secs) break;
        }
        snprintf(path, sizeof path, "%s/c%ld", argv[1], n & 1023);
        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (fd < 0) return 1;
        if (write(fd, buf, sizeof buf) != sizeof buf) return 1;
        close(fd);
        unlink(path);
        n++;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long us = ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1000000L +
              ru.ru_stime.tv_usec;
    printf("%ld %ld\n", n, us);
    return 0;
}

/* inotify_exit: what an inotify instance costs a process's exit (the exit
 * tail of issue 11). For each mode, 60 interleaved samples: a child watches
 * N directories (IN_CREATE|IN_DELETE), signals ready, waits for "go", does
 * the mode's step and _exit(0); the parent times "go" -> waitpid() return.
 * A 20 ms pause before each sample lets the kernel's SRCU go idle, as
 * between two container exits.
 *   inotify_exit N DIR       (DIR: a scratch directory; N subdirectories are made)
 * Modes: no watch; exit with the watches; close() in a detached thread,
 * then exit; inotify_rm_watch of every watch, then exit.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SAMPLES 60
#define MODES 4
static const char *names[MODES] = {"no watch", "exit with the watches",
                                   "close() in a detached thread, exit",
                                   "inotify_rm_watch each, exit"};
static int ifd;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void *closer(void *a) {
    (void)a;
    close(ifd);
    return 0;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: inotify_exit N DIR\n");
        return 64;
    }
    int n = atoi(argv[1]);
    char p[4096];
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%d", argv[2], i);
        mkdir(p, 0755);
    }
    static double v[MODES][SAMPLES];
    for (int r = 0; r < SAMPLES; r++)
        for (int m = 0; m < MODES; m++) {
            int up[2], go[2];
            if (pipe(up) || pipe(go))
                return 1;
            usleep(20000);
            pid_t pid = fork();
            if (pid == 0) {
                ifd = inotify_init1(IN_CLOEXEC);
                int *w = calloc(n ? n : 1, sizeof *w);
                for (int i = 0; m > 0 && i < n; i++) {
                    snprintf(p, sizeof p, "%s/%d", argv[2], i);
                    w[i] = inotify_add_watch(ifd, p, IN_CREATE | IN_DELETE);
                }
                char c = 'x';
                if (write(up[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
                    _exit(1);
                if (m == 2) {
                    pthread_t t;
                    pthread_create(&t, 0, closer, 0);
                }
                if (m == 3)
                    for (int i = 0; i < n; i++)
                        inotify_rm_watch(ifd, w[i]);
                _exit(0);
            }
            char c;
            if (read(up[0], &c, 1) != 1)
                return 1;
            double t0 = now_ms();
            if (write(go[1], "g", 1) != 1)
                return 1;
            waitpid(pid, 0, 0);
            v[m][r] = now_ms() - t0;
            close(up[0]), close(up[1]), close(go[0]), close(go[1]);
        }
    printf("%d watched directories, %d samples per mode (ms):\n", n, SAMPLES);
    for (int m = 0; m < MODES; m++) {
        qsort(v[m], SAMPLES, sizeof(double), cmp);
        printf("  %-36s p10 %7.3f  median %7.3f  p90 %7.3f\n", names[m], v[m][SAMPLES / 10],
               v[m][SAMPLES / 2], v[m][SAMPLES * 9 / 10]);
    }
    return 0;
}

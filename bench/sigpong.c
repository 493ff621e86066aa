/* sigpong: signal forwarding latency through an init.
 *
 *   sigpong child FIFO
 *       The workload. Installs handlers for SIGTERM and SIGUSR1 that write
 *       one byte to FIFO, writes 'R' when ready, exits 0 on SIGHUP.
 *
 *   sigpong drive FIFO OUT ROUNDS N -- INIT [ARGS...]
 *       The driver. Starts INIT ARGS... (which must run `sigpong child
 *       FIFO`), waits for 'R', then ROUNDS times sends N SIGTERM and N
 *       SIGUSR1 to the INIT's pid, timing each from just before kill(2)
 *       until the child's byte arrives (CLOCK_MONOTONIC). Writes one line
 *       per sample to OUT: "TERM <ns>" or "USR1 <ns>". Ends with SIGHUP.
 *
 * The byte is written inside the child's handler, so a sample is the time
 * for the init to receive, forward, and the kernel to deliver and run the
 * handler, plus one pipe hop back to the driver (the same for every init).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int out_fd = -1;

static void on_sig(int sig) {
    char c = (sig == SIGTERM) ? 'T' : 'U';
    int saved = errno;
    (void)!write(out_fd, &c, 1);
    errno = saved;
}

static void on_hup(int sig) {
    (void)sig;
    _exit(0);
}

static int child(const char *fifo) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    /* Unblock what we handle, whatever the init gave us. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    out_fd = open(fifo, O_WRONLY);
    if (out_fd < 0) {
        perror("sigpong child: open fifo");
        return 1;
    }
    char r = 'R';
    (void)!write(out_fd, &r, 1);
    for (;;)
        pause();
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int read1(int fd, char *c) {
    for (;;) {
        ssize_t n = read(fd, c, 1);
        if (n == 1)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        return -1;
    }
}

static int drive(const char *fifo, const char *outpath, int rounds, int n, char **argv) {
    unlink(fifo);
    if (mkfifo(fifo, 0600) != 0) {
        perror("mkfifo");
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 2); /* the inits' own logs are not under test */
        execvp(argv[0], argv);
        perror("exec init");
        _exit(127);
    }
    int fd = open(fifo, O_RDONLY);
    if (fd < 0) {
        perror("open fifo");
        return 1;
    }
    char c;
    if (read1(fd, &c) != 0 || c != 'R') {
        fprintf(stderr, "sigpong: child not ready\n");
        return 1;
    }
    FILE *out = fopen(outpath, "w");
    if (!out) {
        perror("fopen out");
        return 1;
    }
    int sigs[2] = {SIGTERM, SIGUSR1};
    const char *names[2] = {"TERM", "USR1"};
    for (int r = 0; r < rounds; r++) {
        for (int s = 0; s < 2; s++) {
            for (int i = 0; i < n; i++) {
                long long t0 = now_ns();
                if (kill(pid, sigs[s]) != 0) {
                    perror("kill");
                    return 1;
                }
                if (read1(fd, &c) != 0) {
                    fprintf(stderr, "sigpong: child went away\n");
                    return 1;
                }
                long long t1 = now_ns();
                fprintf(out, "%s %lld\n", names[s], t1 - t0);
            }
        }
    }
    fclose(out);
    kill(pid, SIGHUP);
    int status;
    waitpid(pid, &status, 0);
    close(fd);
    unlink(fifo);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "child") == 0)
        return child(argv[2]);
    if (argc >= 8 && strcmp(argv[1], "drive") == 0 && strcmp(argv[6], "--") == 0)
        return drive(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), argv + 7);
    fprintf(stderr,
            "usage: sigpong child FIFO\n"
            "       sigpong drive FIFO OUT ROUNDS N -- INIT [ARGS...]\n");
    return 64;
}

/* statfloor: the kernel work an exact, per-file usage watcher cannot avoid
 * over a tree that was just written: for every directory, inotify_add_watch
 * (sealinit's full mask), open, getdents64, and one statx per entry (the
 * fields sealinit asks for), nothing else. Prints
 * "ENTRIES DIRS CPU_US" (its own thread CPU time) on stdout.
 *   statfloor DIR
 * bench/scale.sh runs it on the tree a `tar x` just unpacked, to set
 * sealinit's CPU beside the floor of any design that stats each file.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct d64 {
    unsigned long long ino;
    long long off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

static _Alignas(8) char buf[32768];
static int in;
static long entries, dirs;

static void walk(const char *path) {
    inotify_add_watch(in, path,
                      IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE |
                          IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    dirs++;
    size_t cap = 16, n = 0;
    char **sub = malloc(cap * sizeof *sub);
    for (;;) {
        long r = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (r <= 0)
            break;
        for (long o = 0; o < r;) {
            struct d64 *d = (struct d64 *)(buf + o);
            o += d->reclen;
            if (!strcmp(d->name, ".") || !strcmp(d->name, ".."))
                continue;
            struct statx sx;
            if (statx(fd, d->name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
                      STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_INO | STATX_SIZE |
                          STATX_BLOCKS | STATX_MTIME | STATX_CTIME,
                      &sx) != 0)
                continue;
            entries++;
            if (S_ISDIR(sx.stx_mode)) {
                if (n == cap)
                    sub = realloc(sub, (cap *= 2) * sizeof *sub);
                if (asprintf(&sub[n], "%s/%s", path, d->name) > 0)
                    n++;
            }
        }
    }
    close(fd);
    for (size_t i = 0; i < n; i++) {
        walk(sub[i]);
        free(sub[i]);
    }
    free(sub);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: statfloor DIR\n");
        return 64;
    }
    in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    walk(argv[1]);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    printf("%ld %ld %lld\n", entries, dirs,
           ((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec)) / 1000);
    return 0;
}

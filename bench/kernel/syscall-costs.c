/*
 * What fork, mprotect and mremap cost the running kernel for 1 GiB of populated private anonymous
 * memory, at order 0, in 64 KiB mTHP and in 2 MiB THP: the kernel side of ProcessSyscallBenchmarks
 * (bench/README: "fork, mprotect and mremap against the kernel"). Best of five, as the issue's
 * figures were taken. Needs root for the 64 KiB case (it writes hugepages-*kB/enabled, and puts
 * every knob back on exit and on SIGINT/SIGTERM). It holds /tmp/folios-kernel.lock, as folios replay
 * --kernel does, so the two never change the knobs under each other.
 *
 *   gcc -O2 -o /tmp/syscall-costs bench/kernel/syscall-costs.c && sudo /tmp/syscall-costs
 *
 * fork is timed in the parent from the call to its return (dup_mmap); the child _exits at once and
 * is reaped outside the timing. mprotect is one change of the whole GiB, read-write to read-only
 * (then back, untimed). mremap moves the GiB to the next 1 GiB-aligned GiB (MREMAP_MAYMOVE |
 * MREMAP_FIXED) and back, and to 2 MiB past it (2 MiB aligned only) and back, each move timed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define GIB (1UL << 30)
#define RUNS 5
#define THP "/sys/kernel/mm/transparent_hugepage/"

static const char *const knobs[] = { THP "enabled", THP "hugepages-64kB/enabled", THP "hugepages-2048kB/enabled" };
static char saved[3][64];
static int saved_ok;

static int read_knob(const char *path, char *out, size_t size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, out, size - 1);
    close(fd);
    if (n <= 0)
        return -1;
    out[n] = 0;
    /* "always [madvise] never": keep the bracketed word */
    char *open_bracket = strchr(out, '['), *close_bracket = open_bracket ? strchr(open_bracket, ']') : NULL;
    if (!open_bracket || !close_bracket)
        return -1;
    *close_bracket = 0;
    memmove(out, open_bracket + 1, (size_t)(close_bracket - open_bracket));
    return 0;
}

static int write_knob(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, value, strlen(value));
    close(fd);
    return n == (ssize_t)strlen(value) ? 0 : -1;
}

static void restore_knobs(void)
{
    if (!saved_ok)
        return;
    for (int i = 0; i < 3; i++)
        write_knob(knobs[i], saved[i]);
}

static void on_signal(int signo)
{
    restore_knobs();
    signal(signo, SIG_DFL);
    raise(signo);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long anon_huge_kb(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static long nr_anon_64k(void)
{
    FILE *f = fopen(THP "hugepages-64kB/stats/nr_anon", "r");
    long n = -1;
    if (f) {
        if (fscanf(f, "%ld", &n) != 1)
            n = -1;
        fclose(f);
    }
    return n;
}

static double best(const double *v)
{
    double b = v[0];
    for (int i = 1; i < RUNS; i++)
        if (v[i] < b)
            b = v[i];
    return b;
}

static int measure(const char *name, int madv, const char *size64, const char *size2m)
{
    if (write_knob(knobs[1], size64) || write_knob(knobs[2], size2m)) {
        fprintf(stderr, "%s: cannot write the THP knobs (root needed): %s\n", name, strerror(errno));
        return -1;
    }
    char *const a = (char *)(4 * GIB), *const b = (char *)(8 * GIB);
    char *p = mmap(a, GIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != a) {
        perror("mmap");
        return -1;
    }
    long before64 = nr_anon_64k();
    if (madvise(p, GIB, madv) || madvise(p, GIB, MADV_POPULATE_WRITE)) {
        perror("madvise");
        return -1;
    }
    long huge = anon_huge_kb(), got64 = nr_anon_64k() - before64;
    double forks[RUNS], prots[RUNS], moves[2 * RUNS], pmdMoves[2 * RUNS];
    for (int i = 0; i < RUNS; i++) {
        double t0 = now_ms();
        if (mprotect(p, GIB, PROT_READ)) {
            perror("mprotect");
            return -1;
        }
        prots[i] = now_ms() - t0;
        mprotect(p, GIB, PROT_READ | PROT_WRITE);
    }
    for (int i = 0; i < RUNS; i++) {
        double t0 = now_ms();
        if (mremap(p, GIB, GIB, MREMAP_MAYMOVE | MREMAP_FIXED, b) != b) {
            perror("mremap");
            return -1;
        }
        double t1 = now_ms();
        if (mremap(b, GIB, GIB, MREMAP_MAYMOVE | MREMAP_FIXED, p) != p) {
            perror("mremap back");
            return -1;
        }
        moves[2 * i] = t1 - t0;
        moves[2 * i + 1] = now_ms() - t1;
    }
    char *const c = b + (2UL << 20);   /* 2 MiB aligned only: each PMD entry moves alone */
    for (int i = 0; i < RUNS; i++) {
        double t0 = now_ms();
        if (mremap(p, GIB, GIB, MREMAP_MAYMOVE | MREMAP_FIXED, c) != c) {
            perror("mremap 2M");
            return -1;
        }
        double t1 = now_ms();
        if (mremap(c, GIB, GIB, MREMAP_MAYMOVE | MREMAP_FIXED, p) != p) {
            perror("mremap 2M back");
            return -1;
        }
        pmdMoves[2 * i] = t1 - t0;
        pmdMoves[2 * i + 1] = now_ms() - t1;
    }
    for (int i = 0; i < RUNS; i++) {
        double t0 = now_ms();
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        forks[i] = now_ms() - t0;
        if (pid < 0) {
            perror("fork");
            return -1;
        }
        waitpid(pid, NULL, 0);
    }
    double move = best(moves) < best(moves + RUNS) ? best(moves) : best(moves + RUNS);
    double pmdMove = best(pmdMoves) < best(pmdMoves + RUNS) ? best(pmdMoves) : best(pmdMoves + RUNS);
    printf("%-7s fork %8.3f ms   mprotect %8.3f ms   mremap %7.3f ms (2 MiB aligned %7.3f ms)   (AnonHugePages %ld kB, 64 KiB folios %ld)\n",
           name, best(forks), best(prots), move, pmdMove, huge, got64);
    munmap(p, GIB);
    return 0;
}

int main(void)
{
    int lock = open("/tmp/folios-kernel.lock", O_RDWR | O_CREAT, 0644);
    if (lock < 0 || flock(lock, LOCK_EX)) {
        perror("/tmp/folios-kernel.lock");
        return 2;
    }
    for (int i = 0; i < 3; i++)
        if (read_knob(knobs[i], saved[i], sizeof saved[i])) {
            fprintf(stderr, "cannot read %s: THP sysfs needed\n", knobs[i]);
            return 2;
        }
    saved_ok = 1;
    atexit(restore_knobs);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    char host[128] = "";
    FILE *cpu = popen("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2", "r");
    if (cpu && fgets(host, sizeof host, cpu))
        host[strcspn(host, "\n")] = 0;
    if (cpu)
        pclose(cpu);
    printf("1 GiB populated, best of %d:%s\n", RUNS, host);
    int rc = 0;
    rc |= measure("order 0", MADV_NOHUGEPAGE, "never", "never");
    rc |= measure("64 KiB", MADV_NORMAL, "always", "never");
    rc |= measure("2 MiB", MADV_HUGEPAGE, "never", "always");
    return rc ? 1 : 0;
}

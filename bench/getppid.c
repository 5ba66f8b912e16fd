// Tight getppid() loop: the time per system call.
//
// getppid is about the cheapest system call there is (no arguments worth
// capturing, no locks), so its time is the syscall entry/exit path plus
// whatever tracing hangs off it. syscall() is used so no libc wrapper can
// cache or short-circuit it.
//
// The N calls run in BATCHES batches, each timed with clock_gettime. The
// machine this runs on is shared: another process taking the CPU, or an
// interrupt storm, only ever adds time to a batch. So the fastest batch is
// the best estimate of the undisturbed cost, and the mean over the whole
// loop is printed next to it for reference.
//
// usage: getppid N [BATCHES]   -> prints "<mean ns/call> <fastest batch ns/call>\n"
//        getppid --serve        -> for each line "N BATCHES [openat]" on stdin,
//                                  the same figures for N calls (the bench keeps
//                                  one such process per cgroup and switches
//                                  tracing between requests, so variants
//                                  interleave within a second); with `openat`,
//                                  the calls are openat() of a 40-byte path that
//                                  does not exist (ENOENT at its first
//                                  component): a call whose path is captured
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static const char MISSING[] = "/traceloop-bench-missing/dir/file-0.txt";
static int use_openat;

static inline void one_call(void) {
    if (use_openat)
        syscall(SYS_openat, AT_FDCWD, MISSING, O_RDONLY);
    else
        syscall(SYS_getppid);
}

// Times n calls in `batches` batches; returns the mean, sets *best to the
// fastest batch's ns/call.
static double timed(long n, long batches, double *best) {
    long per = n / batches;
    *best = 1e30;
    double t0 = now_ns();
    for (long b = 0; b < batches; b++) {
        double b0 = now_ns();
        for (long i = 0; i < per; i++)
            one_call();
        double ns = (now_ns() - b0) / per;
        if (ns < *best)
            *best = ns;
    }
    return (now_ns() - t0) / (per * batches);
}

static int serve(void) {
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        long n = 0, batches = 1;
        char op[16] = "";
        if (sscanf(line, "%ld %ld %15s", &n, &batches, op) < 1 || n <= 0 || batches <= 0 ||
            batches > n)
            return 2;
        use_openat = strcmp(op, "openat") == 0;
        double best;
        double mean = timed(n, batches, &best);
        printf("%.2f %.2f\n", mean, best);
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--serve") == 0)
        return serve();
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    long batches = argc > 2 ? atol(argv[2]) : 20;
    if (n <= 0 || batches <= 0 || batches > n) {
        fprintf(stderr, "usage: getppid N [BATCHES] (0 < BATCHES <= N)\n");
        return 2;
    }
    // Warm up caches, the branch predictor and (for tracers) per-task state,
    // so the timed loop sees the steady state only.
    for (long i = 0; i < n / 100 + 1000; i++)
        syscall(SYS_getppid);
    double best;
    double mean = timed(n, batches, &best);
    printf("%.2f %.2f\n", mean, best);
    return 0;
}

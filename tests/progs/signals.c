// Signals as strace shows them (tests/test_signals_bpf.py), by mode:
//   thread-segv  a second thread opens a marker and dereferences NULL
//   wait-term    prints "ready PID", then waits for another process's kill -TERM
//   sigchld      forks a child that exits 0 once the parent waits; a handler takes
//                the SIGCHLD
//   kill-segv    raises SIGSEGV with kill(): a SIGSEGV that is not a fault
//   core-segv    dereferences NULL with RLIMIT_CORE raised: dumps core (in the cwd,
//                as core_pattern `core` says)
//   nocore-segv  the same with RLIMIT_CORE 0: no core
//   core-abort   abort() with RLIMIT_CORE raised
//   ignored      signals the kernel drops when sent (strace shows them): a child's
//                SIGCHLD with the default action, one with SIG_IGN, a SIGURG sent
//                to itself, and a SIGUSR1 with SIG_IGN
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void *crash(void *arg) {
    (void)arg;
    open("/traceloop/thread-about-to-crash", O_RDONLY);
    volatile int *p = 0;
    return (void *)(long)*p;
}

static void on_child(int sig) {
    (void)sig;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "thread-segv")) {
        pthread_t t;
        pthread_create(&t, NULL, crash, NULL);
        pthread_join(t, NULL);
    } else if (!strcmp(mode, "wait-term")) {
        open("/traceloop/waiting-for-term", O_RDONLY);
        printf("ready %d\n", (int)getpid());
        fflush(stdout);
        for (;;)
            pause();
    } else if (!strcmp(mode, "sigchld")) {
        struct sigaction sa = {.sa_handler = on_child};
        sigaction(SIGCHLD, &sa, NULL);
        pid_t pid = fork();
        if (pid == 0) {
            // Exit once the parent waits, so that its SIGCHLD comes during
            // the wait in every run (a child that ended first signalled
            // before wait4, and the test's order check failed now and then).
            char path[64], b[32];
            snprintf(path, sizeof path, "/proc/%d/syscall", (int)getppid());
            for (int k = 0; k < 10000; k++) {
                int fd = open(path, O_RDONLY);
                ssize_t n = fd < 0 ? -1 : read(fd, b, sizeof b - 1);
                if (fd >= 0)
                    close(fd);
                if (n > 0) {
                    b[n] = 0;
                    if (atol(b) == SYS_wait4)
                        break;
                }
                usleep(1000);
            }
            _exit(0);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
            ;
        open("/traceloop/child-reaped", O_RDONLY);
        return 5;
    } else if (!strcmp(mode, "kill-segv")) {
        kill(getpid(), SIGSEGV);
    } else if (!strcmp(mode, "ignored")) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(3);
        int status;
        waitpid(pid, &status, 0);
        signal(SIGCHLD, SIG_IGN);  // children are reaped by the kernel: wait fails
        if (fork() == 0)
            _exit(4);
        wait(&status);
        kill(getpid(), SIGURG);
        signal(SIGUSR1, SIG_IGN);
        kill(getpid(), SIGUSR1);
        open("/traceloop/after-ignored", O_RDONLY);
        return 0;
    } else if (!strncmp(mode, "core-", 5) || !strcmp(mode, "nocore-segv")) {
        struct rlimit lim = {0, 0};
        if (mode[0] == 'c')
            lim.rlim_cur = lim.rlim_max = RLIM_INFINITY;
        setrlimit(RLIMIT_CORE, &lim);
        if (!strcmp(mode, "core-abort"))
            abort();
        volatile int *p = 0;
        return *p;
    }
    return 1;
}

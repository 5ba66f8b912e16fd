// Makes a fixed set of system calls whose arguments traceloop decodes, so the
// same run can be rendered by strace and by `traceloop show -o strace` and the
// lines compared (tests/test_decode_strace.py). Exits 3.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <linux/netlink.h>

static int closed_port(void) {
    // A loopback port that nothing listens on: bind one, read it, close it.
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    bind(s, (struct sockaddr *)&sa, sizeof(sa));
    getsockname(s, (struct sockaddr *)&sa, &len);
    close(s);
    return ntohs(sa.sin_port);
}

int main(int argc, char **argv) {
    umask(022); // the created file's mode is checked
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char path[512];
    strcpy(path, dir);
    strcat(path, "/created.txt");

    // open flags, modes, AT_FDCWD, errno
    syscall(SYS_openat, AT_FDCWD, "/nonexistent/traceloop", O_RDONLY | O_CLOEXEC);
    int fd = syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0640);
    syscall(SYS_openat, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK);
    syscall(SYS_openat, AT_FDCWD, "/nonexistent", O_RDWR | O_EXCL | 0x40000000);
    // strings: escapes and the 32-byte limit
    static const char msg[] = "hello\n\t\"quoted\" \\ \001\0377\0028\377 end";
    write(fd, msg, sizeof msg - 1);
    write(fd, "0123456789abcdefghijklmnopqrstuvwxyz", 36);
    // access modes
    syscall(SYS_access, "/etc/hostname", R_OK | W_OK);
    syscall(SYS_access, "/nonexistent", F_OK);
    syscall(SYS_faccessat, AT_FDCWD, "/nonexistent", X_OK);
    // mmap prot/flags
    void *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(p, 4096, PROT_READ);
    mprotect(p, 4096, PROT_NONE);
    munmap(p, 8192);
    mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 99, 0); // EBADF
    // sockets: domains, types, sockaddrs, ECONNREFUSED
    int port = closed_port();
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    connect(s, (struct sockaddr *)&sin, sizeof(sin));
    int s6 = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP);
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
    connect(s6, (struct sockaddr *)&sin6, sizeof(sin6));
    int su = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, "/nonexistent/traceloop.sock");
    connect(su, (struct sockaddr *)&sun, sizeof(sun));
    int sn = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    struct sockaddr_nl snl = {.nl_family = AF_NETLINK, .nl_groups = 5};
    bind(sn, (struct sockaddr *)&snl, sizeof(snl));
    int sd = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
    sendto(sd, "ping\n", 5, MSG_DONTWAIT, (struct sockaddr *)&sin, sizeof(sin));
    // empty strings and buffers are still shown as such, not as pointers
    struct stat st;
    syscall(SYS_newfstatat, fd, "", &st, AT_EMPTY_PATH);
    write(fd, "", 0);
    int pp[2];
    pipe(pp);
    close(pp[1]);
    char eof[8];
    read(pp[0], eof, sizeof eof);
    int sp[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
    sendto(sp[0], "hi", 2, 0, NULL, 0);
    // fcntl and ioctl requests
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, O_NONBLOCK | O_APPEND);
    fcntl(fd, F_DUPFD_CLOEXEC, 10);
    struct termios t;
    ioctl(fd, TCGETS, &t);
    ioctl(fd, TIOCGWINSZ, &t);
    // signals
    kill(-99999, SIGUSR1);
    syscall(SYS_tgkill, -1, -1, SIGTERM);
    // lseek whence, dup3 flags
    lseek(fd, 0, SEEK_END);
    dup3(fd, 20, O_CLOEXEC);
    // file modes and device numbers
    syscall(SYS_mknodat, AT_FDCWD, "/nonexistent/chr", S_IFCHR | S_ISUID | 0600, makedev(1, 0));
    syscall(SYS_mknodat, AT_FDCWD, "/nonexistent/reg", S_ISGID | 0755, 0);
    syscall(SYS_mknodat, AT_FDCWD, "/nonexistent/odd", 0170644, 0);
    // fixed-size objects: stats, descriptor pairs, sigactions, sigsets, timespecs, rlimits
    syscall(SYS_newfstatat, AT_FDCWD, dir, &st, 0);
    syscall(SYS_newfstatat, AT_FDCWD, "/dev/null", &st, 0);
    syscall(SYS_newfstatat, AT_FDCWD, "/nonexistent", &st, 0);
    struct statx stx;
    syscall(SYS_statx, AT_FDCWD, dir, 0, STATX_BASIC_STATS, &stx);
    syscall(SYS_statx, AT_FDCWD, "/", AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MODE, &stx);
    syscall(SYS_statx, AT_FDCWD, "/nonexistent", 0, STATX_ALL, &stx);
    pipe2(pp, O_CLOEXEC);
    struct sigaction sa = {.sa_handler = SIG_IGN, .sa_flags = SA_RESTART}, old;
    sigaddset(&sa.sa_mask, SIGINT);
    sigaction(SIGPIPE, &sa, &old);
    sigaction(SIGPIPE, NULL, &old);
    sigset_t set, was;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &was);
    sigfillset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);
    sigprocmask(SIG_SETMASK, &was, NULL);
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000};
    syscall(SYS_nanosleep, &ts, NULL);
    syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, NULL);
    struct rlimit rl;
    syscall(SYS_prlimit64, 0, RLIMIT_STACK, NULL, &rl);
    struct rlimit big = {.rlim_cur = RLIM_INFINITY, .rlim_max = RLIM_INFINITY};
    syscall(SYS_prlimit64, 0, RLIMIT_STACK, &big, NULL); // EPERM unless root: both fine
    // clone flags (fork) and wait4 with and without a status
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    int status;
    child = fork();
    if (child == 0)
        _exit(7);
    waitpid(child, &status, 0);
    child = fork();
    if (child == 0) {
        kill(getpid(), SIGKILL);
        _exit(1);
    }
    waitpid(child, &status, 0);
    waitpid(-1, &status, WNOHANG);
    syscall(SYS_exit_group, 3);
    return 3;
}

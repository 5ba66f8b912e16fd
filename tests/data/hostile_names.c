/* A program whose comm, paths, buffers and argv hold terminal controls and
 * invalid UTF-8: ESC sequences, CR, NUL (in a buffer: a name or argv string
 * ends at one), DEL, a C1 CSI (\xc2\x9b) and bytes that are not UTF-8. Run
 * under `traceloop record`; tests/test_show_escaping.py shows its dump. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define EVIL "\x1b[2J\x1b]0;pwned\x07\r\x7f\xc2\x9b\xff\xfe"

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return 0;
    prctl(PR_SET_NAME, "e\x1b[2J\r\xff", 0, 0, 0);
    int fd = open("/nonexistent/" EVIL, O_RDONLY);
    fd = open("/dev/null", O_WRONLY);
    static const char buf[] = "buf" EVIL "\0after-nul";
    write(fd, buf, sizeof buf - 1);
    pid_t pid = fork();
    if (pid == 0) {
        /* On the stack: the recorder reads at entry and cannot fault in a
         * page of the binary that was never touched. */
        char exe[] = "/proc/self/exe", a0[] = "h", a1[] = "child", a2[] = EVIL, a3[] = "a\rb";
        char *args[] = {a0, a1, a2, a3, NULL};
        execv(exe, args);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
    return 3;
}

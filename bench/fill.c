// Fills a recorder slab with a realistic mix of calls that carry captures:
// openat (path string), read (output buffer), write (input buffer), close.
// Used by the dump-latency benchmark, so the dump decodes strings and
// buffers in most slots rather than the capture-free getppid.
//
// usage: fill N   -> makes about N system calls, then exits 0
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 4096;
    char buf[256];
    int out = open("/dev/null", O_WRONLY);
    if (out < 0)
        return 1;
    for (long i = 0; i < n; i += 4) {
        int fd = open("/etc/hostname", O_RDONLY);
        if (fd < 0)
            return 1;
        ssize_t r = read(fd, buf, sizeof buf);
        close(fd);
        if (write(out, buf, r > 0 ? (size_t)r : 1) < 0)
            return 1;
    }
    return 0;
}

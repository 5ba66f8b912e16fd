// Paths the program has not touched before the call that reads them, so the
// recorder's read at syscall entry finds their page not yet mapped, and one
// it can never read. Exits 4.
//   1. a string literal alone in its 64 KiB of .rodata: the kernel maps file
//      pages around a fault in aligned 64 KiB windows (fault-around), so no
//      other access maps this one;
//   2. a path in a fresh private mapping of a file (argv[1]) written here;
//   3. a pointer to unmapped memory, (char *)1: EFAULT, never readable.
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((aligned(65536))) static const char conf[65536] = "/etc/traceloop-fresh/app.conf";

int main(int argc, char **argv) {
    syscall(SYS_openat, AT_FDCWD, conf, O_RDONLY);
    if (argc > 1) {
        const char path[] = "/nonexistent/traceloop-fresh-mapping";
        int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, path, sizeof(path)) != (ssize_t)sizeof(path))
            return 1;
        const char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
            return 1;
        syscall(SYS_openat, AT_FDCWD, p, O_RDONLY);
    }
    syscall(SYS_openat, AT_FDCWD, (const char *)1, O_RDONLY);
    return 4;
}

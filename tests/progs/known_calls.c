// Makes a known sequence of system calls, then exits 3. argv[1]: an existing file.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char buf[64];
    int fd = open(argc > 1 ? argv[1] : "/etc/hostname", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        read(fd, buf, sizeof(buf));
        close(fd);
    }
    open("/traceloop/does-not-exist", O_RDONLY);
    const char *msg = "hello from traceloop\n";
    write(1, msg, strlen(msg));
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    connect(s, (struct sockaddr *)&sa, sizeof(sa));
    exit(3);
}

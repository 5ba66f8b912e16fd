// Threads write buffers whose content is fixed by their length to /dev/null,
// forever (until killed): a concurrent reader can check each record is whole.
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

static void *loop(void *arg) {
    int fd = open("/dev/null", O_WRONLY);
    char buf[512];
    unsigned len = (unsigned)(long)arg;
    for (;;) {
        len = (len * 1103515245u + 12345u) % 300 + 1;
        memset(buf, 'A' + len % 26, len);
        write(fd, buf, len);
    }
    return 0;
}

int main(void) {
    pthread_t t[3];
    for (long i = 0; i < 3; i++)
        pthread_create(&t[i], 0, loop, (void *)(i + 1));
    loop((void *)7);
    return 0;
}

// A thread blocks in read() on a pipe nobody writes; the main thread says so
// and then dereferences NULL. The dump has a fatal-signal trigger (SIGSEGV)
// and a call that never returned (<unfinished ...>), from two threads.
#include <pthread.h>
#include <time.h>
#include <unistd.h>

static int fds[2];

static void *reader(void *arg) {
    char buf[16];
    (void)arg;
    read(fds[0], buf, sizeof(buf));
    return 0;
}

int main(void) {
    pthread_t t;
    pipe(fds);
    pthread_create(&t, 0, reader, 0);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, 0);
    write(1, "about to crash\n", 15);
    volatile int *p = 0;
    return *p;
}

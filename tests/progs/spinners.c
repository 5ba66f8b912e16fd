// N threads (argv[1], default 4) calling getppid() in a loop until killed:
// moved into a new cgroup, their first calls there race to adopt a slab.
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *spin(void *arg) {
    (void)arg;
    for (;;)
        syscall(SYS_getppid);
    return 0;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4;
    pthread_t t;
    for (int i = 1; i < n; i++)
        pthread_create(&t, 0, spin, 0);
    spin(0);
    return 0;
}

// Names that change while the recorder caches them: 100 close(1000+i) as
// "renamer", then prctl(PR_SET_NAME, "tl-renamed") and 100 close(2000+i);
// meanwhile a thread names itself "tl-worker" and makes 100 close(3000+i).
#include <pthread.h>
#include <sys/prctl.h>
#include <unistd.h>

static void *worker(void *arg) {
    (void)arg;
    prctl(PR_SET_NAME, "tl-worker");
    for (int i = 0; i < 100; i++)
        close(3000 + i);
    return 0;
}

int main(void) {
    for (int i = 0; i < 100; i++)
        close(1000 + i);
    pthread_t t;
    pthread_create(&t, 0, worker, 0);
    prctl(PR_SET_NAME, "tl-renamed");
    for (int i = 0; i < 100; i++)
        close(2000 + i);
    pthread_join(t, 0);
    return 0;
}

/* Four threads write, sleep and take a lock, then meet at a barrier; three
 * go to sleep for 30 s and the third dereferences NULL 100 ms later (the
 * others are in their sleep by then: the whole group dies with them in it). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int ready;
static pthread_barrier_t met;

static void *worker(void *arg) {
	long n = (long)arg;
	char line[64];
	struct timespec ts = {0, 2000000 * (n + 1)};
	for (int i = 0; i < 3; i++) {
		pthread_mutex_lock(&lock);
		ready++;
		pthread_mutex_unlock(&lock);
		int len = snprintf(line, sizeof line, "worker %ld step %d\n", n, i);
		write(1, line, (size_t)len);
		nanosleep(&ts, NULL);
	}
	pthread_barrier_wait(&met);
	if (n == 2) {
		struct timespec later = {0, 100000000};
		nanosleep(&later, NULL);
		volatile int *p = NULL;
		*p = 1;
	}
	struct timespec forever = {30, 0};
	nanosleep(&forever, NULL);
	return NULL;
}

int main(void) {
	pthread_t t[4];
	pthread_barrier_init(&met, NULL, 4);
	for (long i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	return 0;
}

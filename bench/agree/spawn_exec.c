/* Processes ending in the middle of things: a posix_spawn'ed child (clone with
 * CLONE_VFORK), children blocked in read killed with SIGKILL and with SIGTERM
 * (default action), a child whose exit_group ends a thread blocked in a
 * sleep, a thread that returns, and last a second thread that executes `sh -c 'exit 3'` (the
 * kernel ends the leader; the new image runs with the leader's pid). */
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void *sleeper(void *arg) {
	(void)arg;
	sleep(30);
	return NULL;
}

static void *quitter(void *arg) {
	(void)arg;
	write(1, "", 0);
	return NULL; /* the thread's own exit(0) */
}

static void *execer(void *arg) {
	(void)arg;
	char *argv[] = {"sh", "-c", "exit 3", NULL};
	execve("/bin/sh", argv, environ);
	return NULL;
}

static pid_t blocked_reader(int *wfd) {
	int p[2];
	char c;
	pipe(p);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[1]);
		read(p[0], &c, 1);
		_exit(0);
	}
	close(p[0]);
	*wfd = p[1];
	return pid;
}

int main(void) {
	pid_t pid;
	int status, w1, w2;
	char *argv[] = {"true", NULL};
	posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
	waitpid(pid, &status, 0);

	struct timespec ts = {0, 30000000};
	pid_t a = blocked_reader(&w1);
	nanosleep(&ts, NULL);
	kill(a, SIGKILL);
	waitpid(a, &status, 0);
	pid_t b = blocked_reader(&w2);
	nanosleep(&ts, NULL);
	kill(b, SIGTERM);
	waitpid(b, &status, 0);

	pid_t c = fork();
	if (c == 0) {
		pthread_t t;
		pthread_create(&t, NULL, sleeper, NULL);
		nanosleep(&ts, NULL);
		exit(4);
	}
	waitpid(c, &status, 0);

	pthread_t q, t;
	pthread_create(&q, NULL, quitter, NULL);
	pthread_join(q, NULL);
	pthread_create(&t, NULL, execer, NULL);
	pthread_join(t, NULL);
	return 0;
}

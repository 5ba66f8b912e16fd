/* Handlers and interrupted calls: a read on an empty pipe cut by SIGALRM
 * without SA_RESTART (EINTR), the same with SA_RESTART (restarted), a
 * nanosleep cut by a handler (restart_syscall is not used: EINTR), a pause()
 * and a signal sent to itself; exits 2. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_signal(int sig) { got = sig; }

static void handle(int sig, int flags) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = flags;
	sigaction(sig, &sa, NULL);
}

static void alarm_in(long usec) {
	struct itimerval it = {.it_value = {0, usec}};
	setitimer(ITIMER_REAL, &it, NULL);
}

int main(void) {
	int p[2], q[2];
	char buf[8];
	pipe(p);
	pipe(q);
	handle(SIGALRM, 0);
	alarm_in(20000);
	read(p[0], buf, sizeof buf); /* EINTR */
	if (fork() == 0) {
		usleep(60000);
		write(p[1], "x", 1);
		_exit(0);
	}
	handle(SIGALRM, SA_RESTART);
	alarm_in(20000);
	read(p[0], buf, sizeof buf); /* restarted, then reads the child's byte */
	handle(SIGUSR1, 0);
	kill(getpid(), SIGUSR1);
	struct timespec ts = {0, 200000000};
	alarm_in(20000);
	nanosleep(&ts, &ts); /* EINTR with the rest left */
	alarm_in(20000);
	pause();
	handle(SIGCHLD, SA_RESTART);
	signal(SIGALRM, SIG_IGN);
	alarm_in(1000);
	usleep(30000);
	return got == SIGALRM ? 2 : 3;
}

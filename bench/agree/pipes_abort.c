/* Pipes, poll, epoll, eventfd, timerfd and an anonymous mapping, then abort(). */
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

int main(void) {
	int p[2];
	char buf[64];
	uint64_t v = 3;
	pipe(p);
	write(p[1], "through the pipe", 16);
	struct pollfd pf[2] = {{.fd = p[0], .events = POLLIN}, {.fd = p[1], .events = POLLOUT}};
	poll(pf, 2, 100);
	read(p[0], buf, sizeof buf);
	poll(pf, 1, 0); /* nothing to read: 0 */
	int e = eventfd(0, EFD_NONBLOCK);
	write(e, &v, sizeof v);
	int t = timerfd_create(CLOCK_MONOTONIC, 0);
	struct itimerspec its = {.it_value = {0, 3000000}};
	timerfd_settime(t, 0, &its, NULL);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = e};
	epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev);
	ev.data.fd = t;
	epoll_ctl(ep, EPOLL_CTL_ADD, t, &ev);
	struct epoll_event out[4];
	epoll_wait(ep, out, 4, 100);
	read(e, &v, sizeof v);
	read(e, &v, sizeof v); /* EAGAIN */
	read(t, &v, sizeof v); /* blocks until the timer fires */
	char *m = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	m[0] = 1;
	mprotect(m, 4096, PROT_READ);
	munmap(m, 1 << 16);
	close(p[1]);
	read(p[0], buf, sizeof buf); /* end of file: 0 */
	abort();
}

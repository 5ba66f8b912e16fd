/* TCP over loopback, UDP datagrams and a unix stream socket pair; exits 5. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(void) {
	char buf[128];
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	int one = 1;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	bind(l, (struct sockaddr *)&a, sizeof a);
	listen(l, 4);
	getsockname(l, (struct sockaddr *)&a, &alen);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	connect(c, (struct sockaddr *)&a, sizeof a);
	int s = accept(l, NULL, NULL);
	send(c, "hello tcp", 9, 0);
	recv(s, buf, sizeof buf, 0);
	shutdown(c, SHUT_WR);
	recv(s, buf, sizeof buf, 0);
	close(s);
	close(c);
	close(l);

	int u1 = socket(AF_INET, SOCK_DGRAM, 0);
	int u2 = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t blen = sizeof b;
	bind(u1, (struct sockaddr *)&b, sizeof b);
	getsockname(u1, (struct sockaddr *)&b, &blen);
	for (int i = 0; i < 3; i++)
		sendto(u2, "datagram", 8, 0, (struct sockaddr *)&b, sizeof b);
	for (int i = 0; i < 3; i++)
		recvfrom(u1, buf, sizeof buf, MSG_DONTWAIT, NULL, NULL);
	recvfrom(u1, buf, sizeof buf, MSG_DONTWAIT, NULL, NULL); /* EAGAIN */
	connect(u2, (struct sockaddr *)&(struct sockaddr_in){.sin_family = AF_INET,
		.sin_port = htons(9), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)}, sizeof a);
	send(u2, "x", 1, 0);
	recv(u2, buf, sizeof buf, MSG_DONTWAIT); /* ECONNREFUSED */

	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	write(sv[0], "over unix", 9);
	read(sv[1], buf, sizeof buf);
	struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/nonexistent/agree.sock"};
	int us = socket(AF_UNIX, SOCK_STREAM, 0);
	connect(us, (struct sockaddr *)&un, sizeof un); /* ENOENT */
	return 5;
}

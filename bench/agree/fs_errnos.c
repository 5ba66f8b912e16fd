/* A spread of filesystem errors in a scratch directory (argv[1]); exits 1. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc < 2 || chdir(argv[1]) != 0)
		return 9;
	char longname[NAME_MAX + 20];
	struct stat st;
	char buf[64];
	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	open("/etc/agree/app.conf", O_RDONLY);              /* ENOENT */
	mkdir("d", 0755);
	mkdir("d", 0755);                                    /* EEXIST */
	int f = open("d/f", O_CREAT | O_WRONLY | O_TRUNC, 0644);
	write(f, "data", 4);
	close(f);
	rmdir("d");                                          /* ENOTEMPTY */
	unlink("d");                                         /* EISDIR */
	open("d", O_WRONLY);                                 /* EISDIR */
	open("d/f/x", O_RDONLY);                             /* ENOTDIR */
	stat(longname, &st);                                 /* ENAMETOOLONG */
	symlink("loop", "loop");
	open("loop", O_RDONLY);                              /* ELOOP */
	readlink("d/f", buf, sizeof buf);                    /* EINVAL */
	close(1000);                                         /* EBADF */
	link("d", "d2");                                     /* EPERM */
	rename("d", "d/f/sub");                              /* ENOTDIR */
	open("d/f", O_CREAT | O_EXCL | O_WRONLY, 0644);      /* EEXIST */
	lseek(f, 0, SEEK_SET);                               /* EBADF */
	faccessat(AT_FDCWD, "d/f", X_OK, 0);                 /* EACCES (0644, even root) */
	truncate("d", 0);                                    /* EISDIR */
	unlink("d/f");
	unlink("loop");
	rmdir("d");
	return 1;
}

/* 20,000 cheap calls (getppid, and a failing close every 100th) before a
 * last failing open: only the tail fits the window. Exits 1. */
#include <fcntl.h>
#include <unistd.h>

int main(void) {
	for (int i = 0; i < 20000; i++) {
		if (i % 100 == 0)
			close(-1);
		else
			getppid();
	}
	open("/nonexistent/after-20000", O_RDONLY);
	return 1;
}

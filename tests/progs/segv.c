// Opens a marker path, then dereferences NULL: a real SIGSEGV.
#include <fcntl.h>

int main(void) {
    open("/traceloop/about-to-crash", O_RDONLY);
    volatile int *p = 0;
    return *p;
}

// Allocates and touches memory 1 MiB at a time until the OOM killer stops it.
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    open("/traceloop/allocating", O_RDONLY);
    for (;;) {
        char *p = malloc(1 << 20);
        if (!p)
            return 1;
        memset(p, 1, 1 << 20);
    }
}

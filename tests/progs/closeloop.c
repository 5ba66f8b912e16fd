// close(FIRST + i) for i in 0..N-1 (all fail with EBADF), then exit 0.
// The argument tells each call apart: a dump's window can be checked exactly.
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long first = argc > 1 ? atol(argv[1]) : 100000;
    long n = argc > 2 ? atol(argv[2]) : 1000;
    for (long i = 0; i < n; i++)
        close((int)(first + i));
    return 0;
}

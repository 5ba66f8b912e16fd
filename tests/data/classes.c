/* One call of each strace class that tests/data/calls.c does not make, by raw
 * syscall() so libc does not pick another (newfstatat for stat, vDSO for the
 * clocks): test_show_vs_strace compares `-e trace=%class` with strace's. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    struct stat st;
    struct statfs sf;
    struct timex tx = {0};
    struct timespec ts;
    syscall(SYS_stat, "/", &st);      /* %stat */
    syscall(SYS_lstat, "/", &st);     /* %lstat */
    syscall(SYS_statfs, "/", &sf);    /* %statfs */
    syscall(SYS_fstatfs, 0, &sf);     /* %fstatfs */
    int id = shmget(IPC_PRIVATE, 4096, 0600);  /* %ipc */
    if (id >= 0)
        shmctl(id, IPC_RMID, NULL);
    syscall(SYS_getuid);              /* %creds, %pure */
    syscall(SYS_setuid, getuid());    /* %creds */
    syscall(SYS_clock_getres, CLOCK_MONOTONIC, &ts);  /* %clock */
    syscall(SYS_adjtimex, &tx);       /* %clock (modes 0: read only) */
    return 0;
}

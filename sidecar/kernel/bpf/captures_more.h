// Capture kinds for structures that hold other memory, or whose size is
// known only from an argument or the return value (included by recorder.bpf.c
// after its kinds, struct rec and struct scinfo):
//
//   K_ARRAY    poll's pollfds (nfds * 8, read at exit: events and revents
//              together), epoll_wait's events (ret * 12). len_arg is the
//              element size << 3 | the count: an argument's index, or 7 for
//              the return value. Read at exit whatever the call returned
//              when the count is an argument (a failed poll still names its
//              fds, as strace shows them).
//   K_IOV_IN   an iovec array and the data it names (writev), and
//   K_IOV_OUT  the same up to the return value (readv). len_arg is
//              the argument holding the count. Data: the first IOV_N
//              iov_lens as u64 (unused ones 0), then the iovecs' bytes in
//              order, each taking min(its iov_len, what is left): the reader
//              recomputes each piece from the lengths. cap_full = iovecs
//              read, IOV_N + 1 when the call named more.
//   K_MSG_IN   a struct msghdr (56 bytes; its padding after msg_namelen is 1
//   K_MSG_OUT  when the name could not be read), then its msg_name
//              (min(msg_namelen, MSG_NAME) bytes, rounded up to 8, when read),
//              then its msg_iov as K_IOV_*
//              (sendmsg; recvmsg up to the return value). len_arg 0 leaves
//              the iovecs' bytes out (--no-buffers).
//   K_TIMEOUT  futex's timeout (16 bytes), read at enter for the waiting
//              operations only: len_arg is the op argument.
//   K_DIRENTS  getdents64's (and getdents') entries, counted: 8 bytes, the
//              count (u32) and 1 (u32) when more entries followed than
//              DIRENTS_MAX were walked, or one could not be read.
//   K_FDSETS_IN   select's and pselect6's three fd sets (FDSET_BYTES each at
//   K_FDSETS_OUT  fixed offsets, of which the first (nfds + 63) / 64 * 8 are
//                 read; NULL sets are skipped), then the 16-byte timeout
//                 (a timeval or timespec); at enter, with len_arg 5
//                 (pselect6), the {sigset pointer, size} pair and the 8-byte
//                 sigset it points at. FDSETS_IN is read at enter (the call
//                 overwrites all of these), FDSETS_OUT at exit when the call
//                 returned > 0 (the ready fds and the time left).
//   K_TS_SIGSET   ppoll's timespec (16 bytes, argument `arg`) and the 8-byte
//                 sigset of the argument after it, read at enter; either may
//                 be NULL (its bytes are then left over: the argument says so).
//   K_CMSG     (recorder.bpf.c's capture_exit: a second capture) the control
//              messages of sendmsg's and recvmsg's msghdr, read at exit when
//              the call did not fail: up to CMSG_CAP bytes, cap_full =
//              msg_controllen; none when msg_control is NULL.
//   K_SOCKOPT  getsockopt's value after a successful call: as many bytes as
//              the length the call wrote at the argument len_arg names (up
//              to SOCKOPT_CAP), cap_full = that length. Read like a K_ARRAY
//              of bytes whose count is in the program's memory.
//
// All but K_TIMEOUT are read at exit, and only as a call's first capture: sys_enter is
// near the verifier's limits already, and one copy of the loops below is
// what sys_exit can afford. What a call reads (writev's data, sendmsg's
// message) is still in its memory when it returns.
//
// Pieces go to a per-CPU scratch area first (capscratch, declared in
// recorder.bpf.c with IOV_N, IOV_HDR, MSGHDR and MSG_NAME), at offsets the
// verifier can bound one by one, and then into the reserved bytes with one
// copy.

#define SOCKOPT_CAP 32  // bytes of a getsockopt value kept: strace's -s 32 shows no more
#define FDSET_BYTES 64  // bits kept of each fd set: descriptors 0-511
#define FDSETS_OUT_SIZE (3 * FDSET_BYTES + 16)
#define FDSETS_IN_SIZE (FDSETS_OUT_SIZE + 24)

// K_TS_SIGSET: a timespec at a[ai] and a sigset at a[ai + 1], at enter.
static __always_inline void capture_ts_sigset(u8 *dst, u32 room, struct rec *s, int i,
                                              const u64 *a, u8 ai) {
    if (room < 24 || ai > 4)
        return;
    if (a[ai] && bpf_probe_read_user(dst, 16, (const void *)a[ai]) != 0)
        goto fail;
    if (a[ai + 1] && bpf_probe_read_user(dst + 16, 8, (const void *)a[ai + 1]) != 0)
        goto fail;
    s->cap_len[i] = 24;
    s->cap_full[i] = 24;
    barrier();
    s->captured |= 1 << i;
    return;
fail:
    stat_add(ST_CAPTURE_FAIL);
}

// K_FDSETS_*: `a` the call's arguments (nfds, three sets, the timeout, and
// pselect6's sigmask pair when `sigmask`). A NULL pointer is not read; what
// cannot be read leaves the capture out (counted).
static __always_inline void capture_fdsets(u8 *dst, u32 room, struct rec *s, int i, const u64 *a,
                                           int in, int sigmask) {
#if CAP >= FDSETS_IN_SIZE
    u32 need = in ? FDSETS_IN_SIZE : FDSETS_OUT_SIZE;
    if (room < need)
        return;
    u64 n = ((a[0] & 0xffffffff) + 63) / 64 * 8;
    opaque(n);
    if (n > FDSET_BYTES)
        n = FDSET_BYTES;
#pragma unroll
    for (int j = 0; j < 3; j++) {
        const void *set = (const void *)a[1 + j];
        if (set && n && bpf_probe_read_user(dst + j * FDSET_BYTES, n, set) != 0)
            goto fail;
    }
    if (a[4] && bpf_probe_read_user(dst + 3 * FDSET_BYTES, 16, (const void *)a[4]) != 0)
        goto fail;
    if (in && sigmask && a[5]) {
        u8 *pair = dst + FDSETS_OUT_SIZE;
        if (bpf_probe_read_user(pair, 16, (const void *)a[5]) != 0)
            goto fail;
        const void *ss = (const void *)*(u64 *)pair;
        if (ss && bpf_probe_read_user(pair + 16, 8, ss) != 0)
            goto fail;
    }
    s->cap_len[i] = need;
    s->cap_full[i] = need;
    barrier();
    s->captured |= 1 << i;
    return;
fail:
    stat_add(ST_CAPTURE_FAIL);
#endif
}

// rt_sigreturn's frame lies at the user stack pointer the handler returned
// with; the mask it restores is in the kernel's struct ucontext there.
// x86_64: the frame's return address was popped, uc is at sp, and
// uc_sigmask follows uc_flags, uc_link, uc_stack (24) and the 256-byte
// sigcontext. arm64: a siginfo (128 bytes) first, then uc, whose uc_sigmask
// follows uc_flags, uc_link and uc_stack. (UAPI layouts; x86_64's checked
// against strace in tests/test_decode_strace.py.)
static __always_inline u64 sigframe_mask(u64 regp) {
    u64 sp = 0;
    bpf_probe_read_kernel(&sp, sizeof(sp), (void *)(regp + __builtin_offsetof(struct pt_regs, sp)));
    if (!sp)
        return 0;
#if defined(__TARGET_ARCH_x86)
    return sp + 296;
#else
    return sp + 128 + 40;
#endif
}

// execve's environment, counted for strace's `/* N vars */`: 1 + the
// number of pointers before the NULL among the first ENVP_N, ENVP_N + 2 when
// there are more, 0 when they could not be read (K_ARGV's cap_full, bits 16
// and up). One read of the array: the stack it usually lies on goes on above.
#ifndef ENVP_N
#define ENVP_N 64
#endif
_Static_assert(ENVP_N * 8 <= SCRATCH, "envp count: scratch size");
static __always_inline u32 count_envp(const u64 *envp) {
    struct capscratch *sc = scratch_get();
    if (!envp || !sc)
        return 0;
    if (bpf_probe_read_user(sc->b, ENVP_N * 8, envp) != 0)
        return 0;
    const u64 *p = (const u64 *)sc->b;
#pragma unroll
    for (int j = 0; j < ENVP_N; j++) {
        if (!p[j])
            return j + 1;
    }
    return ENVP_N + 2;
}

struct uiovec {
    u64 base;
    u64 len;
};

// futex's fourth argument is a timeout for the waiting operations (WAIT,
// LOCK_PI, WAIT_BITSET, WAIT_REQUEUE_PI, LOCK_PI2) and a count, or whatever
// the register held, for the others: only the first are read.
static __always_inline int futex_timed(u64 op) {
    u32 cmd = op & 0x7f;
    return cmd == 0 || cmd == 6 || cmd == 9 || cmd == 11 || cmd == 13;
}

// K_TIMEOUT at enter: a 16-byte timespec when `op` waits.
static __always_inline void capture_timeout(u8 *dst, u32 room, struct rec *s, int i,
                                            const void *src, u64 op) {
    if (!futex_timed(op) || room < 16)
        return;
    if (bpf_probe_read_user(dst, 16, src) == 0) {
        s->cap_len[i] = 16;
        s->cap_full[i] = 16;
        s->captured |= 1 << i;
    } else {
        stat_add(ST_CAPTURE_FAIL);
    }
}

// Bytes a capture of these kinds reserves at enter (cap_need's remainder).
static __always_inline u32 more_need(u8 kind, u8 la, const u64 *a) {
    u64 n = 0;
    if (kind == K_ARRAY) {
        u8 c = la & 7;
        u64 size = la >> 3;
        n = BUF_CAP;
        if (c < 6 && a[c] < BUF_CAP)
            n = a[c] * size;
    } else if (kind == K_IOV_IN || kind == K_IOV_OUT) {
        n = IOV_HDR + BUF_CAP;
    } else if (kind == K_MSG_IN || kind == K_MSG_OUT) {
        n = CAP;
    } else if (kind == K_DIRENTS) {
        n = 8;
    } else if (kind == K_TIMEOUT) {
        n = la < 6 && futex_timed(a[la]) ? 16 : 0;
    } else if (kind == K_SOCKOPT) {
        n = SOCKOPT_CAP;
    } else if (kind == K_TS_SIGSET) {
        n = 24;
    } else if (kind == K_CMSG) {
        n = CMSG_CAP;
    } else if (kind == K_FDSETS_IN) {
        n = FDSETS_IN_SIZE;
    } else if (kind == K_FDSETS_OUT) {
        n = FDSETS_OUT_SIZE;
    }
    if (n > BUF_CAP && kind == K_ARRAY)
        n = BUF_CAP;
    return n > CAP ? CAP : (u32)n;
}

// Where a capture at `off` goes, if it fits in the chunk (as cap_dst).
static __always_inline u8 *more_dst(u8 *base, u64 off) {
    opaque(off);
    if (off > CHUNK - CAP)
        return 0;
    return base + off;
}

// The first IOV_N iovecs of `vec` (`cnt` of them) and up to `left` bytes of
// their data, into scratch at `at`. Returns the bytes written there, or -1 if
// memory could not be read.
static __always_inline int iov_to_scratch(struct capscratch *sc, u32 at, const void *vec,
                                          u64 cnt, u64 left) {
    opaque(at);
    if (at > MSGHDR + MSG_NAME)
        return -1;
    u8 *h = &sc->b[at];
#pragma unroll
    for (int j = 0; j < IOV_N; j++)
        *(u64 *)(h + j * 8) = 0;  // no lengths left over from another call
    u32 pos = 0;
#pragma unroll
    for (int j = 0; j < IOV_N; j++) {
        if (j >= cnt)
            break;
        struct uiovec v = {};
        if (bpf_probe_read_user(&v, sizeof(v), (const u8 *)vec + j * sizeof(v)) != 0)
            return -1;
        *(u64 *)(h + j * 8) = v.len;
        u64 take = v.len < left ? v.len : left;
        opaque(take);
        if (take > CAP)
            take = CAP;
        u64 p = pos;
        opaque(p);
        if (p > CAP)
            break;
        if (take && bpf_probe_read_user(h + IOV_HDR + p, take, (const void *)v.base) != 0)
            return -1;
        pos += take;
        left -= take;
    }
    return IOV_HDR + pos;
}

// Scratch bytes [0, n) into the capture's reserved bytes; the capture counts.
static __always_inline void scratch_out(u8 *dst, u32 room, struct rec *s, int i,
                                        struct capscratch *sc, u64 n, u32 full) {
    if (n > room)
        n = room;
    opaque(n);
    if (n > CAP)
        n = CAP;
    if (bpf_probe_read_kernel(dst, n, sc->b) != 0)
        return;
    s->cap_len[i] = n;
    s->cap_full[i] = full;
    barrier();
    s->captured |= 1 << i;
}

// An iovec array with its data (K_IOV_*: `src` is the array, `cnt` its
// length), or a msghdr with its name and iovecs (K_MSG_*: `msg`), up to
// `budget` bytes of data. One function for both: the verifier walks its
// unrolled loop once per call site.
static __always_inline void capture_vec(u8 *dst, u32 room, struct rec *s, int i,
                                        const void *src, u64 cnt, u64 budget, int msg) {
    struct capscratch *sc = scratch_get();
    if (!sc || room < MSGHDR + IOV_HDR)
        return;
    u64 at = 0;
    const void *vec = src;
    if (msg) {
        if (bpf_probe_read_user(sc->b, MSGHDR, src) != 0) {
            stat_add(ST_CAPTURE_FAIL);
            return;
        }
        u64 name = *(u64 *)&sc->b[0];
        u64 nl = *(u32 *)&sc->b[8];  // 64 bits: no zero-extended copies to lose the bound
        vec = (const void *)*(u64 *)&sc->b[16];
        cnt = vec ? *(u64 *)&sc->b[24] : 0;
        if (!name)
            nl = 0;
        opaque(nl);
        if (nl > MSG_NAME)
            nl = MSG_NAME;
        // msghdr's padding after msg_namelen says whether the name was read.
        *(u32 *)&sc->b[12] = 0;
        if (nl && bpf_probe_read_user(&sc->b[MSGHDR], nl, (const void *)name) != 0) {
            nl = 0;  // shown as the pointer
            *(u32 *)&sc->b[12] = 1;
        }
        at = MSGHDR + ((nl + 7) & ~7ull);
    }
    if (at + IOV_HDR > room)
        return;
    u64 left = room - at - IOV_HDR;
    if (budget < left)
        left = budget;
    int n = iov_to_scratch(sc, at, vec, cnt, left);
    if (n < 0) {
        stat_add(ST_CAPTURE_FAIL);
        return;
    }
    scratch_out(dst, room, s, i, sc, at + n, cnt > IOV_N ? IOV_N + 1 : (u32)cnt);
}

#define DIRENTS_MAX 128  // entries counted: strace's `/* N entries */`

// The entries of a directory read: each record's length is at byte 16
// (d_reclen, after d_ino and d_off in both dirent layouts).
static __always_inline void capture_dirents(u8 *dst, u32 room, struct rec *s, int i,
                                            const u8 *buf, u64 len) {
    if (room < 8)
        return;
    u64 off = 0;
    u32 n = 0, more = 1;
    for (int j = 0; j < DIRENTS_MAX; j++) {
        if (off >= len) {
            more = 0;
            break;
        }
        u16 reclen = 0;
        if (bpf_probe_read_user(&reclen, sizeof(reclen), buf + off + 16) != 0 || !reclen)
            break;
        off += reclen;
        n++;
    }
    if (off >= len)
        more = 0;
    *(u32 *)dst = n;
    *(u32 *)(dst + 4) = more;
    s->cap_len[i] = 8;
    s->cap_full[i] = 8;
    barrier();
    s->captured |= 1 << i;
}

// Capture i of these kinds at exit (capture_exit hands them here).
static __always_inline void more_exit(u8 *base, struct rec *s, struct scinfo *si, int i,
                                      u32 room, s64 ret) {
    u8 ai = si->arg[i] & 7;
    if (ai > 5)
        return;
    if (si->kind[i] == K_FDSETS_OUT) {  // the ready fds and the time left
        u8 *d = more_dst(base, s->cap_off[i]);
        if (d && ret > 0)
            capture_fdsets(d, room, s, i, s->args, 0, 0);
        return;
    }
    const void *src = (const void *)s->args[ai];
    u8 *dst = more_dst(base, s->cap_off[i]);
    if (!src || !dst)
        return;
    u8 kind = si->kind[i];
    u8 la = si->len_arg[i];
    if (kind == K_ARRAY || kind == K_SOCKOPT) {
        u8 c = la & 7;
        u64 size = la >> 3;
        u64 count;
        if (kind == K_SOCKOPT) {
            // the length the call wrote: bytes of the value (strace shows as many)
            u32 written = 0;
            if (ret < 0 || c > 5 ||
                bpf_probe_read_user(&written, sizeof(written), (const void *)s->args[c]) != 0)
                return;
            size = 1;
            count = written;
        } else if (c < 6)
            count = s->args[c];
        else if (ret >= 0)
            count = ret;
        else
            return;
        if (count > 0xffff)
            count = 0xffff;
        u64 full = count * size;
        u64 n = full > room ? room : full;
        opaque(n);
        if (n > CAP)
            n = CAP;
        s->cap_full[i] = full;
        if (n == 0) {
            s->captured |= 1 << i;  // epoll_wait() = 0: an empty array
        } else if (bpf_probe_read_user(dst, n, src) == 0) {
            s->cap_len[i] = n;
            barrier();
            s->captured |= 1 << i;
        } else {
            stat_add(ST_CAPTURE_FAIL);
        }
    } else if (kind == K_DIRENTS) {
        if (ret >= 0)
            capture_dirents(dst, room, s, i, src, ret);
    } else {
        // What a call reads (writev, sendmsg) is still there at exit, and is
        // shown whatever it returned; readv's iovecs only when it succeeded;
        // a failed recvmsg's header without data (strace shows its
        // msg_namelen then).
        int in = kind == K_IOV_IN || kind == K_MSG_IN;
        if (ret < 0 && kind == K_IOV_OUT)
            return;
        int msg = kind == K_MSG_IN || kind == K_MSG_OUT;
        u64 cnt = !msg && la < 6 ? s->args[la] : 0;
        u64 budget = in ? 0xffffffffull : ret < 0 ? 0 : (u64)ret;
        capture_vec(dst, room, s, i, src, cnt, msg && !la ? 0 : budget, msg);
    }
}

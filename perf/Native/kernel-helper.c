// folios-kernel-helper: the native half of `folios replay --kernel`.
//
// A scenario (docs/scenario-format.md) runs in several processes that fork, exit and share
// memory copy-on-write. A forked child of a .NET process may not run managed code, so the
// processes are this program's: the .NET side parses the scenario, sets the THP knobs, reads
// the counters, and sends each memory command here, one line at a time, on standard input.
//
//   folios (.NET) --stdin/stdout--> broker --SOCK_SEQPACKET, one per process--> worker 0, 1, ...
//
// The broker (this program's first process) owns no scenario memory. Every scenario process
// is a worker: worker 0 is the broker's child, and every later one is forked by the worker
// whose process ran `fork`, so its address space is the kernel's own dup_mmap of the parent.
// Each worker executes the syscalls, loads and stores of its process on its own address
// space, reads its own /proc/self/pagemap and /proc/kpageflags for `dump`, and answers.
//
// Requests (one line each):            Answers (lines; the last one ends the request):
//   ID mmap ADDR LEN PROT                ok | errno NAME | own START END
//   ID munmap ADDR LEN                   ok | errno NAME | own START END
//   ID mprotect ADDR LEN PROT            ok | errno NAME | own START END
//   ID mremap OLD OLDLEN NEWLEN [NEW]    ok ADDR | errno NAME | own START END
//   ID madvise ADDR LEN ADVICE           ok | errno NAME | own START END
//   ID read ADDR | ID write ADDR         ok | segv | own START END
//   ID fork NEWID                        ok PID | errno NAME
//   ID exit                              ok
//   ID dump                              a line per run ("0x<va> <pages> o<order>" or "... zero"), then ok
// Any request may also be answered "died" (the process was killed, the OOM killer most likely)
// or "fail WHAT" (the request itself was malformed: a bug on the .NET side).
// PROT is a number (PROT_READ | PROT_WRITE bits), ADVICE a MADV_* number; numbers are decimal or 0x-hex.
//
// The helper's own memory (its binary, libraries, heap, stack) lives in the same address space
// as the scenario's mappings. A request whose range touches it is refused with `own`, so a
// scenario cannot unmap the code that runs it; the helper's own VMAs are MADV_NOHUGEPAGE, so
// its own faults never move the mTHP counters the scenario reads.
//
// The broker exits on end of input; every worker exits when its channel to the broker closes.
// Built by perf/Folios.csproj with gcc: gcc -O2 -Wall -Wextra -o folios-kernel-helper kernel-helper.c

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define HELPER_VERSION 1
#define PAGE_SIZE_BYTES 4096ULL
#define TASK_SIZE_BYTES 0x7ffffffff000ULL
#define MAX_OWN 512
#define MAX_WORKERS 4096
#define PACKET 65536

// /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h).
#define KPF_COMPOUND_HEAD 15
#define KPF_COMPOUND_TAIL 16
#define KPF_ZERO_PAGE 24
#define PM_PRESENT (1ULL << 63)
#define PM_PFN_MASK ((1ULL << 55) - 1)

// PAGEMAP_SCAN (Linux 6.7, include/uapi/linux/fs.h); older headers lack it.
#ifndef PAGEMAP_SCAN
#define PAGE_IS_PRESENT (1 << 3)
struct page_region {
    uint64_t start, end, categories;
};
struct pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

struct range {
    uint64_t start, end;
};

// The helper's own memory, as /proc/self/maps showed it before the first worker was forked.
static struct range own[MAX_OWN];
static int own_count;
static int kpageflags_fd = -1;

// ------------------------------------------------------------------------------------ common

static void die(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("folios-kernel-helper: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    exit(2);
}

static int parse_u64(const char *text, uint64_t *value)
{
    if (text == NULL || *text == '\0')
        return 0;
    char *end;
    errno = 0;
    unsigned long long parsed = strtoull(text, &end, 0);
    if (errno != 0 || *end != '\0')
        return 0;
    *value = parsed;
    return 1;
}

static const char *errno_name(int error)
{
    switch (error) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case ERANGE: return "ERANGE";
    case ENOSYS: return "ENOSYS";
    case EOVERFLOW: return "EOVERFLOW";
    case ENOTSUP: return "EOPNOTSUPP";
    case EHWPOISON: return "EHWPOISON";
    default: return "EUNKNOWN";
    }
}

// The helper's own mappings: everything /proc/self/maps lists now, the stack with the room it
// may grow into. Each own VMA gets MADV_NOHUGEPAGE, so the helper's faults allocate order 0 only.
static void record_own_memory(void)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    if (maps == NULL)
        die("cannot read /proc/self/maps: %s", strerror(errno));
    struct rlimit stack;
    uint64_t stack_room = 8ULL << 20;
    if (getrlimit(RLIMIT_STACK, &stack) == 0 && stack.rlim_cur != RLIM_INFINITY && stack.rlim_cur < (64ULL << 20))
        stack_room = stack.rlim_cur > stack_room ? stack.rlim_cur : stack_room;
    char line[4096];
    while (fgets(line, sizeof line, maps) != NULL) {
        unsigned long long start, end;
        if (sscanf(line, "%llx-%llx", &start, &end) != 2 || start >= TASK_SIZE_BYTES)
            continue;   // [vsyscall] lies above user space
        if (own_count == MAX_OWN)
            die("more than %d mappings of its own", MAX_OWN);
        if (strstr(line, "[stack]") != NULL && end - stack_room < start)
            start = end - stack_room;   // the room the stack may still grow into
        own[own_count].start = start;
        own[own_count].end = end;
        own_count++;
        if (strstr(line, "[vvar") == NULL && strstr(line, "[vdso]") == NULL)
            madvise((void *)(uintptr_t)start, end - start, MADV_NOHUGEPAGE);   // best effort
    }

    fclose(maps);
}

// The own range [start, end) overlaps, or NULL.
static const struct range *own_overlap(uint64_t start, uint64_t end)
{
    for (int i = 0; i < own_count; i++) {
        if (start < own[i].end && own[i].start < end)
            return &own[i];
    }

    return NULL;
}

// A syscall's range as the kernel would act on it: page aligned start, length rounded up to pages,
// clipped to user space. Ranges the kernel refuses before touching anything (unaligned, overflowing)
// are not checked: the kernel's own errno answers them.
static const struct range *syscall_touches_own(uint64_t start, uint64_t length)
{
    if ((start & (PAGE_SIZE_BYTES - 1)) != 0 || start >= TASK_SIZE_BYTES)
        return NULL;
    uint64_t aligned = (length + PAGE_SIZE_BYTES - 1) & ~(PAGE_SIZE_BYTES - 1);
    if (aligned < length)
        return NULL;
    uint64_t end = start + aligned < start || start + aligned > TASK_SIZE_BYTES ? TASK_SIZE_BYTES : start + aligned;
    return own_overlap(start, end);
}

// ------------------------------------------------------------------------------------ worker

static int channel = -1;
static char reply_buffer[PACKET];
static size_t reply_length;
static sigjmp_buf segv_jump;
static volatile sig_atomic_t segv_armed;

static void send_packet(const char *data, size_t length)
{
    while (send(channel, data, length, MSG_NOSIGNAL) < 0) {
        if (errno != EINTR)
            _exit(3);   // the broker is gone
    }
}

// Queues a data line of a reply; sent when the buffer fills or the reply ends.
static void reply_line(const char *format, ...)
{
    char line[256];
    va_list args;
    va_start(args, format);
    int length = vsnprintf(line, sizeof line, format, args);
    va_end(args);
    if (length < 0 || (size_t)length >= sizeof line - 1)
        _exit(4);
    line[length++] = '\n';
    if (reply_length + (size_t)length > sizeof reply_buffer) {
        send_packet(reply_buffer, reply_length);
        reply_length = 0;
    }

    memcpy(reply_buffer + reply_length, line, (size_t)length);
    reply_length += (size_t)length;
}

// Ends a reply with its final line (a packet of its own, which the broker knows by its first byte not being '|').
static void reply_end(const char *format, ...)
{
    if (reply_length != 0) {
        char data[PACKET + 1];
        data[0] = '|';
        memcpy(data + 1, reply_buffer, reply_length);
        send_packet(data, reply_length + 1);
        reply_length = 0;
    }

    char line[256];
    va_list args;
    va_start(args, format);
    int length = vsnprintf(line, sizeof line, format, args);
    va_end(args);
    if (length < 0 || (size_t)length >= sizeof line)
        _exit(4);
    send_packet(line, (size_t)length);
}

static void reply_errno(int error) { reply_end("errno %s", errno_name(error)); }

static void reply_own(const struct range *range)
{
    reply_end("own 0x%" PRIx64 " 0x%" PRIx64, range->start, range->end);
}

static void on_segv(int signal, siginfo_t *info, void *context)
{
    (void)info;
    (void)context;
    if (segv_armed) {
        segv_armed = 0;
        siglongjmp(segv_jump, 1);
    }

    // A fault in the helper itself: die of it.
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigaction(signal, &dfl, NULL);
    raise(signal);
}

// One load or store, as the CPU makes it: a fault the kernel answers with SIGSEGV comes back here.
static void access_byte(uint64_t address, int write)
{
    const struct range *mine = own_overlap(address, address + 1);
    if (mine != NULL) {
        reply_own(mine);
        return;
    }

    volatile unsigned char *byte = (volatile unsigned char *)(uintptr_t)address;
    if (sigsetjmp(segv_jump, 1) == 0) {
        segv_armed = 1;
        if (write)
            *byte = 1;
        else
            (void)*byte;
        segv_armed = 0;
        reply_end("ok");
    } else {
        reply_end("segv");
    }
}

// ---- dump: /proc/self/pagemap and /proc/kpageflags into runs, as the model prints them

struct run {
    int kind;   // 0 none, 1 zero, 2 folio
    uint64_t va, pages, head, next_pfn;
    int order;
};

static struct run current_run;

// kpageflags, read 512 entries at a time.
static uint64_t kpf_block[512];
static uint64_t kpf_block_pfn = UINT64_MAX;

static uint64_t kpageflags(uint64_t pfn)
{
    uint64_t block = pfn & ~511ULL;
    if (block != kpf_block_pfn) {
        ssize_t got = pread(kpageflags_fd, kpf_block, sizeof kpf_block, (off_t)(block * 8));
        if (got < 0)
            _exit(5);
        memset((char *)kpf_block + (got > 0 ? got : 0), 0, sizeof kpf_block - (size_t)(got > 0 ? got : 0));
        kpf_block_pfn = block;
    }

    return kpf_block[pfn - block];
}

// The folio the page belongs to: its head and order, from the compound head and tail bits.
static uint64_t folio_head;
static uint64_t folio_pages;
static int folio_order;

static void find_folio(uint64_t pfn, uint64_t flags)
{
    if (pfn >= folio_head && pfn < folio_head + folio_pages)
        return;
    uint64_t head = pfn;
    if (flags & (1ULL << KPF_COMPOUND_TAIL)) {
        for (uint64_t steps = 0; head > 0 && steps < (1ULL << 18); steps++) {
            head--;
            if (kpageflags(head) & (1ULL << KPF_COMPOUND_HEAD))
                break;
        }
    } else if (!(flags & (1ULL << KPF_COMPOUND_HEAD))) {
        folio_head = pfn;
        folio_pages = 1;
        folio_order = 0;
        return;
    }

    uint64_t pages = 1;
    while (pages < (1ULL << 18) && (kpageflags(head + pages) & ((1ULL << KPF_COMPOUND_TAIL) | (1ULL << KPF_COMPOUND_HEAD))) == (1ULL << KPF_COMPOUND_TAIL))
        pages++;
    int order = 0;
    while ((1ULL << order) < pages)
        order++;
    folio_head = head;
    folio_pages = pages;
    folio_order = order;
}

static void flush_run(void)
{
    if (current_run.kind == 1)
        reply_line("0x%" PRIx64 " %" PRIu64 " zero", current_run.va, current_run.pages);
    else if (current_run.kind == 2)
        reply_line("0x%" PRIx64 " %" PRIu64 " o%d", current_run.va, current_run.pages, current_run.order);
    current_run.kind = 0;
}

static void add_page(uint64_t va, uint64_t entry)
{
    if (!(entry & PM_PRESENT))
        return;
    uint64_t pfn = entry & PM_PFN_MASK;
    uint64_t flags = kpageflags(pfn);
    int zero = (flags & (1ULL << KPF_ZERO_PAGE)) != 0;
    uint64_t run_end = current_run.va + current_run.pages * PAGE_SIZE_BYTES;
    if (zero) {
        if (current_run.kind == 1 && va == run_end) {
            current_run.pages++;
            return;
        }

        flush_run();
        current_run = (struct run){ .kind = 1, .va = va, .pages = 1 };
        return;
    }

    find_folio(pfn, flags);
    if (current_run.kind == 2 && va == run_end && folio_head == current_run.head && pfn == current_run.next_pfn) {
        current_run.pages++;
        current_run.next_pfn++;
        return;
    }

    flush_run();
    current_run = (struct run){ .kind = 2, .va = va, .pages = 1, .head = folio_head, .next_pfn = pfn + 1, .order = folio_order };
}

static int read_pagemap(int pagemap, uint64_t start, uint64_t end)
{
    static uint64_t entries[4096];
    for (uint64_t va = start; va < end;) {
        uint64_t count = (end - va) / PAGE_SIZE_BYTES;
        if (count > 4096)
            count = 4096;
        ssize_t got = pread(pagemap, entries, count * 8, (off_t)(va / PAGE_SIZE_BYTES * 8));
        if (got <= 0)
            return -1;
        uint64_t read_count = (uint64_t)got / 8;
        for (uint64_t i = 0; i < read_count; i++)
            add_page(va + i * PAGE_SIZE_BYTES, entries[i]);
        va += read_count * PAGE_SIZE_BYTES;
    }

    return 0;
}

// The present pages of [start, end): PAGEMAP_SCAN finds them without reading every entry of a
// sparse range; where the kernel lacks it, every entry is read.
static int dump_range(int pagemap, uint64_t start, uint64_t end)
{
    static struct page_region regions[256];
    struct pm_scan_arg scan = {
        .size = sizeof scan,
        .start = start,
        .end = end,
        .vec = (uint64_t)(uintptr_t)regions,
        .vec_len = 256,
        .category_mask = PAGE_IS_PRESENT,
        .return_mask = PAGE_IS_PRESENT,
    };
    while (scan.start < end) {
        long found = ioctl(pagemap, PAGEMAP_SCAN, &scan);
        if (found < 0)
            return read_pagemap(pagemap, scan.start, end);
        for (long i = 0; i < found; i++) {
            if (read_pagemap(pagemap, regions[i].start, regions[i].end) != 0)
                return -1;
        }

        if (scan.walk_end <= scan.start)
            break;
        scan.start = scan.walk_end;
    }

    return 0;
}

// The scenario's part of [start, end): the range less the helper's own memory.
static int dump_vma(int pagemap, uint64_t start, uint64_t end)
{
    for (int i = 0; i < own_count && start < end; i++) {
        if (own[i].end <= start || own[i].start >= end)
            continue;
        if (own[i].start > start && dump_range(pagemap, start, own[i].start) != 0)
            return -1;
        start = own[i].end > start ? own[i].end : start;
    }

    return start < end ? dump_range(pagemap, start, end) : 0;
}

static int compare_ranges(const void *a, const void *b)
{
    const struct range *left = a, *right = b;
    return left->start < right->start ? -1 : left->start > right->start;
}

static void dump(void)
{
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    int maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (pagemap < 0 || maps < 0) {
        reply_errno(errno);
        if (pagemap >= 0)
            close(pagemap);
        if (maps >= 0)
            close(maps);
        return;
    }

    current_run.kind = 0;
    folio_pages = 0;
    kpf_block_pfn = UINT64_MAX;   // the page flags change between dumps
    static char text[PACKET + 1];
    size_t kept = 0;
    int failed = 0;
    for (;;) {
        ssize_t got = read(maps, text + kept, PACKET - kept);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            failed = errno;
            break;
        }

        size_t length = kept + (size_t)got;
        text[length] = '\0';
        char *line = text;
        char *newline;
        while ((newline = memchr(line, '\n', length - (size_t)(line - text))) != NULL) {
            *newline = '\0';
            unsigned long long start, end;
            if (sscanf(line, "%llx-%llx", &start, &end) == 2 && start < TASK_SIZE_BYTES && dump_vma(pagemap, start, end) != 0)
                failed = EIO;
            line = newline + 1;
        }

        kept = length - (size_t)(line - text);
        memmove(text, line, kept);
        if (got == 0 || failed)
            break;
    }

    flush_run();
    close(pagemap);
    close(maps);
    if (failed)
        reply_errno(failed);
    else
        reply_end("ok");
}

// ---- the worker's command loop

static int receive(char *buffer, size_t size, int *passed_fd)
{
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec io = { .iov_base = buffer, .iov_len = size - 1 };
    struct msghdr message = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    ssize_t got;
    do
        got = recvmsg(channel, &message, MSG_CMSG_CLOEXEC);
    while (got < 0 && errno == EINTR);
    if (got <= 0)
        return -1;
    buffer[got] = '\0';
    *passed_fd = -1;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS)
            memcpy(passed_fd, CMSG_DATA(header), sizeof(int));
    }

    return 0;
}

static void do_fork(int passed_fd)
{
    if (passed_fd < 0) {
        reply_end("fail fork without a channel");
        return;
    }

    pid_t pid = fork();
    if (pid < 0) {
        int error = errno;
        close(passed_fd);
        reply_errno(error);
        return;
    }

    if (pid == 0) {
        close(channel);
        channel = passed_fd;
        reply_end("hello");
        return;
    }

    close(passed_fd);
    reply_end("ok %d", (int)pid);
}

static void run_request(char *request, int passed_fd)
{
    char *words[6] = { 0 };
    int count = 0;
    for (char *save = NULL, *word = strtok_r(request, " \n", &save); word != NULL && count < 6; word = strtok_r(NULL, " \n", &save))
        words[count++] = word;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    const char *op = count > 0 ? words[0] : "";
    int numbers = (count < 2 || parse_u64(words[1], &a)) && (count < 3 || parse_u64(words[2], &b))
        && (count < 4 || parse_u64(words[3], &c)) && (count < 5 || parse_u64(words[4], &d));
    if (!numbers) {
        reply_end("fail bad number");
        return;
    }

    const struct range *mine;
    if (strcmp(op, "mmap") == 0 && count == 4) {
        if ((mine = syscall_touches_own(a, b)) != NULL) {
            reply_own(mine);
            return;
        }
        void *mapped = mmap((void *)(uintptr_t)a, b, (int)c, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (mapped == MAP_FAILED)
            reply_errno(errno);
        else
            reply_end("ok");
    } else if (strcmp(op, "munmap") == 0 && count == 3) {
        if ((mine = syscall_touches_own(a, b)) != NULL) {
            reply_own(mine);
            return;
        }
        if (munmap((void *)(uintptr_t)a, b) != 0)
            reply_errno(errno);
        else
            reply_end("ok");
    } else if (strcmp(op, "mprotect") == 0 && count == 4) {
        if ((mine = syscall_touches_own(a, b)) != NULL) {
            reply_own(mine);
            return;
        }
        if (mprotect((void *)(uintptr_t)a, b, (int)c) != 0)
            reply_errno(errno);
        else
            reply_end("ok");
    } else if (strcmp(op, "madvise") == 0 && count == 4) {
        if ((mine = syscall_touches_own(a, b)) != NULL) {
            reply_own(mine);
            return;
        }
        if (madvise((void *)(uintptr_t)a, b, (int)c) != 0)
            reply_errno(errno);
        else
            reply_end("ok");
    } else if (strcmp(op, "mremap") == 0 && (count == 4 || count == 5)) {
        if ((mine = syscall_touches_own(a, b)) != NULL || (mine = syscall_touches_own(count == 5 ? d : a, c)) != NULL) {
            reply_own(mine);
            return;
        }
        void *moved = count == 5
            ? mremap((void *)(uintptr_t)a, b, c, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(uintptr_t)d)
            : mremap((void *)(uintptr_t)a, b, c, 0);
        if (moved == MAP_FAILED)
            reply_errno(errno);
        else
            reply_end("ok 0x%" PRIx64, (uint64_t)(uintptr_t)moved);
    } else if ((strcmp(op, "read") == 0 || strcmp(op, "write") == 0) && count == 2) {
        access_byte(a, op[0] == 'w');
    } else if (strcmp(op, "fork") == 0 && count == 1) {
        do_fork(passed_fd);
        return;
    } else if (strcmp(op, "exit") == 0 && count == 1) {
        _exit(0);
    } else if (strcmp(op, "dump") == 0 && count == 1) {
        dump();
    } else {
        reply_end("fail unknown request");
    }

    if (passed_fd >= 0)
        close(passed_fd);
}

static void worker(int fd)
{
    channel = fd;
    struct sigaction segv = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_NODEFER };
    sigemptyset(&segv.sa_mask);
    sigaction(SIGSEGV, &segv, NULL);
    sigaction(SIGBUS, &segv, NULL);
    signal(SIGCHLD, SIG_IGN);   // a worker's forked children are reaped by the kernel
    static char request[4096];
    for (;;) {
        int passed_fd;
        if (receive(request, sizeof request, &passed_fd) != 0)
            _exit(0);   // the broker is gone
        run_request(request, passed_fd);
    }
}

// ------------------------------------------------------------------------------------ broker

struct process {
    int fd;       // the broker's end of the worker's channel; -1 when none
    int pidfd;    // signalled when the worker has exited (after its exit_mmap)
    pid_t pid;
};

static struct process processes[MAX_WORKERS];

static int pidfd_open_(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

static void answer(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vfprintf(stdout, format, args);
    va_end(args);
    fputc('\n', stdout);
    fflush(stdout);
}

// Waits until the worker has exited: its pidfd is readable once exit_mm has torn its memory down.
static int wait_exited(struct process *process, int timeout_ms)
{
    struct pollfd wait = { .fd = process->pidfd, .events = POLLIN };
    int ready;
    do
        ready = poll(&wait, 1, timeout_ms);
    while (ready < 0 && errno == EINTR);
    return ready > 0;
}

static void forget(struct process *process)
{
    if (process->fd >= 0)
        close(process->fd);
    if (process->pidfd >= 0)
        close(process->pidfd);
    process->fd = process->pidfd = -1;
    process->pid = 0;
}

static int send_to(struct process *process, const char *text, int pass_fd)
{
    struct iovec io = { .iov_base = (void *)text, .iov_len = strlen(text) };
    char control[CMSG_SPACE(sizeof(int))];
    struct msghdr message = { .msg_iov = &io, .msg_iovlen = 1 };
    if (pass_fd >= 0) {
        memset(control, 0, sizeof control);
        message.msg_control = control;
        message.msg_controllen = sizeof control;
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(header), &pass_fd, sizeof(int));
    }

    ssize_t sent;
    do
        sent = sendmsg(process->fd, &message, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    return sent < 0 ? -1 : 0;
}

// Relays a worker's reply to standard output: data packets ('|' first) line by line, then the
// final line, which is returned in `final` too. -1 when the worker died instead.
static int relay(struct process *process, char *final, size_t final_size)
{
    static char packet[PACKET + 2];
    for (;;) {
        ssize_t got;
        do
            got = recv(process->fd, packet, PACKET + 1, 0);
        while (got < 0 && errno == EINTR);
        if (got <= 0)
            return -1;
        packet[got] = '\0';
        if (packet[0] == '|') {
            fwrite(packet + 1, 1, (size_t)got - 1, stdout);
            continue;
        }

        size_t kept = (size_t)got < final_size - 1 ? (size_t)got : final_size - 1;
        memcpy(final, packet, kept);
        final[kept] = '\0';
        return 0;
    }
}

static void broker_request(char *line)
{
    char *save = NULL;
    char *id_text = strtok_r(line, " \n", &save);
    char *rest = save != NULL ? save : (char *)"";
    rest[strcspn(rest, "\n")] = '\0';
    uint64_t id;
    if (id_text == NULL || !parse_u64(id_text, &id) || id >= MAX_WORKERS || processes[id].fd < 0) {
        answer("fail no such process");
        return;
    }

    struct process *process = &processes[id];
    char op[16] = { 0 };
    sscanf(rest, "%15s", op);
    char final[256];
    if (strcmp(op, "fork") == 0) {
        uint64_t new_id;
        if (sscanf(rest, "fork %" SCNu64, &new_id) != 1 || new_id >= MAX_WORKERS || processes[new_id].fd >= 0) {
            answer("fail bad fork id");
            return;
        }

        int pair[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
            answer("fail socketpair: %s", strerror(errno));
            return;
        }

        int sent = send_to(process, "fork", pair[1]);
        close(pair[1]);
        if (sent != 0 || relay(process, final, sizeof final) != 0) {
            close(pair[0]);
            answer("died");
            return;
        }

        int pid;
        if (sscanf(final, "ok %d", &pid) != 1) {
            close(pair[0]);
            answer("%s", final);
            return;
        }

        struct process *child = &processes[new_id];
        child->fd = pair[0];
        child->pid = pid;
        child->pidfd = pidfd_open_(pid);
        char hello[64];
        if (child->pidfd < 0 || relay(child, hello, sizeof hello) != 0 || strcmp(hello, "hello") != 0) {
            forget(child);
            answer("died");
            return;
        }

        answer("ok %d", pid);
        return;
    }

    if (strcmp(op, "exit") == 0) {
        send_to(process, "exit", -1);
        int exited = wait_exited(process, 60000);
        forget(process);
        answer(exited ? "ok" : "fail the process did not exit");
        return;
    }

    if (send_to(process, rest, -1) != 0 || relay(process, final, sizeof final) != 0) {
        wait_exited(process, 1000);
        forget(process);
        answer("died");
        return;
    }

    answer("%s", final);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("folios-kernel-helper %d\n", HELPER_VERSION);
        return 0;
    }

    if (argc != 1)
        die("usage: folios-kernel-helper (driven by folios replay --kernel on its standard input)");

    // folios runs with THP disabled for itself (prctl PR_SET_THP_DISABLE, kept across exec):
    // the scenario's processes must see the machine's policy.
    if (prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0) != 0)
        die("cannot clear PR_SET_THP_DISABLE: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_IGN);
    kpageflags_fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
    if (kpageflags_fd < 0)
        die("cannot open /proc/kpageflags: %s (root is needed)", strerror(errno));

    // The OOM killer should pick a scenario process, not the machine's.
    int adjust = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (adjust >= 0) {
        if (write(adjust, "1000", 4) != 4) {
            // best effort
        }
        close(adjust);
    }

    for (int i = 0; i < MAX_WORKERS; i++)
        processes[i] = (struct process){ .fd = -1, .pidfd = -1 };
    static char line[8192];

    // khugepaged sleeps without a timeout while no mm is registered with it, and wakes at once to
    // scan the first one that registers: a scenario's MADV_HUGEPAGE would have its memory collapsed
    // behind its back. A mapping of the broker's own, touched and advised MADV_HUGEPAGE, registers the broker
    // for the whole run (MADV_DONTFORK keeps it out of the workers; record_own_memory then marks it
    // MADV_NOHUGEPAGE, so khugepaged finds nothing to do in it). folios then lengthens
    // khugepaged/scan_sleep_millisecs for the run, and khugepaged stays asleep throughout.
    void *keep = mmap(NULL, 4ULL << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (keep == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    madvise(keep, 4ULL << 20, MADV_DONTFORK);
    *(volatile char *)keep = 1;   // an anon_vma: khugepaged takes no VMA without one
    madvise(keep, 4ULL << 20, MADV_HUGEPAGE);   // best effort: EINVAL where THP is not built in
    record_own_memory();
    qsort(own, (size_t)own_count, sizeof own[0], compare_ranges);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        die("socketpair: %s", strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(pair[0]);
        worker(pair[1]);
    }

    close(pair[1]);
    processes[0] = (struct process){ .fd = pair[0], .pid = pid, .pidfd = pidfd_open_(pid) };
    if (processes[0].pidfd < 0)
        die("pidfd_open: %s", strerror(errno));
    answer("ready %d %d", HELPER_VERSION, (int)getpid());
    while (fgets(line, sizeof line, stdin) != NULL)
        broker_request(line);

    // End of input: every worker's channel closes with the broker, and each exits.
    for (int i = 0; i < MAX_WORKERS; i++) {
        if (processes[i].pid > 0)
            kill(processes[i].pid, SIGKILL);
    }

    return 0;
}

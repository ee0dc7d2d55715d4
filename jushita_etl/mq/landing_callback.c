/* The RocketMQ consume callback in C: lands each message in the durable log, and the client acknowledges a pulled
 * batch only once an fsync covers all of it, without entering Python.
 *
 * Why native: the client calls back once per message on its own consume threads. A Python callback that blocks
 * until its record is fsynced costs a GIL hand-over each time a thread blocks and wakes; one consumer process
 * measured 3.7-4.0k msg/s that way whatever the thread count, and 11k/s even with a no-op callback. Here the
 * callback copies the fields and appends the record; the consume thread then waits on a condition variable once
 * per batch (consume_batch, below); one flusher thread writes and fdatasyncs what every consume thread appended
 * since its last sync (group commit), rotates segments, and announces closed segments, which Python compacts into
 * Parquet batches (jushita_etl/landing/wal.py).
 *
 * The record layout is landing/segment.py's (see segment.encode); a torn record is caught by its CRC.
 * Built by jushita_etl/native.py with the system C compiler; the consumer falls back to the Python
 * callback when it cannot be built.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define CONSUME_SUCCESS 0
#define RECONSUME_LATER 1
#define MAX_BINDINGS 16
#define CHINA_OFFSET_MS (8LL * 3600 * 1000) /* received_at is China wall-clock time, like the warehouse */

/* --- the client's C API, resolved from the library the Python wrapper loaded ------------------------------ */
typedef const char *(*str_fn)(void *);
typedef const char *(*prop_fn)(void *, const char *);
typedef int (*int_fn)(void *);
typedef long long (*ll_fn)(void *);

static struct {
    str_fn topic, tags, keys, body, msg_id;
    prop_fn property;
    int_fn queue_id, reconsume_times;
    ll_fn queue_offset, born_timestamp;
} api;

int jwal_load_client(const char *library_path, char *error, size_t error_size) {
    void *lib = dlopen(library_path, RTLD_NOW | RTLD_NOLOAD);
    if (!lib) lib = dlopen(library_path, RTLD_NOW);
    if (!lib) {
        snprintf(error, error_size, "%s", dlerror());
        return -1;
    }
#define RESOLVE(field, name)                                                     \
    if (!(*(void **)&api.field = dlsym(lib, name))) {                            \
        snprintf(error, error_size, "%s not found in %s", name, library_path);  \
        return -1;                                                               \
    }
    RESOLVE(topic, "GetMessageTopic")
    RESOLVE(tags, "GetMessageTags")
    RESOLVE(keys, "GetMessageKeys")
    RESOLVE(body, "GetMessageBody")
    RESOLVE(msg_id, "GetMessageId")
    RESOLVE(property, "GetMessageProperty")
    RESOLVE(queue_id, "GetMessageQueueId")
    RESOLVE(reconsume_times, "GetMessageReconsumeTimes")
    RESOLVE(queue_offset, "GetMessageQueueOffset")
    RESOLVE(born_timestamp, "GetMessageBornTimestamp")
#undef RESOLVE
    return 0;
}

#include "../landing/crc32.h"

/* --- the log ---------------------------------------------------------------------------------------------- */
/* An appender waiting for the sync that covers its record. Each sync wakes exactly the waiters it covers: with
 * 128 consume threads, one broadcast per sync woke every one of them just to send most back to sleep. */
typedef struct waiter {
    pthread_cond_t cond;
    uint64_t seq;
    struct waiter *next;
    int linked; /* in the log's list of waiters */
} waiter_t;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t work;         /* the flusher waits here for records */
    waiter_t *oldest, *newest;   /* waiting appenders, in sequence order */
    char *pending;          /* records appended since the flusher last took them */
    size_t pending_len, pending_cap;
    uint64_t pending_rows;
    uint64_t appended, synced; /* record sequence numbers: appended so far, covered by an fsync */
    int closing, failed;
    char error[512];
    /* segment files, written by the flusher only */
    char dir[3072], path[3600];
    int fd, do_fsync;
    long segment_no;
    uint64_t rows, bytes, max_rows, max_bytes;
    double opened, max_seconds;
    /* closed segments for Python to compact */
    char **closed;
    size_t closed_len, closed_cap;
    /* counters for progress and bounds */
    uint64_t landed, rejected, syncs;
    double first_at, last_at; /* CLOCK_MONOTONIC seconds, the clock of Python's time.monotonic() */
    pthread_t flusher;
} wal_t;

static double monotonic_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t china_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + CHINA_OFFSET_MS;
}

/* Wake the waiters whose records are covered by the last sync (all of them once the log failed). */
static void unlink_locked(wal_t *w, waiter_t *prev, waiter_t *x) {
    if (prev) prev->next = x->next; else w->oldest = x->next;
    if (w->newest == x) w->newest = prev;
    x->next = NULL, x->linked = 0;
}

/* Every covered waiter, wherever it is in the list: a thread appends its batch's records and registers once the
 * batch is done, so the list is not strictly in sequence order. */
static void wake_locked(wal_t *w) {
    waiter_t *prev = NULL, *x = w->oldest;
    while (x) {
        waiter_t *next = x->next;
        if (x->seq <= w->synced || w->failed) {
            unlink_locked(w, prev, x);
            pthread_cond_signal(&x->cond);
        } else {
            prev = x;
        }
        x = next;
    }
}

static void fail_locked(wal_t *w, const char *what) {
    if (!w->failed) snprintf(w->error, sizeof w->error, "%s: %s", what, strerror(errno));
    w->failed = 1;
    wake_locked(w);
}

static int open_segment(wal_t *w) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    w->segment_no++;
    /* the name sorts by time and is the batch id of the Parquet batch it becomes (as DurableLog names them) */
    snprintf(w->path, sizeof w->path, "%s/%020lld-w%d-%06ld.wal", w->dir,
             (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, (int)getpid(), w->segment_no);
    w->fd = open(w->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    w->rows = w->bytes = 0;
    w->opened = monotonic_now();
    if (w->fd < 0) return -1;
    if (w->do_fsync) { /* the new name must survive a power cut too, before any record in it is acknowledged */
        int dir = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int synced = dir >= 0 && fsync(dir) == 0;
        if (dir >= 0) close(dir);
        if (!synced) return -1;
    }
    return 0;
}

static void close_segment_locked(wal_t *w) {
    close(w->fd);
    w->fd = -1;
    if (!w->rows) {
        unlink(w->path);
        return;
    }
    /* Out of memory, the segment is only not announced: it stays in the log directory, and closing the log (or
     * the next start, after a crash) compacts it with whatever else is left there. */
    if (w->closed_len == w->closed_cap) {
        size_t cap = w->closed_cap ? 2 * w->closed_cap : 16;
        char **grown = realloc(w->closed, cap * sizeof *grown);
        if (!grown) return;
        w->closed = grown, w->closed_cap = cap;
    }
    char *path = strdup(w->path);
    if (path) w->closed[w->closed_len++] = path;
}

static void *flush_loop(void *arg) {
    wal_t *w = arg;
    char *spare = NULL; /* double buffering: appenders fill one buffer while the other is written */
    size_t spare_cap = 0;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->pending_len && !w->closing && !w->failed) {
            if (!w->rows) {
                pthread_cond_wait(&w->work, &w->mu);
                continue;
            }
            double left = w->max_seconds - (monotonic_now() - w->opened);
            if (left <= 0) break; /* an old segment with nothing new: rotate it so it gets compacted */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            long long ns = until.tv_nsec + (long long)(left * 1e9);
            until.tv_sec += ns / 1000000000LL;
            until.tv_nsec = ns % 1000000000LL;
            pthread_cond_timedwait(&w->work, &w->mu, &until);
        }
        if (w->failed) break;
        char *data = w->pending;
        size_t len = w->pending_len, data_cap = w->pending_cap;
        uint64_t rows = w->pending_rows, upto = w->appended;
        int closing = w->closing;
        w->pending = spare, w->pending_cap = spare_cap, w->pending_len = 0, w->pending_rows = 0;
        pthread_mutex_unlock(&w->mu);

        int ok = 1;
        const char *what = "write";
        for (size_t done = 0; ok && done < len;) {
            ssize_t n = write(w->fd, data + done, len - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) ok = 0; else done += (size_t)n;
        }
        if (ok && len && w->do_fsync && fdatasync(w->fd) != 0) ok = 0, what = "fdatasync";

        pthread_mutex_lock(&w->mu);
        spare = data, spare_cap = data_cap;
        if (!ok) {
            fail_locked(w, what); /* nothing after the last good sync is acknowledged: those callbacks say LATER */
            break;
        }
        w->synced = upto;
        w->syncs += len && w->do_fsync;
        w->rows += rows;
        w->bytes += len;
        wake_locked(w);
        if (closing || w->rows >= w->max_rows || w->bytes >= w->max_bytes ||
            (w->rows && monotonic_now() - w->opened >= w->max_seconds)) {
            close_segment_locked(w);
            if (closing) break;
            if (open_segment(w) != 0) {
                fail_locked(w, "open segment");
                break;
            }
        }
    }
    pthread_mutex_unlock(&w->mu);
    free(spare);
    return NULL;
}

static __thread waiter_t self_waiter;
static __thread int self_waiter_ready;

/* Add one encoded record to what the flusher writes next; its sequence number, or 0 (refused: log failed or
 * closing, or out of memory). The caller holds w->mu. */
static uint64_t append_locked(wal_t *w, const void *record, size_t len) {
    if (w->closing || w->failed) return 0;
    if (w->pending_len + len > w->pending_cap) {
        size_t cap = w->pending_cap ? w->pending_cap : 1 << 20;
        while (cap < w->pending_len + len) cap *= 2;
        char *grown = realloc(w->pending, cap);
        if (!grown) return 0;
        w->pending = grown, w->pending_cap = cap;
    }
    memcpy(w->pending + w->pending_len, record, len);
    w->pending_len += len;
    w->pending_rows++;
    return ++w->appended;
}

/* Wake the flusher and wait until an fsync covers record seq; then count the `records` this acknowledges (or
 * refuses). 0 when durable, -1 when the log failed. The caller holds w->mu. */
static int await_sync_locked(wal_t *w, uint64_t seq, uint64_t records) {
    waiter_t *me = &self_waiter;
    if (!self_waiter_ready) pthread_cond_init(&me->cond, NULL), self_waiter_ready = 1;
    if (w->synced < seq && !w->failed) { /* already covered: not a waiter (a stale entry would cut the list) */
        me->seq = seq, me->next = NULL, me->linked = 1;
        if (w->newest) w->newest->next = me; else w->oldest = me;
        w->newest = me;
        pthread_cond_signal(&w->work);
        while (w->synced < seq && !w->failed) pthread_cond_wait(&me->cond, &w->mu);
        if (me->linked) { /* woken otherwise than by wake_locked (a spurious wakeup): leave the list */
            waiter_t *prev = NULL;
            for (waiter_t *x = w->oldest; x && x != me; x = x->next) prev = x;
            unlink_locked(w, prev, me);
        }
    }
    int ok = w->synced >= seq;
    double now = monotonic_now();
    if (ok) {
        w->landed += records;
        if (!w->first_at) w->first_at = now;
        w->last_at = now;
    } else {
        w->rejected += records;
    }
    return ok ? 0 : -1;
}

/* A message the failed log could not make durable is held: its consume thread never answers. Answering
 * RECONSUME_LATER would have the client send it back to the broker, and the bundled client (older than
 * rocketmq-client-cpp's fix #209) drops a message whose send-back fails: it commits the offset past it all the
 * same. Held, the message stays in the client's process queue, so no offset is committed past it; the consumer
 * then ends its process without the client's shutdown (MQConsumer.abandon) and the broker delivers the message
 * again to the next consumer, as after a crash. Nothing is sent back, so a disk that stays full does not push the
 * group's messages towards the dead-letter queue either. The caller holds w->mu; this releases it and never
 * returns. */
static void hold_locked(wal_t *w) {
    pthread_mutex_unlock(&w->mu);
    for (;;) pause();
}

int jwal_failed(wal_t *w) {
    pthread_mutex_lock(&w->mu);
    int failed = w->failed;
    pthread_mutex_unlock(&w->mu);
    return failed;
}

/* Append one encoded record and wait until an fsync covers it. 0 when durable, -1 when the log failed/closed. */
static int append_durably(wal_t *w, const void *record, size_t len) {
    pthread_mutex_lock(&w->mu);
    uint64_t seq = append_locked(w, record, len);
    int status = seq ? await_sync_locked(w, seq, 1) : -1;
    if (!seq) w->rejected++;
    pthread_mutex_unlock(&w->mu);
    return status;
}

/* --- record encoding (the layout of landing/segment.py, read by landing/segment.c) ---------------------------
 * u32 payload length, u32 crc32(payload); payload = i32 queue_id, i64 queue_offset, i64 born_timestamp,
 * i64 received_ms, i32 reconsume_times, then msg_id, topic, tags, keys each as i32 length (-1: null) + bytes,
 * then the body. Little-endian, as every machine this runs on. */
typedef struct {
    unsigned char *data;
    size_t len, cap;
} buf_t;

static int reserve(buf_t *b, size_t more) {
    if (b->len + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) cap *= 2;
    unsigned char *grown = realloc(b->data, cap);
    if (!grown) return -1;
    b->data = grown, b->cap = cap;
    return 0;
}

static void put(buf_t *b, const void *p, size_t n) {
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_text(buf_t *b, const char *s, int null_when_empty) {
    int32_t n = (!s || (null_when_empty && !*s)) ? -1 : (int32_t)strlen(s);
    put(b, &n, 4);
    if (n > 0) put(b, s, (size_t)n);
}

static int jwal_encode(buf_t *b, const char *msg_id, const char *topic, const char *tags, const char *keys, int32_t queue_id,
                int64_t queue_offset, int64_t born_timestamp, int32_t reconsume_times, int64_t received_ms,
                const char *body, size_t body_len) {
    size_t strings = 16 + (msg_id ? strlen(msg_id) : 0) + (topic ? strlen(topic) : 0) + (tags ? strlen(tags) : 0) +
                     (keys ? strlen(keys) : 0);
    b->len = 0;
    if (reserve(b, 8 + 32 + strings + body_len)) return -1; /* header, fixed fields, texts, body */
    b->len = 8;
    put(b, &queue_id, 4);
    put(b, &queue_offset, 8);
    put(b, &born_timestamp, 8);
    put(b, &received_ms, 8);
    put(b, &reconsume_times, 4);
    put_text(b, msg_id, 0);
    put_text(b, topic, 0);
    put_text(b, tags, 1);
    put_text(b, keys, 1);
    put(b, body, body_len);
    uint32_t payload = (uint32_t)(b->len - 8), crc = crc32_of(b->data + 8, payload);
    memcpy(b->data, &payload, 4);
    memcpy(b->data + 4, &crc, 4);
    return 0;
}

/* The body with its real length. The C API only offers a NUL-terminated char*, which would cut a body at its first
 * NUL; in this build (the old libstdc++ copy-on-write std::string) the length sits 3 words before the characters.
 * Used only when it is consistent with the terminator; otherwise the body is taken up to its first NUL. */
static size_t body_length(const char *body) {
    size_t shown = strlen(body), stored = *(const size_t *)(body - 3 * sizeof(size_t));
    return stored >= shown && stored < ((size_t)1 << 31) && body[stored] == '\0' ? stored : shown;
}

/* --- which log a consumer lands into ---------------------------------------------------------------------- */
static struct {
    void *consumer;
    wal_t *log;
} bindings[MAX_BINDINGS];
static pthread_rwlock_t bindings_lock = PTHREAD_RWLOCK_INITIALIZER;
static __thread buf_t scratch;

/* The log bound to a consumer. The caller holds bindings_lock for reading until it is done with the log, so
 * jwal_unbind (write lock) returns only once no callback can still use it, and the log can then be closed. */
static wal_t *log_of(void *consumer) {
    for (int i = 0; i < MAX_BINDINGS; i++)
        if (bindings[i].consumer == consumer) return bindings[i].log;
    return NULL;
}

int jwal_bind(void *consumer, wal_t *w) {
    int done = -1;
    pthread_rwlock_wrlock(&bindings_lock);
    for (int i = 0; i < MAX_BINDINGS && done; i++)
        if (!bindings[i].consumer || bindings[i].consumer == consumer) bindings[i].consumer = consumer, bindings[i].log = w, done = 0;
    pthread_rwlock_unlock(&bindings_lock);
    return done;
}

void jwal_unbind(void *consumer) {
    pthread_rwlock_wrlock(&bindings_lock);
    for (int i = 0; i < MAX_BINDINGS; i++)
        if (bindings[i].consumer == consumer) bindings[i].consumer = NULL, bindings[i].log = NULL;
    pthread_rwlock_unlock(&bindings_lock);
}

/* --- one acknowledgement per pulled batch -----------------------------------------------------------------
 * The client hands each pulled batch (up to 32 messages of one queue) to one consume thread, whose listener
 * (the C API's MessageListenerInner::consumeMessage) calls the MessageCallBack once per message and only then
 * reports the batch's status; the queue offset is committed for the whole batch after that, never per message.
 * So a message needs to be durable when its *batch* is acknowledged, not when its own callback returns. Waiting
 * for an fsync in every callback cost two thread hand-offs per message (~45% of the consumer's CPU in the
 * kernel) and serialised a batch's messages behind one sync each.
 *
 * jwal_batch_acks replaces that listener's consumeMessage in its vtable (the library is linked without RELRO, so
 * the vtable is ordinary writable data) with consume_batch: it runs the client's own loop with the callbacks in
 * batch mode (append, do not wait) and then waits once for the sync that covers the batch's last record. If the
 * sync fails the batch answers RECONSUME_LATER, exactly as a failed callback would have. The bindings lock is
 * held for the whole batch, so jwal_unbind still returns only once no batch can use the log. */
typedef int (*consume_fn)(void *listener, const void *messages);
static consume_fn client_consume; /* the listener's own consumeMessage */
static __thread struct {
    int active;
    wal_t *log;
    uint64_t seq, records; /* the batch's last appended record, and how many it appended */
} batch;

static int consume_batch(void *listener, const void *messages) {
    pthread_rwlock_rdlock(&bindings_lock);
    batch.active = 1, batch.log = NULL, batch.seq = batch.records = 0;
    int status = client_consume(listener, messages);
    batch.active = 0;
    if (batch.log) {
        wal_t *w = batch.log;
        pthread_mutex_lock(&w->mu);
        if (batch.seq && await_sync_locked(w, batch.seq, batch.records) != 0) status = RECONSUME_LATER;
        if (status == RECONSUME_LATER && w->failed) hold_locked(w);
        pthread_mutex_unlock(&w->mu);
    }
    pthread_rwlock_unlock(&bindings_lock);
    return status;
}

static int land(wal_t *w, void *msg);

/* The MessageCallBack registered with RegisterMessageCallback: runs on the client's consume threads. */
int jwal_on_message(void *consumer, void *msg) {
    if (batch.active) return land(log_of(consumer), msg); /* consume_batch holds the bindings lock */
    pthread_rwlock_rdlock(&bindings_lock);
    int status = land(log_of(consumer), msg);
    pthread_rwlock_unlock(&bindings_lock);
    return status;
}

/* In batch mode: append without waiting (consume_batch waits once for the batch). A batch comes from one consumer,
 * so all of it goes to one log. */
static int append_to_batch(wal_t *w, const void *record, size_t len) {
    pthread_mutex_lock(&w->mu);
    uint64_t seq = append_locked(w, record, len);
    if (!seq) w->rejected++;
    pthread_mutex_unlock(&w->mu);
    batch.log = w; /* a refused record too: consume_batch holds the batch when the log failed */
    if (!seq) return -1;
    batch.seq = seq, batch.records++;
    return 0;
}

static int land(wal_t *w, void *msg) {
    if (!w) return RECONSUME_LATER;
    /* a replayed delivery keeps the msg_id it had when it was first landed (source.REPLAY_MSG_ID) */
    const char *msg_id = api.property(msg, "REPLAY_MSG_ID");
    if (!msg_id || !*msg_id) msg_id = api.msg_id(msg);
    const char *body = api.body(msg);
    size_t body_len = body ? body_length(body) : 0;
    if (jwal_encode(&scratch, msg_id, api.topic(msg), api.tags(msg), api.keys(msg), api.queue_id(msg),
                    api.queue_offset(msg), api.born_timestamp(msg), api.reconsume_times(msg), china_now_ms(),
                    body ? body : "", body_len) != 0)
        return RECONSUME_LATER;
    if (batch.active) return append_to_batch(w, scratch.data, scratch.len) == 0 ? CONSUME_SUCCESS : RECONSUME_LATER;
    if (append_durably(w, scratch.data, scratch.len) == 0) return CONSUME_SUCCESS;
    pthread_mutex_lock(&w->mu);
    if (w->failed) hold_locked(w);
    pthread_mutex_unlock(&w->mu);
    return RECONSUME_LATER;
}

/* Find the listener's vtable slot for consumeMessage: in the library's writable segments, a vtable is
 * [offset-to-top 0][typeinfo][virtual functions...]; the slot is the one holding consumeMessage's address in the
 * vtable whose typeinfo is MessageListenerInner's. */
struct vtable_search {
    uintptr_t base, typeinfo, function;
    void **slot;
};

static int find_vtable_slot(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    struct vtable_search *search = arg;
    if (info->dlpi_addr != search->base) return 0;
    for (int i = 0; i < info->dlpi_phnum && !search->slot; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W)) continue;
        uintptr_t *word = (uintptr_t *)(info->dlpi_addr + ph->p_vaddr);
        size_t words = ph->p_filesz / sizeof *word; /* vtables are initialised data, not bss */
        for (size_t k = 1; k + 8 < words && !search->slot; k++) {
            if (word[k] != search->typeinfo || word[k - 1] != 0) continue;
            for (size_t v = 1; v <= 8; v++)
                if (word[k + v] == search->function) {
                    search->slot = (void **)&word[k + v];
                    break;
                }
        }
    }
    return 1;
}

/* 1: batches are acknowledged once (patched now or before); 0: the listener was not found as expected, and every
 * callback keeps waiting for its own sync (correct, slower). Call before the consumer starts. */
int jwal_batch_acks(const char *library_path) {
    static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
    static int patched;
    pthread_mutex_lock(&once);
    if (!patched) {
        void *lib = dlopen(library_path, RTLD_NOW | RTLD_NOLOAD);
        void *function = lib ? dlsym(lib, "_ZN20MessageListenerInner14consumeMessageERKSt6vectorIN8rocketmq"
                                          "12MQMessageExtESaIS2_EE") : NULL;
        void *typeinfo = lib ? dlsym(lib, "_ZTI20MessageListenerInner") : NULL;
        Dl_info where;
        if (function && typeinfo && dladdr(function, &where)) {
            struct vtable_search search = {(uintptr_t)where.dli_fbase, (uintptr_t)typeinfo, (uintptr_t)function,
                                           NULL};
            dl_iterate_phdr(find_vtable_slot, &search);
            long page = sysconf(_SC_PAGESIZE);
            void *start = (void *)((uintptr_t)search.slot & ~(uintptr_t)(page - 1));
            if (search.slot && mprotect(start, (size_t)page, PROT_READ | PROT_WRITE) == 0) {
                client_consume = (consume_fn)function;
                __atomic_store_n(search.slot, (void *)consume_batch, __ATOMIC_SEQ_CST);
                patched = 1;
            }
        }
    }
    pthread_mutex_unlock(&once);
    return patched;
}

/* Append an already encoded record (tests and the Python fallback share the format). */
int jwal_append(wal_t *w, const char *record, size_t len) { return append_durably(w, record, len); }

/* --- lifecycle, called from Python ------------------------------------------------------------------------ */
wal_t *jwal_open(const char *dir, uint64_t max_rows, uint64_t max_bytes, double max_seconds, int do_fsync,
                 char *error, size_t error_size) {
    pthread_once(&crc_once, crc_init);
    wal_t *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    w->max_rows = max_rows, w->max_bytes = max_bytes, w->max_seconds = max_seconds, w->do_fsync = do_fsync;
    if (open_segment(w) != 0 || pthread_create(&w->flusher, NULL, flush_loop, w) != 0) {
        snprintf(error, error_size, "cannot open a log segment in %s: %s", dir, strerror(errno));
        if (w->fd >= 0) close(w->fd), unlink(w->path);
        free(w);
        return NULL;
    }
    return w;
}

/* The oldest closed segment not yet handed out, copied into path; 1 if there was one. */
int jwal_next_closed(wal_t *w, char *path, size_t path_size) {
    int found = 0;
    pthread_mutex_lock(&w->mu);
    if (w->closed_len) {
        snprintf(path, path_size, "%s", w->closed[0]);
        free(w->closed[0]);
        memmove(w->closed, w->closed + 1, --w->closed_len * sizeof *w->closed);
        found = 1;
    }
    pthread_mutex_unlock(&w->mu);
    return found;
}

void jwal_stats(wal_t *w, uint64_t *landed, uint64_t *rejected, uint64_t *syncs, double *first_at, double *last_at) {
    pthread_mutex_lock(&w->mu);
    *landed = w->landed, *rejected = w->rejected, *syncs = w->syncs, *first_at = w->first_at, *last_at = w->last_at;
    pthread_mutex_unlock(&w->mu);
}

/* Stop accepting records, write and sync what was appended, close the last segment. Returns 0, or -1 with the
 * error of a failed write/sync (those records were never acknowledged). Closed segments stay for
 * jwal_next_closed until jwal_free. */
int jwal_close(wal_t *w, char *error, size_t error_size) {
    pthread_mutex_lock(&w->mu);
    w->closing = 1;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->flusher, NULL);
    if (w->fd >= 0) { /* the flusher stopped on a failure: keep what is on disk for recovery */
        close(w->fd);
        w->fd = -1;
    }
    if (w->failed) snprintf(error, error_size, "%s", w->error);
    return w->failed ? -1 : 0;
}

void jwal_free(wal_t *w) {
    for (size_t i = 0; i < w->closed_len; i++) free(w->closed[i]);
    free(w->closed);
    free(w->pending);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->work);
    free(w);
}

/* The UDP datagram loop of kdns/server/mmsg_ctypes.py, compiled: recvmmsg(2), the fast-path lookup and
 * sendmmsg(2) without a Python frame per datagram.
 *
 * At 30k queries a second each wake-up of the event loop finds about one datagram, and most of
 * what kdns spent on it was Python's and ctypes' own overhead around two system calls and a
 * dictionary lookup. This module does exactly what mmsg_ctypes.Batch.serve does with
 * fastpath.AnswerTable.answer (tests/server/test_mmsg.py runs both on the same queries and compares
 * what they send and count), TTL countdown of the cache's answers included, and hands Python only
 * what needs it: a miss (the slow path) and an entry whose records are shuffled per answer.
 *
 * The entry's fields are read, and each answer counted for the metrics, in the entry's own C struct
 * (EntryFields, fastpath.Entry's base; Entry.collect takes the counts at scrape time). Calling
 * Entry.count per answer instead cost more than all the rest of an answer's work in Python: at
 * saturation 16% of kdns's throughput on cluster names and 24% on pod traffic, whose larger table
 * leaves each entry's dict of counts cold. An answer the struct cannot hold (another family or
 * request size than the ones it counts, or slower than the first duration bucket) still goes to
 * Entry.count.
 *
 * Built by setup.py as an optional extension: where it cannot be compiled, mmsg_ctypes.Batch (ctypes)
 * does the same work.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

/* Larger than any UDP payload, as mmsg.SLOT. */
#define SLOT 65536
#define HEADER 12
#define OPT_FIXED 11
#define CD 0x10 /* in byte 3 of the header */

/* Attribute names of fastpath.AnswerTable and fastpath.Entry, interned once. */
static PyObject *str_entries, *str_answer, *str_count, *str_udp;

/* What the loop reads of a fast-path entry, and the answers it counts on it: fastpath.Entry's base
 * class, EntryFields, where this module is built (entryfields.PlainEntryFields, in slots, where
 * it is not). Read from the object itself, not as attributes: a lookup and a new reference per field
 * per answer cost the loop some 6% of its throughput. */
typedef struct {
    PyObject_HEAD
    Py_ssize_t size;
    PyObject *heads, *tail, *runs, *countdown; /* as Entry.__init__ says; NULL until set */
    double quick_below;
    /* The UDP answers counted here since take_udp(): all of one family label and request size
     * (the first's), each faster than quick_below, their times summed. An answer in another
     * family or size, or a slower one, goes to Entry.count. */
    PyObject *udp_family; /* NULL while udp_answers is 0 */
    Py_ssize_t udp_size;
    unsigned long long udp_answers;
    double udp_elapsed;
} FieldsObject;

static PyObject *Fields_take_udp(FieldsObject *self, PyObject *unused) {
    if (self->udp_answers == 0)
        Py_RETURN_NONE;
    /* The tuple before the counts are read: making it may start a garbage collection (before
     * Python 3.12, which waits for the next bytecode), whose callbacks and finalizers may take the
     * counts (and drop the family) first. Nothing after it runs Python code. */
    PyObject *taken = PyTuple_New(4);
    if (taken == NULL)
        return NULL;
    if (self->udp_answers == 0) {
        Py_DECREF(taken);
        Py_RETURN_NONE;
    }
    PyObject *size = PyLong_FromSsize_t(self->udp_size);
    PyObject *answers = PyLong_FromUnsignedLongLong(self->udp_answers);
    PyObject *elapsed = PyFloat_FromDouble(self->udp_elapsed);
    if (size == NULL || answers == NULL || elapsed == NULL) {
        Py_XDECREF(size);
        Py_XDECREF(answers);
        Py_XDECREF(elapsed);
        Py_DECREF(taken);
        return NULL; /* the counts stay, for the next call */
    }
    PyTuple_SET_ITEM(taken, 0, self->udp_family); /* the struct's reference, moved */
    self->udp_family = NULL;
    PyTuple_SET_ITEM(taken, 1, size);
    PyTuple_SET_ITEM(taken, 2, answers);
    PyTuple_SET_ITEM(taken, 3, elapsed);
    self->udp_answers = 0;
    self->udp_elapsed = 0.0;
    return taken;
}

/* Its references are to bytes, tuples of bytes and numbers, and a str: never part of a cycle,
 * so the type needs no traverse (Entry's own slots are traversed by its subclass). */
static void Fields_dealloc(FieldsObject *self) {
    Py_CLEAR(self->heads);
    Py_CLEAR(self->tail);
    Py_CLEAR(self->runs);
    Py_CLEAR(self->countdown);
    Py_CLEAR(self->udp_family);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef Fields_members[] = {
    {"size", T_PYSSIZET, offsetof(FieldsObject, size), 0, NULL},
    {"heads", T_OBJECT_EX, offsetof(FieldsObject, heads), 0, NULL},
    {"tail", T_OBJECT_EX, offsetof(FieldsObject, tail), 0, NULL},
    {"runs", T_OBJECT_EX, offsetof(FieldsObject, runs), 0, NULL},
    {"countdown", T_OBJECT_EX, offsetof(FieldsObject, countdown), 0, NULL},
    {"quick_below", T_DOUBLE, offsetof(FieldsObject, quick_below), 0, NULL},
    {NULL},
};

static PyMethodDef Fields_methods[] = {
    {"take_udp", (PyCFunction)Fields_take_udp, METH_NOARGS,
     "(family, request size, answers, summed seconds) of the UDP answers the loop counted here "
     "since the last call, or None; they are not counted here again."},
    {NULL},
};

static PyTypeObject FieldsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kdns.server._mmsg.EntryFields",
    .tp_doc = PyDoc_STR("What the compiled loop reads of a fast-path entry and counts on it (fastpath.Entry's base)."),
    .tp_basicsize = sizeof(FieldsObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)Fields_dealloc,
    .tp_members = Fields_members,
    .tp_methods = Fields_methods,
};

/* Count one UDP answer of entry: on itself when it can hold it, else by Entry.count. 0, or -1
 * with an exception set. */
static int count(FieldsObject *entry, PyObject *family, Py_ssize_t request_size, double elapsed) {
    if (elapsed < entry->quick_below &&
        (entry->udp_answers == 0 || (entry->udp_family == family && entry->udp_size == request_size))) {
        if (entry->udp_answers == 0) {
            Py_XSETREF(entry->udp_family, Py_NewRef(family));
            entry->udp_size = request_size;
        }
        entry->udp_answers++;
        entry->udp_elapsed += elapsed;
        return 0;
    }
    PyObject *size = PyLong_FromSsize_t(request_size);
    PyObject *seconds = size ? PyFloat_FromDouble(elapsed) : NULL;
    PyObject *counted = NULL;
    if (seconds != NULL) {
        PyObject *args[] = {(PyObject *)entry, str_udp, family, size, seconds};
        counted = PyObject_VectorcallMethod(str_count, args, 5 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    }
    Py_XDECREF(size);
    Py_XDECREF(seconds);
    Py_XDECREF(counted);
    return counted == NULL ? -1 : 0;
}

typedef struct {
    PyObject_HEAD
    int fd;
    int family;
    unsigned int size;
    unsigned char *memory; /* size slots of SLOT bytes: a datagram, then its answer over it */
    struct sockaddr_in6 *names;
    struct iovec *recv_iov, *send_iov;
    struct mmsghdr *recv, *send;
    int serving; /* inside serve(), where Python code may run and call close() */
    int closed;
} BatchObject;

#define NSID 3     /* RFC 5001: the EDNS option code of NSID */
#define NSID_BIT 4 /* in the key's EDNS marker: the query asks for NSID (fastpath._NSID_BIT) */

/* RFC 6891 section 6.1.2: OPT rdata is a whole sequence of {code, length, data}. -1 when it is
 * not; else NSID_BIT when one of the options is NSID, 0 when none is. */
static int options_marker(const unsigned char *p, Py_ssize_t len) {
    Py_ssize_t offset = 0;
    int marker = 0;
    while (offset < len) {
        if (offset + 4 > len)
            return -1;
        if ((p[offset] << 8 | p[offset + 1]) == NSID)
            marker = NSID_BIT;
        offset += 4 + (p[offset + 2] << 8 | p[offset + 3]);
    }
    return offset == len ? marker : -1;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

enum { ANSWER_ERROR = -1, ANSWER_NONE = -2, ANSWER_IN_PYTHON = -3 };

/* The fast-path answer to the UDP query in d[0:len], written over it in place: its length, or
 * ANSWER_NONE when the table has none (the slow path's), ANSWER_IN_PYTHON when the entry's records
 * are reordered per answer (AnswerTable.answer does that), ANSWER_ERROR with an exception set.
 * Nothing is written unless an answer is. The rules are AnswerTable.answer's, line for line. */
static Py_ssize_t answer_in_place(unsigned char *d, Py_ssize_t len, PyObject *entries, PyObject *family) {
    if (len < HEADER || d[2] & 0xF8 || memcmp(d + 4, "\x00\x01\x00\x00\x00\x00", 6) != 0)
        return ANSWER_NONE;
    const unsigned char *zero = memchr(d + HEADER, 0, len - HEADER);
    if (zero == NULL)
        return ANSWER_NONE;
    Py_ssize_t end = zero - d, qend = end + 5;
    unsigned int arcount = d[10] << 8 | d[11];
    unsigned char marker;
    Py_ssize_t limit;
    if (arcount == 0) {
        if (len != qend)
            return ANSWER_NONE;
        marker = 0;
        limit = 512;
    } else if (arcount == 1 && len >= qend + OPT_FIXED) {
        const unsigned char *opt = d + qend;
        if (opt[0] != 0 || opt[1] != 0 || opt[2] != 41 || opt[6] != 0)
            return ANSWER_NONE;
        Py_ssize_t rdlen = opt[9] << 8 | opt[10];
        if (len != qend + OPT_FIXED + rdlen)
            return ANSWER_NONE;
        int options = options_marker(opt + OPT_FIXED, rdlen);
        if (options < 0)
            return ANSWER_NONE;
        marker = (opt[7] & 0x80 ? 3 : 1) | options;
        limit = opt[3] << 8 | opt[4];
        if (limit < 512)
            limit = 512;
    } else {
        return ANSWER_NONE;
    }

    /* The key: the name lowercased (ASCII only, as bytes.lower()), qtype and qclass, EDNS state. */
    Py_ssize_t name_len = end + 1 - HEADER;
    PyObject *key = PyBytes_FromStringAndSize(NULL, name_len + 5);
    if (key == NULL)
        return ANSWER_ERROR;
    unsigned char *k = (unsigned char *)PyBytes_AS_STRING(key);
    for (Py_ssize_t i = 0; i < name_len; i++) {
        unsigned char c = d[HEADER + i];
        k[i] = c >= 'A' && c <= 'Z' ? c + 32 : c;
    }
    memcpy(k + name_len, d + end + 1, 4);
    k[name_len + 4] = marker;
    PyObject *entry = PyDict_GetItemWithError(entries, key);
    Py_DECREF(key);
    if (entry == NULL)
        return PyErr_Occurred() ? ANSWER_ERROR : ANSWER_NONE;
    if (!PyObject_TypeCheck(entry, &FieldsType)) {
        PyErr_SetString(PyExc_TypeError, "a fast-path entry must be an EntryFields");
        return ANSWER_ERROR;
    }
    FieldsObject *fields = (FieldsObject *)entry;
    /* Borrowed: no Python code runs from here until the answer is written. */
    PyObject *countdown = fields->countdown, *runs = fields->runs, *heads = fields->heads, *tail = fields->tail;
    if (countdown == NULL || runs == NULL || heads == NULL || tail == NULL) {
        PyErr_SetString(PyExc_TypeError, "a fast-path entry's fields must all be set");
        return ANSWER_ERROR;
    }
    double start = now();
    if (fields->size > limit)
        return ANSWER_NONE; /* truncated, by the slow path */
    /* A cache answer (Entry.countdown): (born, ttl, offsets of its TTL fields in the tail); served
     * while it has whole seconds left, never to a CD asker, its TTLs patched to what is left. */
    long long left = 0;
    PyObject *offsets = NULL;
    if (countdown != Py_None) {
        if (!PyTuple_Check(countdown) || PyTuple_GET_SIZE(countdown) != 3 || !PyFloat_Check(PyTuple_GET_ITEM(countdown, 0)) ||
            !PyLong_Check(PyTuple_GET_ITEM(countdown, 1)) || !PyTuple_Check(PyTuple_GET_ITEM(countdown, 2))) {
            PyErr_SetString(PyExc_TypeError, "a fast-path entry's countdown must be (born, ttl, offsets)");
            return ANSWER_ERROR;
        }
        if (d[3] & CD)
            return ANSWER_NONE;
        double born = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(countdown, 0));
        long long ttl = PyLong_AsLongLong(PyTuple_GET_ITEM(countdown, 1));
        if (ttl == -1 && PyErr_Occurred())
            return ANSWER_ERROR;
        left = ttl - (long long)(now() - born); /* truncated toward zero, as int() */
        if (left <= 0)
            return ANSWER_NONE; /* expired: the cache decides (serve_stale, refresh, drop) */
        offsets = PyTuple_GET_ITEM(countdown, 2);
    }
    if (!PyTuple_Check(runs)) {
        PyErr_SetString(PyExc_TypeError, "a fast-path entry's runs must be a tuple");
        return ANSWER_ERROR;
    }
    if (PyTuple_GET_SIZE(runs) != 0)
        return ANSWER_IN_PYTHON;
    /* heads index: RD (byte 2, bit 0) and CD (byte 3, bit 4) of the query as bits 0 and 1. */
    Py_ssize_t index = (d[2] & 0x01) | (d[3] & 0x10) >> 3;
    if (!PyTuple_Check(heads) || PyTuple_GET_SIZE(heads) != 4 || !PyBytes_Check(tail)) {
        PyErr_SetString(PyExc_TypeError, "a fast-path entry's heads must be a 4-tuple and its tail bytes");
        return ANSWER_ERROR;
    }
    PyObject *head = PyTuple_GET_ITEM(heads, index);
    if (!PyBytes_Check(head) || PyBytes_GET_SIZE(head) != HEADER - 2) {
        PyErr_SetString(PyExc_TypeError, "a fast-path entry's head must be 10 bytes");
        return ANSWER_ERROR;
    }
    Py_ssize_t tail_len = PyBytes_GET_SIZE(tail);
    if (qend + tail_len > SLOT)
        return ANSWER_NONE;
    Py_ssize_t patches = offsets ? PyTuple_GET_SIZE(offsets) : 0;
    for (Py_ssize_t i = 0; i < patches; i++) {
        Py_ssize_t offset = PyLong_AsSsize_t(PyTuple_GET_ITEM(offsets, i));
        if (offset == -1 && PyErr_Occurred())
            return ANSWER_ERROR;
        if (offset < 0 || offset + 4 > tail_len) {
            PyErr_SetString(PyExc_ValueError, "a fast-path entry's TTL offset is outside its tail");
            return ANSWER_ERROR;
        }
    }
    memcpy(d + 2, PyBytes_AS_STRING(head), HEADER - 2);
    memcpy(d + qend, PyBytes_AS_STRING(tail), tail_len);
    for (Py_ssize_t i = 0; i < patches; i++) {
        unsigned char *ttl = d + qend + PyLong_AsSsize_t(PyTuple_GET_ITEM(offsets, i));
        ttl[0] = (unsigned char)(left >> 24);
        ttl[1] = (unsigned char)(left >> 16);
        ttl[2] = (unsigned char)(left >> 8);
        ttl[3] = (unsigned char)left;
    }
    Py_INCREF(entry); /* Entry.count may run Python code, which must not free the entry under it */
    int counted = count(fields, family, len, now() - start);
    Py_DECREF(entry);
    return counted == 0 ? qend + tail_len : ANSWER_ERROR;
}

/* Slot i's sender as the socket module writes addresses (as mmsg_ctypes.Batch.source). */
static PyObject *source(BatchObject *self, unsigned int i) {
    char text[INET6_ADDRSTRLEN];
    if (self->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&self->names[i];
        inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
        return Py_BuildValue("(si)", text, ntohs(sin->sin_port));
    }
    struct sockaddr_in6 *sin6 = &self->names[i];
    inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
    return Py_BuildValue("(siII)", text, ntohs(sin6->sin6_port), ntohl(sin6->sin6_flowinfo), sin6->sin6_scope_id);
}

/* The answer Python gives to slot i's query (table.answer, then miss), written into the slot: its
 * length, ANSWER_NONE when there is none (yet), ANSWER_ERROR with an exception set. */
static Py_ssize_t answer_in_python(BatchObject *self, unsigned int i, Py_ssize_t len, PyObject *table,
                                   PyObject *family, PyObject *miss, int ask_table) {
    unsigned char *d = self->memory + (size_t)i * SLOT;
    PyObject *query = PyBytes_FromStringAndSize((const char *)d, len);
    if (query == NULL)
        return ANSWER_ERROR;
    PyObject *out = ask_table ? PyObject_CallMethodObjArgs(table, str_answer, query, str_udp, family, NULL) : Py_NewRef(Py_None);
    if (out == Py_None) {
        Py_DECREF(out);
        PyObject *addr = source(self, i);
        out = addr ? PyObject_CallFunctionObjArgs(miss, query, addr, NULL) : NULL;
        Py_XDECREF(addr);
    }
    Py_DECREF(query);
    if (out == NULL)
        return ANSWER_ERROR;
    Py_ssize_t written = ANSWER_NONE;
    if (out != Py_None) {
        Py_buffer view;
        if (PyObject_GetBuffer(out, &view, PyBUF_SIMPLE) < 0) {
            Py_DECREF(out);
            return ANSWER_ERROR;
        }
        if (view.len > SLOT) {
            PyErr_Format(PyExc_ValueError, "an answer of %zd bytes does not fit a datagram", view.len);
            written = ANSWER_ERROR;
        } else {
            memcpy(d, view.buf, view.len);
            written = view.len;
        }
        PyBuffer_Release(&view);
    }
    Py_DECREF(out);
    return written;
}

/* Free the buffers. */
static void release(BatchObject *self) {
    if (self->memory != NULL)
        munmap(self->memory, (size_t)self->size * SLOT);
    self->memory = NULL;
    PyMem_Free(self->names);
    PyMem_Free(self->recv_iov);
    PyMem_Free(self->send_iov);
    PyMem_Free(self->recv);
    PyMem_Free(self->send);
    self->names = NULL;
    self->recv_iov = self->send_iov = NULL;
    self->recv = self->send = NULL;
}

/* Send the first count entries of the send array (as mmsg_ctypes.Batch.send). */
static void send_queued(BatchObject *self, unsigned int count) {
    unsigned int done = 0;
    while (done < count) {
        int sent = sendmmsg(self->fd, self->send + done, count - done, MSG_DONTWAIT);
        if (sent > 0) {
            done += sent;
            continue;
        }
        if (errno == EAGAIN || errno == ENOBUFS)
            return; /* a full send buffer: like a datagram lost on the way, the client retries */
        done += 1;  /* this one answer cannot go (say, to an unreachable source): skip it only */
    }
}

static PyObject *Batch_serve(BatchObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "serve(table, family, miss)");
        return NULL;
    }
    PyObject *table = args[0], *family = args[1], *miss = args[2];
    if (self->closed || self->memory == NULL || self->serving) {
        PyErr_SetString(PyExc_ValueError, self->serving ? "serve() inside serve()" : "serve() on a closed Batch");
        return NULL;
    }
    int n = recvmmsg(self->fd, self->recv, self->size, MSG_DONTWAIT, NULL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            Py_RETURN_NONE;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *entries = PyObject_GetAttr(table, str_entries);
    if (entries == NULL)
        return NULL;
    if (!PyDict_Check(entries)) {
        Py_DECREF(entries);
        PyErr_SetString(PyExc_TypeError, "table.entries must be a dict");
        return NULL;
    }
    unsigned int queued = 0;
    PyObject *result = Py_None;
    self->serving = 1;
    for (unsigned int i = 0; i < (unsigned int)n && !self->closed; i++) {
        unsigned char *d = self->memory + (size_t)i * SLOT;
        Py_ssize_t len = self->recv[i].msg_len;
        Py_ssize_t out = answer_in_place(d, len, entries, family);
        if (out == ANSWER_NONE || out == ANSWER_IN_PYTHON)
            out = answer_in_python(self, i, len, table, family, miss, out == ANSWER_IN_PYTHON);
        if (out == ANSWER_ERROR) {
            result = NULL; /* what was answered still goes, as in mmsg_ctypes.Batch.serve */
            break;
        }
        if (out == ANSWER_NONE)
            continue;
        self->send[queued].msg_hdr.msg_name = &self->names[i];
        self->send_iov[queued].iov_base = d;
        self->send_iov[queued].iov_len = out;
        queued++;
    }
    Py_DECREF(entries);
    self->serving = 0;
    if (self->closed)
        release(self); /* closed while a miss's Python ran: its socket is closed too, nothing to send */
    else if (queued)
        send_queued(self, queued);
    return Py_XNewRef(result);
}

static PyObject *Batch_close(BatchObject *self, PyObject *unused) {
    self->closed = 1;
    if (!self->serving)
        release(self); /* else serve() releases them when it returns */
    Py_RETURN_NONE;
}

static int Batch_init(BatchObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"sock", "size", NULL};
    PyObject *sock;
    Py_ssize_t size = 64;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|n", keywords, &sock, &size))
        return -1;
    if (self->serving) {
        PyErr_SetString(PyExc_ValueError, "__init__() inside serve()");
        return -1;
    }
    if (size < 1 || size > 1024) { /* 1024: the kernel's UIO_MAXIOV, the most one call takes */
        PyErr_SetString(PyExc_ValueError, "a batch holds 1 to 1024 datagrams");
        return -1;
    }
    PyObject *fileno = PyObject_CallMethod(sock, "fileno", NULL);
    PyObject *family = fileno ? PyObject_GetAttrString(sock, "family") : NULL;
    int fd = fileno ? PyLong_AsLong(fileno) : -1;
    int fam = family ? PyLong_AsLong(family) : -1;
    Py_XDECREF(fileno);
    Py_XDECREF(family);
    if (PyErr_Occurred())
        return -1;
    if (fam != AF_INET && fam != AF_INET6) {
        PyErr_SetString(PyExc_ValueError, "a Batch reads an IPv4 or IPv6 socket");
        return -1;
    }
    release(self);
    self->closed = 0;
    self->fd = fd;
    self->family = fam;
    self->size = size;
    /* One anonymous mapping: only the pages a datagram touches become resident. */
    void *memory = mmap(NULL, (size_t)size * SLOT, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    self->memory = memory;
    self->names = PyMem_Calloc(size, sizeof *self->names);
    self->recv_iov = PyMem_Calloc(size, sizeof *self->recv_iov);
    self->send_iov = PyMem_Calloc(size, sizeof *self->send_iov);
    self->recv = PyMem_Calloc(size, sizeof *self->recv);
    self->send = PyMem_Calloc(size, sizeof *self->send);
    if (!self->names || !self->recv_iov || !self->send_iov || !self->recv || !self->send) {
        release(self);
        PyErr_NoMemory();
        return -1;
    }
    socklen_t namelen = fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    for (unsigned int i = 0; i < size; i++) {
        self->recv_iov[i].iov_base = self->memory + (size_t)i * SLOT;
        self->recv_iov[i].iov_len = SLOT;
        self->recv[i].msg_hdr.msg_name = &self->names[i];
        self->recv[i].msg_hdr.msg_namelen = namelen;
        self->recv[i].msg_hdr.msg_iov = &self->recv_iov[i];
        self->recv[i].msg_hdr.msg_iovlen = 1;
        self->send[i].msg_hdr.msg_namelen = namelen;
        self->send[i].msg_hdr.msg_iov = &self->send_iov[i];
        self->send[i].msg_hdr.msg_iovlen = 1;
    }
    return 0;
}

static void Batch_dealloc(BatchObject *self) {
    release(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Batch_methods[] = {
    {"serve", (PyCFunction)(void (*)(void))Batch_serve, METH_FASTCALL,
     "serve(table, family, miss): answer what is waiting, as mmsg_ctypes.Batch.serve."},
    {"close", (PyCFunction)Batch_close, METH_NOARGS, "Free the buffers; the socket stays open."},
    {NULL},
};

static PyTypeObject BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kdns.server._mmsg.Batch",
    .tp_doc = PyDoc_STR("Batch(sock, size=64): receive and send buffers for one socket, as mmsg_ctypes.Batch."),
    .tp_basicsize = sizeof(BatchObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Batch_init,
    .tp_dealloc = (destructor)Batch_dealloc,
    .tp_methods = Batch_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "kdns.server._mmsg",
    .m_doc = "recvmmsg, the fast-path lookup and sendmmsg, compiled (see mmsg.py).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__mmsg(void) {
    struct {
        PyObject **name;
        const char *text;
    } names[] = {
        {&str_entries, "entries"}, {&str_answer, "answer"}, {&str_count, "count"}, {&str_udp, "udp"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((*names[i].name = PyUnicode_InternFromString(names[i].text)) == NULL)
            return NULL;
    if (PyType_Ready(&BatchType) < 0 || PyType_Ready(&FieldsType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Batch", (PyObject *)&BatchType) < 0 ||
        PyModule_AddObjectRef(m, "EntryFields", (PyObject *)&FieldsType) < 0 || PyModule_AddIntConstant(m, "SLOT", SLOT) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

/* launch_hosts.c — `tide run` on many hosts (see launch_hosts.h). */
#define _POSIX_C_SOURCE 200809L
#include "launch_hosts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *fmt, const char *what)
{
    fprintf(stderr, "tide: run: ");
    fprintf(stderr, fmt, what);
    fputc('\n', stderr);
    return -1;
}

int tide_hosts_option(tide_hosts *h, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    int is_file = strcmp(a, "--hostfile") == 0, is_host = strcmp(a, "--host") == 0;
    int is_launcher = strcmp(a, "--launcher") == 0;
    if (!is_file && !is_host && !is_launcher)
        return 0;
    if (*i + 1 >= argc)
        return fail("%s needs a value", a);
    const char *v = argv[++*i];
    if (is_file) {
        if (access(v, R_OK) != 0) {
            fprintf(stderr, "tide: run: --hostfile: cannot read %s: %s\n", v, strerror(errno));
            return -1;
        }
        h->hostfile = v;
    } else if (is_host) {
        if (!*v || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                             "._-:,") != strlen(v))
            return fail("--host expects host[:slots],... (e.g. a:2,b:2), got '%s'", v);
        h->host = v;
    } else {
        if (strcmp(v, "srun") != 0 && strcmp(v, "mpirun") != 0)
            return fail("--launcher expects mpirun or srun, got '%s'", v);
        h->srun = strcmp(v, "srun") == 0;
    }
    return 1;
}

/* A growing string. */
typedef struct {
    char *s;
    size_t len, cap;
} buf;

static int put(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p)
            return 0;
        b->s = p, b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 1;
}

/* The n-th entry (0-based) of SLURM_TASKS_PER_NODE ("2(x3),1" is 2, 2, 2, 1), or 0. */
static long tasks_on_node(const char *spec, long n)
{
    while (spec && *spec) {
        char *end;
        long count = strtol(spec, &end, 10), repeat = 1;
        if (end == spec)
            return 0;
        if (strncmp(end, "(x", 2) == 0) {
            repeat = strtol(end + 2, &end, 10);
            if (*end++ != ')')
                return 0;
        }
        if (n < repeat)
            return count;
        n -= repeat;
        spec = *end == ',' ? end + 1 : NULL;
    }
    return 0;
}

/* Appends "name" or "name:slots" for node number *k, separated by commas. */
static int add_node(buf *out, const char *name, size_t len, long *k, const char *tasks)
{
    char slots[32] = "";
    long t = tasks_on_node(tasks, (*k)++);
    if (t > 0)
        snprintf(slots, sizeof slots, ":%ld", t);
    return (out->len == 0 || put(out, ",", 1)) && put(out, name, len) &&
           put(out, slots, strlen(slots));
}

/* Expands a Slurm node list ("n[01-03,7],login") into "n01:2,n02:2,...". Returns 0 on a list
 * it cannot read. */
static int expand_nodelist(const char *list, const char *tasks, buf *out)
{
    long k = 0;
    const char *p = list;
    while (*p) {
        size_t plen = strcspn(p, "[,");
        if (p[plen] != '[') {                     /* a plain name */
            if (plen == 0 || !add_node(out, p, plen, &k, tasks))
                return 0;
            p += plen + (p[plen] == ',');
            continue;
        }
        const char *close = strchr(p + plen, ']');
        if (!close)
            return 0;
        for (const char *r = p + plen + 1; r < close;) {
            char *end;
            size_t width = strspn(r, "0123456789");
            long lo = strtol(r, &end, 10), hi = lo;
            if (end == r || width == 0)
                return 0;
            if (*end == '-') {
                const char *r2 = end + 1;
                hi = strtol(r2, &end, 10);
                if (end == r2 || hi < lo || hi - lo > 100000)
                    return 0;
            }
            for (long v = lo; v <= hi; v++) {
                char name[512];
                int n = snprintf(name, sizeof name, "%.*s%0*ld", (int)plen, p, (int)width, v);
                if (n < 0 || (size_t)n >= sizeof name || !add_node(out, name, (size_t)n, &k, tasks))
                    return 0;
            }
            r = end;
            if (*r == ',')
                r++;
            else if (r != close)
                return 0;
        }
        p = close + 1;
        if (*p == ',')
            p++;
        else if (*p)
            return 0;
    }
    return out->len > 0;
}

int tide_hosts_resolve(tide_hosts *h, long *np)
{
    const char *job = getenv("SLURM_JOB_ID");
    int in_slurm = job && *job;
    if (h->srun && !in_slurm)
        return fail("%s", "--launcher srun works inside a Slurm allocation (no SLURM_JOB_ID)"), 0;
    if (in_slurm && *np == 0) {
        const char *n = getenv("SLURM_NTASKS");
        if (n && *n)
            *np = strtol(n, NULL, 10);
    }
    if (!in_slurm || h->srun || h->hostfile || h->host)
        return 1;
    const char *list = getenv("SLURM_JOB_NODELIST");
    if (!list || !*list)
        list = getenv("SLURM_NODELIST");
    if (!list || !*list)
        return 1;                                  /* mpirun reads the allocation itself */
    buf out = {0};
    if (!expand_nodelist(list, getenv("SLURM_TASKS_PER_NODE"), &out)) {
        free(out.s);
        return fail("cannot read Slurm's node list '%s'", list), 0;
    }
    h->slurm_hosts = out.s;
    return 1;
}

int tide_hosts_remote(const tide_hosts *h)
{
    return h->hostfile || h->host || h->slurm_hosts || h->srun;
}

void tide_hosts_args(const tide_hosts *h, const char **cmd, int *c)
{
    if (h->hostfile) {
        cmd[(*c)++] = "--hostfile";
        cmd[(*c)++] = h->hostfile;
    }
    if (h->host || h->slurm_hosts) {
        cmd[(*c)++] = "--host";
        cmd[(*c)++] = h->host ? h->host : h->slurm_hosts;
    }
}

void tide_hosts_free(tide_hosts *h)
{
    free(h->slurm_hosts);
    h->slurm_hosts = NULL;
}

/* Whether the first word of entry (up to len bytes, ending at ':' or a blank) names a lost
 * host. */
static int names_lost(const char *entry, size_t len, const char *const *lost, int n)
{
    size_t word = 0;
    while (word < len && entry[word] != ':' && entry[word] != ' ' && entry[word] != '\t' &&
           entry[word] != '\n')
        word++;
    for (int k = 0; k < n; k++)
        if (strlen(lost[k]) == word && strncmp(entry, lost[k], word) == 0)
            return 1;
    return 0;
}

/* The slots an entry gives ("b:2", "b slots=2"; 1 when it does not say, as Open MPI counts). */
static long slots_of(const char *entry, size_t len, const char *mark)
{
    char text[512];
    snprintf(text, sizeof text, "%.*s", (int)(len < sizeof text ? len : sizeof text - 1), entry);
    const char *p = strstr(text, mark);
    long v = p ? strtol(p + strlen(mark), NULL, 10) : 1;
    return v > 0 ? v : 1;
}

/* --host a:2,b:2 without the lost hosts' entries; *gone: the slots they had. */
static char *host_list_without(const char *value, const char *const *lost, int n, long *gone)
{
    buf out = {0};
    for (const char *p = value; *p;) {
        size_t len = strcspn(p, ",");
        if (names_lost(p, len, lost, n))
            *gone += slots_of(p, len, ":");
        else if (!((out.len == 0 || put(&out, ",", 1)) && put(&out, p, len))) {
            free(out.s);
            return NULL;
        }
        p += len + (p[len] == ',');
    }
    if (!out.s)   /* nothing left: an empty value */
        put(&out, "", 0);
    return out.s;
}

/* The hostfile without the lost hosts' lines, in a new temporary file; its path. *kept: the
 * host lines left, *gone: the slots of those dropped. */
static char *hostfile_without(const char *path, const char *const *lost, int n, int *kept,
                              long *gone)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        fprintf(stderr, "tide: run: cannot read the hostfile %s again: %s\n", path,
                strerror(errno));
        return NULL;
    }
    char tmp[] = "/tmp/tide-hosts-XXXXXX";
    int fd = mkstemp(tmp);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
        fprintf(stderr, "tide: run: cannot write the hostfile without the lost hosts: %s\n",
                strerror(errno));
        if (fd >= 0)
            close(fd), unlink(tmp);
        fclose(in);
        return NULL;
    }
    char line[4096];
    while (fgets(line, sizeof line, in)) {
        const char *word = line + strspn(line, " \t");
        int host_line = *word && *word != '#' && *word != '\n';
        if (host_line && names_lost(word, strlen(word), lost, n)) {
            *gone += slots_of(word, strlen(word), "slots=");
            continue;
        }
        fputs(line, out);
        *kept += host_line;
    }
    fclose(in);
    if (fclose(out) != 0) {
        unlink(tmp);
        return NULL;
    }
    char *name = malloc(sizeof tmp);
    if (name)
        memcpy(name, tmp, sizeof tmp);
    else
        unlink(tmp);
    return name;
}

int tide_hosts_without(const char *option, const char *value, const char *const *lost, int n,
                       char **out, long *gone)
{
    int is_file = strcmp(option, "--hostfile") == 0;
    if (!is_file && strcmp(option, "--host") != 0)
        return 0;
    int kept = 0;
    *gone = 0;
    *out = is_file ? hostfile_without(value, lost, n, &kept, gone)
                   : host_list_without(value, lost, n, gone);
    if (!is_file)
        kept = *out && **out;
    if (*out && !kept) {
        fprintf(stderr, "tide: run: no host is left once %s%s is dropped\n", lost[0],
                n > 1 ? " and the others lost" : "");
        if (is_file)
            unlink(*out);
        free(*out);
        *out = NULL;
    }
    return 1;
}

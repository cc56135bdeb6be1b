/* example_loop.c: the C policy as a fixed-rate robot controller (dnne-robot export-policy
 * --format c). It speaks the project's UDP protocol (docs/deploy.md, "The UDP protocol") the
 * way deploy.py does, or reads observations on stdin.
 *
 *   cc -std=c99 -O2 -o example_loop example_loop.c policy.c -lm
 *   ./example_loop udp://127.0.0.1:9870 [--rate-hz R] [--duration S] [--watchdog-periods N]
 *                  [--phase F] [--connect-timeout S]
 *   ./example_loop -          # stdin: one observation per line -> one action per line
 *
 * UDP: it sends HELLO every 0.2 s until the robot's first OBS arrives, then runs one cycle per
 * period on absolute deadlines (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), next +=
 * period: no drift), --phase periods after the observations arrive. Each cycle takes the
 * newest OBS that arrived since the last one, calls policy_act and sends ACT (ref = the OBS's
 * seq). A bad observation (wrong length, NaN, inf) gets the safe action with the SAFE flag.
 * No good cycle for --watchdog-periods periods: safe action, STOP, exit 3. The robot's STOP:
 * exit 4. SIGINT/SIGTERM or --duration: safe action, STOP, exit 0. At the end it prints one
 * JSON line of statistics on stdout. Like deploy.py it drops datagrams from other addresses,
 * malformed ones and out-of-order ones; unlike deploy.py it keeps no stale-age estimate.
 *
 * POSIX (Linux, macOS, BSDs) for sockets and clocks; policy.c itself needs only <math.h>.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"

enum { MSG_HELLO = 1, MSG_OBS = 2, MSG_ACT = 3, MSG_STOP = 4 };
enum { EXIT_DONE = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_WATCHDOG = 3, EXIT_ROBOT_STOP = 4 };
#define HEADER_SIZE 32
#define MAX_DATAGRAM 65507
#define FLAG_SAFE 0x02

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* -- little-endian fields, whatever the host's byte order --------------------------------- */
static void put_u16(unsigned char *p, uint16_t v) { p[0] = v & 0xff; p[1] = v >> 8; }

static void put_u32(unsigned char *p, uint32_t v)
{
    int i;
    for (i = 0; i < 4; ++i) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; ++i) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct timespec to_timespec(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec += 1; ts.tv_nsec -= 1000000000L; }
    return ts;
}

/* -- the link to the robot ----------------------------------------------------------------- */
typedef struct {
    int fd;
    struct sockaddr_in robot;
    uint32_t session, seq;              /* ours */
    int have_peer;                      /* the robot's session and last accepted seq */
    uint32_t peer_session, peer_seq;
    long malformed, foreign, out_of_order, superseded;
} link_t;

static void send_msg(link_t *l, int type, const float *values, int count, uint32_t ref, int flags)
{
    unsigned char buf[HEADER_SIZE + 4 * POLICY_ACT_DIM];
    double stamp = now_s();
    uint64_t stamp_bits;
    uint32_t bits;
    int i;

    l->seq = l->seq == 0xffffffffu ? 1u : l->seq + 1u;
    buf[0] = 'D'; buf[1] = 'R'; buf[2] = 1; buf[3] = (unsigned char)type;
    buf[4] = 1; /* float32 */
    buf[5] = (unsigned char)flags;
    put_u16(buf + 6, (uint16_t)count);
    put_u32(buf + 8, l->session);
    put_u32(buf + 12, l->seq);
    put_u32(buf + 16, ref);
    put_u32(buf + 20, 0);
    memcpy(&stamp_bits, &stamp, sizeof stamp_bits);
    put_u64(buf + 24, stamp_bits);
    for (i = 0; i < count; ++i) {
        memcpy(&bits, &values[i], sizeof bits);
        put_u32(buf + HEADER_SIZE + 4 * i, bits);
    }
    (void)sendto(l->fd, buf, (size_t)(HEADER_SIZE + 4 * count), 0,
                 (const struct sockaddr *)&l->robot, sizeof l->robot);
}

/* seq comes after last in modulo-2^32 order (serial-number arithmetic) */
static int seq_newer(uint32_t seq, uint32_t last)
{
    uint32_t d = seq - last;
    return d != 0 && d < 0x80000000u;
}

typedef struct {
    int have;        /* an OBS arrived since the last cycle */
    int valid;       /* it had POLICY_OBS_DIM values */
    uint32_t seq;
    float values[POLICY_OBS_DIM];
} obs_t;

/* Drain the socket: keep the newest OBS in *obs; returns 1 when the robot sent STOP. */
static int receive(link_t *l, obs_t *obs)
{
    static unsigned char buf[MAX_DATAGRAM + 1];
    int robot_stop = 0;

    for (;;) {
        struct sockaddr_in from;
        socklen_t from_len = sizeof from;
        ssize_t n = recvfrom(l->fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from,
                             &from_len);
        unsigned type, dtype, count, size, i;
        uint32_t session, seq;

        if (n < 0) break; /* EAGAIN: nothing more waiting (or an ICMP error: ignore it) */
        if (from.sin_addr.s_addr != l->robot.sin_addr.s_addr
            || from.sin_port != l->robot.sin_port) {
            l->foreign++;
            continue;
        }
        if (n < HEADER_SIZE || buf[0] != 'D' || buf[1] != 'R' || buf[2] != 1) {
            l->malformed++;
            continue;
        }
        type = buf[3];
        dtype = buf[4];
        count = (unsigned)buf[6] | (unsigned)buf[7] << 8;
        size = dtype == 1 ? 4 : dtype == 2 ? 8 : 0;
        if (type < MSG_HELLO || type > MSG_STOP || !size
            || (size_t)n != HEADER_SIZE + count * size) {
            l->malformed++;
            continue;
        }
        session = get_u32(buf + 8);
        seq = get_u32(buf + 12);
        if (!l->have_peer || session != l->peer_session) {
            l->have_peer = 1; /* a new session: the robot restarted, start afresh */
            l->peer_session = session;
        } else if (!seq_newer(seq, l->peer_seq)) {
            l->out_of_order++;
            continue;
        }
        l->peer_seq = seq;
        if (type == MSG_STOP) {
            robot_stop = 1;
        } else if (type == MSG_OBS) {
            if (obs->have) l->superseded++;
            obs->have = 1;
            obs->seq = seq;
            obs->valid = count == POLICY_OBS_DIM;
            for (i = 0; obs->valid && i < count; ++i) {
                const unsigned char *p = buf + HEADER_SIZE + i * size;
                if (size == 4) {
                    uint32_t bits = get_u32(p);
                    memcpy(&obs->values[i], &bits, 4);
                } else {
                    uint64_t bits = get_u64(p);
                    double d;
                    memcpy(&d, &bits, 8);
                    obs->values[i] = (float)d;
                }
            }
        }
    }
    return robot_stop;
}

/* -- options -------------------------------------------------------------------------------- */
typedef struct {
    const char *robot;
    double rate_hz, duration, phase, connect_timeout;
    long watchdog_periods;
} options_t;

static void usage(void)
{
    printf("usage: example_loop udp://HOST:PORT [--rate-hz R] [--duration S]\n"
           "                    [--watchdog-periods N] [--phase F] [--connect-timeout S]\n"
           "       example_loop -    (stdin: one observation per line, %d values;\n"
           "                          prints one action per line, 'error CODE' or\n"
           "                          'error length')\n"
           "exit codes: 0 done or SIGINT/SIGTERM, 1 error before the loop, 2 bad arguments,\n"
           "            3 watchdog or no robot, 4 the robot sent STOP\n", POLICY_OBS_DIM);
}

static int number(const char *text, double *out)
{
    char *end;
    *out = strtod(text, &end);
    return *text && !*end && isfinite(*out);
}

static int parse_options(int argc, char **argv, options_t *o)
{
    int i;
    double v;

    o->robot = NULL;
    o->rate_hz = POLICY_CONTROL_RATE_HZ;
    o->duration = 0.0;
    o->phase = 0.25;
    o->connect_timeout = 5.0;
    o->watchdog_periods = 5;
    for (i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            exit(EXIT_DONE);
        }
        if (a[0] != '-' || !strcmp(a, "-")) {
            if (o->robot) {
                fprintf(stderr, "error: two robots given: %s and %s\n", o->robot, a);
                return 0;
            }
            o->robot = a;
            continue;
        }
        if (i + 1 >= argc || !number(argv[i + 1], &v)) {
            fprintf(stderr, "error: %s needs a number, got %s\n", a,
                    i + 1 < argc ? argv[i + 1] : "nothing");
            return 0;
        }
        ++i;
        if (!strcmp(a, "--rate-hz") && v > 0) o->rate_hz = v;
        else if (!strcmp(a, "--duration") && v > 0) o->duration = v;
        else if (!strcmp(a, "--phase") && v >= 0 && v < 1) o->phase = v;
        else if (!strcmp(a, "--connect-timeout") && v > 0) o->connect_timeout = v;
        else if (!strcmp(a, "--watchdog-periods") && v >= 1) o->watchdog_periods = (long)v;
        else {
            fprintf(stderr, "error: %s %s: unknown option, or the value is out of range "
                    "(--help lists them)\n", a, argv[i]);
            return 0;
        }
    }
    if (!o->robot) {
        fprintf(stderr, "error: no robot given: name it as udp://HOST:PORT, or - for stdin\n");
        return 0;
    }
    if (strcmp(o->robot, "-") && !(o->rate_hz > 0)) {
        fprintf(stderr, "error: policy.h has no control rate: pass --rate-hz\n");
        return 0;
    }
    return 1;
}

/* -- stdin mode ------------------------------------------------------------------------------ */
static int run_stdin(void)
{
    static char line[POLICY_OBS_DIM * 64 + 256];
    float obs[POLICY_OBS_DIM], action[POLICY_ACT_DIM];
    long lineno = 0;

    while (fgets(line, sizeof line, stdin)) {
        char *p = line, *end;
        int n = 0, i, code;
        ++lineno;
        for (;;) {
            float v = strtof(p, &end);
            if (end == p) break;
            if (n < POLICY_OBS_DIM) obs[n] = v;
            ++n;
            p = end;
        }
        if (n != POLICY_OBS_DIM) {
            fprintf(stderr, "error: line %ld has %d values, the policy takes %d\n", lineno, n,
                    POLICY_OBS_DIM);
            printf("error length\n");
            continue;
        }
        code = policy_act(obs, action);
        if (code != POLICY_OK) {
            printf("error %d\n", code);
            continue;
        }
        for (i = 0; i < POLICY_ACT_DIM; ++i) printf(i ? " %.9g" : "%.9g", (double)action[i]);
        printf("\n");
    }
    return EXIT_DONE;
}

/* -- UDP mode -------------------------------------------------------------------------------- */
static int open_link(link_t *l, const char *url)
{
    struct addrinfo hints, *res = NULL;
    struct sockaddr_in local;
    char host[256];
    const char *rest = strncmp(url, "udp://", 6) ? NULL : url + 6;
    const char *colon = rest ? strrchr(rest, ':') : NULL;
    size_t len;

    memset(l, 0, sizeof *l);
    if (!colon || colon == rest || (len = (size_t)(colon - rest)) >= sizeof host) {
        fprintf(stderr, "error: %s is not udp://HOST:PORT\n", url);
        return 0;
    }
    memcpy(host, rest, len);
    host[len] = '\0';
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res) {
        fprintf(stderr, "error: cannot resolve the robot %s\n", url);
        return 0;
    }
    memcpy(&l->robot, res->ai_addr, sizeof l->robot);
    freeaddrinfo(res);
    l->fd = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&local, 0, sizeof local);
    local.sin_family = AF_INET;
    /* a robot on loopback is answered from loopback only, as deploy.py does */
    local.sin_addr.s_addr = (ntohl(l->robot.sin_addr.s_addr) >> 24) == 127 ? htonl(INADDR_LOOPBACK)
                                                                         : htonl(INADDR_ANY);
    if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&local, sizeof local) != 0) {
        perror("error: socket");
        return 0;
    }
    l->session = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16 ^ (uint32_t)clock();
    return 1;
}

typedef struct {
    long cycles, actions, safe_actions, bad_obs, no_new_obs, missed, overruns;
    double late_max, late_sum, policy_max, policy_sum;
} stats_t;

static int run_udp(const options_t *o)
{
    link_t link;
    obs_t obs;
    stats_t s;
    float action[POLICY_ACT_DIM], safe[POLICY_ACT_DIM];
    double period = 1.0 / o->rate_hz, start, next, last_good, t, first_at;
    const char *reason = "duration";
    int code = EXIT_DONE;

    if (!open_link(&link, o->robot)) return EXIT_ERROR;
    memset(&obs, 0, sizeof obs);
    memset(&s, 0, sizeof s);
    policy_safe_action(safe);

    /* connect: HELLO every 0.2 s until the first observation */
    first_at = now_s();
    for (t = first_at; !obs.have; t = now_s()) {
        struct pollfd pfd;
        if (stop_requested || t - first_at > o->connect_timeout) {
            fprintf(stderr, stop_requested ? "stopped before the robot answered\n"
                                           : "error: no observation from the robot in time\n");
            send_msg(&link, MSG_STOP, NULL, 0, 0, 0);
            return stop_requested ? EXIT_DONE : EXIT_WATCHDOG;
        }
        send_msg(&link, MSG_HELLO, NULL, 0, 0, 0);
        pfd.fd = link.fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, 200) > 0 && receive(&link, &obs)) {
            fprintf(stderr, "the robot sent STOP\n");
            return EXIT_ROBOT_STOP;
        }
    }
    fprintf(stderr, "connected to %s: %g Hz\n", o->robot, o->rate_hz);

    start = next = now_s() + o->phase * period; /* the observations arrive at phase 0 */
    last_good = start;
    for (;;) {
        struct timespec deadline = to_timespec(next);
        double late, t0, took;
        int rc;

        while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL)) == EINTR
               && !stop_requested) {
        }
        t = now_s();
        late = t - next;
        s.late_max = late > s.late_max ? late : s.late_max;
        s.late_sum += late;
        ++s.cycles;
        if (stop_requested) { reason = "signal"; break; }
        if (o->duration > 0 && t - start >= o->duration) break;
        if (receive(&link, &obs)) { reason = "robot_stop"; code = EXIT_ROBOT_STOP; break; }

        if (!obs.have) {
            ++s.no_new_obs;
        } else {
            t0 = now_s();
            rc = obs.valid ? policy_act(obs.values, action) : POLICY_ERR_NONFINITE_OBS;
            took = now_s() - t0;
            s.policy_max = took > s.policy_max ? took : s.policy_max;
            s.policy_sum += took;
            if (rc == POLICY_OK) {
                send_msg(&link, MSG_ACT, action, POLICY_ACT_DIM, obs.seq, 0);
                ++s.actions;
                last_good = t;
            } else {
                send_msg(&link, MSG_ACT, safe, POLICY_ACT_DIM, obs.seq, FLAG_SAFE);
                ++s.safe_actions;
                ++s.bad_obs;
                fprintf(stderr, "policy_act returned %d: sent the safe action\n", rc);
            }
            obs.have = 0;
        }
        if (now_s() - last_good > (double)o->watchdog_periods * period) {
            reason = "watchdog";
            code = EXIT_WATCHDOG;
            fprintf(stderr, "watchdog: no good cycle for %ld periods\n", o->watchdog_periods);
            break;
        }
        next += period;
        if (now_s() > next) ++s.overruns;
        while (now_s() - next >= period) { /* whole periods already gone: skip, not catch up */
            next += period;
            ++s.missed;
        }
    }
    send_msg(&link, MSG_ACT, safe, POLICY_ACT_DIM, 0, FLAG_SAFE);
    ++s.safe_actions;
    send_msg(&link, MSG_STOP, NULL, 0, 0, 0);
    close(link.fd);
    t = now_s() - start;
    printf("{\"reason\": \"%s\", \"exit_code\": %d, \"seconds\": %.3f, \"achieved_hz\": %.3f, "
           "\"cycles\": %ld, \"actions\": %ld, \"safe_actions\": %ld, \"bad_obs\": %ld, "
           "\"no_new_obs\": %ld, \"missed\": %ld, \"overruns\": %ld, \"late_mean_ms\": %.4f, "
           "\"late_max_ms\": %.4f, \"policy_mean_us\": %.3f, \"policy_max_us\": %.3f, "
           "\"dropped\": {\"malformed\": %ld, \"foreign\": %ld, \"out_of_order\": %ld, "
           "\"superseded\": %ld}}\n",
           reason, code, t, t > 0 ? (double)s.cycles / t : 0.0, s.cycles, s.actions,
           s.safe_actions, s.bad_obs, s.no_new_obs, s.missed, s.overruns,
           s.cycles ? 1e3 * s.late_sum / (double)s.cycles : 0.0, 1e3 * s.late_max,
           s.actions + s.bad_obs ? 1e6 * s.policy_sum / (double)(s.actions + s.bad_obs) : 0.0,
           1e6 * s.policy_max, link.malformed, link.foreign, link.out_of_order, link.superseded);
    return code;
}

int main(int argc, char **argv)
{
    options_t o;
    struct sigaction sa;

    if (!parse_options(argc, argv, &o)) return EXIT_USAGE; /* one line on stderr says why */
    if (!strcmp(o.robot, "-")) return run_stdin();
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a signal ends the current sleep */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return run_udp(&o);
}

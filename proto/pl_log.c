/*  pl_log: see pl_log.h. One fprintf per line so lines from several threads
 *  never interleave within a line (stdio locks the stream per call).
 *
 *  A broker under load logs a line per event and per receipt: formatting
 *  the time and one write(2) per line took 6-7 % of its server thread
 *  (perf, 8,000 events a second). So the stamp's date part is formatted
 *  once per second per thread, and a daemon may ask for its lines to be
 *  buffered (pl_log_buffer) and flush them itself after each round of
 *  work (pl_log_flush); warnings and fatal
 *  errors are always written at once. What a crash (a signal) interrupts
 *  loses the lines of the round in progress, at most about a second's.  */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/time.h>
#include "pl_log.h"

static const char *s_progname = "passerelle";
static int s_verbosity = 1;
static bool s_buffered = false;

void
pl_log_init (const char *progname)
{
    s_progname = progname;
}

void
pl_log_set_verbosity (int level)
{
    s_verbosity = level;
}

void
pl_log_buffer (void)
{
    static char buffer [64 * 1024];
    if (!s_buffered && setvbuf (stderr, buffer, _IOFBF, sizeof buffer) == 0)
        s_buffered = true;
}

void
pl_log_flush (void)
{
    if (s_buffered)
        fflush (stderr);
}

//  "2026-11-27T10:00:00" for now, formatted again only when the second changes
static const char *
s_stamp (time_t now)
{
    static _Thread_local time_t formatted = -1;
    static _Thread_local char stamp [32];
    if (now != formatted) {
        struct tm tm;
        gmtime_r (&now, &tm);
        strftime (stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
        formatted = now;
    }
    return stamp;
}

static void
s_log (const char *level, bool at_once, const char *fmt, va_list args)
{
    char message [2048];
    vsnprintf (message, sizeof message, fmt, args);
    struct timeval now;
    gettimeofday (&now, NULL);
    fprintf (stderr, "%s.%03dZ %s: %s%s\n", s_stamp (now.tv_sec), (int) (now.tv_usec / 1000),
             s_progname, level, message);
    if (at_once)
        pl_log_flush ();
}

void
log_info (const char *fmt, ...)
{
    if (s_verbosity < 1)
        return;
    va_list args;
    va_start (args, fmt);
    s_log ("", false, fmt, args);
    va_end (args);
}

void
log_debug (const char *fmt, ...)
{
    if (s_verbosity < 2)
        return;
    va_list args;
    va_start (args, fmt);
    s_log ("debug: ", false, fmt, args);
    va_end (args);
}

void
log_warn (const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    s_log ("warning: ", true, fmt, args);
    va_end (args);
}

void
fatal (const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    s_log ("fatal: ", true, fmt, args);
    va_end (args);
    exit (1);
}

/*  pl_log: see pl_log.h. One fwrite per line so lines from several threads
 *  never interleave within a line (stdio locks the stream per call).
 *
 *  A broker under load logs a line per event and per receipt: formatting
 *  the time and one write(2) per line took 6-7 % of its server thread
 *  (perf, 8,000 events a second). So the stamp's date part is formatted
 *  once per second per thread, and a daemon may ask for its lines to be
 *  buffered (pl_log_buffer) and flush them itself after each round of
 *  work (pl_log_flush); warnings and fatal errors are always written at
 *  once. What a crash (a signal) interrupts loses the lines of the round
 *  in progress, at most about a second's.  */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
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

//  Append text to the line being built, as far as it fits
static size_t
s_append (char *line, size_t used, size_t room, const char *text)
{
    size_t size = strnlen (text, room - used);
    memcpy (line + used, text, size);
    return used + size;
}

//  "<stamp>.<ms>Z <program>: <level><message>\n", built in one buffer and
//  written whole: a busy broker logs a line or two per event, and one
//  formatting pass (the message's) is half the cost of two
static void
s_log (const char *level, bool at_once, const char *fmt, va_list args)
{
    enum { PREFIX_MAX = 160, MESSAGE_MAX = 2048 };
    char line [PREFIX_MAX + MESSAGE_MAX + 1];
    struct timeval now;
    gettimeofday (&now, NULL);
    int ms = (int) (now.tv_usec / 1000);
    char millis [6] = { '.', (char) ('0' + ms / 100), (char) ('0' + ms / 10 % 10),
                        (char) ('0' + ms % 10), 'Z', 0 };
    size_t used = s_append (line, 0, PREFIX_MAX, s_stamp (now.tv_sec));
    used = s_append (line, used, PREFIX_MAX, millis);
    used = s_append (line, used, PREFIX_MAX, " ");
    used = s_append (line, used, PREFIX_MAX, s_progname);
    used = s_append (line, used, PREFIX_MAX, ": ");
    used = s_append (line, used, PREFIX_MAX, level);
    int size = vsnprintf (line + used, MESSAGE_MAX, fmt, args);
    if (size > 0)
        used += (size_t) size < MESSAGE_MAX? (size_t) size: MESSAGE_MAX - 1;
    line [used++] = '\n';
    fwrite (line, 1, used, stderr);
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

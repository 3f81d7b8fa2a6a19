/*  pl_log: see pl_log.h. One fprintf per line so lines from several threads
 *  never interleave within a line (stdio locks the stream per call).  */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/time.h>
#include "pl_log.h"

static const char *s_progname = "passerelle";
static int s_verbosity = 1;

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

static void
s_log (const char *level, const char *fmt, va_list args)
{
    char message [2048];
    vsnprintf (message, sizeof message, fmt, args);
    struct timeval now;
    gettimeofday (&now, NULL);
    struct tm tm;
    gmtime_r (&now.tv_sec, &tm);
    char stamp [32];
    strftime (stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf (stderr, "%s.%03dZ %s: %s%s\n", stamp, (int) (now.tv_usec / 1000),
             s_progname, level, message);
}

void
log_info (const char *fmt, ...)
{
    if (s_verbosity < 1)
        return;
    va_list args;
    va_start (args, fmt);
    s_log ("", fmt, args);
    va_end (args);
}

void
log_debug (const char *fmt, ...)
{
    if (s_verbosity < 2)
        return;
    va_list args;
    va_start (args, fmt);
    s_log ("debug: ", fmt, args);
    va_end (args);
}

void
log_warn (const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    s_log ("warning: ", fmt, args);
    va_end (args);
}

void
fatal (const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    s_log ("fatal: ", fmt, args);
    va_end (args);
    exit (1);
}

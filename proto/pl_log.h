/*  pl_log: one clear line per event, OpenBSD-daemon style.
 *
 *  Every binary logs to stderr as "2026-11-27T10:00:00.123Z name: message".
 *  fatal() logs and exits 1. Nothing secret is ever passed here: callers log
 *  agency ids, event ids and reasons, never keys, tokens or payloads.  */
#ifndef PL_LOG_H_INCLUDED
#define PL_LOG_H_INCLUDED

#include <stdarg.h>

/*  Name shown on every line (the program name). Call once at start-up.  */
void pl_log_init (const char *progname);

/*  0 = warnings only, 1 = info (default), 2 = debug.  */
void pl_log_set_verbosity (int level);

/*  Buffer info and debug lines (call before anything is logged) until
 *  pl_log_flush, for a daemon that flushes after each round of work.
 *  Warnings and fatal errors flush at once, with what was held before them.
 *  Without it every line is written as it is logged.  */
void pl_log_buffer (void);
void pl_log_flush (void);

void log_info (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
void log_debug (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
void log_warn (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
void fatal (const char *fmt, ...) __attribute__ ((format (printf, 1, 2), noreturn));

#endif

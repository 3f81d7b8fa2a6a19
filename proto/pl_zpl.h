/*  pl_zpl: load a ZPL file (CZMQ zconfig) and remember each node's line.
 *
 *  zconfig parses ZPL but forgets where things were, and reports syntax
 *  errors only by printing them (zclock_log, to stdout). Every passerelle file error must name the
 *  file, the line and what was expected, so this wrapper captures zconfig's
 *  message, and maps nodes back to lines: ZPL has exactly one node per
 *  non-blank, non-comment line, in file order, which is zconfig's pre-order.
 */
#ifndef PL_ZPL_H_INCLUDED
#define PL_ZPL_H_INCLUDED

#include <czmq.h>

typedef struct _pl_zpl_t pl_zpl_t;

/*  Load path. On failure returns NULL and writes "path:line: what" (or
 *  "path: what") into err.  */
pl_zpl_t *pl_zpl_load (const char *path, char *err, size_t err_size);

/*  Same, from text in memory; name is used in messages.  */
pl_zpl_t *pl_zpl_load_text (const char *name, const char *text, char *err, size_t err_size);

void pl_zpl_destroy (pl_zpl_t **self_p);

zconfig_t *pl_zpl_root (pl_zpl_t *self);
const char *pl_zpl_name (pl_zpl_t *self);

/*  Line of a node of this file, or 0 when unknown.  */
int pl_zpl_line (pl_zpl_t *self, zconfig_t *node);

/*  Format "file:line: " + message into err for a node (line omitted if 0).  */
void pl_zpl_error (pl_zpl_t *self, zconfig_t *node, char *err, size_t err_size,
                   const char *fmt, ...) __attribute__ ((format (printf, 5, 6)));

/*  A path from a configuration file: relative paths are relative to the
 *  file's folder, so a deployment folder can be moved as a whole.  */
void pl_zpl_resolve_path (const char *config_path, const char *value, char *out, size_t size);

/*  Check that every child of node is named in the NULL-terminated list
 *  allowed; writes an error naming the first stranger. Returns 0 or -1.  */
int pl_zpl_check_names (pl_zpl_t *self, zconfig_t *node, const char **allowed,
                        char *err, size_t err_size);

#endif

/*  pb_gate: who may connect, and the socket they connect to.
 *
 *  The ZAP handler (CZMQ zauth) is fed with the directory's keys, written as
 *  CZMQ public certificates into a fresh folder of the broker's private state
 *  on every (re)load, and the CURVE ROUTER socket binds only once zauth is
 *  answering: libzmq would otherwise let the first handshakes through.  */
#ifndef PB_GATE_H_INCLUDED
#define PB_GATE_H_INCLUDED

#include <czmq.h>
#include "pl_directory.h"

typedef struct _pb_gate_t pb_gate_t;

/*  Start zauth; keys go under state_path. NULL on failure (logged).  */
pb_gate_t *pb_gate_new (const char *state_path);
void pb_gate_destroy (pb_gate_t **self_p);

/*  Admit exactly the agencies of directory from now on. 0 or -1 (logged).  */
int pb_gate_admit (pb_gate_t *self, pl_directory_t *directory);

/*  A CURVE server ROUTER for cert, bound to endpoint (retrying briefly, as
 *  after a rebind the old listener may still be closing). NULL (logged).  */
zsock_t *pb_gate_bind (pb_gate_t *self, zcert_t *cert, const char *endpoint);

#endif

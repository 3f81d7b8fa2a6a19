/*  pe_port: free TCP ports on 127.0.0.1 for the end-to-end harness and the
 *  broker benchmark, which start real daemons side by side.  */
#ifndef PE_PORT_H_INCLUDED
#define PE_PORT_H_INCLUDED

#include <stdbool.h>

/*  A port the kernel just gave out on 127.0.0.1 (free a moment ago), or -1.  */
int pe_port_free (void);

/*  Whether something accepts connections on 127.0.0.1:port.  */
bool pe_port_open (int port);

#endif

/*  pb_audit_report: the self-contained HTML report (see pb_audit.h).  */
#include "pb_audit_int.h"

int
pb_audit_report (pb_audit_t *self, const pb_audit_filter_t *filter, const char *path)
{
    (void) self; (void) filter; (void) path;
    return PB_AUDIT_ERROR;
}

/*  pb_store_memory: keeping the broker's RSS about what it holds.
 *
 *  LMDB reads through a shared map of the store file, so every page the
 *  broker ever read stays in its resident set although it is page cache
 *  the kernel may take back at any time: left alone, RSS grows with the
 *  store, not with what the broker holds. pb_store_trim_map gives the
 *  map's pages back (they stay cached; a later read maps them again). See
 *  pb_store.h.  */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "pb_store_int.h"

static const char *META_SCHEMA = "schema";

//  Resident file-backed bytes of this process (statm's third field: the
//  map's pages, and shared libraries'), or 0 if /proc cannot be read
size_t
pb_store_file_resident_bytes (void)
{
    unsigned long size = 0, resident = 0, shared = 0;
    FILE *file = fopen ("/proc/self/statm", "r");
    int fields = file? fscanf (file, "%lu %lu %lu", &size, &resident, &shared): 0;
    if (file)
        fclose (file);
    return fields == 3? (size_t) shared * (size_t) sysconf (_SC_PAGESIZE): 0;
}

//  LMDB does not say where its map is (mdb_env_info's address is only for
//  MDB_FIXEDMAP), so find the mapping that holds a record we read, and
//  accept it only if it is the store's data file, of the map's size.
static int
s_find_map (pb_store_t *self, size_t map_size)
{
    self->map_start = NULL;
    self->map_length = 0;
    MDB_txn *txn;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn) != 0)
        return -1;
    MDB_val k = { strlen (META_SCHEMA), (void *) META_SCHEMA }, v;
    uintptr_t inside = mdb_get (txn, self->meta, &k, &v) == 0? (uintptr_t) v.mv_data: 0;
    mdb_txn_abort (txn);
    FILE *maps = inside? fopen ("/proc/self/maps", "r"): NULL;
    char line [4352];
    while (maps && fgets (line, sizeof line, maps)) {
        unsigned long long start, end;
        if (sscanf (line, "%llx-%llx", &start, &end) != 2 || inside < start || inside >= end)
            continue;
        line [strcspn (line, "\n")] = 0;
        size_t len = strlen (line);
        if (end - start == map_size && len > 9 && strcmp (line + len - 9, "/data.mdb") == 0) {
            self->map_start = (void *) (uintptr_t) start;
            self->map_length = (size_t) (end - start);
        }
        break;
    }
    if (maps)
        fclose (maps);
    return self->map_start? 0: -1;
}

size_t
pb_store_trim_map (pb_store_t *self, size_t budget, bool *released)
{
    *released = false;
    size_t bytes = pb_store_file_resident_bytes ();
    //  What was resident at open is libraries, not the map
    size_t over = bytes > self->file_baseline? bytes - self->file_baseline: 0;
    MDB_envinfo info;
    if (over <= budget || mdb_env_info (self->env, &info) != 0)
        return bytes;
    //  The kernel maps whole pages: a map size that is not a multiple of
    //  the page size is mapped rounded up
    size_t page = (size_t) sysconf (_SC_PAGESIZE);
    size_t mapped = (info.me_mapsize + page - 1) / page * page;
    if (!self->map_start || self->map_length != mapped) {
        if (self->map_not_found == mapped)
            return bytes;               //  looked already: not at every check
        if (s_find_map (self, mapped) != 0) {
            self->map_not_found = mapped;
            return bytes;
        }
    }
    if (madvise (self->map_start, self->map_length, MADV_DONTNEED) == 0)
        *released = true;
    return bytes;
}

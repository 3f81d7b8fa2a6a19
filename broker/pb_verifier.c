/*  pb_verifier: a small pool of threads for the signature checks (pb_verifier.h).
 *
 *  Items are handed out one at a time through an atomic counter, so a slow
 *  item never holds up the others and the caller, in finish(), takes items
 *  exactly like a helper. The lock guards the job itself: a helper copies
 *  it and counts itself in (active) under the lock, and a job is replaced
 *  only when every item is done AND no helper is still inside it. Without
 *  that second condition a helper that woke late could take an index from
 *  the next job's counter and apply it to the old job's items.
 *
 *  Only one thread (the broker's server thread) calls start and finish.  */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include "pb_verifier.h"

#define MAX_THREADS 8

typedef struct {
    char *items;
    size_t item_size, count;
    pb_verify_fn *fn;
    void *arg;
} job_t;

struct _pb_verifier_t {
    pthread_t threads [MAX_THREADS];
    size_t thread_count;
    pthread_mutex_t lock;
    pthread_cond_t work;            //  a job started, or stop
    pthread_cond_t done;            //  the job became idle
    uint64_t generation;            //  counts jobs, so a helper takes each once
    bool stopping;
    job_t job;                      //  replaced only when idle (under lock)
    atomic_size_t next;             //  the job's next item to take
    size_t finished;                //  the job's items done (under lock)
    size_t active;                  //  helpers inside the job (under lock)
};

//  Take and do items of job until none is left; returns how many.
static size_t
s_take_items (pb_verifier_t *self, const job_t *job)
{
    size_t did = 0;
    for (;;) {
        size_t index = atomic_fetch_add (&self->next, 1);
        if (index >= job->count)
            break;
        job->fn (job->items + index * job->item_size, job->arg);
        did++;
    }
    return did;
}

//  Under the lock: every item done and nobody inside the job
static bool
s_idle (pb_verifier_t *self)
{
    return self->finished >= self->job.count && self->active == 0;
}

static void *
s_helper (void *arg)
{
    pb_verifier_t *self = arg;
    uint64_t seen = 0;
    pthread_mutex_lock (&self->lock);
    for (;;) {
        while (!self->stopping && self->generation == seen)
            pthread_cond_wait (&self->work, &self->lock);
        if (self->stopping)
            break;
        seen = self->generation;
        job_t job = self->job;
        self->active++;
        pthread_mutex_unlock (&self->lock);
        size_t did = s_take_items (self, &job);
        pthread_mutex_lock (&self->lock);
        self->finished += did;
        self->active--;
        if (s_idle (self))
            pthread_cond_broadcast (&self->done);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

pb_verifier_t *
pb_verifier_new (size_t threads)
{
    pb_verifier_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->work, NULL);
    pthread_cond_init (&self->done, NULL);
    atomic_init (&self->next, 0);
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    for (size_t i = 0; i < threads; i++) {
        if (pthread_create (&self->threads [i], NULL, s_helper, self) != 0) {
            pb_verifier_destroy (&self);
            return NULL;
        }
        self->thread_count++;
    }
    return self;
}

void
pb_verifier_destroy (pb_verifier_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pb_verifier_t *self = *self_p;
    pb_verifier_finish (self);
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    pthread_cond_broadcast (&self->work);
    pthread_mutex_unlock (&self->lock);
    for (size_t i = 0; i < self->thread_count; i++)
        pthread_join (self->threads [i], NULL);
    pthread_cond_destroy (&self->done);
    pthread_cond_destroy (&self->work);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

void
pb_verifier_start (pb_verifier_t *self, void *items, size_t item_size, size_t count,
                   pb_verify_fn *fn, void *arg)
{
    pb_verifier_finish (self);      //  one job at a time, whatever the caller did
    pthread_mutex_lock (&self->lock);
    //  A helper that woke late may have entered the finished job (it takes
    //  nothing there); the job is replaced only once it is out
    while (!s_idle (self))
        pthread_cond_wait (&self->done, &self->lock);
    self->job = (job_t) { items, item_size, count, fn, arg };
    self->finished = 0;
    atomic_store (&self->next, 0);
    self->generation++;
    if (count > 0 && self->thread_count > 0)
        pthread_cond_broadcast (&self->work);
    pthread_mutex_unlock (&self->lock);
}

void
pb_verifier_finish (pb_verifier_t *self)
{
    //  Only this thread replaces the job, so reading it here is safe
    size_t did = s_take_items (self, &self->job);
    pthread_mutex_lock (&self->lock);
    self->finished += did;
    while (!s_idle (self))
        pthread_cond_wait (&self->done, &self->lock);
    pthread_mutex_unlock (&self->lock);
}

size_t
pb_verifier_threads (pb_verifier_t *self)
{
    return self->thread_count;
}

size_t
pb_verifier_default_threads (void)
{
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    if (cores <= 2)
        return 1;
    return cores - 1 > MAX_THREADS? MAX_THREADS: (size_t) cores - 1;
}

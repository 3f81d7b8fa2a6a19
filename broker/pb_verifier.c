/*  pb_verifier: a small pool of threads for the signature checks (pb_verifier.h).
 *
 *  Items are handed out one at a time through an atomic counter, so a slow
 *  item never holds up the others and the caller, in finish(), takes items
 *  exactly like a helper. The mutex guards only the job's start and end.  */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include "pb_verifier.h"

#define MAX_THREADS 8

struct _pb_verifier_t {
    pthread_t threads [MAX_THREADS];
    size_t thread_count;
    pthread_mutex_t lock;
    pthread_cond_t work;            //  a job started, or stop
    pthread_cond_t done;            //  the last item of the job finished
    uint64_t generation;            //  counts jobs, so a helper takes each once
    bool stopping;
    bool running;                   //  a job was started and not finished
    //  The job
    char *items;
    size_t item_size, count;
    pb_verify_fn *fn;
    void *arg;
    atomic_size_t next;             //  the next item to take
    size_t finished;                //  items done (under lock)
};

//  Take and do items until none is left; returns how many this thread did.
static size_t
s_take_items (pb_verifier_t *self)
{
    size_t did = 0;
    for (;;) {
        size_t index = atomic_fetch_add (&self->next, 1);
        if (index >= self->count)
            break;
        self->fn (self->items + index * self->item_size, self->arg);
        did++;
    }
    return did;
}

static void
s_count_done (pb_verifier_t *self, size_t did)
{
    if (did == 0)
        return;
    pthread_mutex_lock (&self->lock);
    self->finished += did;
    if (self->finished == self->count)
        pthread_cond_broadcast (&self->done);
    pthread_mutex_unlock (&self->lock);
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
        pthread_mutex_unlock (&self->lock);
        s_count_done (self, s_take_items (self));
        pthread_mutex_lock (&self->lock);
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
    self->items = items;
    self->item_size = item_size;
    self->count = count;
    self->fn = fn;
    self->arg = arg;
    self->finished = 0;
    atomic_store (&self->next, 0);
    self->running = true;
    self->generation++;
    if (count > 0 && self->thread_count > 0)
        pthread_cond_broadcast (&self->work);
    pthread_mutex_unlock (&self->lock);
}

void
pb_verifier_finish (pb_verifier_t *self)
{
    if (!self->running)
        return;
    s_count_done (self, s_take_items (self));
    pthread_mutex_lock (&self->lock);
    while (self->finished < self->count)
        pthread_cond_wait (&self->done, &self->lock);
    self->running = false;
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

/*  verifier.c - a worker thread sharing each turn's signature checks.     */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "verifier.h"

#define VERIFIER_MIN_PARALLEL 4     /* below this, a handoff costs more */

struct verifier {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_cond_t done;
    verify_job_t *jobs;
    size_t count;
    bool busy;                  /* worker has a share to do */
    bool quit;
};

static void s_verify(verify_job_t *jobs, size_t count, size_t first, size_t step)
{
    for (size_t i = first; i < count; i += step)
        jobs[i].result = sp_key_verify(jobs[i].key, jobs[i].domain, jobs[i].msg,
                                       jobs[i].len, jobs[i].sig);
}

static void *s_worker(void *arg)
{
    verifier_t *self = arg;
    pthread_mutex_lock(&self->lock);
    for (;;) {
        while (!self->busy && !self->quit)
            pthread_cond_wait(&self->wake, &self->lock);
        if (self->quit)
            break;
        pthread_mutex_unlock(&self->lock);
        s_verify(self->jobs, self->count, 1, 2);
        pthread_mutex_lock(&self->lock);
        self->busy = false;
        pthread_cond_signal(&self->done);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

verifier_t *verifier_new(void)
{
    verifier_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    pthread_cond_init(&self->done, NULL);
    if (pthread_create(&self->thread, NULL, s_worker, self) != 0) {
        pthread_mutex_destroy(&self->lock);
        pthread_cond_destroy(&self->wake);
        pthread_cond_destroy(&self->done);
        free(self);
        return NULL;
    }
    return self;
}

void verifier_destroy(verifier_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    verifier_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    self->quit = true;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->wake);
    pthread_cond_destroy(&self->done);
    free(self);
    *self_p = NULL;
}

void verifier_run(verifier_t *self, verify_job_t *jobs, size_t count)
{
    if (!self || count < VERIFIER_MIN_PARALLEL) {
        s_verify(jobs, count, 0, 1);
        return;
    }
    pthread_mutex_lock(&self->lock);
    self->jobs = jobs;
    self->count = count;
    self->busy = true;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    s_verify(jobs, count, 0, 2);
    pthread_mutex_lock(&self->lock);
    while (self->busy)
        pthread_cond_wait(&self->done, &self->lock);
    pthread_mutex_unlock(&self->lock);
}

/* A C operator: upper-cases every message on `reply` and sends it on
 * `loud`, written straight into a buffer of the runtime (no copy), with
 * the message's parameters and one of its own, `shouted`. It counts what
 * it handled in the runtime-kept state, which survives a restart. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dora_operator.h>

typedef struct {
    unsigned long handled;
} Shout;

static DoraSlice text(const char *s) {
    DoraSlice slice = {(const uint8_t *)s, strlen(s)};
    return slice;
}

int32_t dora_init_operator(const DoraContext *context, void **instance) {
    Shout *shout = calloc(1, sizeof *shout);
    if (shout == NULL) {
        context->set_error(context->runtime, text("out of memory"));
        return DORA_ERROR;
    }
    DoraSlice saved = context->state_get(context->runtime, text("handled"));
    if (saved.ptr != NULL && saved.len == sizeof shout->handled) {
        memcpy(&shout->handled, saved.ptr, sizeof shout->handled);
    }
    *instance = shout;
    return DORA_OK;
}

int32_t dora_on_event(void *instance, const DoraEvent *event, const DoraContext *context) {
    Shout *shout = instance;
    if (event->kind != DORA_EVENT_INPUT) {
        return DORA_CONTINUE;
    }
    uint8_t *buffer = context->alloc_buffer(context->runtime, event->data.len);
    if (buffer == NULL) {
        context->set_error(context->runtime, text("no buffer"));
        return DORA_ERROR;
    }
    for (size_t i = 0; i < event->data.len; i++) {
        buffer[i] = (uint8_t)toupper(event->data.ptr[i]);
    }
    /* What came in (the C node's `count`), and `shouted`. */
    size_t count = event->parameters_len + 1;
    DoraParameter *parameters = malloc(count * sizeof *parameters);
    if (parameters == NULL) {
        context->free_buffer(context->runtime, buffer);
        context->set_error(context->runtime, text("out of memory"));
        return DORA_ERROR;
    }
    if (event->parameters_len > 0) {
        memcpy(parameters, event->parameters, event->parameters_len * sizeof *parameters);
    }
    DoraParameter shouted = {text("shouted"), DORA_PARAMETER_BOOL, 1, 0.0, {NULL, 0}};
    parameters[count - 1] = shouted;
    int32_t status = context->send_buffer(context->runtime, text("loud"), buffer, parameters, count);
    free(parameters);
    if (status != DORA_OK) {
        char message[64];
        snprintf(message, sizeof message, "cannot send on `loud`: status %d", (int)status);
        context->set_error(context->runtime, text(message));
        return DORA_ERROR;
    }
    shout->handled++;
    DoraSlice value = {(const uint8_t *)&shout->handled, sizeof shout->handled};
    context->state_set(context->runtime, text("handled"), value);
    return DORA_CONTINUE;
}

void dora_drop_operator(void *instance) {
    free(instance);
}

/* A C node: prints each message and its `count` parameter, and answers
 * with a reply written in place in shared memory (no copy). */
#include <stdio.h>
#include <string.h>

#include <dora.h>

int main(void) {
    DoraNode *node = dora_init_from_env();
    if (node == NULL) {
        fprintf(stderr, "error: %s\n", dora_last_error());
        return 1;
    }
    int status = 0;
    for (;;) {
        DoraNodeEvent *event = dora_next_event(node, -1);
        if (event == NULL) {
            break; /* every input closed */
        }
        DoraNodeEventType type = dora_event_type(event);
        if (type == DORA_NODE_EVENT_INPUT) {
            const uint8_t *data;
            size_t len;
            int64_t count = 0;
            dora_event_data(event, &data, &len);
            dora_event_param_int(event, "count", &count);
            printf("got \"%.*s\" (count %lld)\n", (int)len, (const char *)data, (long long)count);
            fflush(stdout);

            char reply[64];
            int reply_len = snprintf(reply, sizeof reply, "c saw message %lld", (long long)count);
            DoraParams *params = dora_params_new();
            dora_params_set_int(params, "count", count);
            uint8_t *buffer;
            int result = dora_output_alloc(node, "reply", (size_t)reply_len, params, &buffer);
            dora_params_free(params);
            if (result == DORA_OK) {
                memcpy(buffer, reply, (size_t)reply_len);
                result = dora_output_send(node, buffer);
            }
            if (result != DORA_OK) {
                fprintf(stderr, "error: %s\n", dora_last_error());
                status = 1;
            }
        } else if (type == DORA_NODE_EVENT_ERROR) {
            fprintf(stderr, "error: %s\n", dora_event_error(event));
        }
        dora_free_event(event);
        if (type == DORA_NODE_EVENT_STOP || status != 0) {
            break;
        }
    }
    dora_free_node(node);
    return status;
}

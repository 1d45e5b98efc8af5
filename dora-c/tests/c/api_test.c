/* Exercises every function of dora.h, run as a node whose output `out`
 * feeds its own input `in`. Meant to run under valgrind: it frees
 * everything it is given. Prints "checks passed N" or the failures, and
 * exits non-zero on a failure. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <dora.h>

static int passed = 0;
static int failed = 0;

#define CHECK(condition)                                                        \
    do {                                                                        \
        if (condition) {                                                        \
            passed++;                                                           \
        } else {                                                                \
            failed++;                                                           \
            fprintf(stderr, "check failed at line %d: %s (last error: %s)\n", \
                    __LINE__, #condition, dora_last_error());                   \
        }                                                                       \
    } while (0)

#define BIG (1 << 20)

static void null_arguments_are_errors(void) {
    uint8_t byte = 0;
    CHECK(dora_send_output(NULL, "out", &byte, 1, NULL) == DORA_INVALID);
    CHECK(strstr(dora_last_error(), "node") != NULL);
    uint8_t *none = &byte;
    CHECK(dora_output_alloc(NULL, "out", 1, NULL, &none) == DORA_INVALID);
    CHECK(none == NULL);
    CHECK(dora_output_alloc(NULL, "out", 1, NULL, NULL) == DORA_INVALID);
    CHECK(strstr(dora_last_error(), "buffer") != NULL);
    CHECK(dora_output_send(NULL, &byte) == DORA_INVALID);
    CHECK(dora_next_event(NULL, 0) == NULL);
    CHECK(dora_is_ended(NULL) == false);
    CHECK(dora_event_type(NULL) == DORA_NODE_EVENT_INVALID);
    CHECK(dora_event_id(NULL) == NULL);
    CHECK(dora_event_timestamp_ns(NULL) == 0);
    int64_t value;
    CHECK(dora_event_param_int(NULL, "k", &value) == DORA_INVALID);
    CHECK(dora_params_set_int(NULL, "k", 1) == DORA_INVALID);
    DoraParams *params = dora_params_new();
    CHECK(dora_params_set_int(params, NULL, 1) == DORA_INVALID);
    CHECK(strstr(dora_last_error(), "key") != NULL);
    CHECK(dora_params_set_string(params, "k", NULL) == DORA_INVALID);
    CHECK(dora_params_set_bytes(params, "k", NULL, 3) == DORA_INVALID);
    dora_params_free(params);
    dora_params_free(NULL);
    CHECK(dora_log(DORA_LOG_INFO, NULL, NULL) == DORA_INVALID);
    CHECK(dora_log(7, NULL, "x") == DORA_INVALID);
    CHECK(strstr(dora_last_error(), "not a log level") != NULL);
    dora_free_event(NULL);
    dora_free_node(NULL);
}

static void send(DoraNode *node) {
    DoraParams *params = dora_params_new();
    CHECK(dora_params_set_int(params, "int", -42) == DORA_OK);
    CHECK(dora_params_set_float(params, "float", 2.5) == DORA_OK);
    CHECK(dora_params_set_bool(params, "bool", true) == DORA_OK);
    CHECK(dora_params_set_string(params, "string", "héllo") == DORA_OK);
    const uint8_t bytes[3] = {1, 2, 3};
    CHECK(dora_params_set_bytes(params, "bytes", bytes, 3) == DORA_OK);
    CHECK(dora_send_output(node, "out", (const uint8_t *)"abc", 3, params) == DORA_OK);
    dora_params_free(params);

    /* Written in place, then sent. */
    uint8_t *buffer;
    CHECK(dora_output_alloc(node, "out", BIG, NULL, &buffer) == DORA_OK);
    CHECK(buffer != NULL);
    if (buffer != NULL) {
        for (size_t i = 0; i < BIG; i++) {
            buffer[i] = (uint8_t)(i * 7);
        }
        CHECK(dora_output_send(node, buffer) == DORA_OK);
    }
    /* Given back unsent; a pointer that is no buffer is refused. */
    uint8_t *unsent;
    CHECK(dora_output_alloc(node, "out", 16, NULL, &unsent) == DORA_OK);
    CHECK(dora_output_discard(node, unsent) == DORA_OK);
    uint8_t stray = 0;
    CHECK(dora_output_send(node, &stray) == DORA_INVALID);
    CHECK(strstr(dora_last_error(), "dora_output_alloc") != NULL);
    /* Each failure of dora_output_alloc has its own code. */
    uint8_t *failed_buffer = &stray;
    CHECK(dora_output_alloc(node, "nowhere", 16, NULL, &failed_buffer) ==
          DORA_UNDECLARED_OUTPUT);
    CHECK(failed_buffer == NULL);
    CHECK(strstr(dora_last_error(), "`out`") != NULL);
    CHECK(dora_output_alloc(node, "out", SIZE_MAX / 2, NULL, &failed_buffer) == DORA_NO_MEMORY);
    CHECK(strstr(dora_last_error(), "no shared memory") != NULL);
    uint8_t *held[2];
    CHECK(dora_output_alloc(node, "out", 16, NULL, &held[0]) == DORA_OK);
    CHECK(dora_output_alloc(node, "out", 16, NULL, &held[1]) == DORA_OK);
    CHECK(dora_output_alloc(node, "out", 16, NULL, &failed_buffer) == DORA_TOO_MANY_BUFFERS);
    CHECK(strstr(dora_last_error(), "send or discard one first") != NULL);
    CHECK(dora_output_discard(node, held[0]) == DORA_OK);
    CHECK(dora_output_discard(node, held[1]) == DORA_OK);
    /* An undeclared output names the declared ones. */
    CHECK(dora_send_output(node, "nowhere", bytes, 3, NULL) == DORA_UNDECLARED_OUTPUT);
    CHECK(strstr(dora_last_error(), "`out`") != NULL);
}

static DoraNodeEvent *next_input(DoraNode *node) {
    DoraNodeEvent *event = dora_next_event(node, 10000);
    CHECK(event != NULL);
    if (event != NULL) {
        CHECK(dora_event_type(event) == DORA_NODE_EVENT_INPUT);
        CHECK(strcmp(dora_event_id(event), "in") == 0);
        CHECK(dora_event_timestamp_ns(event) > 0);
    }
    return event;
}

static void receive(DoraNode *node) {
    DoraNodeEvent *event = next_input(node);
    if (event != NULL) {
        const uint8_t *data;
        size_t len;
        CHECK(dora_event_data(event, &data, &len) == DORA_OK);
        CHECK(len == 3 && memcmp(data, "abc", 3) == 0);
        int64_t i;
        double f;
        bool b;
        const char *s;
        const uint8_t *bytes;
        size_t n;
        CHECK(dora_event_param_int(event, "int", &i) == DORA_OK && i == -42);
        CHECK(dora_event_param_float(event, "float", &f) == DORA_OK && f == 2.5);
        CHECK(dora_event_param_bool(event, "bool", &b) == DORA_OK && b);
        CHECK(dora_event_param_string(event, "string", &s, &n) == DORA_OK && n == 6 &&
              memcmp(s, "héllo", 6) == 0);
        CHECK(dora_event_param_bytes(event, "bytes", &bytes, &n) == DORA_OK && n == 3 &&
              bytes[2] == 3);
        CHECK(dora_event_param_int(event, "float", &i) == DORA_WRONG_TYPE);
        CHECK(dora_event_param_int(event, "missing", &i) == DORA_NOT_FOUND);
        CHECK(strstr(dora_last_error(), "missing") != NULL);
        CHECK(dora_event_data(event, NULL, &len) == DORA_INVALID);
        dora_free_event(event);
    }
    event = next_input(node);
    if (event != NULL) {
        const uint8_t *data;
        size_t len;
        CHECK(dora_event_data(event, &data, &len) == DORA_OK);
        CHECK(len == BIG);
        size_t wrong = 0;
        for (size_t k = 0; k < len; k++) {
            wrong += data[k] != (uint8_t)(k * 7);
        }
        CHECK(wrong == 0);
        dora_free_event(event);
    }
}

/* A node may hold more events of one input than are read in place: the
 * later ones are copies, and every one arrives intact. */
#define HELD 10

static void hold_many(DoraNode *node) {
    for (int n = 0; n < HELD; n++) {
        uint8_t message[64];
        memset(message, n, sizeof message);
        CHECK(dora_send_output(node, "out", message, sizeof message, NULL) == DORA_OK);
    }
    DoraNodeEvent *held[HELD];
    for (int n = 0; n < HELD; n++) {
        held[n] = next_input(node);
    }
    for (int n = 0; n < HELD; n++) {
        const uint8_t *data = NULL;
        size_t len = 0;
        CHECK(held[n] != NULL && dora_event_data(held[n], &data, &len) == DORA_OK);
        size_t wrong = 0;
        for (size_t k = 0; k < len; k++) {
            wrong += data[k] != (uint8_t)n;
        }
        CHECK(len == 64 && wrong == 0);
    }
    for (int n = 0; n < HELD; n++) {
        dora_free_event(held[n]);
    }
}

int main(void) {
    null_arguments_are_errors();
    DoraNode *node = dora_init_from_env();
    CHECK(node != NULL);
    if (node == NULL) {
        return 1;
    }
    CHECK(dora_log(DORA_LOG_WARN, "api_test", "logged from C") == DORA_OK);
    send(node);
    receive(node);
    hold_many(node);
    /* Nothing else comes: a short wait ends empty-handed. */
    CHECK(dora_next_event(node, 50) == NULL);
    CHECK(!dora_is_ended(node));
    dora_free_node(node);
    printf("checks passed %d failed %d\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

/* The C half of dora-bench: the latency runs of the Rust node harness
 * (src/main.rs), through libdora. `bench-c sender` sends; `bench-c
 * receiver` writes its latencies where DORA_BENCH_RESULTS says, in the
 * format of report.rs. SIZES, samples() and the gap must match main.rs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dora.h>

static const size_t SIZES[] = {8, 4 << 10, 64 << 10, 1 << 20, 4 << 20, 40 << 20};
#define SIZE_COUNT (sizeof SIZES / sizeof SIZES[0])

static size_t samples(size_t size) { return size >= (4 << 20) ? 60 : 300; }

static uint64_t now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static int fail(const char *what) {
    fprintf(stderr, "error: %s: %s\n", what, dora_last_error());
    return 1;
}

static int sender(DoraNode *node) {
    const struct timespec gap = {0, 1000000};
    for (size_t s = 0; s < SIZE_COUNT; s++) {
        for (size_t i = 0; i < samples(SIZES[s]); i++) {
            uint8_t *buffer;
            if (dora_output_alloc(node, "latency", SIZES[s], NULL, &buffer) != DORA_OK) {
                return fail("cannot get a buffer");
            }
            memset(buffer, 1, SIZES[s]);
            if (dora_output_send(node, buffer) != DORA_OK) {
                return fail("cannot send");
            }
            nanosleep(&gap, NULL);
        }
    }
    return 0;
}

static int receiver(DoraNode *node) {
    size_t total = 0;
    for (size_t s = 0; s < SIZE_COUNT; s++) {
        total += samples(SIZES[s]);
    }
    size_t *sizes = calloc(total, sizeof *sizes);
    uint64_t *latencies = calloc(total, sizeof *latencies);
    size_t count = 0;
    DoraNodeEvent *event;
    while ((event = dora_next_event(node, -1)) != NULL) {
        uint64_t now = now_ns();
        DoraNodeEventType type = dora_event_type(event);
        if (type == DORA_NODE_EVENT_INPUT && count < total) {
            const uint8_t *data;
            dora_event_data(event, &data, &sizes[count]);
            uint64_t sent = dora_event_timestamp_ns(event);
            latencies[count++] = now > sent ? now - sent : 0;
        }
        dora_free_event(event);
        if (type == DORA_NODE_EVENT_STOP) {
            break;
        }
    }
    const char *path = getenv("DORA_BENCH_RESULTS");
    FILE *out = path != NULL ? fopen(path, "w") : NULL;
    if (out == NULL) {
        fprintf(stderr, "error: cannot write DORA_BENCH_RESULTS; run `dora-bench`\n");
        return 1;
    }
    for (size_t s = 0; s < SIZE_COUNT; s++) {
        fprintf(out, "latency %zu", SIZES[s]);
        for (size_t i = 0; i < count; i++) {
            if (sizes[i] == SIZES[s]) {
                fprintf(out, " %llu", (unsigned long long)latencies[i]);
            }
        }
        fprintf(out, "\n");
    }
    fclose(out);
    free(sizes);
    free(latencies);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2 || (strcmp(argv[1], "sender") != 0 && strcmp(argv[1], "receiver") != 0)) {
        fprintf(stderr, "usage: bench-c sender|receiver (started by dora-bench)\n");
        return 2;
    }
    DoraNode *node = dora_init_from_env();
    if (node == NULL) {
        return fail("cannot join the dataflow");
    }
    int status = strcmp(argv[1], "sender") == 0 ? sender(node) : receiver(node);
    dora_free_node(node);
    return status;
}

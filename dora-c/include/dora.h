/*
 * dora.h: the dora node API and operator ABI for C.
 *
 * A node: link libdora (`cc node.c $(pkg-config --cflags --libs dora)`),
 * call dora_init_from_env(), take events with dora_next_event(), send with
 * dora_send_output() or dora_output_alloc() + dora_output_send().
 *
 * An operator: a shared library that defines dora_init_operator,
 * dora_on_event and dora_drop_operator, loaded by dora-runtime. It needs
 * only dora_operator.h (included here), not libdora.
 *
 * Ownership: everything a function returns is owned by libdora unless the
 * function says "free it with"; pointers passed in stay the caller's and
 * are only read during the call. NULL or invalid arguments return an error
 * code (DORA_INVALID, see dora_operator.h) or NULL and set
 * dora_last_error(); they never crash.
 */

#ifndef DORA_H
#define DORA_H

/* Generated from dora-c by cbindgen. Do not edit: change the Rust source, then run `DORA_BLESS=1 cargo test -p dora-c --test header`. */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "dora_operator.h"

/**
 * The most severe level: the node cannot do its work.
 */
#define DORA_LOG_ERROR 0

/**
 * Something is wrong, and the node goes on.
 */
#define DORA_LOG_WARN 1

#define DORA_LOG_INFO 2

#define DORA_LOG_DEBUG 3

/**
 * The most verbose level.
 */
#define DORA_LOG_TRACE 4

/**
 * The type of a node event.
 */
typedef enum {
  /**
   * A message on an input: `dora_event_id`, `dora_event_data`,
   * `dora_event_timestamp_ns` and the parameters apply.
   */
  DORA_NODE_EVENT_INPUT = 0,
  /**
   * The input `dora_event_id` gets no more messages: its source ended,
   * or it got none for its `input_timeout` (until
   * `DoraNodeEventInputRecovered`).
   */
  DORA_NODE_EVENT_INPUT_CLOSED = 1,
  /**
   * The dataflow is stopping: finish and free the node.
   */
  DORA_NODE_EVENT_STOP = 2,
  /**
   * Receiving failed; `dora_event_error` says why. The node goes on.
   */
  DORA_NODE_EVENT_ERROR = 3,
  /**
   * The input `dora_event_id`, closed by its `input_timeout`, has a
   * message again: the next event.
   */
  DORA_NODE_EVENT_INPUT_RECOVERED = 4,
  /**
   * The event pointer was NULL.
   */
  DORA_NODE_EVENT_INVALID = -1,
} DoraNodeEventType;

/**
 * A node of a running dataflow. Made by `dora_init_from_env`, freed by
 * `dora_free_node` (after every event and buffer it gave out).
 */
typedef struct DoraNode DoraNode;

/**
 * One event of a node, from `dora_next_event`; free it with
 * `dora_free_event`. What its accessors return is owned by the event and
 * valid until it is freed.
 */
typedef struct DoraNodeEvent DoraNodeEvent;

/**
 * Parameters to send with a message: keys to strings, integers, floats,
 * booleans or bytes. Made by `dora_params_new`, freed by
 * `dora_params_free`; sending copies them, so one set may be reused.
 */
typedef struct DoraParams DoraParams;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The message of the last call that failed on this thread, or "" if none
 * did. Owned by libdora: valid until the next libdora call on this
 * thread.
 */
const char *dora_last_error(void);

/**
 * Frees an event. NULL is ignored. Its data returns to the sender.
 *
 * # Safety
 * `event` is NULL or from `dora_next_event`, freed once, before its node.
 */
void dora_free_event(DoraNodeEvent *event);

/**
 * The type of `event`; `DoraNodeEventInvalid` for NULL.
 *
 * # Safety
 * `event` is NULL or from `dora_next_event`.
 */
DoraNodeEventType dora_event_type(const DoraNodeEvent *event);

/**
 * The input id of an input, closed-input or recovered-input event (NUL-terminated), ""
 * for other events, NULL for a NULL event. Owned by the event.
 *
 * # Safety
 * `event` is NULL or from `dora_next_event`.
 */
const char *dora_event_id(const DoraNodeEvent *event);

/**
 * The message of an error event (NUL-terminated), "" for other events,
 * NULL for a NULL event. Owned by the event.
 *
 * # Safety
 * `event` is NULL or from `dora_next_event`.
 */
const char *dora_event_error(const DoraNodeEvent *event);

/**
 * Sets `*data` and `*len` to the message of an input event, read in place
 * in shared memory (no copy; owned by the event, read-only). Returns
 * `DORA_OK`, or `DORA_INVALID` for NULL arguments or an event that is no
 * input.
 *
 * # Safety
 * `event` from `dora_next_event`; `data` and `len` writable.
 */
int32_t dora_event_data(const DoraNodeEvent *event, const uint8_t **data, size_t *len);

/**
 * When an input's message was sent, in nanoseconds since the Unix epoch;
 * 0 for other events.
 *
 * # Safety
 * `event` is NULL or from `dora_next_event`.
 */
uint64_t dora_event_timestamp_ns(const DoraNodeEvent *event);

/**
 * Reads parameter `key` into `*value` if it is an integer. Returns
 * `DORA_OK`, `DORA_NOT_FOUND`, `DORA_WRONG_TYPE` or `DORA_INVALID`.
 *
 * # Safety
 * `event` from `dora_next_event`; `key` NUL-terminated; `value` writable.
 */
int32_t dora_event_param_int(const DoraNodeEvent *event, const char *key, int64_t *value);

/**
 * Reads parameter `key` into `*value` if it is a float. Returns as
 * `dora_event_param_int`.
 *
 * # Safety
 * As `dora_event_param_int`.
 */
int32_t dora_event_param_float(const DoraNodeEvent *event, const char *key, double *value);

/**
 * Reads parameter `key` into `*value` if it is a boolean. Returns as
 * `dora_event_param_int`.
 *
 * # Safety
 * As `dora_event_param_int`.
 */
int32_t dora_event_param_bool(const DoraNodeEvent *event, const char *key, bool *value);

/**
 * Points `*value`/`*len` at parameter `key` if it is a string (UTF-8,
 * not NUL-terminated, owned by the event). Returns as
 * `dora_event_param_int`.
 *
 * # Safety
 * As `dora_event_param_int`; `value` and `len` writable.
 */
int32_t dora_event_param_string(const DoraNodeEvent *event,
                                const char *key,
                                const char **value,
                                size_t *len);

/**
 * Points `*value`/`*len` at parameter `key` if it is bytes (owned by the
 * event). Returns as `dora_event_param_int`.
 *
 * # Safety
 * As `dora_event_param_string`.
 */
int32_t dora_event_param_bytes(const DoraNodeEvent *event,
                               const char *key,
                               const uint8_t **value,
                               size_t *len);

/**
 * Logs `message` (NUL-terminated; invalid UTF-8 is replaced, not
 * refused) at `level`, one of `DORA_LOG_ERROR` to `DORA_LOG_TRACE`, from
 * `target` (NUL-terminated, such as the file or module; NULL for none).
 * Works before `dora_init_from_env` too, as a plain line on stderr.
 * Returns `DORA_OK`, or `DORA_INVALID` for an unknown level or a NULL
 * message.
 *
 * # Safety
 * `message` and `target` are NULL or point to NUL-terminated strings.
 */
int32_t dora_log(int32_t level, const char *target, const char *message);

/**
 * Joins the dataflow that `dora run` started this process for. Returns
 * once every node of the dataflow is connected, so nothing sent after it
 * is lost. NULL on failure, with the reason in `dora_last_error()` (for
 * instance when the program was not started by `dora run`).
 */
DoraNode *dora_init_from_env(void);

/**
 * Leaves the dataflow and frees the node. NULL is ignored. Free every
 * event first; buffers not yet sent are discarded.
 *
 * # Safety
 * `node` is NULL or from `dora_init_from_env`, freed once.
 */
void dora_free_node(DoraNode *node);

/**
 * Waits for the next event: at most `timeout_ms` milliseconds, or for
 * ever if it is negative. Returns the event, to free with
 * `dora_free_event`, or NULL when none came in time or the stream has
 * ended (`dora_is_ended` tells which).
 *
 * A node may hold any number of events. Up to three messages of one input
 * are read in place in shared memory at a time; while the node holds
 * those, the next ones of that input are copies, so free events as soon
 * as they are handled to keep reading in place.
 *
 * # Safety
 * `node` is from `dora_init_from_env`.
 */
DoraNodeEvent *dora_next_event(DoraNode *node, int64_t timeout_ms);

/**
 * Whether the node's events have ended: `Stop` was taken, or every input
 * is closed. 0 for a NULL node.
 *
 * # Safety
 * `node` is NULL or from `dora_init_from_env`.
 */
bool dora_is_ended(const DoraNode *node);

/**
 * Sends `len` bytes at `data` on `output` (NUL-terminated), with
 * `params` (NULL for none): one copy, into shared memory. `data`,
 * `output` and `params` stay the caller's. Returns `DORA_OK`,
 * `DORA_INVALID` (a NULL argument), `DORA_UNDECLARED_OUTPUT`,
 * `DORA_NO_MEMORY` or `DORA_ERROR`.
 *
 * # Safety
 * `node` from `dora_init_from_env`; `data` points to `len` readable bytes
 * (or is NULL with `len` 0).
 */
int32_t dora_send_output(DoraNode *node,
                         const char *output,
                         const uint8_t *data,
                         size_t len,
                         const DoraParams *params);

/**
 * Makes a writable buffer of `len` bytes in shared memory for a message
 * on `output`, sent with `params` (NULL for none; copied now), and stores
 * its address in `*buffer`. Write all `len` bytes, then send it with
 * `dora_output_send` (no copy) or give it back with
 * `dora_output_discard`; it belongs to the node until then.
 *
 * The buffer is not cleared first, which would cost a pass over it: a
 * byte left unwritten is sent as the memory held it, zero or a byte of
 * an earlier message on `output`.
 *
 * Returns `DORA_OK`, or (with `*buffer` set to NULL and the reason in
 * `dora_last_error()`):
 * - `DORA_INVALID`: a NULL argument;
 * - `DORA_UNDECLARED_OUTPUT`: `output` is not declared for this node;
 * - `DORA_NO_MEMORY`: no shared memory for `len` bytes;
 * - `DORA_TOO_MANY_BUFFERS`: the node already holds two unsent buffers
 *   of `output`;
 * - `DORA_ERROR`: the transport failed.
 *
 * # Safety
 * `node` from `dora_init_from_env`; `output` a NUL-terminated string;
 * `buffer` NULL or writable.
 */
int32_t dora_output_alloc(DoraNode *node,
                          const char *output,
                          size_t len,
                          const DoraParams *params,
                          uint8_t **buffer);

/**
 * Sends a buffer from `dora_output_alloc`: the receivers read it where it
 * is. The buffer is no longer the caller's, whatever the result.
 * Returns `DORA_OK`, `DORA_INVALID` (not a buffer of this node) or
 * `DORA_ERROR`.
 *
 * # Safety
 * `node` from `dora_init_from_env`.
 */
int32_t dora_output_send(DoraNode *node, uint8_t *buffer);

/**
 * Gives back a buffer from `dora_output_alloc` without sending it.
 * Returns `DORA_OK` or `DORA_INVALID`.
 *
 * # Safety
 * `node` from `dora_init_from_env`.
 */
int32_t dora_output_discard(DoraNode *node, uint8_t *buffer);

/**
 * A new, empty set of parameters. Free it with `dora_params_free`.
 */
DoraParams *dora_params_new(void);

/**
 * Frees parameters from `dora_params_new`. NULL is ignored.
 *
 * # Safety
 * `params` is NULL or from `dora_params_new`, freed once.
 */
void dora_params_free(DoraParams *params);

/**
 * Sets `key` to an integer. Returns `DORA_OK` or `DORA_INVALID`.
 *
 * # Safety
 * `params` from `dora_params_new`; `key` a NUL-terminated UTF-8 string
 * (copied).
 */
int32_t dora_params_set_int(DoraParams *params, const char *key, int64_t value);

/**
 * Sets `key` to a float. Returns `DORA_OK` or `DORA_INVALID`.
 *
 * # Safety
 * As `dora_params_set_int`.
 */
int32_t dora_params_set_float(DoraParams *params, const char *key, double value);

/**
 * Sets `key` to a boolean. Returns `DORA_OK` or `DORA_INVALID`.
 *
 * # Safety
 * As `dora_params_set_int`.
 */
int32_t dora_params_set_bool(DoraParams *params, const char *key, bool value);

/**
 * Sets `key` to a string (NUL-terminated UTF-8, copied). Returns
 * `DORA_OK` or `DORA_INVALID`.
 *
 * # Safety
 * As `dora_params_set_int`; `value` a NUL-terminated string.
 */
int32_t dora_params_set_string(DoraParams *params, const char *key, const char *value);

/**
 * Sets `key` to `len` bytes at `value` (copied; NULL is allowed when
 * `len` is 0). Returns `DORA_OK` or `DORA_INVALID`.
 *
 * # Safety
 * As `dora_params_set_int`; `value` points to `len` readable bytes.
 */
int32_t dora_params_set_bytes(DoraParams *params,
                              const char *key,
                              const uint8_t *value,
                              size_t len);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* DORA_H */

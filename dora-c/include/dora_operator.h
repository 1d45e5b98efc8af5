/*
 * dora_operator.h: the ABI of a dora operator, shared by Rust operators
 * (register_operator!) and C operators. A C operator library defines the
 * three functions declared at the end and needs nothing else.
 */

#ifndef DORA_OPERATOR_H
#define DORA_OPERATOR_H

/* Generated from dora-operator-api by cbindgen. Do not edit: change the Rust source, then run `DORA_BLESS=1 cargo test -p dora-c --test header`. */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/**
 * `DoraEvent::kind`: an input has a message.
 */
#define DORA_EVENT_INPUT 0

/**
 * `DoraEvent::kind`: an input will get no more messages.
 */
#define DORA_EVENT_INPUT_CLOSED 1

/**
 * `DoraEvent::kind`: the dataflow is stopping; end soon.
 */
#define DORA_EVENT_STOP 2

/**
 * Status codes. Non-negative codes come from an operator's `on_event`.
 */
#define DORA_OK 0

/**
 * Keep going (the same value as `DORA_OK`).
 */
#define DORA_CONTINUE 0

/**
 * This operator is done: it gets no more events.
 */
#define DORA_STOP 1

/**
 * Stop every operator of the runtime.
 */
#define DORA_STOP_ALL 2

/**
 * The call failed; the message went to `DoraContext::set_error`.
 */
#define DORA_ERROR -1

/**
 * The operator panicked; the message went to `DoraContext::set_error`.
 */
#define DORA_PANIC -2

/**
 * An argument was invalid (an unknown output, bad UTF-8).
 */
#define DORA_INVALID -3

/**
 * Bytes, or UTF-8 text, that the other side owns: valid during the call
 * that hands them over.
 */
typedef struct {
  const uint8_t *ptr;
  size_t len;
} DoraSlice;

/**
 * One event for an operator.
 */
typedef struct {
  /**
   * One of the `DORA_EVENT_*` constants.
   */
  uint32_t kind;
  /**
   * 1 when the input has a deadline and the message waited longer.
   */
  uint32_t late;
  /**
   * The operator's id for the input (inputs and closed inputs).
   */
  DoraSlice input;
  /**
   * The message (inputs only).
   */
  DoraSlice data;
  /**
   * When the message was sent, in nanoseconds since the Unix epoch.
   */
  uint64_t timestamp_ns;
} DoraEvent;

/**
 * Sends `data` on `output` (the operator's id for it); the runtime copies
 * it. Returns `DORA_OK` or `DORA_INVALID`.
 */
typedef int32_t (*DoraSendOutput)(void *runtime, DoraSlice output, DoraSlice data);

/**
 * A writable buffer of `len` bytes for [`DoraSendBuffer`], which sends it
 * without a copy. NULL if it cannot be had. A buffer must be sent or
 * given back with [`DoraFreeBuffer`].
 */
typedef uint8_t *(*DoraAllocBuffer)(void *runtime, size_t len);

/**
 * Sends a buffer from [`DoraAllocBuffer`] on `output` and takes it back.
 * On `DORA_INVALID` the buffer is taken back too.
 */
typedef int32_t (*DoraSendBuffer)(void *runtime, DoraSlice output, uint8_t *buffer);

/**
 * Gives back a buffer that will not be sent.
 */
typedef void (*DoraFreeBuffer)(void *runtime, uint8_t *buffer);

/**
 * Reads a key of a key-value store that the runtime keeps (see
 * [`DoraContext`]); the value stays valid until the call returns or the
 * key is next written. `ptr` is NULL when the key is not set.
 */
typedef DoraSlice (*DoraStateGet)(void *runtime, DoraSlice key);

/**
 * Sets a key of a key-value store; the runtime copies key and value.
 */
typedef int32_t (*DoraStateSet)(void *runtime, DoraSlice key, DoraSlice value);

/**
 * Says why the call fails (UTF-8); the runtime copies it.
 */
typedef void (*DoraSetError)(void *runtime, DoraSlice message);

/**
 * What an operator can do during a call.
 *
 * `state_*` is the operator's own store: it survives the operator being
 * restarted after a panic. `shared_*` is one store for every operator of
 * the runtime.
 */
typedef struct {
  void *runtime;
  /**
   * The operator's id in the dataflow (UTF-8).
   */
  DoraSlice operator_id;
  DoraSendOutput send_output;
  DoraAllocBuffer alloc_buffer;
  DoraSendBuffer send_buffer;
  DoraFreeBuffer free_buffer;
  DoraStateGet state_get;
  DoraStateSet state_set;
  DoraStateGet shared_get;
  DoraStateSet shared_set;
  DoraSetError set_error;
} DoraContext;

/**
 * `dora_init_operator`.
 */
typedef int32_t (*DoraInitOperator)(const DoraContext *context, void **instance);

/**
 * `dora_on_event`.
 */
typedef int32_t (*DoraOnEvent)(void *instance, const DoraEvent *event, const DoraContext *context);

/**
 * `dora_drop_operator`.
 */
typedef void (*DoraDropOperator)(void *instance);

#endif  /* DORA_OPERATOR_H */

/*
 * What a C operator library defines. The runtime calls dora_init_operator
 * once (and again after a restart), dora_on_event for every event, and
 * dora_drop_operator once per successful init. `event` and `context`, and
 * everything they point to, are valid during the call only.
 */
int32_t dora_init_operator(const DoraContext *context, void **instance);
int32_t dora_on_event(void *instance, const DoraEvent *event, const DoraContext *context);
void dora_drop_operator(void *instance);

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
 * `DoraParameter::kind`: UTF-8 text in `bytes`.
 */
#define DORA_PARAMETER_STRING 0

/**
 * `DoraParameter::kind`: a signed integer in `integer`.
 */
#define DORA_PARAMETER_INTEGER 1

/**
 * `DoraParameter::kind`: a float in `floating`.
 */
#define DORA_PARAMETER_FLOAT 2

/**
 * `DoraParameter::kind`: a boolean in `integer` (0 or 1).
 */
#define DORA_PARAMETER_BOOL 3

/**
 * `DoraParameter::kind`: bytes in `bytes`.
 */
#define DORA_PARAMETER_BYTES 4

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
 * An argument was invalid (a null pointer, bad UTF-8).
 */
#define DORA_INVALID -3

/**
 * The item was not there (a parameter key, say).
 */
#define DORA_NOT_FOUND -4

/**
 * The item has another type than the one asked for.
 */
#define DORA_WRONG_TYPE -5

/**
 * The output is not one the node or operator declares under `outputs:`
 * in the dataflow.
 */
#define DORA_UNDECLARED_OUTPUT -6

/**
 * There is no memory for a message this large: the size is beyond what
 * the machine can map, or its memory is used up.
 */
#define DORA_NO_MEMORY -7

/**
 * The node already holds as many buffers of this output, written and not
 * yet sent, as it may; send or discard one first.
 */
#define DORA_TOO_MANY_BUFFERS -8

/**
 * The buffer did not come from `alloc_buffer` in this call, or was
 * already sent or freed.
 */
#define DORA_UNKNOWN_BUFFER -9

/**
 * A parameter has an unknown kind, or a key or string that is not UTF-8.
 */
#define DORA_BAD_PARAMETER -10

/**
 * Nothing can be sent now: `dora_init_operator` runs before the dataflow
 * does, so an operator sends from `dora_on_event` only.
 */
#define DORA_CANNOT_SEND_NOW -11

/**
 * Bytes, or UTF-8 text, that the other side owns: valid during the call
 * that hands them over.
 */
typedef struct {
  const uint8_t *ptr;
  size_t len;
} DoraSlice;

/**
 * One parameter of a message: a key and a value that the sender chose
 * (the same values as the node API's parameters). Only the field that
 * `kind` names is read; the others are 0 or empty.
 */
typedef struct {
  /**
   * The name (UTF-8).
   */
  DoraSlice key;
  /**
   * One of the `DORA_PARAMETER_*` constants.
   */
  uint32_t kind;
  /**
   * The value of an integer, or of a boolean (0 or 1).
   */
  int64_t integer;
  /**
   * The value of a float.
   */
  double floating;
  /**
   * The value of a string (UTF-8) or of bytes.
   */
  DoraSlice bytes;
} DoraParameter;

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
  /**
   * The parameters the sender attached (inputs only): `parameters_len`
   * entries, each key once. NULL when there are none.
   */
  const DoraParameter *parameters;
  size_t parameters_len;
} DoraEvent;

/**
 * Sends `data` on `output` (the operator's id for it) with
 * `parameters_len` parameters (`parameters` may be NULL when there are
 * none; when a key repeats, the last value wins). The runtime copies
 * everything. Returns `DORA_OK`, `DORA_UNDECLARED_OUTPUT`,
 * `DORA_BAD_PARAMETER`, `DORA_NO_MEMORY` or `DORA_CANNOT_SEND_NOW`.
 */
typedef int32_t (*DoraSendOutput)(void *runtime,
                                  DoraSlice output,
                                  DoraSlice data,
                                  const DoraParameter *parameters,
                                  size_t parameters_len);

/**
 * A writable buffer of `len` bytes for [`DoraSendBuffer`], which sends it
 * without a copy. NULL if it cannot be had. A buffer must be sent or
 * given back with [`DoraFreeBuffer`].
 */
typedef uint8_t *(*DoraAllocBuffer)(void *runtime, size_t len);

/**
 * Sends a buffer from [`DoraAllocBuffer`] on `output`, with parameters as
 * in [`DoraSendOutput`], and takes it back, whatever the result. Returns
 * `DORA_OK`, `DORA_UNKNOWN_BUFFER`, `DORA_UNDECLARED_OUTPUT`,
 * `DORA_BAD_PARAMETER`, `DORA_NO_MEMORY` or `DORA_CANNOT_SEND_NOW`.
 */
typedef int32_t (*DoraSendBuffer)(void *runtime,
                                  DoraSlice output,
                                  uint8_t *buffer,
                                  const DoraParameter *parameters,
                                  size_t parameters_len);

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

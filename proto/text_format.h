/* SPDX-License-Identifier: Apache-2.0 */
/* proto/text_format.h - protobuf's text format (".pbtxt") read into protobuf-c messages, driven
 * by the messages' descriptors. protobuf-c has no text parser; this is deft's. Internal.
 *
 * Grammar accepted (the format TF and Google's protobuf write):
 *   message  := { field [',' | ';'] }
 *   field    := name ':' scalar | name ':' '[' [scalar {',' scalar}] ']'
 *             | name [':'] body | name [':'] '[' [body {',' body}] ']'
 *   body     := '{' message '}' | '<' message '>'
 *   scalar   := integer (decimal, 0x hex, 0 octal, optional '-') | float (decimal, exponent,
 *               optional f/F suffix, inf/infinity/nan in any case, optional '-')
 *             | identifier (enum value name, true/false/True/False/t/f) | string {string}
 *   string   := '"' ... '"' | '\'' ... '\'' with C escapes (\n \t \r \a \b \f \v \\ \' \" \?,
 *               octal \NNN, hex \xHH, \uXXXX and \UXXXXXXXX as UTF-8); adjacent literals join.
 *   '#' starts a comment to the end of the line.
 * Map fields are repeated entry messages with `key` and `value` fields, as protobuf-c stores
 * them. Bools also accept 1 and 0; enums also accept their number; float fields accept integers.
 * A repeated field may be given by repeated entries, lists, or both. Oneof members set the case.
 * In a google.protobuf.Any, "[<prefix>/<full.type.Name>] [:] body" is an expanded value: the
 * type is looked up among the message types reachable from the root type through message
 * fields, and the body is packed into `value` with `type_url` set to the text in brackets.
 * Extensions ("[ext.name]" elsewhere) are not supported. Unknown fields are errors, as in
 * Google's parser (which TF uses); so is a non-repeated field given twice.
 */
#ifndef DEFT_GRAPH_TEXT_FORMAT_H
#define DEFT_GRAPH_TEXT_FORMAT_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "deft/status.h"

/* Deepest nesting of messages accepted (Google's parser has the same default). */
#define DEFT_PB_TEXT_MAX_DEPTH 100

/* Parses `len` bytes of `text` (need not be NUL-terminated) as a message of type d. `path`
 * names the input in error messages (NULL: "<text>"). Returns a new message whose every part
 * (strings, bytes, repeated arrays, sub-messages) is allocated with deft_malloc, i.e. the C
 * library's malloc: free it with protobuf_c_message_free_unpacked(m, NULL) (or with
 * deft_protobuf_allocator()). On failure returns NULL with status set (status may be NULL):
 *   DATA_LOSS          "<path>:<line>:<column>: <what>" (lines and columns count from 1,
 *                      columns in bytes): a
 *                      syntax error, an unknown enum value, a value of the wrong kind or
 *                      out of range for its field, a non-repeated field (or a second member of a
 *                      oneof) given twice, an unterminated string, unexpected end of input,
 *                      nesting deeper than DEFT_PB_TEXT_MAX_DEPTH;
 *   UNIMPLEMENTED      "<path>:<line>:<column>: ..." for extensions, and for an expanded Any
 *                      whose type is not reachable from d;
 *   RESOURCE_EXHAUSTED out of memory.
 * Fields that d's schema does not have are skipped (as the binary reader skips unknown field
 * numbers); their values must still be well formed. Nothing is leaked on failure. */
ProtobufCMessage *deft_pb_text_parse(const ProtobufCMessageDescriptor *d, const char *text,
                                     size_t len, const char *path, deft_status *status);

#endif

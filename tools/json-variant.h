/* json-variant.h: JSON text <-> GVariant, private to the mitogen-glib tool
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Arrays and objects may nest this deep in parsed text. */
#define JSON_VARIANT_MAX_DEPTH 64

#define JSON_VARIANT_ERROR (json_variant_error_quark ())

typedef enum {
  JSON_VARIANT_ERROR_SYNTAX,      /* not JSON (RFC 8259) */
  JSON_VARIANT_ERROR_RANGE,       /* a number no GVariant type holds */
  JSON_VARIANT_ERROR_DEPTH,       /* nested deeper than JSON_VARIANT_MAX_DEPTH */
  JSON_VARIANT_ERROR_UNSUPPORTED, /* valid JSON with no GVariant form (U+0000) */
} JsonVariantError;

GQuark    json_variant_error_quark (void);

GVariant *json_variant_parse       (const char  *text,
                                    gsize        length,
                                    GError     **error);
char     *json_variant_print       (GVariant    *value,
                                    gboolean     pretty);

G_END_DECLS

/* mitogen-doas-options.h: settings of the doas connection method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include "mitogen-connection-options.h"

G_BEGIN_DECLS

#define MITOGEN_TYPE_DOAS_OPTIONS (mitogen_doas_options_get_type ())

MITOGEN_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MitogenDoasOptions, mitogen_doas_options, MITOGEN, DOAS_OPTIONS, MitogenConnectionOptions)

MITOGEN_AVAILABLE_IN_1_0
MitogenDoasOptions *mitogen_doas_options_new (const char *username) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
const char *mitogen_doas_options_get_username  (MitogenDoasOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void        mitogen_doas_options_set_username  (MitogenDoasOptions *self,
                                                const char         *username);
MITOGEN_AVAILABLE_IN_1_0
const char *mitogen_doas_options_get_doas_path (MitogenDoasOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void        mitogen_doas_options_set_doas_path (MitogenDoasOptions *self,
                                                const char         *doas_path);
MITOGEN_AVAILABLE_IN_1_0
const char *mitogen_doas_options_get_password  (MitogenDoasOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void        mitogen_doas_options_set_password  (MitogenDoasOptions *self,
                                                const char         *password);

G_END_DECLS

/* mitogen-su-options.h: settings of the su connection method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include "mitogen-connection-options.h"

G_BEGIN_DECLS

#define MITOGEN_TYPE_SU_OPTIONS (mitogen_su_options_get_type ())

MITOGEN_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MitogenSuOptions, mitogen_su_options, MITOGEN, SU_OPTIONS, MitogenConnectionOptions)

MITOGEN_AVAILABLE_IN_1_0
MitogenSuOptions *mitogen_su_options_new (const char *username) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
const char *mitogen_su_options_get_username (MitogenSuOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void        mitogen_su_options_set_username (MitogenSuOptions *self,
                                             const char       *username);
MITOGEN_AVAILABLE_IN_1_0
const char *mitogen_su_options_get_su_path  (MitogenSuOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void        mitogen_su_options_set_su_path  (MitogenSuOptions *self,
                                             const char       *su_path);
MITOGEN_AVAILABLE_IN_1_0
const char *mitogen_su_options_get_password (MitogenSuOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void        mitogen_su_options_set_password (MitogenSuOptions *self,
                                             const char       *password);
MITOGEN_AVAILABLE_IN_1_0
gboolean    mitogen_su_options_get_login    (MitogenSuOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void        mitogen_su_options_set_login    (MitogenSuOptions *self,
                                             gboolean          login);

G_END_DECLS

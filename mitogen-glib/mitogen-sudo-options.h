/* mitogen-sudo-options.h: settings of the sudo connection method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include "mitogen-connection-options.h"

G_BEGIN_DECLS

#define MITOGEN_TYPE_SUDO_OPTIONS (mitogen_sudo_options_get_type ())

MITOGEN_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MitogenSudoOptions, mitogen_sudo_options, MITOGEN, SUDO_OPTIONS, MitogenConnectionOptions)

MITOGEN_AVAILABLE_IN_1_0
MitogenSudoOptions *mitogen_sudo_options_new (const char *username) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
const char         *mitogen_sudo_options_get_username     (MitogenSudoOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void                mitogen_sudo_options_set_username     (MitogenSudoOptions *self,
                                                           const char         *username);
MITOGEN_AVAILABLE_IN_1_0
const char         *mitogen_sudo_options_get_sudo_path    (MitogenSudoOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void                mitogen_sudo_options_set_sudo_path    (MitogenSudoOptions *self,
                                                           const char         *sudo_path);
MITOGEN_AVAILABLE_IN_1_0
const char         *mitogen_sudo_options_get_password     (MitogenSudoOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void                mitogen_sudo_options_set_password     (MitogenSudoOptions *self,
                                                           const char         *password);
MITOGEN_AVAILABLE_IN_1_0
const char         *mitogen_sudo_options_get_selinux_role (MitogenSudoOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void                mitogen_sudo_options_set_selinux_role (MitogenSudoOptions *self,
                                                           const char         *role);
MITOGEN_AVAILABLE_IN_1_0
const char         *mitogen_sudo_options_get_selinux_type (MitogenSudoOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void                mitogen_sudo_options_set_selinux_type (MitogenSudoOptions *self,
                                                           const char         *type);
MITOGEN_AVAILABLE_IN_1_0
gboolean            mitogen_sudo_options_get_preserve_env (MitogenSudoOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void                mitogen_sudo_options_set_preserve_env (MitogenSudoOptions *self,
                                                           gboolean            preserve_env);
MITOGEN_AVAILABLE_IN_1_0
gboolean            mitogen_sudo_options_get_set_home     (MitogenSudoOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void                mitogen_sudo_options_set_set_home     (MitogenSudoOptions *self,
                                                           gboolean            set_home);
MITOGEN_AVAILABLE_IN_1_0
gboolean            mitogen_sudo_options_get_login        (MitogenSudoOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void                mitogen_sudo_options_set_login        (MitogenSudoOptions *self,
                                                           gboolean            login);
MITOGEN_AVAILABLE_IN_1_0
const char * const *mitogen_sudo_options_get_sudo_args    (MitogenSudoOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void                mitogen_sudo_options_set_sudo_args    (MitogenSudoOptions *self,
                                                           const char * const *sudo_args);

G_END_DECLS

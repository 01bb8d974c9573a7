/* mitogen-ssh-options.h: settings of the ssh connection method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include "mitogen-connection-options.h"

G_BEGIN_DECLS

/**
 * MitogenHostKeyPolicy:
 * @MITOGEN_HOST_KEY_POLICY_ENFORCE: the host key must already be in the
 *   known hosts files (`StrictHostKeyChecking=yes`).
 * @MITOGEN_HOST_KEY_POLICY_ACCEPT_NEW: an unknown host key is accepted and
 *   recorded in the known hosts file; a changed one is refused
 *   (`StrictHostKeyChecking=accept-new`).
 * @MITOGEN_HOST_KEY_POLICY_IGNORE: host keys are not checked at all, nor
 *   recorded (`StrictHostKeyChecking=no`, known hosts files `/dev/null`).
 *   Only for throw-away test machines: anyone on the path can intercept
 *   the connection.
 *
 * How [class@Mitogen.SshOptions] treats the host key of the server.
 *
 * Since: 1.0
 */
typedef enum {
  MITOGEN_HOST_KEY_POLICY_ENFORCE,
  MITOGEN_HOST_KEY_POLICY_ACCEPT_NEW,
  MITOGEN_HOST_KEY_POLICY_IGNORE,
} MitogenHostKeyPolicy;

#define MITOGEN_TYPE_HOST_KEY_POLICY (mitogen_host_key_policy_get_type ())
MITOGEN_AVAILABLE_IN_1_0
GType mitogen_host_key_policy_get_type (void) G_GNUC_CONST;

#define MITOGEN_TYPE_SSH_OPTIONS (mitogen_ssh_options_get_type ())

MITOGEN_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MitogenSshOptions, mitogen_ssh_options, MITOGEN, SSH_OPTIONS, MitogenConnectionOptions)

MITOGEN_AVAILABLE_IN_1_0
MitogenSshOptions   *mitogen_ssh_options_new                    (const char           *hostname) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
const char          *mitogen_ssh_options_get_hostname           (MitogenSshOptions    *self);
MITOGEN_AVAILABLE_IN_1_0
void                 mitogen_ssh_options_set_hostname           (MitogenSshOptions    *self,
                                                                 const char           *hostname);
MITOGEN_AVAILABLE_IN_1_0
const char          *mitogen_ssh_options_get_username           (MitogenSshOptions    *self);
MITOGEN_AVAILABLE_IN_1_0
void                 mitogen_ssh_options_set_username           (MitogenSshOptions    *self,
                                                                 const char           *username);
MITOGEN_AVAILABLE_IN_1_0
guint                mitogen_ssh_options_get_port               (MitogenSshOptions    *self);
MITOGEN_AVAILABLE_IN_1_0
void                 mitogen_ssh_options_set_port               (MitogenSshOptions    *self,
                                                                 guint                 port);
MITOGEN_AVAILABLE_IN_1_0
const char          *mitogen_ssh_options_get_identity_file      (MitogenSshOptions    *self);
MITOGEN_AVAILABLE_IN_1_0
void                 mitogen_ssh_options_set_identity_file      (MitogenSshOptions    *self,
                                                                 const char           *path);
MITOGEN_AVAILABLE_IN_1_0
const char          *mitogen_ssh_options_get_password           (MitogenSshOptions    *self);
MITOGEN_AVAILABLE_IN_1_0
void                 mitogen_ssh_options_set_password           (MitogenSshOptions    *self,
                                                                 const char           *password);
MITOGEN_AVAILABLE_IN_1_0
MitogenHostKeyPolicy mitogen_ssh_options_get_host_key_policy    (MitogenSshOptions    *self);
MITOGEN_AVAILABLE_IN_1_0
void                 mitogen_ssh_options_set_host_key_policy    (MitogenSshOptions    *self,
                                                                 MitogenHostKeyPolicy  policy);
MITOGEN_AVAILABLE_IN_1_0
const char          *mitogen_ssh_options_get_known_hosts_file   (MitogenSshOptions    *self);
MITOGEN_AVAILABLE_IN_1_0
void                 mitogen_ssh_options_set_known_hosts_file   (MitogenSshOptions    *self,
                                                                 const char           *path);
MITOGEN_AVAILABLE_IN_1_0
const char          *mitogen_ssh_options_get_ssh_path           (MitogenSshOptions    *self);
MITOGEN_AVAILABLE_IN_1_0
void                 mitogen_ssh_options_set_ssh_path           (MitogenSshOptions    *self,
                                                                 const char           *ssh_path);
MITOGEN_AVAILABLE_IN_1_0
const char * const  *mitogen_ssh_options_get_ssh_args           (MitogenSshOptions    *self);
MITOGEN_AVAILABLE_IN_1_0
void                 mitogen_ssh_options_set_ssh_args           (MitogenSshOptions    *self,
                                                                 const char * const   *ssh_args);
MITOGEN_AVAILABLE_IN_1_0
gboolean             mitogen_ssh_options_get_compression        (MitogenSshOptions    *self);
MITOGEN_AVAILABLE_IN_1_0
void                 mitogen_ssh_options_set_compression        (MitogenSshOptions    *self,
                                                                 gboolean              compression);
MITOGEN_AVAILABLE_IN_1_0
int                  mitogen_ssh_options_get_keepalive_interval (MitogenSshOptions    *self);
MITOGEN_AVAILABLE_IN_1_0
void                 mitogen_ssh_options_set_keepalive_interval (MitogenSshOptions    *self,
                                                                 int                   seconds);
MITOGEN_AVAILABLE_IN_1_0
int                  mitogen_ssh_options_get_keepalive_count    (MitogenSshOptions    *self);
MITOGEN_AVAILABLE_IN_1_0
void                 mitogen_ssh_options_set_keepalive_count    (MitogenSshOptions    *self,
                                                                 int                   count);

G_END_DECLS

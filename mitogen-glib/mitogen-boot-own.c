/* mitogen-boot-own.c: booting mitogen-glib's own child runtime
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include "mitogen-connection-private.h"
#include "mitogen-error.h"

MitogenBootPlan *
_mitogen_boot_plan_new_own (MitogenRouter            *router,
                            MitogenConnectionOptions *options,
                            guint32                   context_id,
                            GError                  **error)
{
  g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                       "mitogen-glib's own child runtime is not built in yet; "
                       "set the upstream-core-path option");
  return NULL;
}

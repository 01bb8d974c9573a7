/* mitogen-connection-options.h: what every connection method shares
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include <glib-object.h>

#include "mitogen-types.h"
#include "mitogen-version-macros.h"

G_BEGIN_DECLS

/**
 * MITOGEN_DEFAULT_CONNECT_TIMEOUT:
 *
 * Seconds a connection may take, by default, until the child runtime has
 * started.
 */
#define MITOGEN_DEFAULT_CONNECT_TIMEOUT 30.0

#define MITOGEN_TYPE_CONNECTION_OPTIONS (mitogen_connection_options_get_type ())

MITOGEN_AVAILABLE_IN_1_0
G_DECLARE_DERIVABLE_TYPE (MitogenConnectionOptions, mitogen_connection_options,
                          MITOGEN, CONNECTION_OPTIONS, GObject)

/**
 * MitogenConnectionOptionsClass:
 * @parent_class: the parent class
 *
 * The class of connection options; each connection method that needs more
 * settings derives its own.
 *
 * Since: 1.0
 */
struct _MitogenConnectionOptionsClass
{
  GObjectClass parent_class;

  /*< private >*/
  /* The method's name in the protocol (`local`, `ssh`, `sudo`...), and the
   * keyword arguments an intermediate context's connect function takes
   * for it; subclasses chain up and add their own. */
  const char *method_name;
  void (*add_proxy_kwargs) (MitogenConnectionOptions *self,
                            GVariantDict             *kwargs);

  gpointer padding[6];
};

MITOGEN_AVAILABLE_IN_1_0
MitogenConnectionOptions *mitogen_connection_options_new (void) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
const char *mitogen_connection_options_get_python_path        (MitogenConnectionOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void        mitogen_connection_options_set_python_path        (MitogenConnectionOptions *self,
                                                               const char               *python_path);
MITOGEN_AVAILABLE_IN_1_0
double      mitogen_connection_options_get_connect_timeout    (MitogenConnectionOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void        mitogen_connection_options_set_connect_timeout    (MitogenConnectionOptions *self,
                                                               double                    seconds);
MITOGEN_AVAILABLE_IN_1_0
const char *mitogen_connection_options_get_name               (MitogenConnectionOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void        mitogen_connection_options_set_name               (MitogenConnectionOptions *self,
                                                               const char               *name);
MITOGEN_AVAILABLE_IN_1_0
gboolean    mitogen_connection_options_get_debug              (MitogenConnectionOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void        mitogen_connection_options_set_debug              (MitogenConnectionOptions *self,
                                                               gboolean                  debug);
MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_connection_options_get_via            (MitogenConnectionOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void        mitogen_connection_options_set_via                (MitogenConnectionOptions *self,
                                                               MitogenContext           *via);
MITOGEN_AVAILABLE_IN_1_0
const char *mitogen_connection_options_get_upstream_core_path (MitogenConnectionOptions *self);
MITOGEN_AVAILABLE_IN_1_0
void        mitogen_connection_options_set_upstream_core_path (MitogenConnectionOptions *self,
                                                               const char               *path);

G_END_DECLS

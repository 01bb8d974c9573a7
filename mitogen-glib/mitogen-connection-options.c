/* mitogen-connection-options.c: what every connection method shares
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include "mitogen-connection-options-private.h"
#include "mitogen-context.h"

/**
 * MitogenConnectionOptions:
 *
 * Settings every connection method shares: the Python interpreter to
 * start, how long the connection may take, the context's name, and which
 * child runtime to boot.
 *
 * Options are read when a connection starts; changing them afterwards does
 * not affect connections already made.
 *
 * Since: 1.0
 */

typedef struct
{
  GMutex lock;
  char *python_path;
  double connect_timeout;
  char *name;
  gboolean debug;
  char *upstream_core_path;
  GWeakRef via;
} MitogenConnectionOptionsPrivate;

enum {
  PROP_0,
  PROP_PYTHON_PATH,
  PROP_CONNECT_TIMEOUT,
  PROP_NAME,
  PROP_DEBUG,
  PROP_UPSTREAM_CORE_PATH,
  PROP_VIA,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_TYPE_WITH_PRIVATE (MitogenConnectionOptions, mitogen_connection_options, G_TYPE_OBJECT)

#define PRIV(self) ((MitogenConnectionOptionsPrivate *) mitogen_connection_options_get_instance_private (self))

static void
mitogen_connection_options_finalize (GObject *object)
{
  MitogenConnectionOptionsPrivate *priv = PRIV (MITOGEN_CONNECTION_OPTIONS (object));

  g_free (priv->python_path);
  g_free (priv->name);
  g_free (priv->upstream_core_path);
  g_weak_ref_clear (&priv->via);
  g_mutex_clear (&priv->lock);

  G_OBJECT_CLASS (mitogen_connection_options_parent_class)->finalize (object);
}

static void
mitogen_connection_options_get_property (GObject    *object,
                                         guint       prop_id,
                                         GValue     *value,
                                         GParamSpec *pspec)
{
  MitogenConnectionOptions *self = MITOGEN_CONNECTION_OPTIONS (object);
  MitogenConnectionOptionsPrivate *priv = PRIV (self);

  g_mutex_lock (&priv->lock);
  switch (prop_id)
    {
    case PROP_PYTHON_PATH:
      g_value_set_string (value, priv->python_path);
      break;
    case PROP_CONNECT_TIMEOUT:
      g_value_set_double (value, priv->connect_timeout);
      break;
    case PROP_NAME:
      g_value_set_string (value, priv->name);
      break;
    case PROP_DEBUG:
      g_value_set_boolean (value, priv->debug);
      break;
    case PROP_UPSTREAM_CORE_PATH:
      g_value_set_string (value, priv->upstream_core_path);
      break;
    case PROP_VIA:
      g_value_take_object (value, g_weak_ref_get (&priv->via));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
  g_mutex_unlock (&priv->lock);
}

gboolean
_mitogen_options_replace_string (char       **field,
                                 const char  *value)
{
  if (g_strcmp0 (*field, value) == 0)
    return FALSE;
  g_free (*field);
  *field = g_strdup (value);
  return TRUE;
}

static gboolean
set_string (GMutex      *lock,
            char       **field,
            const char  *value)
{
  gboolean changed;

  g_mutex_lock (lock);
  changed = _mitogen_options_replace_string (field, value);
  g_mutex_unlock (lock);

  return changed;
}

static void
mitogen_connection_options_set_property (GObject      *object,
                                         guint         prop_id,
                                         const GValue *value,
                                         GParamSpec   *pspec)
{
  MitogenConnectionOptions *self = MITOGEN_CONNECTION_OPTIONS (object);

  switch (prop_id)
    {
    case PROP_PYTHON_PATH:
      mitogen_connection_options_set_python_path (self, g_value_get_string (value));
      break;
    case PROP_CONNECT_TIMEOUT:
      mitogen_connection_options_set_connect_timeout (self, g_value_get_double (value));
      break;
    case PROP_NAME:
      mitogen_connection_options_set_name (self, g_value_get_string (value));
      break;
    case PROP_DEBUG:
      mitogen_connection_options_set_debug (self, g_value_get_boolean (value));
      break;
    case PROP_UPSTREAM_CORE_PATH:
      mitogen_connection_options_set_upstream_core_path (self, g_value_get_string (value));
      break;
    case PROP_VIA:
      mitogen_connection_options_set_via (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* The keys every method shares, with the names Mitogen's
 * mitogen.parent._proxy_connect() understands. */
static void
mitogen_connection_options_real_add_proxy_kwargs (MitogenConnectionOptions *self,
                                                  GVariantDict             *kwargs)
{
  MitogenConnectionOptionsPrivate *priv = PRIV (self);

  g_mutex_lock (&priv->lock);
  g_variant_dict_insert (kwargs, "python_path", "s", priv->python_path);
  g_variant_dict_insert (kwargs, "connect_timeout", "d", priv->connect_timeout);
  if (priv->debug)
    g_variant_dict_insert (kwargs, "debug", "b", TRUE);
  g_mutex_unlock (&priv->lock);
}

static void
mitogen_connection_options_class_init (MitogenConnectionOptionsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mitogen_connection_options_finalize;
  object_class->get_property = mitogen_connection_options_get_property;
  object_class->set_property = mitogen_connection_options_set_property;

  /**
   * MitogenConnectionOptions:python-path:
   *
   * The Python interpreter to start: a command name looked up in `PATH`, or
   * a path. The default is `python3`.
   *
   * Since: 1.0
   */
  properties[PROP_PYTHON_PATH] =
    g_param_spec_string ("python-path", NULL, NULL, "python3",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenConnectionOptions:connect-timeout:
   *
   * Seconds the connection may take until the child runtime has started.
   *
   * Since: 1.0
   */
  properties[PROP_CONNECT_TIMEOUT] =
    g_param_spec_double ("connect-timeout", NULL, NULL, 0.001, 86400.0,
                         MITOGEN_DEFAULT_CONNECT_TIMEOUT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenConnectionOptions:name:
   *
   * The context's name in logs; by default the method and the process id,
   * e.g. `local.1234`.
   *
   * Since: 1.0
   */
  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenConnectionOptions:debug:
   *
   * Whether the child logs at debug level and forwards it.
   *
   * Since: 1.0
   */
  properties[PROP_DEBUG] =
    g_param_spec_boolean ("debug", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenConnectionOptions:upstream-core-path:
   *
   * If set, the path of an upstream Mitogen 0.3 `mitogen/core.py` (e.g.
   * Debian's python3-mitogen), which is booted as the child instead of
   * mitogen-glib's own runtime.
   *
   * Since: 1.0
   */
  properties[PROP_UPSTREAM_CORE_PATH] =
    g_param_spec_string ("upstream-core-path", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenConnectionOptions:via:
   *
   * If set, the connection is made from this context instead of from this
   * process: the context starts the new child (e.g. ssh from a bastion)
   * and routes its messages. Chains of any depth are built by connecting
   * via a context that was itself made via another. Held weakly.
   *
   * Since: 1.0
   */
  properties[PROP_VIA] =
    g_param_spec_object ("via", NULL, NULL, MITOGEN_TYPE_CONTEXT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  klass->method_name = "local";
  klass->add_proxy_kwargs = mitogen_connection_options_real_add_proxy_kwargs;
}

static void
mitogen_connection_options_init (MitogenConnectionOptions *self)
{
  MitogenConnectionOptionsPrivate *priv = PRIV (self);

  g_mutex_init (&priv->lock);
  g_weak_ref_init (&priv->via, NULL);
  priv->python_path = g_strdup ("python3");
  priv->connect_timeout = MITOGEN_DEFAULT_CONNECT_TIMEOUT;
}

/**
 * mitogen_connection_options_new:
 *
 * Creates options with the defaults.
 *
 * Returns: (transfer full): new options
 *
 * Since: 1.0
 */
MitogenConnectionOptions *
mitogen_connection_options_new (void)
{
  return g_object_new (MITOGEN_TYPE_CONNECTION_OPTIONS, NULL);
}

/**
 * mitogen_connection_options_get_python_path:
 * @self: options
 *
 * Gets the Python interpreter a connection starts.
 *
 * Returns: the Python interpreter to start
 *
 * Since: 1.0
 */
const char *
mitogen_connection_options_get_python_path (MitogenConnectionOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_CONNECTION_OPTIONS (self), NULL);

  return PRIV (self)->python_path;
}

/**
 * mitogen_connection_options_set_python_path:
 * @self: options
 * @python_path: (nullable): the interpreter, or %NULL for `python3`
 *
 * Sets the Python interpreter to start.
 *
 * Since: 1.0
 */
void
mitogen_connection_options_set_python_path (MitogenConnectionOptions *self,
                                            const char               *python_path)
{
  g_return_if_fail (MITOGEN_IS_CONNECTION_OPTIONS (self));

  if (set_string (&PRIV (self)->lock, &PRIV (self)->python_path, python_path ? python_path : "python3"))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PYTHON_PATH]);
}

/**
 * mitogen_connection_options_get_connect_timeout:
 * @self: options
 *
 * Gets how long a connection may take.
 *
 * Returns: the connect timeout in seconds
 *
 * Since: 1.0
 */
double
mitogen_connection_options_get_connect_timeout (MitogenConnectionOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_CONNECTION_OPTIONS (self), 0.0);

  return PRIV (self)->connect_timeout;
}

/**
 * mitogen_connection_options_set_connect_timeout:
 * @self: options
 * @seconds: the timeout
 *
 * Sets how long the connection may take.
 *
 * Since: 1.0
 */
void
mitogen_connection_options_set_connect_timeout (MitogenConnectionOptions *self,
                                                double                    seconds)
{
  g_return_if_fail (MITOGEN_IS_CONNECTION_OPTIONS (self));
  g_return_if_fail (seconds > 0.0);

  if (PRIV (self)->connect_timeout == seconds)
    return;
  PRIV (self)->connect_timeout = seconds;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONNECT_TIMEOUT]);
}

/**
 * mitogen_connection_options_get_name:
 * @self: options
 *
 * Gets the name given to the new context.
 *
 * Returns: (nullable): the context name, or %NULL for the default
 *
 * Since: 1.0
 */
const char *
mitogen_connection_options_get_name (MitogenConnectionOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_CONNECTION_OPTIONS (self), NULL);

  return PRIV (self)->name;
}

/**
 * mitogen_connection_options_set_name:
 * @self: options
 * @name: (nullable): the context name, or %NULL for the default
 *
 * Sets the context's name.
 *
 * Since: 1.0
 */
void
mitogen_connection_options_set_name (MitogenConnectionOptions *self,
                                     const char               *name)
{
  g_return_if_fail (MITOGEN_IS_CONNECTION_OPTIONS (self));

  if (set_string (&PRIV (self)->lock, &PRIV (self)->name, name))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NAME]);
}

/**
 * mitogen_connection_options_get_debug:
 * @self: options
 *
 * Gets whether the child logs at debug level.
 *
 * Returns: whether the child logs at debug level
 *
 * Since: 1.0
 */
gboolean
mitogen_connection_options_get_debug (MitogenConnectionOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_CONNECTION_OPTIONS (self), FALSE);

  return PRIV (self)->debug;
}

/**
 * mitogen_connection_options_set_debug:
 * @self: options
 * @debug: whether the child logs at debug level
 *
 * Sets whether the child logs at debug level and forwards it.
 *
 * Since: 1.0
 */
void
mitogen_connection_options_set_debug (MitogenConnectionOptions *self,
                                      gboolean                  debug)
{
  g_return_if_fail (MITOGEN_IS_CONNECTION_OPTIONS (self));

  debug = !!debug;
  if (PRIV (self)->debug == debug)
    return;
  PRIV (self)->debug = debug;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DEBUG]);
}

/**
 * mitogen_connection_options_get_via:
 * @self: options
 *
 * Gets the context the connection is made from.
 *
 * Returns: (transfer full) (nullable): the context, or %NULL when the
 *   connection starts from this process
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_connection_options_get_via (MitogenConnectionOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_CONNECTION_OPTIONS (self), NULL);

  return g_weak_ref_get (&PRIV (self)->via);
}

/**
 * mitogen_connection_options_set_via:
 * @self: options
 * @via: (nullable): the context to connect from, or %NULL for this process
 *
 * Makes the connection from @via: see
 * [property@Mitogen.ConnectionOptions:via].
 *
 * Since: 1.0
 */
void
mitogen_connection_options_set_via (MitogenConnectionOptions *self,
                                    MitogenContext           *via)
{
  g_autoptr(MitogenContext) old = NULL;

  g_return_if_fail (MITOGEN_IS_CONNECTION_OPTIONS (self));
  g_return_if_fail (via == NULL || MITOGEN_IS_CONTEXT (via));

  old = g_weak_ref_get (&PRIV (self)->via);
  if (old == via)
    return;
  g_weak_ref_set (&PRIV (self)->via, via);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIA]);
}

/**
 * mitogen_connection_options_get_upstream_core_path:
 * @self: options
 *
 * Gets the upstream Mitogen core booted instead of the own runtime.
 *
 * Returns: (nullable): the upstream `core.py` to boot, or %NULL for
 *   mitogen-glib's own child runtime
 *
 * Since: 1.0
 */
const char *
mitogen_connection_options_get_upstream_core_path (MitogenConnectionOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_CONNECTION_OPTIONS (self), NULL);

  return PRIV (self)->upstream_core_path;
}

/**
 * mitogen_connection_options_set_upstream_core_path:
 * @self: options
 * @path: (nullable) (type filename): an upstream Mitogen 0.3 `core.py`, or
 *   %NULL for mitogen-glib's own runtime
 *
 * Boots the upstream Mitogen child from @path instead of mitogen-glib's own
 * runtime, e.g. `/usr/lib/python3/dist-packages/mitogen/core.py`.
 *
 * Since: 1.0
 */
void
mitogen_connection_options_set_upstream_core_path (MitogenConnectionOptions *self,
                                                   const char               *path)
{
  g_return_if_fail (MITOGEN_IS_CONNECTION_OPTIONS (self));

  if (set_string (&PRIV (self)->lock, &PRIV (self)->upstream_core_path, path))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UPSTREAM_CORE_PATH]);
}
